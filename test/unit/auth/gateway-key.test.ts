import { describe, expect, it } from "vitest";
import { extractGatewayKey } from "../../../src/auth/inbound/gateway-key.js";

describe("extractGatewayKey", () => {
  it("reads x-litellm-api-key with and without Bearer", () => {
    expect(extractGatewayKey(new Headers({ "x-litellm-api-key": "Bearer sk-1" }))).toEqual({ key: "sk-1", source: "x-litellm-api-key" });
    expect(extractGatewayKey(new Headers({ "x-litellm-api-key": "sk-2" }))).toEqual({ key: "sk-2", source: "x-litellm-api-key" });
  });

  it("falls back to Authorization only when x-litellm-api-key is absent", () => {
    expect(extractGatewayKey(new Headers({ authorization: "Bearer sk-3" }))).toEqual({ key: "sk-3", source: "authorization" });
    const both = new Headers({ "x-litellm-api-key": "sk-4", authorization: "Bearer user-token" });
    expect(extractGatewayKey(both)).toEqual({ key: "sk-4", source: "x-litellm-api-key" });
  });

  it("finds no key in an empty header or a non-bearer Authorization", () => {
    expect(extractGatewayKey(new Headers({ "x-litellm-api-key": "Bearer " }))).toBeUndefined();
    expect(extractGatewayKey(new Headers({ authorization: "Basic dXNlcjpwYXNz" }))).toBeUndefined();
    expect(extractGatewayKey(new Headers())).toBeUndefined();
  });
});
