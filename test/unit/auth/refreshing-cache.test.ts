/**
 * The generic refresh-ahead cache under a fake clock, with a fetch function the test
 * resolves by hand, so every ordering (concurrent callers, a refresh that fails, an
 * invalidation while a fetch is in flight) is exact.
 */
import { describe, expect, it } from "vitest";
import { refreshingCache, type Expiring } from "../../../src/auth/upstream/refreshing-cache.js";

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A value object per fetch, so identity tells fetches apart (invalidate compares identity). */
interface Token {
  name: string;
}

/** A cache whose fetches wait for the test: `fetches[i]` is the i-th fetch, settled by hand. */
function harness() {
  let clock = 0;
  const fetches: Array<Deferred<Expiring<Token>>> = [];
  const backgroundErrors: unknown[] = [];
  const cache = refreshingCache<Token>({
    fetch: () => {
      const fetch = deferred<Expiring<Token>>();
      fetches.push(fetch);
      return fetch.promise;
    },
    now: () => clock,
    onBackgroundError: (error) => backgroundErrors.push(error),
  });
  return {
    cache,
    fetches,
    backgroundErrors,
    setClock: (ms: number) => void (clock = ms),
    /** Resolve fetch `index` with a value cached for [clock, clock + 1000), refreshed from +800. */
    settle(index: number, name: string, at = clock): Token {
      const value = { name };
      fetches[index]!.resolve({ value, expiresAt: at + 1000, refreshAt: at + 800 });
      return value;
    },
  };
}

/** Lets every settled promise run its reactions (no timer, no delay). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("refreshingCache", () => {
  it("fetches once for many concurrent cold callers, and all get that value", async () => {
    const { cache, fetches, settle } = harness();
    const callers = Array.from({ length: 50 }, () => cache.get());
    expect(fetches).toHaveLength(1);
    const token = settle(0, "t1");
    const values = await Promise.all(callers);
    expect(values.every((value) => value === token)).toBe(true);
    expect(fetches).toHaveLength(1);
  });

  it("reuses the value until refreshAt without fetching", async () => {
    const { cache, fetches, settle, setClock } = harness();
    const first = cache.get();
    const token = settle(0, "t1");
    expect(await first).toBe(token);
    for (const at of [1, 400, 799]) {
      setClock(at);
      expect(await cache.get()).toBe(token);
    }
    expect(fetches).toHaveLength(1);
  });

  it("in the refresh window answers the current value at once and refreshes once in the background", async () => {
    const { cache, fetches, settle, setClock, backgroundErrors } = harness();
    const first = cache.get();
    const old = settle(0, "old");
    await first;

    setClock(800);
    // The background fetch is still pending: callers are not made to wait for it.
    expect(await cache.get()).toBe(old);
    expect(await cache.get()).toBe(old);
    setClock(999);
    expect(await cache.get()).toBe(old);
    expect(fetches).toHaveLength(2);

    const fresh = settle(1, "fresh", 900);
    await flush();
    expect(await cache.get()).toBe(fresh);
    expect(fetches).toHaveLength(2);
    expect(backgroundErrors).toEqual([]);
  });

  it("once expired, callers wait for the fetch (sharing one in-flight refresh)", async () => {
    const { cache, fetches, settle, setClock } = harness();
    const first = cache.get();
    settle(0, "old");
    await first;

    setClock(1000);
    const waiting = [cache.get(), cache.get()];
    expect(fetches).toHaveLength(2);
    const fresh = settle(1, "fresh");
    expect(await Promise.all(waiting)).toEqual([fresh, fresh]);
  });

  it("an expired value whose background refresh is in flight waits for that refresh instead of starting another", async () => {
    const { cache, fetches, settle, setClock } = harness();
    const first = cache.get();
    settle(0, "old");
    await first;
    setClock(850);
    await cache.get();
    expect(fetches).toHaveLength(2);

    setClock(1200);
    const waiting = cache.get();
    expect(fetches).toHaveLength(2);
    const fresh = settle(1, "fresh");
    expect(await waiting).toBe(fresh);
  });

  it("a failed background refresh keeps the current value, is reported, and the next call retries", async () => {
    const { cache, fetches, settle, setClock, backgroundErrors } = harness();
    const first = cache.get();
    const old = settle(0, "old");
    await first;

    setClock(900);
    expect(await cache.get()).toBe(old);
    const failure = new Error("token endpoint down");
    fetches[1]!.reject(failure);
    await flush();
    expect(backgroundErrors).toEqual([failure]);

    expect(await cache.get()).toBe(old);
    expect(fetches).toHaveLength(3);
    const fresh = settle(2, "fresh");
    await flush();
    expect(await cache.get()).toBe(fresh);
  });

  it("a failed foreground fetch rejects its callers and is not cached: the next call fetches again", async () => {
    const { cache, fetches, settle } = harness();
    const callers = [cache.get(), cache.get()];
    fetches[0]!.reject(new Error("invalid_client"));
    for (const caller of callers) await expect(caller).rejects.toThrow("invalid_client");

    const retry = cache.get();
    expect(fetches).toHaveLength(2);
    const token = settle(1, "t");
    expect(await retry).toBe(token);
  });

  it("once expired with a refresh that fails, callers get the error, never the expired value", async () => {
    const { cache, fetches, settle, setClock } = harness();
    const first = cache.get();
    settle(0, "old");
    await first;
    setClock(1000);
    const caller = cache.get();
    fetches[1]!.reject(new Error("timeout"));
    await expect(caller).rejects.toThrow("timeout");
  });

  it("invalidate(current) makes the next call fetch; invalidate of an older value does nothing", async () => {
    const { cache, fetches, settle } = harness();
    const first = cache.get();
    const t1 = settle(0, "t1");
    await first;

    cache.invalidate(t1);
    const second = cache.get();
    expect(fetches).toHaveLength(2);
    const t2 = settle(1, "t2");
    expect(await second).toBe(t2);

    cache.invalidate(t1);
    cache.invalidate({ name: "t2" });
    expect(await cache.get()).toBe(t2);
    expect(fetches).toHaveLength(2);
  });

  it("a fetch that started before an invalidation never overwrites the value fetched after it", async () => {
    const { cache, fetches, settle, setClock } = harness();
    const first = cache.get();
    const t1 = settle(0, "t1");
    await first;

    // A background refresh starts, then the upstream refuses t1 while it is in flight.
    setClock(850);
    expect(await cache.get()).toBe(t1);
    expect(fetches).toHaveLength(2);
    cache.invalidate(t1);

    // The next caller does not join the stale fetch: it starts its own.
    const after = cache.get();
    expect(fetches).toHaveLength(3);
    const newer = settle(2, "newer");
    expect(await after).toBe(newer);

    // The stale fetch lands last and is ignored.
    settle(1, "stale");
    await flush();
    expect(await cache.get()).toBe(newer);
    expect(fetches).toHaveLength(3);
  });

  it("invalidate while a cold fetch is in flight leaves that fetch shared by its callers", async () => {
    const { cache, fetches, settle } = harness();
    const callers = [cache.get(), cache.get()];
    cache.invalidate({ name: "unrelated" });
    const third = cache.get();
    expect(fetches).toHaveLength(1);
    const token = settle(0, "t1");
    expect(await Promise.all([...callers, third])).toEqual([token, token, token]);
  });
});
