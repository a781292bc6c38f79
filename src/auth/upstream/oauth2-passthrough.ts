/**
 * `auth_type: oauth2` with the interactive flow: the MCP client holds the user's upstream
 * token and sends it in `Authorization` (its gateway key then travels in
 * `x-litellm-api-key`). The token is forwarded as is. The gateway's own discovery,
 * registration and token facade (issue 5) builds on this.
 */
import { GatewayError } from "../../errors.js";
import { clientBearerToken } from "../inbound/gateway-key.js";
import type { UpstreamAuth } from "./strategy.js";

export function oauth2Passthrough(serverName: string): UpstreamAuth {
  return {
    credentials({ headers, presentedKey }) {
      const token = clientBearerToken(headers, presentedKey);
      if (token === undefined) {
        throw new GatewayError({
          status: 401,
          code: "upstream_token_required",
          message:
            `server '${serverName}' needs the user's own OAuth token in 'Authorization: Bearer <token>'; ` +
            "send the gateway key in 'x-litellm-api-key' so that Authorization stays free for it",
        });
      }
      return { headers: { authorization: `Bearer ${token}` }, resolution: "oauth2-passthrough" };
    },
  };
}
