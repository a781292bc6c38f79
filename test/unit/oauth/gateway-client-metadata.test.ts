import { describe, expect, it } from "vitest";
import { cimdOriginWarning, gatewayClientMetadata } from "../../../src/oauth/gateway-client-metadata.js";

describe("cimdOriginWarning", () => {
  it("says nothing without cimd servers, or with an https PROXY_BASE_URL", () => {
    expect(cimdOriginWarning([], { proxyBaseUrl: undefined, useXForwardedFor: false })).toBeUndefined();
    expect(cimdOriginWarning(["gh"], { proxyBaseUrl: "https://gw.example.com", useXForwardedFor: false })).toBeUndefined();
  });

  it("warns, naming every server, when PROXY_BASE_URL is http", () => {
    const warning = cimdOriginWarning(["gh", "jira"], { proxyBaseUrl: "http://gw.internal:4000", useXForwardedFor: false });
    expect(warning).toContain("'gh', 'jira' have registration cimd");
    expect(warning).toContain("PROXY_BASE_URL http://gw.internal:4000 is not https");
  });

  it("warns without PROXY_BASE_URL unless a trusted ingress may say the origin is https", () => {
    expect(cimdOriginWarning(["gh"], { proxyBaseUrl: undefined, useXForwardedFor: false })).toContain("'gh' has registration cimd, but PROXY_BASE_URL is not set");
    expect(cimdOriginWarning(["gh"], { proxyBaseUrl: undefined, useXForwardedFor: true })).toBeUndefined();
  });
});

describe("gatewayClientMetadata", () => {
  it("is a public client whose client_id is the document's own URL and whose only redirect is the gateway's callback", () => {
    expect(gatewayClientMetadata("https://gw.example.com")).toEqual({
      client_id: "https://gw.example.com/.well-known/gatehouse/oauth-client.json",
      client_name: "Gatehouse",
      redirect_uris: ["https://gw.example.com/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "web",
    });
  });
});
