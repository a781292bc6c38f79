/**
 * Step-up authorization (MCP authorization, "Step-Up Authorization Flow"): an interactive
 * upstream answered a user's call `403` with `WWW-Authenticate: Bearer
 * error="insufficient_scope", scope="..."`. The gateway remembers the scopes for that user
 * and answers the MCP client with its own challenge, naming the union of what the user was
 * asked for before and what the upstream now demands, and the gateway's resource metadata:
 * the client authorizes again through the gateway (the official SDK does, once per distinct
 * challenge), and the UI's Connect asks for the same union. The upstream's own
 * `resource_metadata` and description are not relayed (they would point the client at the
 * upstream's authorization server).
 */
import { callerUserKey, type Caller } from "../auth/inbound/caller.js";
import { parseBearerChallenge, type ScopeChallenges } from "../auth/upstream/scope-challenges.js";
import { GatewayError } from "../errors.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export const INSUFFICIENT_SCOPE = "insufficient_scope";

/** The upstream's 401 to a user's token: its challenge's scope is the first choice of the next authorization. */
export function noteUnauthorized(challenges: ScopeChallenges | undefined, server: McpServerEntry, header: string | string[] | undefined): void {
  const scope = parseBearerChallenge(header)?.scope;
  if (challenges !== undefined && scope !== undefined) challenges.recordUnauthorized(server.id, scope);
}

/** The gateway's 403 for an upstream `insufficient_scope`, or undefined when the 403 is something else. */
export function stepUpChallenge(
  challenges: ScopeChallenges | undefined,
  server: McpServerEntry,
  caller: Caller,
  header: string | string[] | undefined,
  resourceMetadataUrl: string,
): GatewayError | undefined {
  const challenge = parseBearerChallenge(header);
  if (challenge?.error !== INSUFFICIENT_SCOPE) return undefined;
  const user = callerUserKey(caller);
  const demanded = challenge.scope ?? [];
  const union = challenges === undefined ? demanded : challenges.recordInsufficient(server.id, user, demanded);
  const configured = server.config.scopes ?? [];
  const scope = [...new Set([...configured, ...union])].join(" ");
  const what = demanded.length === 0 ? "more scopes (it named none)" : `scope ${demanded.join(" ")}`;
  return new GatewayError({
    status: 403,
    code: INSUFFICIENT_SCOPE,
    message: `MCP server '${server.name}' needs ${what} for this call: authorize again (your MCP client starts it from this 403), or use Connect again in the UI; you will be asked to consent to: ${scope || "(the server's default scopes)"}`,
    extra: { server: server.name },
    headers: {
      "www-authenticate": `Bearer error="${INSUFFICIENT_SCOPE}"${scope === "" ? "" : `, scope="${scope}"`}, resource_metadata="${resourceMetadataUrl}", error_description="the upstream needs more scopes for this operation"`,
    },
  });
}
