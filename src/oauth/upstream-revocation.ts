/**
 * Token revocation at the upstream authorization server (RFC 7009), when a user
 * disconnects: the refresh token first (revoking it ends the grant at most servers,
 * §2.1), then the access token. The client authenticates exactly as at the token
 * endpoint (same registration, same method, same issuer binding), and a credential the
 * operator configured goes only to a revocation endpoint in the metadata of the issuer the
 * operator named (issue 15 item 8, as for the token endpoint).
 */
import * as oauth from "oauth4webapi";
import { allowHttp } from "../auth/upstream/allow-http.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { StoredClient, StoredUserToken } from "../store/oauth-repository.js";
import { boundTo, registrationBoundTo } from "./issuer-binding.js";
import { upstreamClientFor } from "./gateway-issuer.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";
import { upstreamClientSecrets, upstreamReason } from "./upstream-reason.js";

/**
 * `revoked`: the authorization server confirmed every token sent; `not_offered`: it
 * publishes no `revocation_endpoint` (or the gateway may not send its credentials there);
 * `failed`: it was asked and did not confirm (`reason` is safe to show and log).
 */
export type Revocation = { status: "revoked" } | { status: "not_offered"; reason: string } | { status: "failed"; reason: string };

/** Why nothing was sent, or undefined when the revocation endpoint may be asked. */
function notOffered(server: McpServerEntry, client: StoredClient, token: StoredUserToken, as: oauth.AuthorizationServer): string | undefined {
  if (as.revocation_endpoint === undefined) return "its authorization server publishes no revocation_endpoint (RFC 7009)";
  if (!boundTo(server, token.issuer, as) || !registrationBoundTo(server, client, as)) return `its authorization server is now ${as.issuer}, not the one that issued these tokens`;
  if (client.upstreamCredentials === null && server.config.client_secret !== undefined && server.config.issuer === undefined && server.config.revocation_url === undefined) {
    return "the configured client_secret goes only to endpoints you name; set revocation_url (or issuer) to revoke there";
  }
  return undefined;
}

export async function revokeAtUpstream(upstreams: UpstreamAuthorizations, server: McpServerEntry, client: StoredClient | undefined, token: StoredUserToken): Promise<Revocation> {
  if (client === undefined) return { status: "not_offered", reason: "the gateway client that connected is gone" };
  let as: oauth.AuthorizationServer;
  try {
    as = (await upstreams.get(server)).as;
  } catch (error) {
    return { status: "failed", reason: `its authorization server could not be found (${upstreamReason(error, upstreamClientSecrets(server, client))})` };
  }
  const refused = notOffered(server, client, token, as);
  if (refused !== undefined) return { status: "not_offered", reason: refused };
  const { client: upstreamClient, auth } = upstreamClientFor(server, client, as);
  // A careless server may echo what it was sent in its error_description.
  const secrets = [...upstreamClientSecrets(server, client), token.access_token, ...(token.refresh_token === undefined ? [] : [token.refresh_token])];
  const tokens: Array<[string, "refresh_token" | "access_token"]> = [];
  if (token.refresh_token !== undefined) tokens.push([token.refresh_token, "refresh_token"]);
  tokens.push([token.access_token, "access_token"]);
  let revoked = 0;
  for (const [value, hint] of tokens) {
    try {
      const response = await oauth.revocationRequest(as, upstreamClient, auth, value, {
        additionalParameters: { token_type_hint: hint },
        signal: AbortSignal.timeout(server.timeoutMs),
        ...allowHttp(as.revocation_endpoint!),
      });
      await oauth.processRevocationResponse(response);
      revoked++;
    } catch (error) {
      // RFC 7009 §2.2.1: a server may not revoke access tokens (JWTs, typically); the grant ended with the refresh token.
      if (hint === "access_token" && error instanceof oauth.ResponseBodyError && error.error === "unsupported_token_type") continue;
      return { status: "failed", reason: `revoking the ${hint.replace("_", " ")} failed: ${upstreamReason(error, secrets)}` };
    }
  }
  return revoked > 0 ? { status: "revoked" } : { status: "not_offered", reason: "its authorization server does not revoke this kind of access token (unsupported_token_type); it lapses when it expires" };
}
