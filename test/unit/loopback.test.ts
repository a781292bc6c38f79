import { BlockList } from "node:net";
import { describe, expect, it } from "vitest";
import { LOOPBACK_RANGES, isLoopbackAddress, isLoopbackHostname, isLoopbackRedirectHost } from "../../src/loopback.js";

describe("loopback", () => {
  it.each(["127.0.0.1", "127.9.8.7", "::1", "[::1]", "::ffff:127.0.0.1"])("address %s is loopback", (address) => {
    expect(isLoopbackAddress(address)).toBe(true);
  });

  it.each(["128.0.0.1", "10.0.0.1", "::2", "localhost", "127.1", "::ffff:10.0.0.1"])("address %s is not", (address) => {
    expect(isLoopbackAddress(address)).toBe(false);
  });

  it("LOOPBACK_RANGES hold exactly what isLoopbackAddress accepts, for plain addresses", () => {
    const ranges = new BlockList();
    for (const range of LOOPBACK_RANGES) {
      const [network, prefix] = range.split("/") as [string, string];
      ranges.addSubnet(network, Number(prefix), network.includes(":") ? "ipv6" : "ipv4");
    }
    for (const address of ["127.0.0.1", "127.255.255.254", "126.255.255.255", "128.0.0.0"]) {
      expect(ranges.check(address, "ipv4")).toBe(isLoopbackAddress(address));
    }
    for (const address of ["::1", "::2"]) expect(ranges.check(address, "ipv6")).toBe(isLoopbackAddress(address));
  });

  it("a redirect URI's loopback host is localhost or a loopback literal, never another localhost name (RFC 8252 §7.3)", () => {
    for (const host of ["localhost", "127.0.0.1", "127.0.1.1", "[::1]"]) expect(isLoopbackRedirectHost(new URL(`http://${host}:8080/cb`).hostname)).toBe(true);
    for (const host of ["app.localhost", "localhost.example.com", "[::ffff:127.0.0.1]", "example.com"]) {
      expect(isLoopbackRedirectHost(new URL(`http://${host}/cb`).hostname)).toBe(false);
    }
    expect(isLoopbackHostname("app.localhost")).toBe(true);
  });
});
