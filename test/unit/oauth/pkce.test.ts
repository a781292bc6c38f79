import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isS256Challenge, verifierMatches } from "../../../src/oauth/pkce.js";

// RFC 7636 Appendix B.
const VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

describe("PKCE S256", () => {
  it("accepts the RFC 7636 example", () => {
    expect(isS256Challenge(CHALLENGE)).toBe(true);
    expect(verifierMatches(VERIFIER, CHALLENGE)).toBe(true);
  });

  it("refuses a wrong verifier, a plain challenge used as verifier, and malformed verifiers", () => {
    expect(verifierMatches(VERIFIER.replace("d", "e"), CHALLENGE)).toBe(false);
    expect(verifierMatches(CHALLENGE, CHALLENGE)).toBe(false);
    expect(verifierMatches("short", createHash("sha256").update("short").digest("base64url"))).toBe(false);
    expect(verifierMatches("x".repeat(129), createHash("sha256").update("x".repeat(129)).digest("base64url"))).toBe(false);
  });

  it("refuses challenges that are not a base64url SHA-256", () => {
    expect(isS256Challenge("plain-challenge")).toBe(false);
    expect(isS256Challenge(`${CHALLENGE}=`)).toBe(false);
  });
});
