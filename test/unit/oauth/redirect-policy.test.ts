/**
 * The Connect flow's redirect_uri policy (LiteLLM's "Reverse proxy and ingress
 * configuration"; README, "Connecting an interactive server from the UI"): same origin as
 * the resolved public origin, loopback always, or an https origin from
 * MCP_TRUSTED_REDIRECT_ORIGINS; every trick that could make a parser and a browser disagree
 * about the host is refused.
 *
 * Each row resolves the public origin the way the gateway does (PROXY_BASE_URL, trusted
 * X-Forwarded-*, the request's own URL) from a named scenario, then checks the redirect_uri.
 */
import { describe, expect, it } from "vitest";
import { originSettings, publicOrigin } from "../../../src/oauth/public-origin.js";
import { checkRedirectUri, parseTrustedRedirectOrigins } from "../../../src/oauth/redirect-policy.js";

/** The URL the gateway sees on the request (the pod's address). */
const INTERNAL_URL = "http://10.0.0.5:4000/v1/mcp/server/oauth/gh/authorize";
const INTERNAL = "http://10.0.0.5:4000";
const PUBLIC = "https://llm.example.com";
const FORWARDED = { "x-forwarded-proto": "https", "x-forwarded-host": "llm.example.com" };
const RANGES = ["10.0.0.0/8", "fd00::/8"];

interface Scenario {
  proxyBaseUrl?: string;
  useXForwardedFor?: boolean;
  ranges?: string[];
  peer: string;
  headers?: Record<string, string>;
  /** The origin the scenario must resolve to (checked once per scenario below). */
  resolves: string;
}

const SCENARIOS = {
  /** PROXY_BASE_URL wins, whatever the headers or the peer. */
  proxy: { proxyBaseUrl: "https://llm.example.com", peer: "203.0.113.7", headers: { "x-forwarded-host": "evil.com" }, resolves: PUBLIC },
  /** PROXY_BASE_URL with a non-default port. */
  proxyPort: { proxyBaseUrl: "https://llm.example.com:8443", peer: "203.0.113.7", resolves: "https://llm.example.com:8443" },
  /** An ingress inside mcp_trusted_proxy_ranges (IPv4). */
  trusted: { useXForwardedFor: true, ranges: RANGES, peer: "10.1.2.3", headers: FORWARDED, resolves: PUBLIC },
  /** The same ingress seen as an IPv4-mapped IPv6 peer. */
  trustedMapped: { useXForwardedFor: true, ranges: RANGES, peer: "::ffff:10.1.2.3", headers: FORWARDED, resolves: PUBLIC },
  /** An IPv6 ingress. */
  trustedV6: { useXForwardedFor: true, ranges: RANGES, peer: "fd00::17", headers: FORWARDED, resolves: PUBLIC },
  /** The same headers from a peer outside the ranges: ignored. */
  untrusted: { useXForwardedFor: true, ranges: RANGES, peer: "203.0.113.7", headers: FORWARDED, resolves: INTERNAL },
  /** use_x_forwarded_for without ranges trusts no one. */
  noRanges: { useXForwardedFor: true, ranges: [], peer: "10.1.2.3", headers: FORWARDED, resolves: INTERNAL },
  /** Ranges without use_x_forwarded_for: not trusted either. */
  xffOff: { useXForwardedFor: false, ranges: RANGES, peer: "10.1.2.3", headers: FORWARDED, resolves: INTERNAL },
  /** No proxy at all: the request's own URL. */
  direct: { peer: "10.9.9.9", resolves: INTERNAL },
} satisfies Record<string, Scenario>;
type ScenarioName = keyof typeof SCENARIOS;

function resolve(name: ScenarioName): string {
  const scenario: Scenario = SCENARIOS[name];
  const settings = originSettings({
    proxyBaseUrl: scenario.proxyBaseUrl,
    useXForwardedFor: scenario.useXForwardedFor ?? false,
    trustedProxyRanges: scenario.ranges ?? [],
  });
  return publicOrigin(settings, { url: INTERNAL_URL, headers: new Headers(scenario.headers ?? {}), peer: scenario.peer });
}

const TRUSTED = "app.example.com, ports.example.com:8443, *.tools.example.com";
const WILDCARD = "*.example.com";

type Row = [label: string, uri: string, scenario: ScenarioName, trustedEnv: string | undefined, expected: true | RegExp];

const CALLBACK = "/ui/mcp/oauth/callback";
const NOT_ALLOWED = /is not the gateway's origin, a loopback address, or in MCP_TRUSTED_REDIRECT_ORIGINS/;
const USERINFO = /userinfo/;
const CONTROL = /backslash, a space or a control character/;
const NOT_HTTP = /absolute http:\/\/ or https:\/\/ URL/;
const BAD_HOST = /host/;

const ROWS: Row[] = [
  // --- accepted: the gateway's own origin -------------------------------------------------
  ["same origin (PROXY_BASE_URL)", `${PUBLIC}${CALLBACK}`, "proxy", undefined, true],
  ["same origin with the default port written out", `https://llm.example.com:443${CALLBACK}`, "proxy", undefined, true],
  ["same origin, host in upper case", `https://LLM.Example.COM${CALLBACK}`, "proxy", undefined, true],
  ["same origin with a query", `${PUBLIC}${CALLBACK}?next=%2Fui`, "proxy", undefined, true],
  ["an @ in the query is not userinfo", `${PUBLIC}${CALLBACK}?who=a@b.example`, "proxy", undefined, true],
  ["same origin, non-default port from PROXY_BASE_URL", `https://llm.example.com:8443${CALLBACK}`, "proxyPort", undefined, true],
  ["same origin via a trusted IPv4 ingress", `${PUBLIC}${CALLBACK}`, "trusted", undefined, true],
  ["same origin via a trusted IPv4-mapped IPv6 ingress", `${PUBLIC}${CALLBACK}`, "trustedMapped", undefined, true],
  ["same origin via a trusted IPv6 ingress", `${PUBLIC}${CALLBACK}`, "trustedV6", undefined, true],
  ["the request's own origin (no proxy)", `${INTERNAL}${CALLBACK}`, "direct", undefined, true],
  ["the request's own origin when forwarded headers are not trusted", `${INTERNAL}${CALLBACK}`, "untrusted", undefined, true],
  // --- accepted: loopback, any port, http or https ---------------------------------------
  ["localhost over http, any port", "http://localhost:3000/cb", "proxy", undefined, true],
  ["localhost over https, no port", "https://localhost/cb", "proxy", undefined, true],
  ["LOCALHOST in upper case", "http://LOCALHOST:5173/cb", "proxy", undefined, true],
  ["127.0.0.1", "http://127.0.0.1:8976/oauth/callback", "proxy", undefined, true],
  ["anywhere in 127.0.0.0/8", "http://127.1.2.3:9000/cb", "untrusted", undefined, true],
  ["[::1]", "http://[::1]:8080/cb", "proxy", undefined, true],
  ["[::1] written out in full", "https://[0:0:0:0:0:0:0:1]:4443/cb", "noRanges", undefined, true],
  // --- accepted: MCP_TRUSTED_REDIRECT_ORIGINS ----------------------------------------------
  ["a trusted host", "https://app.example.com/cb", "proxy", TRUSTED, true],
  ["a trusted host with the default port written out", "https://app.example.com:443/cb", "proxy", TRUSTED, true],
  ["a trusted host:port", "https://ports.example.com:8443/cb", "proxy", TRUSTED, true],
  ["a subdomain of a wildcard", "https://a.tools.example.com/cb", "proxy", TRUSTED, true],
  ["a subdomain two levels deeper than a wildcard", "https://x.y.tools.example.com/cb", "untrusted", TRUSTED, true],
  ["a trusted host while the public origin is internal", "https://app.example.com/cb", "noRanges", TRUSTED, true],
  // --- rejected: the origin is not the gateway's --------------------------------------------
  ["the forwarded origin from an untrusted peer", `${PUBLIC}${CALLBACK}`, "untrusted", undefined, NOT_ALLOWED],
  ["the forwarded origin with use_x_forwarded_for but no ranges", `${PUBLIC}${CALLBACK}`, "noRanges", undefined, NOT_ALLOWED],
  ["the forwarded origin with ranges but use_x_forwarded_for off", `${PUBLIC}${CALLBACK}`, "xffOff", undefined, NOT_ALLOWED],
  ["the internal origin once PROXY_BASE_URL is set", `${INTERNAL}${CALLBACK}`, "proxy", undefined, NOT_ALLOWED],
  ["scheme mismatch (http vs https)", `http://llm.example.com${CALLBACK}`, "proxy", undefined, NOT_ALLOWED],
  ["port mismatch", `https://llm.example.com:8443${CALLBACK}`, "proxy", undefined, NOT_ALLOWED],
  ["the default port against a non-default public port", `${PUBLIC}${CALLBACK}`, "proxyPort", undefined, NOT_ALLOWED],
  ["a look-alike suffix", `https://llm.example.com.evil.com${CALLBACK}`, "proxy", undefined, NOT_ALLOWED],
  ["a homoglyph host (Cyrillic a)", `https://llm.ex\u0430mple.com${CALLBACK}`, "proxy", undefined, NOT_ALLOWED],
  ["the public host in the query only", `https://evil.com/?.llm.example.com`, "proxy", undefined, NOT_ALLOWED],
  // --- rejected: userinfo -----------------------------------------------------------------
  ["userinfo naming the gateway", "https://llm.example.com@evil.com/cb", "proxy", undefined, USERINFO],
  ["userinfo with the default port", "https://llm.example.com:443@evil.com/cb", "proxy", undefined, USERINFO],
  ["userinfo before the gateway's host", `https://proxy@llm.example.com${CALLBACK}`, "proxy", undefined, USERINFO],
  ["empty userinfo", `https://@llm.example.com${CALLBACK}`, "proxy", undefined, USERINFO],
  ["userinfo on loopback", "http://user:pass@localhost:3000/cb", "proxy", undefined, USERINFO],
  ["userinfo on a trusted host", "https://evil@app.example.com/cb", "proxy", TRUSTED, USERINFO],
  // --- rejected: backslashes, fragments, whitespace, control characters ---------------------
  ["a backslash before @", "https://evil.com\\@llm.example.com/cb", "proxy", undefined, CONTROL],
  ["a backslash as path separator", "https://llm.example.com\\ui\\mcp\\oauth\\callback", "proxy", undefined, CONTROL],
  ["a leading space", ` ${PUBLIC}${CALLBACK}`, "proxy", undefined, CONTROL],
  ["a space in the host", "https://llm.example.com .evil.com/cb", "proxy", undefined, CONTROL],
  ["a tab inside the host", "https://llm.exa\tmple.com/cb", "proxy", undefined, CONTROL],
  ["a trailing newline", `${PUBLIC}${CALLBACK}\n`, "proxy", undefined, CONTROL],
  ["a NUL character", `${PUBLIC}${CALLBACK}\u0000`, "proxy", undefined, CONTROL],
  ["DEL", `https://llm.example.com\u007f/cb`, "proxy", undefined, CONTROL],
  ["a fragment", `${PUBLIC}${CALLBACK}#frag`, "proxy", undefined, /fragment/],
  ["an empty fragment", `${PUBLIC}${CALLBACK}#`, "proxy", undefined, /fragment/],
  ["a fragment on loopback", "http://localhost:3000/cb#x", "proxy", undefined, /fragment/],
  // --- rejected: schemes and relative URLs -----------------------------------------------
  ["javascript:", "javascript:alert(document.domain)", "proxy", undefined, NOT_HTTP],
  ["javascript: with an authority", "javascript://llm.example.com/%0aalert(1)", "proxy", undefined, NOT_HTTP],
  ["data:", "data:text/html,<script>alert(1)</script>", "proxy", undefined, NOT_HTTP],
  ["ftp:", "ftp://llm.example.com/cb", "proxy", undefined, NOT_HTTP],
  ["file:", "file:///etc/passwd", "proxy", undefined, NOT_HTTP],
  ["a private-use scheme", "cursor://anysphere.cursor-retrieval/oauth/callback", "proxy", undefined, NOT_HTTP],
  ["a relative path", CALLBACK, "proxy", undefined, NOT_HTTP],
  ["a scheme-relative URL", "//llm.example.com/ui/mcp/oauth/callback", "proxy", undefined, NOT_HTTP],
  ["https: with one slash", "https:/llm.example.com/ui/mcp/oauth/callback", "proxy", undefined, NOT_HTTP],
  ["https: without slashes", "https:llm.example.com/ui/mcp/oauth/callback", "proxy", undefined, NOT_HTTP],
  ["an empty string", "", "proxy", undefined, NOT_HTTP],
  // --- rejected: host tricks --------------------------------------------------------------
  ["a percent-encoded dot in the host", "https://llm%2eexample.com/cb", "proxy", undefined, /percent-encode/],
  ["a fully percent-encoded host", "https://%6c%6c%6d.example.com/cb", "proxy", undefined, /percent-encode/],
  ["a percent-encoded @ in the host", "https://llm.example.com%40evil.com/cb", "proxy", undefined, /percent-encode/],
  ["a trailing dot on the gateway's host", "https://llm.example.com./cb", "proxy", undefined, /dot/],
  ["a trailing dot on localhost", "http://localhost./cb", "proxy", undefined, /dot/],
  ["a trailing dot on a trusted host", "https://app.example.com./cb", "proxy", TRUSTED, /dot/],
  ["127.0.0.1 as a subdomain label", "http://127.0.0.1.evil.com/cb", "proxy", undefined, NOT_ALLOWED],
  ["localhost as a subdomain label", "http://localhost.evil.com/cb", "proxy", undefined, NOT_ALLOWED],
  ["a name that starts like localhost", "http://localhostevil.com/cb", "proxy", undefined, NOT_ALLOWED],
  ["a non-loopback IPv6 address", "http://[::2]:8080/cb", "proxy", undefined, NOT_ALLOWED],
  ["a global IPv6 address", "https://[2001:db8::1]/cb", "trustedV6", undefined, NOT_ALLOWED],
  ["an IPv4 address outside 127/8", "http://10.0.0.5:4000/cb", "proxy", undefined, NOT_ALLOWED],
  ["a redirect_uri longer than 2048 characters", `${PUBLIC}/${"a".repeat(2100)}`, "proxy", undefined, /too long/],
  // --- rejected: MCP_TRUSTED_REDIRECT_ORIGINS rules -----------------------------------------
  ["a trusted host over http", "http://app.example.com/cb", "proxy", TRUSTED, /must use https/],
  ["a trusted host on another port", "https://app.example.com:8443/cb", "proxy", TRUSTED, NOT_ALLOWED],
  ["a trusted host:port without its port", "https://ports.example.com/cb", "proxy", TRUSTED, NOT_ALLOWED],
  ["a trusted host:port on another port", "https://ports.example.com:9443/cb", "proxy", TRUSTED, NOT_ALLOWED],
  ["a subdomain of a plain (non-wildcard) entry", "https://x.app.example.com/cb", "proxy", TRUSTED, NOT_ALLOWED],
  ["the bare suffix of a wildcard", "https://tools.example.com/cb", "proxy", TRUSTED, NOT_ALLOWED],
  ["a name that merely ends with the wildcard's suffix", "https://eviltools.example.com/cb", "proxy", TRUSTED, NOT_ALLOWED],
  ["evil-example.com against *.example.com", "https://evil-example.com/cb", "proxy", WILDCARD, NOT_ALLOWED],
  ["example.com.evil.com against *.example.com", "https://a.example.com.evil.com/cb", "proxy", WILDCARD, NOT_ALLOWED],
  ["the bare suffix example.com against *.example.com", "https://example.com/cb", "proxy", WILDCARD, NOT_ALLOWED],
  ["a wildcard subdomain over http", "http://a.tools.example.com/cb", "proxy", TRUSTED, /must use https/],
  ["an empty label before a wildcard's suffix", "https://.tools.example.com/cb", "proxy", TRUSTED, BAD_HOST],
  ["a literal * label against a wildcard", "https://*.tools.example.com/cb", "proxy", TRUSTED, BAD_HOST],
  ["an empty label inside a wildcard's subdomain", "https://a..tools.example.com/cb", "proxy", TRUSTED, BAD_HOST],
  ["a trusted host when MCP_TRUSTED_REDIRECT_ORIGINS is unset", "https://app.example.com/cb", "proxy", undefined, NOT_ALLOWED],
];

describe("the scenarios resolve the origin the seed's order gives", () => {
  it.each(Object.entries(SCENARIOS) as Array<[ScenarioName, Scenario]>)("%s → its origin", (name, scenario) => {
    expect(resolve(name)).toBe(scenario.resolves);
  });
});

describe("checkRedirectUri", () => {
  it("has a table of at least 40 cases, both verdicts, every scenario", () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
    expect(ROWS.filter((row) => row[4] === true).length).toBeGreaterThanOrEqual(15);
    expect(ROWS.filter((row) => row[4] !== true).length).toBeGreaterThanOrEqual(25);
    expect(new Set(ROWS.map((row) => row[2]))).toEqual(new Set(Object.keys(SCENARIOS)));
    expect(new Set(ROWS.map((row) => row[0])).size).toBe(ROWS.length);
  });

  it.each(ROWS)("%s: %j (%s, MCP_TRUSTED_REDIRECT_ORIGINS=%s)", (_label, uri, scenario, trustedEnv, expected) => {
    const trusted = parseTrustedRedirectOrigins(trustedEnv);
    expect(trusted.warnings).toEqual([]);
    const verdict = checkRedirectUri(uri, resolve(scenario), trusted.origins);
    if (expected === true) {
      expect(verdict).toMatchObject({ ok: true });
      // The URL handed on is the parsed one, unchanged but for normalisation.
      if (verdict.ok) expect(verdict.url.href).toBe(new URL(uri).href);
    } else {
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) expect(verdict.reason).toMatch(expected);
    }
  });
});

describe("parseTrustedRedirectOrigins", () => {
  it("parses host, host:port and *.suffix entries, trimming spaces and skipping empty ones, lower-cased", () => {
    const parsed = parseTrustedRedirectOrigins(" App.Example.com ,, ports.example.com:8443,*.Tools.example.com , ");
    expect(parsed.warnings).toEqual([]);
    expect(parsed.origins).toEqual([
      { host: "app.example.com", wildcard: false },
      { host: "ports.example.com", port: "8443", wildcard: false },
      { host: "tools.example.com", wildcard: true },
    ]);
  });

  it("treats an unset or empty value as no entries, without warnings", () => {
    expect(parseTrustedRedirectOrigins(undefined)).toEqual({ origins: [], warnings: [] });
    expect(parseTrustedRedirectOrigins("")).toEqual({ origins: [], warnings: [] });
    expect(parseTrustedRedirectOrigins(" , ")).toEqual({ origins: [], warnings: [] });
  });

  it.each([
    ["a scheme", "https://app.example.com"],
    ["a path", "app.example.com/cb"],
    ["userinfo", "user@app.example.com"],
    ["a wildcard of a top-level domain", "*.com"],
    ["a lone *", "*"],
    ["a wildcard in the middle", "a.*.example.com"],
    ["a double wildcard", "*.*.example.com"],
    ["a trailing dot", "app.example.com."],
    ["an empty label", "app..example.com"],
    ["an empty port", "app.example.com:"],
    ["a port above 65535", "app.example.com:99999"],
    ["port 0", "app.example.com:0"],
    ["a non-numeric port", "app.example.com:https"],
    ["an IPv6 literal", "[2001:db8::1]:8443"],
    ["a percent-encoded host", "app%2eexample.com"],
  ])("warns about and ignores an entry with %s (%s), keeping the valid ones", (_label, entry) => {
    const parsed = parseTrustedRedirectOrigins(`good.example.com,${entry}`);
    expect(parsed.origins).toEqual([{ host: "good.example.com", wildcard: false }]);
    expect(parsed.warnings).toHaveLength(1);
    expect(parsed.warnings[0]).toContain("MCP_TRUSTED_REDIRECT_ORIGINS");
    expect(parsed.warnings[0]).toContain(entry);
    expect(parsed.warnings[0]).toMatch(/ignored/);
  });

  it("an ignored entry trusts nothing", () => {
    const parsed = parseTrustedRedirectOrigins("https://app.example.com,app.example.com:99999");
    expect(parsed.warnings).toHaveLength(2);
    for (const uri of ["https://app.example.com/cb", "https://app.example.com:99999/cb"]) {
      expect(checkRedirectUri(uri, PUBLIC, parsed.origins).ok, uri).toBe(false);
    }
  });
});
