/**
 * The debug headers' building blocks (LiteLLM's "Debugging OAuth"; README, "Debug
 * headers"): masking, and the five response headers built from the request and what the
 * gateway recorded.
 */
import { describe, expect, it } from "vitest";
import { DebugRecorder, debugHeaders, maskCredential } from "../../src/debug.js";

const KEY = "sk-gateway-key-0123456789abcd";
const UPSTREAM_TOKEN = "eyJhbGciOiJSUzI1NiJ9.payload.signature-ef01";
const SAME_AS = " (SAME_AS_LITELLM_KEY - likely misconfigured)";

function headers(values: Record<string, string>): Headers {
  return new Headers(values);
}

function recorded(...calls: Array<[server: string, resolution: string, url: string, authType: string]>): DebugRecorder {
  const recorder = new DebugRecorder();
  for (const [server, resolution, url, authType] of calls) recorder.record({ server, resolution, url, authType });
  return recorder;
}

describe("maskCredential", () => {
  it.each([
    ["Bearer sk-test-master-0123456789", "Bearer****6789"],
    ["bearer sk-test-master-0123456789", "bearer****6789"],
    ["Basic dXNlcjpwYXNzd29yZA==", "Basic****ZA=="],
    ["token ghp_0123456789abcdefXYZ", "token****fXYZ"],
    // A bare key (x-litellm-api-key without a scheme) has no scheme to show.
    ["sk-test-master-0123456789", "****6789"],
    ["  Bearer sk-test-master-0123456789  ", "Bearer****6789"],
  ])("%s → %s", (value, masked) => {
    expect(maskCredential(value)).toBe(masked);
  });

  it("shows the last 4 characters only of a secret of 12 characters or more", () => {
    expect(maskCredential("Bearer abcdefghijkl")).toBe("Bearer****ijkl");
    expect(maskCredential("Bearer abcdefghijk")).toBe("Bearer****");
    expect(maskCredential("abcdefghijkl")).toBe("****ijkl");
    expect(maskCredential("short")).toBe("****");
    expect(maskCredential("Bearer")).toBe("****");
    expect(maskCredential("")).toBe("****");
  });

  it("never shows a leading word that is not an auth scheme: it may be part of the secret", () => {
    for (const value of ["hunter2hunter2 and-the-rest", "sk_live_51Habc defghijklmnop", "Custom scheme-0123456789"]) {
      const masked = maskCredential(value);
      expect(masked).toBe(`****${value.slice(-4)}`);
      expect(masked).not.toContain(value.split(" ")[0]);
    }
  });

  it("keeps nothing of a secret but its last 4 characters, whatever its length", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=";
    for (let length = 1; length <= 64; length++) {
      const secret = Array.from({ length }, (_, i) => alphabet[(i * 7 + length) % alphabet.length]).join("");
      const masked = maskCredential(`Bearer ${secret}`);
      const shown = masked.slice("Bearer****".length);
      expect(masked.startsWith("Bearer****")).toBe(true);
      expect(shown).toBe(length >= 12 ? secret.slice(-4) : "");
    }
  });
});

describe("debugHeaders", () => {
  it("reports nothing present and no upstream called for an empty request", () => {
    const result = debugHeaders(headers({}), new DebugRecorder(), undefined);
    expect(Object.keys(result).sort()).toEqual([
      "x-mcp-debug-auth-resolution",
      "x-mcp-debug-inbound-auth",
      "x-mcp-debug-oauth2-token",
      "x-mcp-debug-outbound-url",
      "x-mcp-debug-server-auth-type",
    ]);
    expect(result["x-mcp-debug-inbound-auth"]).toBe("(none)");
    expect(result["x-mcp-debug-oauth2-token"]).toBe("(none)");
    for (const name of ["x-mcp-debug-auth-resolution", "x-mcp-debug-outbound-url", "x-mcp-debug-server-auth-type"] as const) {
      expect(result[name]).toMatch(/^\(none\b.*no upstream was called/);
    }
  });

  it("healthy OAuth2 passthrough: both headers listed, masked, and the token not flagged (seed example)", () => {
    const result = debugHeaders(
      headers({ "x-litellm-api-key": `Bearer ${KEY}`, authorization: `Bearer ${UPSTREAM_TOKEN}` }),
      recorded(["atlassian", "oauth2-passthrough", "https://mcp.atlassian.com/v1/mcp", "oauth2"]),
      KEY,
    );
    expect(result).toEqual({
      "x-mcp-debug-inbound-auth": "x-litellm-api-key=Bearer****abcd; authorization=Bearer****ef01",
      "x-mcp-debug-oauth2-token": "Bearer****ef01",
      "x-mcp-debug-auth-resolution": "oauth2-passthrough",
      "x-mcp-debug-outbound-url": "https://mcp.atlassian.com/v1/mcp",
      "x-mcp-debug-server-auth-type": "oauth2",
    });
  });

  it("the gateway key in Authorization is flagged SAME_AS_LITELLM_KEY (seed example)", () => {
    const result = debugHeaders(headers({ authorization: `Bearer ${KEY}` }), new DebugRecorder(), KEY);
    expect(result["x-mcp-debug-inbound-auth"]).toBe("authorization=Bearer****abcd");
    expect(result["x-mcp-debug-oauth2-token"]).toBe(`Bearer****abcd${SAME_AS}`);
  });

  it("flags the key sent in both headers, and compares the bearer case-insensitively by scheme only", () => {
    const both = debugHeaders(headers({ "x-litellm-api-key": KEY, authorization: `bearer ${KEY}` }), new DebugRecorder(), KEY);
    expect(both["x-mcp-debug-inbound-auth"]).toBe("x-litellm-api-key=****abcd; authorization=bearer****abcd");
    expect(both["x-mcp-debug-oauth2-token"]).toBe(`Bearer****abcd${SAME_AS}`);
    const other = debugHeaders(headers({ "x-litellm-api-key": KEY, authorization: `Bearer ${KEY}x` }), new DebugRecorder(), KEY);
    expect(other["x-mcp-debug-oauth2-token"]).toBe("Bearer****bcdx");
  });

  it("an Authorization that is not a bearer token is no OAuth2 token", () => {
    const result = debugHeaders(headers({ authorization: "Basic dXNlcjpwYXNzd29yZA==" }), new DebugRecorder(), undefined);
    expect(result["x-mcp-debug-inbound-auth"]).toBe("authorization=Basic****ZA==");
    expect(result["x-mcp-debug-oauth2-token"]).toBe("(none)");
  });

  it("one server: bare values; several: one `server=value` per server, in the same order in every header", () => {
    const one = debugHeaders(headers({}), recorded(["alpha", "static-token", "http://a.test/mcp", "bearer_token"]), undefined);
    expect(one["x-mcp-debug-auth-resolution"]).toBe("static-token");
    expect(one["x-mcp-debug-outbound-url"]).toBe("http://a.test/mcp");
    expect(one["x-mcp-debug-server-auth-type"]).toBe("bearer_token");

    const two = debugHeaders(
      headers({}),
      recorded(["alpha", "static-token", "http://a.test/mcp", "bearer_token"], ["beta", "no-auth", "http://b.test/mcp", "none"]),
      undefined,
    );
    expect(two["x-mcp-debug-auth-resolution"]).toBe("alpha=static-token, beta=no-auth");
    expect(two["x-mcp-debug-outbound-url"]).toBe("alpha=http://a.test/mcp, beta=http://b.test/mcp");
    expect(two["x-mcp-debug-server-auth-type"]).toBe("alpha=bearer_token, beta=none");
  });

  it("a retry replaces the first attempt of the same server", () => {
    const recorder = recorded(["m2m", "m2m-client-credentials", "http://m.test/mcp", "oauth2"], ["other", "no-auth", "http://o.test/mcp", "none"]);
    recorder.record({ server: "m2m", resolution: "per-request-header", url: "http://m.test/mcp", authType: "oauth2" });
    expect(recorder.records).toHaveLength(2);
    expect(debugHeaders(headers({}), recorder, undefined)["x-mcp-debug-auth-resolution"]).toBe("m2m=per-request-header, other=no-auth");
  });

  it("masks credentials carried in an upstream URL (userinfo, query values)", () => {
    const recorder = recorded(["q", "no-auth", "https://user:p4ssw0rd-0123456789@mcp.example.com/v1/mcp?api_key=ak-0123456789abcdef&team=x#frag", "none"]);
    const url = debugHeaders(headers({}), recorder, undefined)["x-mcp-debug-outbound-url"];
    expect(url).toBe("https://****@mcp.example.com/v1/mcp?api_key=****cdef&team=****");
    expect(url).not.toContain("p4ssw0rd");
    expect(url).not.toContain("user");
  });

  it("leaves a plain URL untouched", () => {
    const recorder = recorded(["p", "no-auth", "http://127.0.0.1:8765/mcp", "none"]);
    expect(debugHeaders(headers({}), recorder, undefined)["x-mcp-debug-outbound-url"]).toBe("http://127.0.0.1:8765/mcp");
  });
});
