/**
 * Tokens cached per key, for strategies that hold one token per caller rather than one
 * per server (on-behalf-of: one per subject token and server). As `refreshing-cache.ts`:
 * one fetch per key at a time (a shared pending promise), and a fetch never stores over
 * the answer of a newer one. Each token is used until its own expiry; the map is bounded,
 * expired entries go first, then the least recently used.
 */

export interface KeyedTokenCache<T> {
  /** The cached value for `key`, or the result of `fetch` (shared by concurrent callers). */
  get(key: string, fetch: () => Promise<{ value: T; expiresAt: number }>): Promise<T>;
  /** Forget `value` if it is what `key` holds (the upstream refused it). */
  invalidate(key: string, value: T): void;
  readonly size: number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export function keyedTokenCache<T>(options: { now: () => number; maxEntries: number; onHit?: () => void }): KeyedTokenCache<T> {
  const entries = new Map<string, Entry<T>>();
  const pending = new Map<string, Promise<Entry<T>>>();

  function store(key: string, entry: Entry<T>): void {
    entries.delete(key);
    if (entries.size >= options.maxEntries) {
      const now = options.now();
      for (const [name, cached] of entries) if (cached.expiresAt <= now) entries.delete(name);
      // Map order is use order: the first entry is the least recently used.
      if (entries.size >= options.maxEntries) entries.delete(entries.keys().next().value!);
    }
    entries.set(key, entry);
  }

  return {
    async get(key, fetch) {
      const cached = entries.get(key);
      if (cached !== undefined) {
        entries.delete(key);
        if (options.now() < cached.expiresAt) {
          entries.set(key, cached);
          options.onHit?.();
          return cached.value;
        }
      }
      let loading = pending.get(key);
      if (loading === undefined) {
        const started: Promise<Entry<T>> = fetch().then((fresh) => {
          if (pending.get(key) === started) store(key, fresh);
          return fresh;
        });
        loading = started;
        pending.set(key, started);
        const settle = () => {
          if (pending.get(key) === started) pending.delete(key);
        };
        started.then(settle, settle);
      }
      return (await loading).value;
    },
    invalidate(key, value) {
      if (entries.get(key)?.value === value) entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
