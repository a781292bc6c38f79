/**
 * The gateway's public origin, in LiteLLM's order (README, "Behind a reverse proxy: the
 * public origin"): PROXY_BASE_URL when it
 * is a valid http(s) origin; else X-Forwarded-Proto/Host/Port, but only when
 * `use_x_forwarded_for` is on and the TCP peer is inside `mcp_trusted_proxy_ranges`; else
 * the request's own URL. Default ports are normalised away. Every OAuth route uses this
 * one function, so discovery documents and redirect checks always agree.
 */
import { inRanges, parseRanges, type ForwardingTrust } from "../auth/inbound/client-address.js";

export interface OriginSettings extends ForwardingTrust {
  /** A valid origin from PROXY_BASE_URL (validated at startup), or undefined. */
  proxyBaseUrl: string | undefined;
}

export interface OriginWarnings {
  warnings: string[];
}

/** Validates PROXY_BASE_URL and the trusted ranges once, at startup. */
export function originSettings(input: {
  proxyBaseUrl: string | undefined;
  useXForwardedFor: boolean;
  trustedProxyRanges: readonly string[];
}): OriginSettings & OriginWarnings {
  const warnings: string[] = [];
  let proxyBaseUrl: string | undefined;
  if (input.proxyBaseUrl !== undefined && input.proxyBaseUrl !== "") {
    proxyBaseUrl = validOrigin(input.proxyBaseUrl);
    if (proxyBaseUrl === undefined) {
      warnings.push(
        `PROXY_BASE_URL=${JSON.stringify(input.proxyBaseUrl)} is ignored: it must be a full origin (scheme + host + optional port), no path, no trailing slash, e.g. https://llm.example.com`,
      );
    }
  }
  const trustedProxies = parseRanges(input.trustedProxyRanges);
  for (const range of trustedProxies.invalid) warnings.push(`mcp_trusted_proxy_ranges: '${range}' is not an IPv4 or IPv6 CIDR; it is ignored`);
  if (input.useXForwardedFor && input.trustedProxyRanges.length === 0) {
    warnings.push(
      "use_x_forwarded_for is true but mcp_trusted_proxy_ranges is empty: X-Forwarded-* headers are trusted from no one (set the CIDRs of your ingress, or PROXY_BASE_URL)",
    );
  }
  return { proxyBaseUrl, useXForwardedFor: input.useXForwardedFor, trustedProxies, warnings };
}

/** `scheme://host[:port]` with default ports removed, or undefined when `value` is not exactly an origin. */
export function validOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") return undefined;
  if (value.replace(/\/+$/, "") !== value || (url.pathname !== "/" && url.pathname !== "")) return undefined;
  // Only scheme://host[:port] as written: the parser forgets an empty `?` or `#` and dot segments like `/.`.
  if (!/^https?:\/\/[^/?#\\@%\s]+$/i.test(value)) return undefined;
  return url.origin;
}

const first = (value: string | null) => value?.split(",")[0]?.trim() || undefined;

export function publicOrigin(settings: OriginSettings, request: { url: string; headers: Pick<Headers, "get">; peer: string | undefined }): string {
  if (settings.proxyBaseUrl !== undefined) return settings.proxyBaseUrl;
  const own = new URL(request.url);
  if (settings.useXForwardedFor && inRanges(settings.trustedProxies, request.peer)) {
    const proto = first(request.headers.get("x-forwarded-proto")) ?? own.protocol.slice(0, -1);
    const host = first(request.headers.get("x-forwarded-host")) ?? own.host;
    const port = first(request.headers.get("x-forwarded-port"));
    // A port already in X-Forwarded-Host wins; an IPv6 literal's colons are not a port.
    const hostHasPort = /:\d*$/.test(host.startsWith("[") ? host.slice(host.lastIndexOf("]") + 1) : host);
    const candidate = validOrigin(`${proto}://${host}${port !== undefined && !hostHasPort ? `:${port}` : ""}`);
    if (candidate !== undefined) return candidate;
  }
  return own.origin;
}
