/**
 * The keys' shared counters on Redis (REDIS_URL), as LiteLLM keeps its rate limits there:
 * the same interface as the database's (key-counters.ts). Keys, in hash-tag form so that a
 * key's counters sit in one cluster slot:
 *
 * - `{gatehouse:<subject>}:rpm:<window start>`: INCRBY, expiring two windows later;
 * - `{gatehouse:<subject>}:parallel`: a sorted set of lease ids scored by their expiry; a
 *   Lua script drops expired leases and adds one only under the limit, atomically.
 *
 * The client (`@redis/client`, the official node-redis core) is loaded only when REDIS_URL
 * is set. Commands never queue while Redis is away and time out after a second, so an
 * outage fails fast and the limiter can fall back (key-limits.ts) instead of holding
 * requests.
 */
import type { KeyCounters } from "./key-counters.js";

/** The set lives as long as its longest lease (never shortened by another instance's renewal). */
const EXPIRE_WITH_LAST_LEASE = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end`;

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  ${EXPIRE_WITH_LAST_LEASE}
  return 1
end
return 0`;

const RENEW = `
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[1], ARGV[2]) == 1 then
  ${EXPIRE_WITH_LAST_LEASE}
end
return 0`;

const COMMAND_TIMEOUT_MS = 1_000;

const tag = (subject: string) => `{gatehouse:${subject}}`;

export interface RedisCountersOptions {
  url: string;
  /** Connection errors (Redis down, refused, reconnecting): reported, never thrown. */
  onError: (error: Error) => void;
}

export async function redisCounters(options: RedisCountersOptions): Promise<KeyCounters> {
  const { createClient } = await import("@redis/client");
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    commandOptions: { timeout: COMMAND_TIMEOUT_MS, rejectInFlight: true },
    socket: { connectTimeout: 5_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5_000) },
  });
  client.on("error", (error: Error) => options.onError(error));
  // Not awaited: the gateway starts while Redis is away and the client keeps reconnecting.
  const connecting = client.connect().catch((error: unknown) => options.onError(error instanceof Error ? error : new Error(String(error))));

  return {
    async addToWindow(subject, windowStart, by, windowSeconds) {
      const key = `${tag(subject)}:rpm:${windowStart}`;
      const [count] = await client.multi().incrBy(key, by).expire(key, windowSeconds * 2).exec();
      return Number(count);
    },
    async acquireLease(subject, leaseId, limit, nowMs, expiresAtMs) {
      const taken = await client.eval(ACQUIRE, { keys: [`${tag(subject)}:parallel`], arguments: [String(nowMs), String(limit), String(expiresAtMs), leaseId] });
      return Number(taken) === 1;
    },
    async releaseLease(subject, leaseId) {
      await client.zRem(`${tag(subject)}:parallel`, leaseId);
    },
    async renewLeases(leases, expiresAtMs) {
      if (leases.length === 0) return;
      const batch = client.multi();
      for (const { subject, leaseId } of leases) batch.eval(RENEW, { keys: [`${tag(subject)}:parallel`], arguments: [String(expiresAtMs), leaseId] });
      await batch.exec();
    },
    async close() {
      // While Redis is away the client keeps reconnecting (and `connect()` never settles): stop it at once.
      if (client.isReady) await client.close();
      else if (client.isOpen) client.destroy();
      await connecting;
    },
  };
}
