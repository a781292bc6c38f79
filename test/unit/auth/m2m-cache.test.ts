import { describe, expect, it } from "vitest";
import { cacheLifetimeSeconds } from "../../../src/auth/upstream/token-endpoint.js";

describe("client_credentials cache lifetime", () => {
  it("is expires_in - 60 seconds (seed)", () => {
    expect(cacheLifetimeSeconds(3600)).toBe(3540);
  });

  it("keeps half the lifetime of short-lived tokens instead of going to zero", () => {
    expect(cacheLifetimeSeconds(60)).toBe(30);
    expect(cacheLifetimeSeconds(2)).toBe(1);
  });

  it("has a default when expires_in is missing or invalid", () => {
    expect(cacheLifetimeSeconds(undefined)).toBe(300);
    expect(cacheLifetimeSeconds(0)).toBe(300);
    expect(cacheLifetimeSeconds(Number.NaN)).toBe(300);
  });
});
