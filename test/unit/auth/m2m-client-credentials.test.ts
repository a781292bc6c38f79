/**
 * The client_credentials strategy against a real authorization server (oidc-provider),
 * with a fake clock: the cache lifetime rules (seed: `expires_in - 60`; half for short
 * tokens), refresh ahead of expiry, invalidation after an upstream 401, and ordering of
 * concurrent fetches. The provider's `hold()` parks token requests so a test can show a
 * call did not wait for the authorization server.
 */
import { Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import { FORWARD_NOTHING } from "../../../src/auth/inbound/credential-screen.js";
import { clientCredentialsAuth, type ClientCredentialsOptions } from "../../../src/auth/upstream/m2m-client-credentials.js";
import type { UpstreamAuth, UpstreamAuthContext, UpstreamCredentials } from "../../../src/auth/upstream/strategy.js";
import { GatewayError } from "../../../src/errors.js";
import { createLogger } from "../../../src/log.js";
import { startAuthorizationServer, type AuthorizationServer, type TokenHold } from "../../fixtures/oidc-provider.js";

const RESOURCE = "http://127.0.0.1:1/mcp";
const CLIENT = { client_id: "unit-m2m", client_secret: "unit-m2m-secret-7c2e9a41" };
const CONTEXT: UpstreamAuthContext = { headers: new Headers(), presentedKey: undefined, screen: FORWARD_NOTHING };
const SECOND = 1000;

/** Lets settled promises run their reactions (no timer, no delay). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function bearer(credentials: UpstreamCredentials): string {
  const header = credentials.headers["authorization"] ?? "";
  expect(header).toMatch(/^Bearer /);
  return header.slice("Bearer ".length);
}

/** A strategy on a fake clock, and the log lines it wrote. */
function strategy(as: AuthorizationServer, overrides: Partial<ClientCredentialsOptions> = {}) {
  let clock = 1_000_000;
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      for (const check of [...waiters]) check();
      callback();
    },
  });
  const logged = (message: string) => lines.filter((line) => line["msg"] === message).length;
  const whenLogged = (message: string, count: number) =>
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (logged(message) < count) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  const auth: UpstreamAuth = clientCredentialsAuth({
    serverName: "unit",
    tokenUrl: as.tokenUrl,
    clientId: CLIENT.client_id,
    clientSecret: CLIENT.client_secret,
    now: () => clock,
    log: createLogger({ level: "debug", destination }),
    ...overrides,
  });
  return {
    auth,
    lines,
    get: async () => bearer(await auth.credentials(CONTEXT)),
    advance: (ms: number) => void (clock += ms),
    /** Resolves once `count` tokens have been fetched and handed to the cache. */
    whenFetched: async (count: number) => {
      await whenLogged("fetched an M2M access token", count);
      // The fetch has returned its token; let the cache's continuation store it.
      await flush();
    },
    /** Resolves once `count` background refreshes have failed. */
    whenRefreshFailed: (count: number) =>
      whenLogged("background refresh of an M2M access token failed; the current token is used until it expires", count),
  };
}

describe("clientCredentialsAuth against oidc-provider", () => {
  let as: AuthorizationServer;
  let hold: TokenHold | undefined;

  beforeAll(async () => {
    as = await startAuthorizationServer({ resource: RESOURCE, clients: [CLIENT], accessTokenTtl: 3600 });
  });
  afterEach(() => {
    hold?.end();
    hold = undefined;
    as.setFault(undefined);
  });
  afterAll(async () => {
    await as?.close();
  });

  it("fetches a JWT for the configured client and caches it until expires_in - 60 s", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const token = await m2m.get();
    expect(as.tokenRequests() - before).toBe(1);
    expect(decodeJwt(token)).toMatchObject({ client_id: CLIENT.client_id, aud: RESOURCE, iss: as.issuer });
    expect((await m2m.auth.credentials(CONTEXT)).resolution).toBe("m2m-client-credentials");

    // 3600 - 60 = 3540 s cached; refresh starts at 80 % of that (2832 s).
    m2m.advance(2832 * SECOND - 1);
    for (let i = 0; i < 20; i++) expect(await m2m.get()).toBe(token);
    expect(as.tokenRequests() - before).toBe(1);
  });

  it("in the refresh window answers the cached token at once and refetches exactly once in the background", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const old = await m2m.get();

    m2m.advance(2832 * SECOND);
    hold = as.hold();
    // The authorization server is held: these calls would hang if they waited for it.
    expect(await m2m.get()).toBe(old);
    await hold.whenWaiting(1);
    expect(await Promise.all(Array.from({ length: 10 }, () => m2m.get()))).toEqual(Array(10).fill(old));
    expect(as.tokenRequests() - before).toBe(2);

    hold.end();
    await m2m.whenFetched(2);
    const fresh = await m2m.get();
    expect(fresh).not.toBe(old);
    expect(as.issuedTokens()).toContain(fresh);
    expect(as.tokenRequests() - before).toBe(2);
  });

  it("after expiry a call waits for a new token", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const old = await m2m.get();
    m2m.advance(3540 * SECOND);
    const fresh = await m2m.get();
    expect(fresh).not.toBe(old);
    expect(as.tokenRequests() - before).toBe(2);
    expect(await m2m.get()).toBe(fresh);
    expect(as.tokenRequests() - before).toBe(2);
  });

  it("invalidate(current credentials) makes the next call refetch; invalidating an older token does nothing", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const first = await m2m.auth.credentials(CONTEXT);
    m2m.auth.invalidate?.(first);
    const second = await m2m.auth.credentials(CONTEXT);
    expect(bearer(second)).not.toBe(bearer(first));
    expect(as.tokenRequests() - before).toBe(2);

    m2m.auth.invalidate?.(first);
    expect(await m2m.auth.credentials(CONTEXT)).toBe(second);
    expect(as.tokenRequests() - before).toBe(2);
    expect(m2m.auth.retryOnUnauthorized).toBe(true);
  });

  it("a fetch that started before an invalidation never overwrites the token fetched after it", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const first = await m2m.auth.credentials(CONTEXT);

    // A background refresh starts and is held at the authorization server...
    m2m.advance(2900 * SECOND);
    hold = as.hold();
    expect(await m2m.auth.credentials(CONTEXT)).toBe(first);
    await hold.whenWaiting(1);
    // ...then the upstream refuses the current token, and the next call fetches anew.
    m2m.auth.invalidate?.(first);
    const next = m2m.get();
    await hold.whenWaiting(2);
    expect(as.tokenRequests() - before).toBe(3);

    hold.releaseNewest();
    const newer = await next;
    hold.releaseOldest();
    await m2m.whenFetched(3);
    const stale = as.issuedTokens().at(-1);
    expect(stale).not.toBe(newer);

    expect(await m2m.get()).toBe(newer);
    expect(as.tokenRequests() - before).toBe(3);
  });

  it("a background refresh that fails keeps the current token until it expires, and is logged without the secret", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const old = await m2m.get();
    m2m.advance(3000 * SECOND);
    as.setFault({ status: 500, body: "<html>down</html>", contentType: "text/html" });
    expect(await m2m.get()).toBe(old);
    await m2m.whenRefreshFailed(1);
    const warning = m2m.lines.find((line) => String(line["msg"]).startsWith("background refresh"));
    expect(warning).toMatchObject({ server: "unit" });
    expect(String(warning?.["detail"])).toContain("HTTP 500");
    expect(JSON.stringify(m2m.lines)).not.toContain(CLIENT.client_secret);

    // Still in its lifetime: the old token is answered, and the next call tries again.
    expect(await m2m.get()).toBe(old);
    await m2m.whenRefreshFailed(2);
    expect(as.tokenRequests() - before).toBe(3);

    // Expired, with the authorization server still failing: the caller gets the error, not the expired token.
    m2m.advance(540 * SECOND);
    await expect(m2m.get()).rejects.toThrow("answered HTTP 500");
  });

  it("a token request that gets no answer fails after the timeout, naming the server, and is not cached", async () => {
    const m2m = strategy(as, { timeoutMs: 300 });
    as.setFault("hang");
    const failure = await m2m.get().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(GatewayError);
    expect((failure as GatewayError).message).toContain("'unit'");
    expect((failure as GatewayError).message).toContain("did not answer within 0.3 s");

    as.setFault(undefined);
    expect(decodeJwt(await m2m.get()).client_id).toBe(CLIENT.client_id);
  });

  it("a token response without expires_in is cached for 300 s", async () => {
    const m2m = strategy(as);
    // oidc-provider always sends expires_in (RFC 6749 §5.1 makes it optional): a canned answer stands in.
    as.setFault({ status: 200, body: JSON.stringify({ access_token: "opaque-no-expiry", token_type: "Bearer" }), contentType: "application/json" });
    const before = as.tokenRequests();
    expect(await m2m.get()).toBe("opaque-no-expiry");
    m2m.advance(240 * SECOND - 1);
    expect(await m2m.get()).toBe("opaque-no-expiry");
    expect(as.tokenRequests() - before).toBe(1);

    as.setFault(undefined);
    m2m.advance(60 * SECOND + 1);
    const fresh = await m2m.get();
    expect(decodeJwt(fresh).client_id).toBe(CLIENT.client_id);
    expect(as.tokenRequests() - before).toBe(2);
  });

  it("never writes the client secret or the token to its log", async () => {
    const m2m = strategy(as);
    const token = await m2m.get();
    expect(m2m.lines.length).toBeGreaterThan(0);
    const logged = JSON.stringify(m2m.lines);
    expect(logged).not.toContain(CLIENT.client_secret);
    expect(logged).not.toContain(token);
  });
});

describe("clientCredentialsAuth with short-lived tokens", () => {
  let as: AuthorizationServer;
  let hold: TokenHold | undefined;

  beforeAll(async () => {
    as = await startAuthorizationServer({ resource: RESOURCE, clients: [CLIENT], accessTokenTtl: 60 });
  });
  afterEach(() => {
    hold?.end();
    hold = undefined;
  });
  afterAll(async () => {
    await as?.close();
  });

  it("expires_in 60 is cached for 30 s (half), not 0 s", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const token = await m2m.get();
    m2m.advance(24 * SECOND - 1);
    expect(await m2m.get()).toBe(token);
    expect(as.tokenRequests() - before).toBe(1);

    // Still valid at 29.999 s: answered while the authorization server is held.
    m2m.advance(6 * SECOND);
    hold = as.hold();
    expect(await m2m.get()).toBe(token);
    hold.end();
    await m2m.whenFetched(2);
    expect(as.tokenRequests() - before).toBe(2);
  });

  it("expires_in 60 is expired at 30 s: the call waits for a new token", async () => {
    const m2m = strategy(as);
    const before = as.tokenRequests();
    const token = await m2m.get();
    m2m.advance(24 * SECOND - 1);
    expect(await m2m.get()).toBe(token);
    m2m.advance(6 * SECOND + 1);
    const fresh = await m2m.get();
    expect(fresh).not.toBe(token);
    expect(as.tokenRequests() - before).toBe(2);
  });
});
