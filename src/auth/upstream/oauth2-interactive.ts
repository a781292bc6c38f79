/**
 * `auth_type: oauth2` with the interactive flow. In order:
 * 1. the MCP client's own `Authorization: Bearer <upstream token>` (its gateway key then
 *    travels in `x-litellm-api-key`) is forwarded as is (`oauth2-passthrough`);
 * 2. else the calling user's stored token for this server (`stored-user-token`), refreshed
 *    before expiry by the token store;
 * 3. else 401 `upstream_authorization_required`, which the MCP route turns into a
 *    `WWW-Authenticate: Bearer resource_metadata=...` challenge so the client starts OAuth.
 * An Authorization header holding a gateway key is never forwarded (credential-screen.ts).
 */
import { GatewayError } from "../../errors.js";
import { callerUserKey } from "../inbound/caller.js";
import { clientBearerToken } from "../inbound/credential-screen.js";
import type { UpstreamAuth, UpstreamCredentials } from "./strategy.js";

export interface UserTokenSource {
  /**
   * The user's current access token for the server, refreshed if needed; undefined when the
   * user has not connected. Rejects with a 401 `upstream_authorization_required` naming the
   * reason when the authorization server refused the refresh (the user signs in again).
   */
  accessToken(serverId: string, userKey: string, requestId?: string): Promise<string | undefined>;
  forget(serverId: string, userKey: string): Promise<void>;
}

export const AUTHORIZATION_REQUIRED = "upstream_authorization_required";

/** The upstream refused the user's token (own or stored): the client must authorize again, through the gateway. */
export function upstreamRefusedUserToken(serverName: string): GatewayError {
  return new GatewayError({
    status: 401,
    code: AUTHORIZATION_REQUIRED,
    message: `MCP server '${serverName}' refused the upstream token: authorize again (your MCP client starts it from this 401)`,
    extra: { server: serverName },
  });
}

export function oauth2Interactive(serverId: string, serverName: string, userTokens: UserTokenSource | undefined): UpstreamAuth {
  return {
    async credentials(context): Promise<UpstreamCredentials> {
      const { caller } = context;
      const bearer = await clientBearerToken(context);
      if (bearer !== undefined) return { headers: { authorization: `Bearer ${bearer}` }, resolution: "oauth2-passthrough" };
      const user = caller === undefined ? undefined : callerUserKey(caller);
      const stored = user === undefined || userTokens === undefined ? undefined : await userTokens.accessToken(serverId, user, context.requestId);
      if (stored !== undefined) {
        return {
          headers: { authorization: `Bearer ${stored}` },
          resolution: "stored-user-token",
          // Revoked upstream: drop it, so the user is asked to connect again instead of failing forever.
          onRejected: () => userTokens!.forget(serverId, user!),
        };
      }
      throw new GatewayError({
        status: 401,
        code: AUTHORIZATION_REQUIRED,
        message:
          `MCP server '${serverName}' needs your authorization: complete its OAuth flow (your MCP client starts it from this 401), ` +
          "or send the upstream token in 'Authorization: Bearer <token>' with the gateway key in 'x-litellm-api-key'",
        extra: { server: serverName },
      });
    },
  };
}
