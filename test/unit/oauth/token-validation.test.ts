import { describe, expect, it } from "vitest";
import { GatewayError } from "../../../src/errors.js";
import { validateTokenResponse } from "../../../src/oauth/token-validation.js";

const jwt = (claims: Record<string, unknown>) =>
  [Buffer.from('{"alg":"none"}').toString("base64url"), Buffer.from(JSON.stringify(claims)).toString("base64url"), "sig"].join(".");

describe("token_validation", () => {
  const response = { access_token: jwt({ sub: "alice", org: { id: "T1" } }), token_type: "Bearer", team: { enterprise_id: "T12345" } };

  it("passes when every dotted path matches the token response or the JWT claims", () => {
    expect(() => validateTokenResponse({ "team.enterprise_id": "T12345", "org.id": "T1", sub: "alice" }, response)).not.toThrow();
    expect(() => validateTokenResponse(undefined, response)).not.toThrow();
  });

  it("fails with token_validation_failed naming the rule and no token value", () => {
    let error: unknown;
    try {
      validateTokenResponse({ "team.enterprise_id": "OTHER" }, response);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe("token_validation_failed");
    expect((error as GatewayError).message).toContain("team.enterprise_id");
    expect((error as GatewayError).message).not.toContain("T12345");
    expect((error as GatewayError).message).not.toContain(response.access_token);
  });

  it("fails when the path is missing, and does not read prototype properties", () => {
    expect(() => validateTokenResponse({ "missing.path": "x" }, response)).toThrow(GatewayError);
    expect(() => validateTokenResponse({ "constructor.name": "Object" }, { access_token: "opaque" })).toThrow(GatewayError);
  });
});
