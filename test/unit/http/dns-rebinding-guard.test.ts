import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { runtimeSettings } from "../../../src/config/settings.js";
import { checkedRoute, hostnameOf, originAllowed } from "../../../src/http/dns-rebinding-guard.js";
import { isLoopbackHostname, isLoopbackListenAddress } from "../../../src/loopback.js";

describe("which routes check Origin", () => {
  it.each([
    ["/mcp", "jsonrpc"],
    ["/github/mcp", "jsonrpc"],
    ["/mcp/github?x=1", "jsonrpc"],
    ["/mcp-rest/tools/call", "rest"],
    ["/github/register", "oauth"],
    ["/github/authorize?client_id=x", "oauth"],
    ["/github/token", "oauth"],
    // What the router could still route must not slip past: doubled or trailing slashes, escapes.
    ["//mcp", "jsonrpc"],
    ["/github/mcp/", "jsonrpc"],
    ["/%6Dcp", "jsonrpc"],
    ["/github/%74oken", "oauth"],
  ])("%s → %s", (path, style) => {
    expect(checkedRoute(path)).toBe(style);
  });

  it.each(["/.well-known/oauth-authorization-server/github", "/github/.well-known/openid-configuration", "/callback", "/ui/servers", "/health/readiness", "/v1/mcp/server", "/%zz"])(
    "%s is not checked",
    (path) => {
      expect(checkedRoute(path)).toBeUndefined();
    },
  );
});

describe("loopback", () => {
  it.each(["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"])("listening on %s is loopback only", (host) => {
    expect(isLoopbackListenAddress(host)).toBe(true);
  });

  it.each(["0.0.0.0", "::", "10.0.0.5", "gateway.internal", "128.0.0.1"])("listening on %s is not", (host) => {
    expect(isLoopbackListenAddress(host)).toBe(false);
  });

  it.each([
    ["localhost:4000", true],
    ["LocalHost", true],
    ["app.localhost:3000", true],
    ["127.0.0.1:4000", true],
    ["127.255.0.9", true],
    ["[::1]:4000", true],
    ["localhost.:4000", true],
    ["evil.example:4000", false],
    ["localhost.evil.example", false],
    ["127.0.0.1.evil.example", false],
    ["0.0.0.0:4000", false],
    ["127.1:4000", false],
    ["[::ffff:7f00:1]:4000", false],
  ])("Host %s names loopback: %s", (host, loopback) => {
    expect(isLoopbackHostname(hostnameOf(host))).toBe(loopback);
  });
});

describe("originAllowed", () => {
  const own = "https://gw.example.com";
  const listed = ["https://app.example.com"];

  it.each(["https://gw.example.com", "https://GW.example.com:443", "http://localhost:6274", "http://127.0.0.1:9", "http://[::1]:1", "https://app.example.com"])("%s passes", (origin) => {
    expect(originAllowed(origin, own, listed)).toBe(true);
  });

  it.each(["null", "https://evil.example", "http://gw.example.com", "https://gw.example.com:8443", "https://app.example.com.evil.example", "https://gw.example.com/", "", "https://user@gw.example.com", "file://"])(
    "%j is refused",
    (origin) => {
      expect(originAllowed(origin, own, listed)).toBe(false);
    },
  );
});

describe("the origin allowlist settings", () => {
  const config = (general: string) => parseConfig(`general_settings:\n${general}`, { file: "c.yaml", env: {} }).config;
  const base = { GATEHOUSE_MASTER_KEY: "k", GATEHOUSE_SALT_KEY: "s" };

  it("defaults to nothing extra", () => {
    expect(runtimeSettings(config("  audit_log: true\n"), base).allowedOrigins).toEqual([]);
  });

  it("takes general_settings.mcp_allowed_origins, normalised", () => {
    expect(runtimeSettings(config("  mcp_allowed_origins: ['https://App.example.com:443', 'http://tools.internal:8080']\n"), base).allowedOrigins).toEqual([
      "https://app.example.com",
      "http://tools.internal:8080",
    ]);
  });

  it("prefers LITELLM_CORS_ORIGINS, ignoring '*' and malformed entries with a warning each", () => {
    const settings = runtimeSettings(config("  mcp_allowed_origins: ['https://config.example.com']\n"), {
      ...base,
      LITELLM_CORS_ORIGINS: "https://env.example.com, *, https://bad.example.com/path",
    });
    expect(settings.allowedOrigins).toEqual(["https://env.example.com"]);
    expect(settings.warnings).toEqual([expect.stringContaining("'*' is ignored"), expect.stringContaining("'https://bad.example.com/path' is not an origin")]);
  });
});
