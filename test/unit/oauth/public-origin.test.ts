import { describe, expect, it } from "vitest";
import { originSettings, publicOrigin, validOrigin } from "../../../src/oauth/public-origin.js";

const request = (url: string, headers: Record<string, string> = {}, peer?: string) => ({ url, headers: new Headers(headers), peer });
const forwarded = { "x-forwarded-proto": "https", "x-forwarded-host": "llm.example.com" };

describe("public origin (seed order)", () => {
  it("uses PROXY_BASE_URL verbatim, default port normalised, over everything else", () => {
    const settings = originSettings({ proxyBaseUrl: "https://llm.example.com:443", useXForwardedFor: true, trustedProxyRanges: ["10.0.0.0/8"] });
    expect(settings.warnings).toEqual([]);
    expect(publicOrigin(settings, request("http://10.1.2.3:4000/x", forwarded, "10.0.0.5"))).toBe("https://llm.example.com");
  });

  it("ignores an invalid PROXY_BASE_URL with one warning", () => {
    for (const bad of ["https://llm.example.com/", "https://llm.example.com/path", "llm.example.com", "ftp://x", "https://u@x.com"]) {
      const settings = originSettings({ proxyBaseUrl: bad, useXForwardedFor: false, trustedProxyRanges: [] });
      expect(settings.proxyBaseUrl, bad).toBeUndefined();
      expect(settings.warnings, bad).toHaveLength(1);
    }
  });

  it("trusts X-Forwarded-* only from a peer inside mcp_trusted_proxy_ranges, IPv4-mapped peers included", () => {
    const settings = originSettings({ proxyBaseUrl: undefined, useXForwardedFor: true, trustedProxyRanges: ["10.0.0.0/8", "fd00::/8"] });
    expect(publicOrigin(settings, request("http://pod:4000/x", forwarded, "10.9.9.9"))).toBe("https://llm.example.com");
    expect(publicOrigin(settings, request("http://pod:4000/x", forwarded, "::ffff:10.9.9.9"))).toBe("https://llm.example.com");
    expect(publicOrigin(settings, request("http://pod:4000/x", forwarded, "fd00::1"))).toBe("https://llm.example.com");
    expect(publicOrigin(settings, request("http://pod:4000/x", forwarded, "203.0.113.9"))).toBe("http://pod:4000");
    expect(publicOrigin(settings, request("http://pod:4000/x", forwarded, undefined))).toBe("http://pod:4000");
  });

  it("trusts no one when use_x_forwarded_for has no ranges, and says so", () => {
    const settings = originSettings({ proxyBaseUrl: undefined, useXForwardedFor: true, trustedProxyRanges: [] });
    expect(settings.warnings.join()).toContain("mcp_trusted_proxy_ranges is empty");
    expect(publicOrigin(settings, request("http://pod:4000/x", forwarded, "10.0.0.1"))).toBe("http://pod:4000");
  });

  it("adds X-Forwarded-Port unless it is the default", () => {
    const settings = originSettings({ proxyBaseUrl: undefined, useXForwardedFor: true, trustedProxyRanges: ["127.0.0.0/8"] });
    expect(publicOrigin(settings, request("http://127.0.0.1:4000/x", { ...forwarded, "x-forwarded-port": "8443" }, "127.0.0.1"))).toBe("https://llm.example.com:8443");
    expect(publicOrigin(settings, request("http://127.0.0.1:4000/x", { ...forwarded, "x-forwarded-port": "443" }, "127.0.0.1"))).toBe("https://llm.example.com");
  });

  it("validOrigin normalises default ports and refuses anything but an origin", () => {
    expect(validOrigin("http://a.example:80")).toBe("http://a.example");
    expect(validOrigin("https://a.example:8443")).toBe("https://a.example:8443");
    expect(validOrigin("https://a.example?x=1")).toBeUndefined();
  });
});
