/**
 * Per-request upstream credentials (CONTRACT §5): a client header `x-mcp-{server}-{name}`
 * is sent to that server only, as `{name}`, and overrides the server's configured
 * credentials for that request. Where names contain '-', the longest configured server
 * name that matches wins.
 */
import { GATEWAY_OWNED, type RequestHeaders } from "../../headers.js";
import type { ServerNameMatcher } from "../../registry/server-names.js";

const PREFIX = "x-mcp-";
/** Headers of the gateway's own that share the prefix. */
const RESERVED = new Set(["x-mcp-servers"]);

/** The headers this request carries for `serverName`, with their upstream names (lowercase). */
export function perRequestHeaders(
  headers: RequestHeaders,
  serverName: string,
  names: ServerNameMatcher,
): Record<string, string> | undefined {
  let found: Record<string, string> | undefined;
  const wanted = serverName.toLowerCase();
  headers.forEach((value, name) => {
    if (!name.startsWith(PREFIX) || RESERVED.has(name) || name.startsWith("x-mcp-debug-")) return;
    const match = names.matchPrefix(name.slice(PREFIX.length), { caseInsensitive: true });
    if (match === undefined || match.server.toLowerCase() !== wanted || match.rest === "" || GATEWAY_OWNED.has(match.rest)) return;
    (found ??= {})[match.rest] = value;
  });
  return found;
}
