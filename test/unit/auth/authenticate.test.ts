import { describe, expect, it } from "vitest";
import { authenticate } from "../../../src/auth/inbound/authenticate.js";
import { masterCaller } from "../../../src/auth/inbound/caller.js";
import { chainResolvers, masterKeyResolver, type KeyResolver } from "../../../src/auth/inbound/key-resolver.js";
import type { GatewayError } from "../../../src/errors.js";
import { IncomingRequestHeaders } from "../../../src/headers.js";

const MASTER = "sk-master-key-0123456789";
const request = (headers: Record<string, string>) => ({ headers: new IncomingRequestHeaders(headers), peer: "127.0.0.1" });

/** A resolver that looks keys up (as virtual keys do): answers with a promise. */
const lookingUp: KeyResolver = {
  accepts: (key) => key.startsWith("sk-virtual-"),
  resolve: async (key) => (key === "sk-virtual-known" ? { ...masterCaller(), kind: "virtual", keyId: "k1", subject: "k1" } : undefined),
};
const keys = chainResolvers([masterKeyResolver(MASTER), lookingUp]);

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error("expected a refusal");
}

describe("authenticate, the one authentication step of every route", () => {
  it("answers the master key without a promise (the hot path awaits nothing for it)", () => {
    const authenticated = authenticate(keys, request({ "x-litellm-api-key": `Bearer ${MASTER}` }));
    expect(authenticated).not.toBeInstanceOf(Promise);
    expect(authenticated).toMatchObject({ caller: { kind: "master" }, presented: { source: "x-litellm-api-key" } });
  });

  it("answers a key that needs a lookup with a promise of the caller", async () => {
    const authenticated = authenticate(keys, request({ authorization: "Bearer sk-virtual-known" }));
    expect(authenticated).toBeInstanceOf(Promise);
    await expect(authenticated).resolves.toMatchObject({ caller: { kind: "virtual", keyId: "k1" }, presented: { source: "authorization" } });
  });

  it("refuses a missing key at once, and an unknown key after its lookup, both with 401", async () => {
    expect(refusal(() => authenticate(keys, request({})))).toMatchObject({ status: 401, code: "unauthorized" });
    expect(refusal(() => authenticate(keys, request({ "x-litellm-api-key": "Bearer sk-wrong-0123456789" })))).toMatchObject({ status: 401 });
    await expect(authenticate(keys, request({ "x-litellm-api-key": "Bearer sk-virtual-unknown" }))).rejects.toMatchObject({ status: 401, message: "invalid gateway key" });
  });

  it("admits a keyless request as a delegated caller only when every target delegates auth", async () => {
    const delegated = await authenticate(keys, request({ authorization: "Bearer upstream-token" }), { delegatedTargets: () => [{ id: "github" }] });
    expect(delegated.caller).toMatchObject({ kind: "delegated", servers: new Set(["github"]) });
    expect(delegated.presented).toBeUndefined();
    // Fail closed: no delegating targets means the key check runs as usual.
    expect(refusal(() => authenticate(keys, request({ authorization: "Bearer upstream-token" }), { delegatedTargets: () => undefined }))).toMatchObject({ status: 401 });
  });

  it("still checks a gateway key sent to delegating servers, and marks callers from the public internet", async () => {
    const network = { fromPublicInternet: () => true };
    const keyed = await authenticate(keys, request({ authorization: `Bearer ${MASTER}` }), { network, delegatedTargets: () => [{ id: "github" }] });
    expect(keyed.caller).toMatchObject({ kind: "master", fromPublicInternet: true });
  });
});
