import { describe, expect, it } from "vitest";
import { parseBearerChallenge, scopeChallenges, scopeTokens } from "../../../src/auth/upstream/scope-challenges.js";

describe("parseBearerChallenge", () => {
  it("reads error, scope and error_description of a Bearer challenge, quoted or not", () => {
    expect(parseBearerChallenge('Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://x/.well-known/oauth-protected-resource"')).toEqual({
      error: "insufficient_scope",
      scope: ["files:read", "files:write"],
    });
    expect(parseBearerChallenge("Bearer error=insufficient_scope, scope=repo")).toEqual({ error: "insufficient_scope", scope: ["repo"] });
    expect(parseBearerChallenge('Bearer error_description="a \\"quoted\\" word"')).toEqual({ error_description: 'a "quoted" word' });
  });

  it("finds the Bearer challenge after another scheme, and answers undefined without one", () => {
    expect(parseBearerChallenge('DPoP algs="ES256", Bearer error="insufficient_scope", scope="a"')).toMatchObject({ error: "insufficient_scope", scope: ["a"] });
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(parseBearerChallenge(undefined)).toBeUndefined();
  });

  it("drops scope tokens that could break a header or are not RFC 6749 scope-tokens", () => {
    expect(scopeTokens('ok also:ok bad"quote back\\slash  ')).toEqual(["ok", "also:ok"]);
    expect(scopeTokens("x".repeat(129))).toEqual([]);
  });
});

describe("scopeChallenges", () => {
  it("accumulates a user's step-up scopes (the union), per server and per user", () => {
    const challenges = scopeChallenges();
    expect(challenges.recordInsufficient("s1", "user:alice", ["files:write"])).toEqual(["files:write"]);
    expect(challenges.recordInsufficient("s1", "user:alice", ["admin"])).toEqual(["files:write", "admin"]);
    expect(challenges.stepUp("s1", "user:alice")).toEqual(["files:write", "admin"]);
    expect(challenges.stepUp("s1", "user:bob")).toEqual([]);
    expect(challenges.stepUp("s2", "user:alice")).toEqual([]);
    expect(challenges.demanded("s1")).toEqual(["files:write", "admin"]);
  });

  it("keeps the latest 401 challenge's scope per server, and bounds what an upstream can make it keep", () => {
    const challenges = scopeChallenges();
    challenges.recordUnauthorized("s1", ["a"]);
    challenges.recordUnauthorized("s1", ["b", "c"]);
    expect(challenges.unauthorized("s1")).toEqual(["b", "c"]);
    const many = Array.from({ length: 200 }, (_, i) => `scope${i}`);
    challenges.recordInsufficient("s1", "user:alice", many);
    expect(challenges.demanded("s1")).toHaveLength(64);
    expect(challenges.stepUp("s1", "user:alice")).toHaveLength(64);
  });
});
