/**
 * The per-key token cache of on-behalf-of strategies (src/auth/upstream/keyed-token-cache.ts),
 * on a fake clock: single flight per key, per-entry expiry, exact invalidation, failures
 * not cached, bounded size (expired first, then least recently used).
 *
 * Then `tokenExchangeAuth` itself against the real token-exchange authorization server
 * (oidc-provider, ./fixtures/token-exchange-as.ts) with a fake `now`: an issued token is
 * never used past the subject JWT's own `exp`, even when the authorization server's
 * `expires_in` is much longer; without a JWT `exp`, `expires_in - 60` bounds it.
 */
import { decodeJwt } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { credentialScreen } from "../../../src/auth/inbound/credential-screen.js";
import { masterKeyResolver } from "../../../src/auth/inbound/key-resolver.js";
import { keyedTokenCache } from "../../../src/auth/upstream/keyed-token-cache.js";
import type { UpstreamAuth, UpstreamCredentials } from "../../../src/auth/upstream/strategy.js";
import { tokenExchangeAuth, type TokenExchangeOptions } from "../../../src/auth/upstream/token-exchange.js";
import { isGatewayError, type GatewayError } from "../../../src/errors.js";
import { ACCESS_TOKEN_TYPE, startTokenExchangeServer, type TokenExchangeServer } from "../../fixtures/token-exchange-as.js";

/** A promise the test settles itself: a fetch that is still running. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Token {
  label: string;
}

/** A cache on a fake clock, and a fetch that counts its calls. */
function setup(maxEntries = 100) {
  let t = 1_000_000;
  const cache = keyedTokenCache<Token>({ now: () => t, maxEntries });
  const calls: string[] = [];
  const fetcher = (key: string, lifetimeMs = 60_000) => () => {
    calls.push(key);
    return Promise.resolve({ value: { label: `${key}#${calls.filter((k) => k === key).length}` }, expiresAt: t + lifetimeMs });
  };
  return {
    cache,
    calls,
    fetcher,
    advance(ms: number) {
      t += ms;
    },
  };
}

describe("keyedTokenCache", () => {
  it("single flight per key: two concurrent gets share one fetch and one value", async () => {
    const { cache } = setup();
    const pending = deferred<{ value: Token; expiresAt: number }>();
    let fetches = 0;
    const fetch = () => {
      fetches++;
      return pending.promise;
    };
    const first = cache.get("alice", fetch);
    const second = cache.get("alice", fetch);
    expect(fetches).toBe(1);
    const token = { label: "alice-token" };
    pending.resolve({ value: token, expiresAt: Number.MAX_SAFE_INTEGER });
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(token);
    expect(b).toBe(token);
    expect(fetches).toBe(1);
    // And it is cached afterwards.
    expect(await cache.get("alice", fetch)).toBe(token);
    expect(fetches).toBe(1);
    expect(cache.size).toBe(1);
  });

  it("a waiter that joins a fetch shares its failure too (one fetch, both rejected)", async () => {
    const { cache } = setup();
    const pending = deferred<{ value: Token; expiresAt: number }>();
    let fetches = 0;
    const fetch = () => {
      fetches++;
      return pending.promise;
    };
    const first = cache.get("alice", fetch);
    const second = cache.get("alice", fetch);
    pending.reject(new Error("authorization server down"));
    await expect(first).rejects.toThrow("authorization server down");
    await expect(second).rejects.toThrow("authorization server down");
    expect(fetches).toBe(1);
  });

  it("distinct keys fetch separately, concurrently", async () => {
    const { cache, calls, fetcher } = setup();
    const [alice, bob] = await Promise.all([cache.get("alice", fetcher("alice")), cache.get("bob", fetcher("bob"))]);
    expect(calls).toEqual(["alice", "bob"]);
    expect(alice.label).toBe("alice#1");
    expect(bob.label).toBe("bob#1");
    expect(await cache.get("alice", fetcher("alice"))).toBe(alice);
    expect(await cache.get("bob", fetcher("bob"))).toBe(bob);
    expect(calls).toEqual(["alice", "bob"]);
    expect(cache.size).toBe(2);
  });

  it("a value is used until its own expiresAt, then fetched again", async () => {
    const { cache, calls, fetcher, advance } = setup();
    const first = await cache.get("alice", fetcher("alice", 30_000));
    advance(29_999);
    expect(await cache.get("alice", fetcher("alice", 30_000))).toBe(first);
    expect(calls).toHaveLength(1);
    advance(1); // exactly expiresAt: expired
    const second = await cache.get("alice", fetcher("alice", 30_000));
    expect(second).not.toBe(first);
    expect(second.label).toBe("alice#2");
    expect(calls).toHaveLength(2);
    // Each key has its own lifetime: bob fetched now lives on after alice's next expiry.
    await cache.get("bob", fetcher("bob", 90_000));
    advance(30_000);
    await cache.get("bob", fetcher("bob", 90_000));
    expect(calls.filter((key) => key === "bob")).toHaveLength(1);
  });

  it("invalidate(key, value) drops that value only; a stale value does not drop the newer one", async () => {
    const { cache, calls, fetcher } = setup();
    const alice1 = await cache.get("alice", fetcher("alice"));
    const bob = await cache.get("bob", fetcher("bob"));

    cache.invalidate("alice", alice1);
    expect(cache.size).toBe(1);
    const alice2 = await cache.get("alice", fetcher("alice"));
    expect(alice2.label).toBe("alice#2");

    // A second 401 for the old value (a concurrent request that used it) must not drop the new one.
    cache.invalidate("alice", alice1);
    expect(await cache.get("alice", fetcher("alice"))).toBe(alice2);
    // Nor does a value of another key, under the wrong key.
    cache.invalidate("alice", bob);
    expect(await cache.get("alice", fetcher("alice"))).toBe(alice2);
    // Bob was never touched.
    expect(await cache.get("bob", fetcher("bob"))).toBe(bob);
    expect(calls).toEqual(["alice", "bob", "alice"]);
  });

  it("invalidating an unknown key is a no-op", async () => {
    const { cache, fetcher } = setup();
    const alice = await cache.get("alice", fetcher("alice"));
    cache.invalidate("nobody", alice);
    expect(cache.size).toBe(1);
  });

  it("a failed fetch is not cached: the next get fetches again", async () => {
    const { cache } = setup();
    let fetches = 0;
    const failing = () => {
      fetches++;
      return Promise.reject(new Error(`refused ${fetches}`));
    };
    await expect(cache.get("alice", failing)).rejects.toThrow("refused 1");
    expect(cache.size).toBe(0);
    await expect(cache.get("alice", failing)).rejects.toThrow("refused 2");
    const token = { label: "recovered" };
    expect(await cache.get("alice", () => Promise.resolve({ value: token, expiresAt: Number.MAX_SAFE_INTEGER }))).toBe(token);
    expect(fetches).toBe(2);
    expect(cache.size).toBe(1);
  });

  it("a fetch that throws synchronously is a rejected get, and is not remembered as pending", async () => {
    const { cache } = setup();
    await expect(
      cache.get("alice", () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const token = { label: "after" };
    expect(await cache.get("alice", () => Promise.resolve({ value: token, expiresAt: Number.MAX_SAFE_INTEGER }))).toBe(token);
  });

  it("when full, expired entries are evicted first, even if they were used more recently", async () => {
    const { cache, calls, fetcher, advance } = setup(3);
    const a = await cache.get("a", fetcher("a", 100_000));
    await cache.get("b", fetcher("b", 10_000)); // expires first
    await cache.get("c", fetcher("c", 100_000));
    // b is the most recently used but expired by now; a is the least recently used.
    expect(await cache.get("a", fetcher("a", 100_000))).toBe(a);
    await cache.get("b", fetcher("b", 10_000)); // hit: b is now most recent
    expect(calls).toEqual(["a", "b", "c"]);
    advance(20_000);
    await cache.get("d", fetcher("d", 100_000));
    expect(cache.size).toBe(3);
    // a and c survived, d is there: only the expired b went.
    await cache.get("a", fetcher("a", 100_000));
    await cache.get("c", fetcher("c", 100_000));
    await cache.get("d", fetcher("d", 100_000));
    expect(calls).toEqual(["a", "b", "c", "d"]);
  });

  it("when full with nothing expired, the least recently used entry is evicted", async () => {
    const { cache, calls, fetcher } = setup(3);
    await cache.get("a", fetcher("a"));
    await cache.get("b", fetcher("b"));
    await cache.get("c", fetcher("c"));
    await cache.get("d", fetcher("d"));
    expect(cache.size).toBe(3);
    // a (the oldest) went; b, c, d are still cached.
    await cache.get("b", fetcher("b"));
    await cache.get("c", fetcher("c"));
    await cache.get("d", fetcher("d"));
    expect(calls).toEqual(["a", "b", "c", "d"]);
    await cache.get("a", fetcher("a"));
    expect(calls).toEqual(["a", "b", "c", "d", "a"]);
  });

  it("a get re-orders the LRU: a key just used survives the next eviction", async () => {
    const { cache, calls, fetcher } = setup(3);
    const a = await cache.get("a", fetcher("a"));
    await cache.get("b", fetcher("b"));
    await cache.get("c", fetcher("c"));
    expect(await cache.get("a", fetcher("a"))).toBe(a); // a is now the most recent; b the least
    await cache.get("d", fetcher("d"));
    expect(cache.size).toBe(3);
    expect(await cache.get("a", fetcher("a"))).toBe(a);
    expect(calls).toEqual(["a", "b", "c", "d"]);
    await cache.get("b", fetcher("b"));
    expect(calls).toEqual(["a", "b", "c", "d", "b"]);
  });

  it("re-storing a key that is already cached does not evict another entry", async () => {
    const { cache, calls, fetcher, advance } = setup(2);
    await cache.get("a", fetcher("a", 10_000));
    await cache.get("b", fetcher("b", 100_000));
    advance(10_000); // a expired: its refetch replaces it in place
    await cache.get("a", fetcher("a", 100_000));
    expect(cache.size).toBe(2);
    await cache.get("b", fetcher("b"));
    expect(calls).toEqual(["a", "b", "a"]);
  });
});

describe("tokenExchangeAuth on a fake clock, against the real token-exchange server", () => {
  const servers: TokenExchangeServer[] = [];
  const RESOURCE = "http://127.0.0.1:9/mcp";
  const GATEWAY_KEY = "sk-unit-gateway-key-31f09a";

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function exchanger(issuedTokenTtl: number) {
    const as = await startTokenExchangeServer({ resource: RESOURCE, issuedTokenTtl });
    servers.push(as);
    const clock = { t: Date.now() };
    const options: TokenExchangeOptions = {
      serverId: "srv-1",
      serverName: "obo",
      endpoint: as.tokenUrl,
      clientId: "gatehouse-obo",
      clientSecret: "obo-client-secret-7c2e91",
      authMethod: "client_secret_basic",
      subjectTokenType: ACCESS_TOKEN_TYPE,
      audience: RESOURCE,
      scopes: undefined,
      resource: undefined,
      now: () => clock.t,
    };
    const auth = tokenExchangeAuth(options);
    return { as, auth, clock };
  }

  function credentialsFor(auth: UpstreamAuth, subject: string): Promise<UpstreamCredentials> {
    return Promise.resolve(
      auth.credentials({
        headers: new Headers({ authorization: `Bearer ${subject}`, "x-litellm-api-key": `Bearer ${GATEWAY_KEY}` }),
        presentedKey: { key: GATEWAY_KEY, source: "x-litellm-api-key" },
        screen: credentialScreen(masterKeyResolver(GATEWAY_KEY), { key: GATEWAY_KEY, source: "x-litellm-api-key" }),
      }),
    );
  }

  async function failure(promise: Promise<unknown>): Promise<GatewayError> {
    const error = await promise.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(isGatewayError(error), `expected a GatewayError, got ${String(error)}`).toBe(true);
    return error as GatewayError;
  }

  it("the cached token is never used past the subject JWT's exp, though expires_in is 3600", async () => {
    const { as, auth, clock } = await exchanger(3600);
    // The subject JWT expires 30 s from now (the fixture's idp signs it, so the server accepts it).
    const subject = await as.mintSubjectToken({ sub: "alice", expiresInSeconds: 30 });
    const expSeconds = decodeJwt(subject).exp!;
    expect(expSeconds * 1000 - clock.t).toBeGreaterThan(28_000);

    const first = await credentialsFor(auth, subject);
    expect(first.resolution).toBe("token-exchange");
    expect(first.headers["authorization"]).toBe(`Bearer ${as.issuedTokens()[0]}`);
    expect(as.tokenRequests()).toBe(1);

    // Just before the subject's exp: the cached token.
    clock.t = expSeconds * 1000 - 1;
    expect(await credentialsFor(auth, subject)).toBe(first);
    expect(as.tokenRequests()).toBe(1);

    // One second past it (t+31 s): refused as expired, and neither the cached token nor a new exchange.
    clock.t = (expSeconds + 1) * 1000;
    const error = await failure(credentialsFor(auth, subject));
    expect(error.status).toBe(401);
    expect(error.code).toBe("subject_token_expired");
    expect(error.message).not.toContain(subject);
    expect(error.headers["www-authenticate"]).toContain('error="invalid_token"');
    expect(as.tokenRequests()).toBe(1);
  });

  it("at the subject JWT's exp exactly, the token is expired", async () => {
    const { as, auth, clock } = await exchanger(3600);
    const subject = await as.mintSubjectToken({ sub: "alice", expiresInSeconds: 30 });
    const expMs = decodeJwt(subject).exp! * 1000;
    await credentialsFor(auth, subject);
    clock.t = expMs;
    expect((await failure(credentialsFor(auth, subject))).code).toBe("subject_token_expired");
    expect(as.tokenRequests()).toBe(1);
  });

  it("an opaque subject (no exp to read) is cached for expires_in - 60 s, then exchanged again", async () => {
    const { as, auth, clock } = await exchanger(3600);
    const subject = as.mintOpaqueSubjectToken("bob");
    const start = clock.t;
    const first = await credentialsFor(auth, subject);
    clock.t = start + 3539_000;
    expect(await credentialsFor(auth, subject)).toBe(first);
    expect(as.tokenRequests()).toBe(1);
    clock.t = start + 3541_000;
    const second = await credentialsFor(auth, subject);
    expect(second).not.toBe(first);
    expect(as.tokenRequests()).toBe(2);
    expect(second.headers["authorization"]).toBe(`Bearer ${as.issuedTokens()[1]}`);
  });

  it("a subject JWT that outlives expires_in does not extend the cache: expires_in - 60 s still bounds it", async () => {
    const { as, auth, clock } = await exchanger(600);
    const subject = await as.mintSubjectToken({ sub: "carol", expiresInSeconds: 7200 });
    const start = clock.t;
    const first = await credentialsFor(auth, subject);
    clock.t = start + 539_000;
    expect(await credentialsFor(auth, subject)).toBe(first);
    clock.t = start + 541_000;
    expect(await credentialsFor(auth, subject)).not.toBe(first);
    expect(as.tokenRequests()).toBe(2);
  });

  it("invalidate drops exactly the refused credentials; another subject's stay cached", async () => {
    const { as, auth } = await exchanger(3600);
    const alice = await as.mintSubjectToken({ sub: "alice" });
    const bob = await as.mintSubjectToken({ sub: "bob" });
    const aliceFirst = await credentialsFor(auth, alice);
    const bobFirst = await credentialsFor(auth, bob);
    expect(as.tokenRequests()).toBe(2);

    auth.invalidate?.(aliceFirst);
    const aliceSecond = await credentialsFor(auth, alice);
    expect(aliceSecond).not.toBe(aliceFirst);
    expect(as.tokenRequests()).toBe(3);
    // A late 401 for the old credentials does not drop the new ones.
    auth.invalidate?.(aliceFirst);
    expect(await credentialsFor(auth, alice)).toBe(aliceSecond);
    expect(await credentialsFor(auth, bob)).toBe(bobFirst);
    expect(as.tokenRequests()).toBe(3);
    expect(auth.retryOnUnauthorized).toBe(true);
  });

  it("without a subject token: subject_token_required, and nothing is sent to the server", async () => {
    const { as, auth } = await exchanger(3600);
    const error = await failure(
      Promise.resolve(auth.credentials({
          headers: new Headers({ "x-litellm-api-key": GATEWAY_KEY }),
          presentedKey: { key: GATEWAY_KEY, source: "x-litellm-api-key" },
          screen: credentialScreen(masterKeyResolver(GATEWAY_KEY), { key: GATEWAY_KEY, source: "x-litellm-api-key" }),
        }),),
    );
    expect(error.status).toBe(401);
    expect(error.code).toBe("subject_token_required");
    expect(error.message).toContain("Authorization: Bearer <token>");

    const inAuthorization = await failure(
      Promise.resolve(auth.credentials({
          headers: new Headers({ authorization: `Bearer ${GATEWAY_KEY}` }),
          presentedKey: { key: GATEWAY_KEY, source: "authorization" },
          screen: credentialScreen(masterKeyResolver(GATEWAY_KEY), { key: GATEWAY_KEY, source: "authorization" }),
        }),),
    );
    expect(inAuthorization.code).toBe("subject_token_required");
    expect(inAuthorization.message).toContain("x-litellm-api-key");
    expect(as.tokenRequests()).toBe(0);
  });
});
