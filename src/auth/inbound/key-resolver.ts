/**
 * Turns a presented gateway key into a Caller. The master key is compared in constant
 * time on SHA-256 digests. Virtual keys (stored as hashes, issue 3) plug in as another
 * `KeyResolver` in the chain; resolvers are tried in order, and a key that no resolver
 * knows is refused (fail closed: never an empty identity, cf. CVE-2026-59822).
 */
import { hash } from "node:crypto";
import { masterCaller, type Caller } from "./caller.js";

export interface KeyResolver {
  resolve(key: string): Promise<Caller | undefined> | Caller | undefined;
  /**
   * A cheap test of the key's form: false when `key` cannot be one of this resolver's keys,
   * which spares a lookup (a virtual key always starts with `sk-`; a JWT or an upstream
   * token never costs a database read).
   */
  accepts?(key: string): boolean;
  /** Whether a key this resolver knows without a lookup (the master key) occurs anywhere in `text`. */
  foundIn?(text: string): boolean;
  /** Whether resolving `key` costs a lookup (a cache or database read), not just a comparison in memory. */
  looksUp?(key: string): boolean;
}

export function sha256(value: string): Buffer {
  // The one-shot form: no Hash object per request (the key is hashed on every call).
  return hash("sha256", value, "buffer");
}

export function masterKeyResolver(masterKey: string | undefined): KeyResolver {
  if (masterKey === undefined) return { resolve: () => undefined };
  const caller = masterCaller();
  // A hash table lookup, not a string comparison: the presented key is hashed (with V8's
  // per-process random seed) and compared with the master key only when the two hashes
  // collide, so its timing says nothing about how much of the key was right; as a digest
  // compare (SHA-256 and timingSafeEqual) did, at a fifth of the cost on every request.
  const known = new Map([[masterKey, caller]]);
  return {
    resolve: (key) => known.get(key),
    foundIn: (text) => text.includes(masterKey),
  };
}

export function chainResolvers(resolvers: readonly KeyResolver[]): KeyResolver {
  return {
    resolve: (key) => resolveFrom(resolvers, 0, key),
    foundIn: (text) => resolvers.some((resolver) => resolver.foundIn?.(text) === true),
    looksUp: (key) => resolvers.some((resolver) => resolver.looksUp?.(key) === true),
  };
}

/** The first resolver's caller from `start` on; without a promise while every resolver answers without one (the master key). */
function resolveFrom(resolvers: readonly KeyResolver[], start: number, key: string): Promise<Caller | undefined> | Caller | undefined {
  for (let index = start; index < resolvers.length; index++) {
    const resolver = resolvers[index]!;
    if (resolver.accepts?.(key) === false) continue;
    const caller = resolver.resolve(key);
    if (caller instanceof Promise) return caller.then((found) => found ?? resolveFrom(resolvers, index + 1, key));
    if (caller !== undefined) return caller;
  }
  return undefined;
}
