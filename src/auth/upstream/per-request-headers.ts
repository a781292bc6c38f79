/**
 * Per-request upstream credentials (README, "Per-request upstream credentials"): a client
 * header `x-mcp-{server}-{name}` is sent to that server only, as `{name}`, and overrides
 * the server's configured credentials for that request. Where names contain '-', the
 * longest configured server name that matches wins. Header names ignore case, so server
 * names are unique ignoring case (config, API and the registry's load refuse `A` beside
 * `a`), and a header goes to the one server the matcher resolves it to, never to another of
 * the same spelling.
 */
import { GatewayError } from "../../errors.js";
import { GATEWAY_OWNED, type RequestHeaders } from "../../headers.js";
import type { ServerNameMatcher } from "../../registry/server-names.js";

const PREFIX = "x-mcp-";
/** Headers of the gateway's own that share the prefix (a server named `access` must not get `x-mcp-access-groups` as `groups`). */
const RESERVED = new Set(["x-mcp-servers", "x-mcp-access-groups", "x-mcp-auth"]);

/** The headers this request carries for `serverName`, with their upstream names (lowercase). */
export function perRequestHeaders(
  headers: RequestHeaders,
  serverName: string,
  names: ServerNameMatcher,
  clientAuthHeader?: string,
): Record<string, string> | undefined {
  let found: Record<string, string> | undefined;
  headers.forEach((value, name) => {
    if (!name.startsWith(PREFIX) || RESERVED.has(name) || name === clientAuthHeader || name.startsWith("x-mcp-debug-")) return;
    const match = names.matchPrefix(name.slice(PREFIX.length), { caseInsensitive: true });
    if (match === undefined || match.server !== serverName || match.rest === "" || GATEWAY_OWNED.has(match.rest)) return;
    (found ??= {})[match.rest] = value;
  });
  return found;
}

/**
 * A per-request header holds a gateway key (issue 15 item 9). Refused rather than dropped:
 * the client chose this header as the server's credential, and without it the request
 * would silently run with the server's configured credentials instead.
 */
export function gatewayKeyInPerRequestHeader(serverName: string, upstreamName: string): GatewayError {
  return new GatewayError({
    status: 400,
    code: "gateway_key_in_upstream_header",
    message:
      `the x-mcp-${serverName}-${upstreamName} header holds a gateway key, and gateway keys are never sent upstream: ` +
      `put MCP server '${serverName}''s own credential there, and the gateway key in 'x-litellm-api-key'`,
    extra: { server: serverName, header: `x-mcp-${serverName}-${upstreamName}` },
  });
}

/** The client-side credential holds a gateway key: refused, as a per-request header is. */
export function gatewayKeyInClientSideCredential(serverName: string, header: string): GatewayError {
  return new GatewayError({
    status: 400,
    code: "gateway_key_in_upstream_header",
    message: `the ${header} header holds a gateway key, and gateway keys are never sent upstream: put MCP server '${serverName}''s own credential there, and the gateway key in 'x-litellm-api-key'`,
    extra: { server: serverName, header },
  });
}
