/**
 * What an upstream's 401 becomes, by whose credential it refused (issue 15 item 13).
 *
 * Only a user's own upstream token (the gateway's OAuth facade: the client is asked to
 * authorize again through the gateway) and a delegating server's token (the client
 * authorizes with the upstream itself) are the client's to fix with an OAuth flow, so only
 * those modes answer with a challenge. Every other credential is the gateway's: its
 * configured secret, its M2M or exchanged token, or none at all. Relaying that 401 and its
 * `WWW-Authenticate` would send MCP clients into an OAuth flow against the upstream's
 * internal authorization server; the client gets a 502 that names the server and the
 * setting to fix instead. Per-request `x-mcp-{server}-*` credentials are the client's own
 * but come from no OAuth flow: a 401 that says which headers to fix, without a challenge.
 */
import type { AuthResolution } from "../auth/upstream/strategy.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export const UPSTREAM_AUTH_FAILED = "upstream_auth_failed";

/** Credentials of one user, obtained through the gateway's OAuth facade. */
export const USER_TOKEN_MODES: ReadonlySet<AuthResolution> = new Set(["oauth2-passthrough", "stored-user-token"]);

/** Whether an upstream 401 to credentials of this mode is the client's to answer (a challenge), not the gateway's fault. */
export function clientAnswersChallenge(resolution: AuthResolution): boolean {
  return USER_TOKEN_MODES.has(resolution) || resolution === "delegated";
}

/** What to fix, per credential mode. */
function remedy(server: McpServerEntry, resolution: AuthResolution): string {
  switch (resolution) {
    case "static-token":
      return `it refused the gateway's configured credential: check the server's auth_type and auth_value (or static_headers)`;
    case "m2m-client-credentials":
      return `it refused the access token from the server's token_url, a fresh one too: check client_id, client_secret, scopes and token_url, and that the upstream accepts tokens of that authorization server`;
    case "token-exchange":
      return `it refused the token exchanged for this user, a fresh one too: check the server's audience, scopes and resource, and that the upstream accepts tokens of that authorization server`;
    case "per-request-header":
      return `it refused the credentials sent in x-mcp-${server.name}-* headers: check them`;
    default:
      return `the gateway sends it no credential: configure the server's auth_type and auth_value (or send x-mcp-${server.name}-authorization)`;
  }
}

/**
 * An upstream 401 to a credential the gateway owns (502), or to the client's per-request
 * headers (401), naming the server and what to fix; never with the upstream's challenge.
 */
export function upstreamAuthFailed(server: McpServerEntry, resolution: AuthResolution): GatewayError {
  return new GatewayError({
    status: resolution === "per-request-header" ? 401 : 502,
    code: UPSTREAM_AUTH_FAILED,
    message: `MCP server '${server.name}' answered 401: ${remedy(server, resolution)}`,
    detail: `${server.url.origin} answered 401 to credentials of mode ${resolution}`,
    rpcCode: JsonRpcCode.UpstreamError,
    extra: { server: server.name, upstream_status: 401 },
  });
}
