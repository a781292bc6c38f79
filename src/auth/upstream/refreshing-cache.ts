/**
 * A cached value that is fetched single-flight and refreshed ahead of its expiry, as
 * jose's remote JWK set does: one fetch at a time (a shared pending promise), callers in
 * the refresh window get the current value while one background fetch replaces it, and a
 * fetch that started before an invalidation never overwrites what came after it.
 *
 * Used for upstream access tokens (M2M now; on-behalf-of and per-user refresh later).
 */

export interface Expiring<T> {
  value: T;
  /** Epoch ms after which the value must not be used. */
  expiresAt: number;
  /** Epoch ms after which a call triggers a background refresh. */
  refreshAt: number;
}

export interface RefreshingCache<T> {
  /** The cached value itself while it is fresh (no promise), else a promise of a fetched one. */
  get(): T | Promise<T>;
  /** Forget `value` if it is the cached one (the upstream refused it); later calls fetch anew. */
  invalidate(value: T): void;
}

export function refreshingCache<T>(options: {
  fetch: () => Promise<Expiring<T>>;
  now: () => number;
  /** Told about a background refresh that failed (the caller kept the current value). */
  onBackgroundError?: (error: unknown) => void;
  /** Told when a value is served from the cache (metrics). */
  onHit?: () => void;
}): RefreshingCache<T> {
  let current: Expiring<T> | undefined;
  let pending: Promise<Expiring<T>> | undefined;
  let generation = 0;

  function refresh(): Promise<Expiring<T>> {
    if (pending !== undefined) return pending;
    const startedIn = generation;
    const fetching = options.fetch().then((fresh) => {
      if (startedIn === generation) current = fresh;
      return fresh;
    });
    pending = fetching;
    void fetching.then(
      () => {
        if (pending === fetching) pending = undefined;
      },
      () => {
        if (pending === fetching) pending = undefined;
      },
    );
    return fetching;
  }

  return {
    // Not async: a cached value is returned as it is, so the proxy's hot path awaits nothing for it.
    get() {
      const now = options.now();
      const cached = current;
      if (cached !== undefined && now < cached.expiresAt) {
        if (now >= cached.refreshAt && pending === undefined) refresh().catch((error: unknown) => options.onBackgroundError?.(error));
        options.onHit?.();
        return cached.value;
      }
      return refresh().then((fresh) => fresh.value);
    },
    invalidate(value) {
      if (current?.value !== value) return;
      current = undefined;
      generation++;
      pending = undefined;
    },
  };
}
