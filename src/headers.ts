/**
 * HTTP header names the gateway treats specially, shared by every place that builds an
 * upstream request, so `extra_headers` and per-request `x-mcp-{server}-*` headers follow
 * the same rules.
 */

/** Connection-specific headers (RFC 9110 §7.6.1), never forwarded in either direction. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The streamable-HTTP headers the proxy itself carries or sets (MCP transports spec). */
export const MCP_TRANSPORT_HEADERS = ["content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id"] as const;

/**
 * Upstream header names a client may not set through `extra_headers` or
 * `x-mcp-{server}-{name}`: hop-by-hop ones, message framing and routing (a client-chosen
 * Host would pick another virtual host behind the upstream's address), and the
 * streamable-HTTP headers the gateway manages.
 */
export const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  "host",
  "content-length",
  "expect",
  ...MCP_TRANSPORT_HEADERS,
]);

/** The header names a Connection header lists (RFC 9110 §7.6.1), lowercase. */
export function connectionTokens(value: string | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  return value.toLowerCase().split(",").map((token) => token.trim()).filter((token) => token !== "");
}
