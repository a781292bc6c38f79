/**
 * The counters behind the keys' `rpm_limit` and `max_parallel_requests`, shared by every
 * instance on one database (without REDIS_URL; redis-counters.ts is the same interface on
 * Redis). Two kinds:
 *
 * - a fixed-window counter per key: one atomic upsert-increment per counted request
 *   (`insert ... on conflict do update ... returning`, one round trip in both dialects);
 * - leases for in-flight requests: a row per request, with an expiry its instance renews
 *   while the request runs, so the slots of an instance that dies free themselves.
 *   Taking a lease counts the key's live leases and inserts one only under the limit, as
 *   one serialised step: on SQLite one statement (writers are serialised by the database
 *   lock, taken before the statement reads), on PostgreSQL a transaction holding an
 *   advisory lock on the key, so two instances cannot both see the last free slot.
 */
import { sql } from "kysely";
import type { DatabaseDialect } from "./database.js";
import type { Db } from "./schema.js";

export interface KeyCounters {
  /** Adds `by` to `subject`'s count in the window starting at `windowStart` (epoch seconds); the count after. */
  addToWindow(subject: string, windowStart: number, by: number, windowSeconds: number): Promise<number>;
  /** Takes a lease when `subject` holds fewer than `limit` live ones at `nowMs`; whether it did. */
  acquireLease(subject: string, leaseId: string, limit: number, nowMs: number, expiresAtMs: number): Promise<boolean>;
  releaseLease(subject: string, leaseId: string): Promise<void>;
  /** Pushes the expiry of leases still held by this instance. */
  renewLeases(leases: ReadonlyArray<{ subject: string; leaseId: string }>, expiresAtMs: number): Promise<void>;
  close(): Promise<void>;
}

export function databaseCounters(db: Db, dialect: DatabaseDialect): KeyCounters {
  // Old windows and dead leases are deleted by the instance that first counts in a new window.
  let purgedBefore = 0;
  async function purge(windowStart: number, windowSeconds: number): Promise<void> {
    if (windowStart <= purgedBefore) return;
    purgedBefore = windowStart;
    await db.deleteFrom("key_rate_windows").where("window_start", "<", windowStart - windowSeconds).execute();
    await db.deleteFrom("key_parallel_leases").where("expires_at", "<", windowStart * 1000).execute();
  }

  async function insertUnderLimit(executor: Db, subject: string, leaseId: string, limit: number, nowMs: number, expiresAtMs: number): Promise<boolean> {
    // The cast: PostgreSQL types a bare parameter in a select list as text.
    const result = await sql`
      insert into key_parallel_leases (lease_id, subject, expires_at)
      select ${leaseId}, ${subject}, cast(${expiresAtMs} as bigint)
      where (select count(*) from key_parallel_leases where subject = ${subject} and expires_at > ${nowMs}) < ${limit}`.execute(executor);
    return Number(result.numAffectedRows ?? 0) === 1;
  }

  return {
    async addToWindow(subject, windowStart, by, windowSeconds) {
      const row = await db
        .insertInto("key_rate_windows")
        .values({ subject, window_start: windowStart, count: by })
        .onConflict((conflict) => conflict.columns(["subject", "window_start"]).doUpdateSet({ count: sql<number>`key_rate_windows.count + ${by}` }))
        .returning("count")
        .executeTakeFirstOrThrow();
      void purge(windowStart, windowSeconds).catch(() => undefined);
      return Number(row.count);
    },

    async acquireLease(subject, leaseId, limit, nowMs, expiresAtMs) {
      if (dialect === "sqlite") return insertUnderLimit(db, subject, leaseId, limit, nowMs, expiresAtMs);
      return db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`gatehouse:parallel:${subject}`}, 0))`.execute(trx);
        return insertUnderLimit(trx, subject, leaseId, limit, nowMs, expiresAtMs);
      });
    },

    async releaseLease(_subject, leaseId) {
      await db.deleteFrom("key_parallel_leases").where("lease_id", "=", leaseId).execute();
    },

    async renewLeases(leases, expiresAtMs) {
      if (leases.length === 0) return;
      await db
        .updateTable("key_parallel_leases")
        .set({ expires_at: expiresAtMs })
        .where(
          "lease_id",
          "in",
          leases.map((lease) => lease.leaseId),
        )
        .execute();
    },

    // The database is closed by its owner.
    close: async () => undefined,
  };
}
