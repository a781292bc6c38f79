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

/**
 * The streamable-HTTP headers the proxy itself carries or sets (MCP transports spec; the
 * 2026-07-28 revision adds `Mcp-Method` and `Mcp-Name`, which mirror the body).
 */
export const MCP_TRANSPORT_HEADERS = ["content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id", "mcp-method", "mcp-name"] as const;

/** The 2026-07-28 revision's `Mcp-Param-{Name}` headers (a tool's `x-mcp-header` arguments, mirrored from the body). */
export const MCP_PARAM_HEADER_PREFIX = "mcp-param-";

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

const NO_TOKENS: readonly string[] = [];

/** The header names a Connection header lists (RFC 9110 §7.6.1), lowercase. */
export function connectionTokens(value: string | null | undefined): readonly string[] {
  // The usual values name no other header (and keep-alive is hop-by-hop anyway).
  if (value === null || value === undefined || value === "keep-alive" || value === "close") return NO_TOKENS;
  return value.toLowerCase().split(",").map((token) => token.trim()).filter((token) => token !== "");
}

/**
 * The part of the fetch API's `Headers` that request handling reads. The Hono routes pass a
 * `Headers`; the node:http fast path passes `IncomingRequestHeaders`, which reads Node's
 * already-parsed header object instead of copying it (measured: README, Performance).
 */
export interface RequestHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(callback: (value: string, name: string) => void): void;
}

/** A Node request's headers as `RequestHeaders`: names lowercase, repeated values joined with ", ". */
export class IncomingRequestHeaders implements RequestHeaders {
  constructor(private readonly headers: NodeJS.Dict<string | string[]>) {}

  // Node's names are lowercase already: the usual lowercase name is found without lowercasing it.
  get(name: string): string | null {
    const value = this.headers[name] ?? this.headers[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }

  has(name: string): boolean {
    return (this.headers[name] ?? this.headers[name.toLowerCase()]) !== undefined;
  }

  forEach(callback: (value: string, name: string) => void): void {
    const headers = this.headers;
    for (const name in headers) {
      const value = headers[name];
      if (value !== undefined) callback(typeof value === "string" ? value : value.join(", "), name);
    }
  }
}

/** Response headers as node:http writes them: lowercase names, a list for a repeated header. */
export type ResponseHeaders = Record<string, string | string[]>;

/** The same as a fetch `Headers`, for a `Response`. */
export function toFetchHeaders(headers: ResponseHeaders): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === "string") result.set(name, value);
    else for (const item of value) result.append(name, item);
  }
  return result;
}

/** Request headers as a fetch `Headers`, for APIs that take a fetch Request (the SDK's transports). */
export function fetchHeaders(headers: RequestHeaders): Headers {
  const result = new Headers();
  headers.forEach((value, name) => result.append(name, value));
  return result;
}
