/**
 * Where a request comes from, for the rules that depend on it: which proxies may set
 * `X-Forwarded-*` (`mcp_trusted_proxy_ranges`), and whether the caller is on the internal
 * network (`mcp_internal_ip_ranges`, for `available_on_public_internet: false`).
 *
 * The client address is the TCP peer, unless `use_x_forwarded_for` is on and the peer is a
 * trusted proxy: then `X-Forwarded-For` is read from the right, skipping trusted proxies,
 * and the first address that is not one is the client (the left part of the header is
 * whatever the client chose to send, and proves nothing).
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { RequestHeaders } from "../../headers.js";
import { LOOPBACK_RANGES } from "../../loopback.js";

export interface AddressRanges {
  list: BlockList;
  /** Entries that are not CIDRs (ignored, and warned about at startup). */
  invalid: string[];
  count: number;
}

/** IPv4 and IPv6 CIDRs (a bare address is a /32 or /128). */
export function parseRanges(ranges: readonly string[]): AddressRanges {
  const list = new BlockList();
  const invalid: string[] = [];
  for (const range of ranges) {
    const [address, bits, ...extra] = range.trim().split("/");
    const family = address !== undefined && isIPv6(address) ? "ipv6" : "ipv4";
    // Decimal digits only: Number("") is 0, and a prefix of 0 would match every address.
    const prefix = bits === undefined ? (family === "ipv6" ? 128 : 32) : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
    if (address === undefined || extra.length > 0 || !(isIPv4(address) || isIPv6(address)) || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === "ipv6" ? 128 : 32)) {
      invalid.push(range);
      continue;
    }
    list.addSubnet(address, prefix, family);
  }
  return { list, invalid, count: ranges.length - invalid.length };
}

/** Whether `address` (IPv4, IPv6, or IPv4-mapped IPv6 as Node reports peers) is inside `ranges`. */
export function inRanges(ranges: AddressRanges, address: string | undefined): boolean {
  if (address === undefined) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped?.[1] ?? address;
  if (isIPv4(plain)) return ranges.list.check(plain, "ipv4");
  if (isIPv6(plain)) return ranges.list.check(plain, "ipv6");
  return false;
}

/**
 * Private and loopback networks: the default of `mcp_internal_ip_ranges` (RFC 1918, RFC 6598
 * shared address space, loopback, IPv6 unique-local and loopback).
 */
export const DEFAULT_INTERNAL_RANGES: readonly string[] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", ...LOOPBACK_RANGES, "fc00::/7"];

export interface ForwardingTrust {
  useXForwardedFor: boolean;
  trustedProxies: AddressRanges;
}

export function clientAddress(trust: ForwardingTrust, peer: string | undefined, headers: Pick<RequestHeaders, "get">): string | undefined {
  if (!trust.useXForwardedFor || !inRanges(trust.trustedProxies, peer)) return peer;
  const forwarded = (headers.get("x-forwarded-for") ?? "").split(",").map((hop) => hop.trim()).filter((hop) => hop !== "");
  for (let index = forwarded.length - 1; index >= 0; index--) {
    const hop = stripPort(forwarded[index]!);
    if (!inRanges(trust.trustedProxies, hop)) return hop;
  }
  // Every hop is a trusted proxy: the leftmost is the closest thing to a client there is.
  return forwarded.length === 0 ? peer : stripPort(forwarded[0]!);
}

/** `[::1]:1234` or `1.2.3.4:1234` as some proxies write them; a bare IPv6 address is left alone. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed !== null) return bracketed[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4?.[1] ?? hop;
}

/** Whether a request comes from outside `mcp_internal_ip_ranges` (then internal-only servers are hidden from it). */
export interface CallerNetwork {
  fromPublicInternet(peer: string | undefined, headers: Pick<RequestHeaders, "get">): boolean;
}

/**
 * `matters` says whether any server is internal-only now: when none is, the answer changes
 * nothing and is not computed (it costs an address parse per request on the hot path).
 */
export function callerNetwork(trust: ForwardingTrust, internal: AddressRanges, matters: () => boolean = () => true): CallerNetwork {
  return {
    // An unknown address (no socket, as in-process tests) is not known to be internal: public.
    fromPublicInternet: (peer, headers) => matters() && !inRanges(internal, clientAddress(trust, peer, headers)),
  };
}
