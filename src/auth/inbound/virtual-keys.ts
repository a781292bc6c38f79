/**
 * Resolves virtual keys (stored as SHA-256 hashes) to callers. Lookups are cached, hits
 * and misses alike, in a bounded map that the revision poller clears whenever any
 * instance writes a key, so a created key works everywhere and a deleted one stops
 * working everywhere within one poll interval, without a database read per request.
 * Writes through this instance's own repository clear the cache at once.
 */
import { createHash } from "node:crypto";
import { GatewayError } from "../../errors.js";
import type { KeysRepository, StoredKey } from "../../store/keys-repository.js";
import type { Caller, CallerLimits } from "./caller.js";
import type { KeyResolver } from "./key-resolver.js";

export interface VirtualKeyResolver extends KeyResolver {
  /** Forget every cached lookup (a key was written somewhere). */
  invalidate(): void;
}

/** Every virtual key starts so (`/key/generate` makes `sk-` + 32 base64url characters). */
export const VIRTUAL_KEY_PREFIX = "sk-";

export function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function callerFromKey(key: StoredKey): Caller {
  const permission = key.objectPermission;
  const groups = permission?.mcp_access_groups ?? [];
  // A key limited by access groups starts from no server: the groups' servers are added by
  // the access-group step, so a key limited to groups never sees every server.
  const servers = permission?.mcp_servers ?? (groups.length > 0 ? [] : undefined);
  const tools = Object.entries(permission?.mcp_tool_permissions ?? {}).map(([server, names]) => [server, new Set(names)] as const);
  const limits = callerLimits(key);
  return {
    kind: "virtual",
    keyId: key.keyAlias ?? key.keyName,
    subject: `key:${key.token}`,
    ...(key.userId === null ? {} : { userId: key.userId }),
    servers: servers === undefined ? "all" : new Set(servers),
    tools: new Map(tools),
    ...(limits === undefined ? {} : { limits }),
    ...(groups.length === 0 ? {} : { mcpAccessGroups: groups }),
  };
}

function callerLimits(key: StoredKey): CallerLimits | undefined {
  if (key.rpmLimit === null && key.maxParallelRequests === null) return undefined;
  return {
    ...(key.rpmLimit === null ? {} : { rpm: key.rpmLimit }),
    ...(key.maxParallelRequests === null ? {} : { parallel: key.maxParallelRequests }),
  };
}

interface CacheEntry {
  caller: Caller | undefined;
  expiresAt: number | undefined;
  blocked: boolean;
  /** When this lookup stops being trusted even without an invalidation (the revision poll may be failing). */
  staleAt: number;
}

/** A cached lookup is re-read after this long, so a poller outage cannot keep a deleted key alive. */
const MAX_AGE_MS = 60_000;

export function virtualKeyResolver(
  keys: KeysRepository,
  options: { now?: () => number; maxEntries?: number } = {},
): VirtualKeyResolver {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, CacheEntry>();
  const pending = new Map<string, Promise<CacheEntry>>();
  let generation = 0;

  async function load(token: string): Promise<CacheEntry> {
    const startedIn = generation;
    const stored = await keys.findByToken(token);
    const entry: CacheEntry = {
      caller: stored === undefined ? undefined : callerFromKey(stored),
      expiresAt: stored?.expiresAt == null ? undefined : Date.parse(stored.expiresAt),
      blocked: stored?.blocked === true,
      staleAt: now() + MAX_AGE_MS,
    };
    // A lookup that raced an invalidation may be stale: answer it, but do not keep it.
    if (startedIn === generation) {
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(token, entry);
    }
    return entry;
  }

  function invalidate(): void {
    generation++;
    cache.clear();
    pending.clear();
  }
  // A key deleted through this instance must stop working here at once, not at the next poll.
  keys.onWrite(invalidate);

  return {
    accepts: (key) => key.startsWith(VIRTUAL_KEY_PREFIX),
    looksUp: (key) => key.startsWith(VIRTUAL_KEY_PREFIX),
    // Not async: a cached key is answered without a promise (the hot path awaits nothing for it).
    resolve(key) {
      const token = hashKey(key);
      const entry = cache.get(token);
      if (entry !== undefined && entry.staleAt > now()) return callerOf(entry, now());
      let loading = pending.get(token);
      if (loading === undefined) {
        const started: Promise<CacheEntry> = load(token).finally(() => {
          if (pending.get(token) === started) pending.delete(token);
        });
        loading = started;
        pending.set(token, loading);
      }
      return loading.then((loaded) => callerOf(loaded, now()));
    },
    invalidate,
  };
}

/** The caller of a looked-up key, or the 401 of a blocked or expired one. */
function callerOf(entry: CacheEntry, now: number): Caller | undefined {
  if (entry.caller !== undefined && entry.blocked) {
    throw new GatewayError({
      status: 401,
      code: "key_blocked",
      message: "this gateway key is blocked; an admin can unblock it (POST /key/unblock)",
    });
  }
  if (entry.caller !== undefined && entry.expiresAt !== undefined && entry.expiresAt <= now) {
    throw new GatewayError({
      status: 401,
      code: "key_expired",
      message: `this gateway key expired at ${new Date(entry.expiresAt).toISOString()}; ask an admin for a new one (POST /key/generate)`,
    });
  }
  return entry.caller;
}
