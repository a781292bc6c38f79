/**
 * The one definition of loopback: 127.0.0.0/8 and ::1 (RFC 6890), plus the `localhost`
 * names of RFC 6761 §6.3 where a name is asked about. Each predicate answers one question
 * the gateway asks; all of them rest on `isLoopbackIPv4` and these ranges.
 */
import { isIPv4 } from "node:net";

/** The loopback ranges, as CIDR (the default internal ranges include them). */
export const LOOPBACK_RANGES: readonly string[] = ["127.0.0.0/8", "::1/128"];

/** A dotted-quad IPv4 literal in 127.0.0.0/8. `127.1` is not one: only a URL parser would read it as an address. */
export function isLoopbackIPv4(address: string): boolean {
  return isIPv4(address) && address.startsWith("127.");
}

/** An IP address literal on loopback: 127.0.0.0/8, ::1 (brackets allowed) or IPv4-mapped ::ffff:127.x.y.z. */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return bare === "::1" || isLoopbackIPv4(bare) || /^::ffff:127\./.test(bare);
}

/** Whether a configured listen address accepts loopback connections only (`localhost` resolves to loopback). */
export function isLoopbackListenAddress(host: string): boolean {
  return host.replace(/^\[(.*)\]$/, "$1").toLowerCase() === "localhost" || isLoopbackAddress(host);
}

/**
 * A host name as a URL or a `Host` header writes it (IPv6 in brackets), naming loopback:
 * RFC 6761 `localhost` names (subdomains and a trailing dot included), 127.0.0.0/8 and
 * [::1]. Traffic to it never leaves the machine, and no DNS-rebinding page can own it.
 */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return host === "localhost" || host.endsWith(".localhost") || isLoopbackIPv4(host) || host === "[::1]";
}

/**
 * A redirect URI host that is loopback in the sense of RFC 8252 §7.3 (native apps): the
 * literal `localhost`, a 127.0.0.0/8 address or [::1]; no other `localhost` names. Expects
 * a URL's hostname (lowercase, IPv4 normalised).
 */
export function isLoopbackRedirectHost(hostname: string): boolean {
  return hostname === "localhost" || isLoopbackIPv4(hostname) || hostname === "[::1]";
}
