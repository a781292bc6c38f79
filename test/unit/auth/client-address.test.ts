/**
 * `src/auth/inbound/client-address.ts`: CIDR parsing, range membership as Node reports
 * peers, the client address behind trusted proxies, and the internal/public decision.
 */
import { describe, expect, it } from "vitest";
import { callerNetwork, clientAddress, DEFAULT_INTERNAL_RANGES, inRanges, parseRanges, type ForwardingTrust } from "../../../src/auth/inbound/client-address.js";

const headersWith = (forwardedFor?: string) => new Headers(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor });

describe("parseRanges", () => {
  it("accepts IPv4 and IPv6 CIDRs and bare addresses (a /32 or /128)", () => {
    const ranges = parseRanges(["10.0.0.0/8", "fd00::/8", "192.0.2.7", "2001:db8::1", " 198.51.100.0/24 "]);
    expect(ranges.invalid).toEqual([]);
    expect(ranges.count).toBe(5);
    expect(inRanges(ranges, "10.255.255.255")).toBe(true);
    expect(inRanges(ranges, "11.0.0.0")).toBe(false);
    expect(inRanges(ranges, "fd12:3456::1")).toBe(true);
    expect(inRanges(ranges, "fe80::1")).toBe(false);
    // A bare address is exactly that address.
    expect(inRanges(ranges, "192.0.2.7")).toBe(true);
    expect(inRanges(ranges, "192.0.2.8")).toBe(false);
    expect(inRanges(ranges, "2001:db8::1")).toBe(true);
    expect(inRanges(ranges, "2001:db8::2")).toBe(false);
    // Surrounding whitespace is tolerated.
    expect(inRanges(ranges, "198.51.100.200")).toBe(true);
  });

  it.each([
    ["an empty prefix", "10.0.0.0/"],
    ["a non-numeric prefix", "10.0.0.0/abc"],
    ["an IPv4 prefix above 32", "10.0.0.0/33"],
    ["an IPv6 prefix above 128", "fc00::/129"],
    ["an exponent as prefix", "10.0.0.0/1e1"],
    ["a negative prefix", "10.0.0.0/-1"],
    ["two prefixes", "10.0.0.0/8/8"],
    ["a name", "banana"],
    ["a hostname with a prefix", "localhost/8"],
    ["the empty string", ""],
    ["a lone slash", "/"],
    ["a prefix without address", "/8"],
  ])("rejects %s (%j) and matches nothing for it", (_label, entry) => {
    const ranges = parseRanges([entry]);
    expect(ranges.invalid).toEqual([entry]);
    expect(ranges.count).toBe(0);
    // An invalid entry must never widen into "everything" (a /0).
    for (const address of ["10.0.0.1", "0.0.0.0", "255.255.255.255", "203.0.113.9", "fc00::1", "::1", "2001:db8::1"]) {
      expect(inRanges(ranges, address), `${entry} vs ${address}`).toBe(false);
    }
  });

  it("keeps the valid entries beside invalid ones, reporting the invalid ones as written", () => {
    const ranges = parseRanges(["10.0.0.0/33", "127.0.0.1/32", "banana", " fc00::/7 "]);
    expect(ranges.invalid).toEqual(["10.0.0.0/33", "banana"]);
    expect(ranges.count).toBe(2);
    expect(inRanges(ranges, "127.0.0.1")).toBe(true);
    expect(inRanges(ranges, "127.0.0.2")).toBe(false);
    expect(inRanges(ranges, "10.0.0.1")).toBe(false);
    expect(inRanges(ranges, "fd00::1")).toBe(true);
  });

  it("accepts /0 as written: every address of that family", () => {
    const v4 = parseRanges(["1.2.3.4/0"]);
    expect(v4.invalid).toEqual([]);
    expect(v4.count).toBe(1);
    for (const address of ["0.0.0.0", "10.0.0.1", "203.0.113.9", "255.255.255.255", "::ffff:203.0.113.9"]) expect(inRanges(v4, address), address).toBe(true);
    expect(inRanges(v4, "2001:db8::1")).toBe(false);

    const v6 = parseRanges(["::/0"]);
    expect(v6.invalid).toEqual([]);
    expect(inRanges(v6, "2001:db8::1")).toBe(true);
    expect(inRanges(v6, "fc00::1")).toBe(true);
  });

  it("accepts the boundary prefixes /32 and /128", () => {
    const ranges = parseRanges(["192.0.2.1/32", "2001:db8::1/128"]);
    expect(ranges.invalid).toEqual([]);
    expect(inRanges(ranges, "192.0.2.1")).toBe(true);
    expect(inRanges(ranges, "192.0.2.2")).toBe(false);
    expect(inRanges(ranges, "2001:db8::1")).toBe(true);
    expect(inRanges(ranges, "2001:db8::2")).toBe(false);
  });

  it("of an empty list matches nothing", () => {
    const ranges = parseRanges([]);
    expect(ranges).toMatchObject({ invalid: [], count: 0 });
    expect(inRanges(ranges, "127.0.0.1")).toBe(false);
  });
});

describe("inRanges", () => {
  const internal = parseRanges(DEFAULT_INTERNAL_RANGES);

  it("the default internal ranges all parse", () => {
    expect(internal.invalid).toEqual([]);
    expect(internal.count).toBe(DEFAULT_INTERNAL_RANGES.length);
  });

  it.each([
    ["10.0.0.1", true],
    ["10.255.255.255", true],
    ["172.16.0.1", true],
    ["172.31.255.255", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["192.169.0.1", false],
    ["100.64.0.1", true],
    ["100.127.255.255", true],
    ["100.128.0.1", false],
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["8.8.8.8", false],
    ["203.0.113.9", false],
    ["::1", true],
    ["::2", false],
    ["fc00::1", true],
    ["fd12:3456:789a::1", true],
    ["fe00::1", false],
    ["fe80::1", false],
    ["2001:db8::1", false],
  ])("default internal ranges: %s → %s", (address, expected) => {
    expect(inRanges(internal, address)).toBe(expected);
  });

  it("reads IPv4-mapped IPv6 peers (as Node reports them on a dual-stack socket) as IPv4", () => {
    const ranges = parseRanges(["10.0.0.0/8"]);
    expect(inRanges(ranges, "::ffff:10.0.0.1")).toBe(true);
    expect(inRanges(ranges, "::FFFF:10.1.2.3")).toBe(true);
    expect(inRanges(ranges, "::ffff:11.0.0.1")).toBe(false);
    expect(inRanges(internal, "::ffff:127.0.0.1")).toBe(true);
    expect(inRanges(internal, "::ffff:203.0.113.9")).toBe(false);
  });

  it("is false for an undefined address, an empty string and things that are not addresses", () => {
    const everything = parseRanges(["0.0.0.0/0", "::/0"]);
    for (const address of [undefined, "", "banana", "10.0.0.1:80", "[::1]", "10.0.0", "localhost"]) {
      expect(inRanges(everything, address), String(address)).toBe(false);
    }
  });
});

describe("clientAddress", () => {
  const trusted = (useXForwardedFor = true, ranges: string[] = ["127.0.0.2/32", "10.9.0.0/16", "2001:db8:ffff::/48"]): ForwardingTrust => ({
    useXForwardedFor,
    trustedProxies: parseRanges(ranges),
  });

  it("is the peer when the peer is not a trusted proxy, whatever X-Forwarded-For says", () => {
    expect(clientAddress(trusted(), "127.0.0.1", headersWith("10.1.2.3"))).toBe("127.0.0.1");
    expect(clientAddress(trusted(), "203.0.113.9", headersWith("10.1.2.3, 127.0.0.2"))).toBe("203.0.113.9");
  });

  it("is the peer when use_x_forwarded_for is off, even for a trusted proxy", () => {
    expect(clientAddress(trusted(false), "127.0.0.2", headersWith("10.1.2.3"))).toBe("127.0.0.2");
  });

  it("is the peer for an undefined peer (no socket): nothing is trusted", () => {
    expect(clientAddress(trusted(), undefined, headersWith("10.1.2.3"))).toBeUndefined();
  });

  it("reads the one hop a trusted proxy forwards", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.1.2.3"))).toBe("10.1.2.3");
    expect(clientAddress(trusted(), "::ffff:127.0.0.2", headersWith("203.0.113.9"))).toBe("203.0.113.9");
  });

  it("takes the rightmost untrusted hop: whatever the client wrote on the left is ignored", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.1.2.3, 203.0.113.9"))).toBe("203.0.113.9");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.1.2.3,203.0.113.9"))).toBe("203.0.113.9");
  });

  it("skips trusted proxies from the right", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.1.2.3, 203.0.113.9, 10.9.1.1, 127.0.0.2"))).toBe("203.0.113.9");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("203.0.113.9, 2001:db8:ffff::5"))).toBe("203.0.113.9");
  });

  it("reads the header when it is repeated (joined with commas by the Headers API)", () => {
    const headers = new Headers();
    headers.append("x-forwarded-for", "10.1.2.3");
    headers.append("x-forwarded-for", "203.0.113.9");
    expect(clientAddress(trusted(), "127.0.0.2", headers)).toBe("203.0.113.9");
  });

  it("strips ports that proxies append: 1.2.3.4:5678 and [2001:db8::1]:443", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("1.2.3.4:5678"))).toBe("1.2.3.4");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("[2001:db8::1]:443"))).toBe("2001:db8::1");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("[2001:db8::1]"))).toBe("2001:db8::1");
    // A bare IPv6 address is left alone (its last group is not a port).
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("2001:db8::1"))).toBe("2001:db8::1");
    // A trusted hop with a port is still recognised as trusted and skipped.
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("203.0.113.9:1111, 10.9.0.1:2222"))).toBe("203.0.113.9");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("203.0.113.9, [2001:db8:ffff::5]:443"))).toBe("203.0.113.9");
  });

  it("is the leftmost hop when every hop is a trusted proxy", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.9.0.1, 10.9.0.2, 127.0.0.2"))).toBe("10.9.0.1");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.9.0.1:8080, 10.9.0.2"))).toBe("10.9.0.1");
  });

  it("is the peer when a trusted proxy sends no hop, or only empty ones", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith())).toBe("127.0.0.2");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith(""))).toBe("127.0.0.2");
    expect(clientAddress(trusted(), "127.0.0.2", headersWith(" , ,"))).toBe("127.0.0.2");
  });

  it("returns a garbage hop as is (it is then in no range, so never internal)", () => {
    expect(clientAddress(trusted(), "127.0.0.2", headersWith("10.1.2.3, unknown"))).toBe("unknown");
  });
});

describe("callerNetwork.fromPublicInternet", () => {
  const noForwarding: ForwardingTrust = { useXForwardedFor: false, trustedProxies: parseRanges([]) };

  it("is true for an undefined peer (no socket, unknown address)", () => {
    expect(callerNetwork(noForwarding, parseRanges(DEFAULT_INTERNAL_RANGES)).fromPublicInternet(undefined, headersWith())).toBe(true);
    // Even with ranges that cover every address.
    expect(callerNetwork(noForwarding, parseRanges(["0.0.0.0/0", "::/0"])).fromPublicInternet(undefined, headersWith())).toBe(true);
  });

  it("is false inside the internal ranges and true outside, IPv4-mapped peers included", () => {
    const network = callerNetwork(noForwarding, parseRanges(DEFAULT_INTERNAL_RANGES));
    expect(network.fromPublicInternet("127.0.0.1", headersWith())).toBe(false);
    expect(network.fromPublicInternet("::ffff:192.168.0.10", headersWith())).toBe(false);
    expect(network.fromPublicInternet("fd00::1", headersWith())).toBe(false);
    expect(network.fromPublicInternet("203.0.113.9", headersWith())).toBe(true);
    expect(network.fromPublicInternet("::ffff:203.0.113.9", headersWith())).toBe(true);
    expect(network.fromPublicInternet("2001:db8::1", headersWith())).toBe(true);
  });

  it("ignores X-Forwarded-For unless use_x_forwarded_for is on and the peer is a trusted proxy", () => {
    const internal = parseRanges(["10.0.0.0/8"]);
    const off = callerNetwork({ useXForwardedFor: false, trustedProxies: parseRanges(["127.0.0.2/32"]) }, internal);
    expect(off.fromPublicInternet("127.0.0.2", headersWith("10.1.2.3"))).toBe(true);
    const on = callerNetwork({ useXForwardedFor: true, trustedProxies: parseRanges(["127.0.0.2/32"]) }, internal);
    expect(on.fromPublicInternet("127.0.0.2", headersWith("10.1.2.3"))).toBe(false);
    expect(on.fromPublicInternet("127.0.0.2", headersWith("203.0.113.9"))).toBe(true);
    expect(on.fromPublicInternet("127.0.0.2", headersWith("10.1.2.3, 203.0.113.9"))).toBe(true);
    expect(on.fromPublicInternet("127.0.0.1", headersWith("10.1.2.3"))).toBe(true);
    // An internal peer stays internal when it is not a proxy, whatever it forwards.
    expect(on.fromPublicInternet("10.5.5.5", headersWith("203.0.113.9"))).toBe(false);
  });

  it("treats everything as public with an empty internal list", () => {
    const network = callerNetwork(noForwarding, parseRanges([]));
    expect(network.fromPublicInternet("127.0.0.1", headersWith())).toBe(true);
    expect(network.fromPublicInternet("10.0.0.1", headersWith())).toBe(true);
  });
});
