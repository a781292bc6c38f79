import { describe, expect, it } from "vitest";
import { FORWARD_NOTHING } from "../../../src/auth/inbound/credential-screen.js";
import { staticAuth, staticAuthHeader } from "../../../src/auth/upstream/static-auth.js";

describe("static auth headers", () => {
  it.each([
    ["api_key", "k1", ["x-api-key", "k1"]],
    ["bearer_token", "t1", ["authorization", "Bearer t1"]],
    ["basic", "user:pass", ["authorization", `Basic ${Buffer.from("user:pass").toString("base64")}`]],
    ["authorization", "Custom abc", ["authorization", "Custom abc"]],
    ["token", "t2", ["authorization", "token t2"]],
    // Issue 17: the forms LiteLLM configs use.
    ["basic", "dXNlcjpwYXNz", ["authorization", "Basic dXNlcjpwYXNz"]],
    ["basic", "Basic dXNlcjpwYXNz", ["authorization", "Basic dXNlcjpwYXNz"]],
    ["basic", "basic   dXNlcjpwYXNz", ["authorization", "Basic dXNlcjpwYXNz"]],
    ["basic", "Basic user:pass", ["authorization", `Basic ${Buffer.from("user:pass").toString("base64")}`]],
    ["basic", "a:b", ["authorization", `Basic ${Buffer.from("a:b").toString("base64")}`]],
    ["bearer_token", "Bearer t1", ["authorization", "Bearer t1"]],
    ["bearer_token", "bearer t1", ["authorization", "Bearer t1"]],
    ["token", "token t2", ["authorization", "token t2"]],
  ] as const)("%s %s", (type, value, expected) => {
    expect(staticAuthHeader(type, value)).toEqual(expected);
  });

  it("none sends nothing and reports no-auth", async () => {
    const credentials = await staticAuth("none", undefined).credentials({ headers: new Headers(), presentedKey: undefined, screen: FORWARD_NOTHING });
    expect(credentials).toEqual({ headers: {}, resolution: "no-auth" });
  });

  it("a static credential reports static-token and is computed once", async () => {
    const auth = staticAuth("bearer_token", "t1");
    const context = { headers: new Headers(), presentedKey: undefined, screen: FORWARD_NOTHING };
    const first = await auth.credentials(context);
    expect(first).toEqual({ headers: { authorization: "Bearer t1" }, resolution: "static-token" });
    expect(await auth.credentials(context)).toBe(first);
  });
});
