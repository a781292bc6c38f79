/**
 * How often one client address may make the gateway do something costly for an anonymous
 * caller: a dynamic client registration (a row for the operator, and once an upstream
 * registration too), or a fetch of a Client ID Metadata Document that is not cached (an
 * outbound request to a URL the caller chose). A sliding window per address, in this
 * instance's memory: behind N instances an address gets up to N times the limit, which
 * still bounds the cost.
 *
 * The map is bounded: past `maxAddresses` the address seen least recently is forgotten
 * (its count starts again), so a caller rotating through many addresses costs memory
 * only up to the bound. IPv6 addresses count by their /64: every IPv6 host holds a whole
 * /64 (RFC 4291 §2.5.4), so one caller could otherwise rotate through 2^64 addresses.
 */
import { isIPv6 } from "node:net";

/** The unit an address is counted in: an IPv4 address, or the /64 of an IPv6 one. */
export function rateLimitKey(address: string): string {
  const bare = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (!isIPv6(bare)) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped !== null) return mapped[1]!;
  const [head = "", tail = ""] = bare.toLowerCase().split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const groups = bare.includes("::") ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

export interface AddressRateLimit {
  /** Counts one action from `address`; when over the limit, how many seconds until one is allowed again. */
  take(address: string): { allowed: true } | { allowed: false; retryAfterSeconds: number };
}

export interface AddressRateLimitOptions {
  /** Actions per address per window; 0: no limit. */
  limit: number;
  windowMs?: number;
  maxAddresses?: number;
  now?: () => number;
}

export function addressRateLimit(options: AddressRateLimitOptions): AddressRateLimit {
  const { limit, windowMs = 60_000, maxAddresses = 10_000, now = Date.now } = options;
  /** Per address, the times of its actions within the window, oldest first; least recently seen address first. */
  const seen = new Map<string, number[]>();
  return {
    take(address) {
      if (limit === 0) return { allowed: true };
      address = rateLimitKey(address);
      const at = now();
      const times = (seen.get(address) ?? []).filter((time) => time > at - windowMs);
      seen.delete(address);
      if (times.length >= limit) {
        seen.set(address, times);
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((times[0]! + windowMs - at) / 1000)) };
      }
      times.push(at);
      seen.set(address, times);
      if (seen.size > maxAddresses) seen.delete(seen.keys().next().value!);
      return { allowed: true };
    },
  };
}
