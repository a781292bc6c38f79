/**
 * The audit trail's table: batched inserts, filtered newest-first listing, retention.
 *
 * Where the batches are written: on a SQLite file, by a worker thread with its own
 * connection (audit-writer-thread.ts), so the event loop never runs SQLite for them; on an
 * in-memory SQLite database (which no other connection can open), in-process; on
 * PostgreSQL, in multi-row INSERTs through the pool (asynchronous I/O already).
 */
import type SQLite from "better-sqlite3";
import { batchRows, sqliteBatchWriter, type AuditBatch } from "./audit-batch.js";
import { windowStats, type Grouping, type WindowQuery, type WindowStats } from "./audit-summary.js";
import { auditWriterThread } from "./audit-writer-thread.js";
import type { AuditEventsTable, Db } from "./schema.js";

export interface AuditQuery {
  server?: string;
  tool?: string;
  /** The key's label or its subject. */
  caller?: string;
  outcome?: string;
  /** Events at or after this ISO time. */
  since?: string;
  /** Events before this ISO time. */
  until?: string;
  /** The page cursor: events older than this one (by time, then id). */
  after?: { at: string; id: string };
  limit: number;
}

export function auditRepository(db: Db, sqlite?: SQLite.Database) {
  const write = writer(db, sqlite);
  return {
    /** Writes a batch; its typed arrays may be handed to another thread, so it cannot be used again. */
    insert: (batch: AuditBatch): Promise<void> => (batch.length === 0 ? Promise.resolve() : write.insert(batch)),

    async list(query: AuditQuery): Promise<AuditEventsTable[]> {
      let select = db.selectFrom("audit_events").selectAll();
      if (query.server !== undefined) select = select.where("server", "=", query.server);
      if (query.tool !== undefined) select = select.where("tool", "=", query.tool);
      if (query.outcome !== undefined) select = select.where("outcome", "=", query.outcome);
      if (query.caller !== undefined) {
        const caller = query.caller;
        select = select.where((eb) => eb.or([eb("caller", "=", caller), eb("subject", "=", caller)]));
      }
      if (query.since !== undefined) select = select.where("at", ">=", query.since);
      if (query.until !== undefined) select = select.where("at", "<", query.until);
      if (query.after !== undefined) {
        const { at, id } = query.after;
        select = select.where((eb) => eb.or([eb("at", "<", at), eb.and([eb("at", "=", at), eb("id", "<", id)])]));
      }
      return select.orderBy("at", "desc").orderBy("id", "desc").limit(query.limit).execute();
    },

    async get(id: string): Promise<AuditEventsTable | undefined> {
      return db.selectFrom("audit_events").selectAll().where("id", "=", id).executeTakeFirst();
    },

    /** Calls, failures and latency percentiles in a window, per group (store/audit-summary.ts). */
    stats: (query: WindowQuery, grouping: Grouping): Promise<WindowStats[]> => windowStats(db, query, grouping),

    async purgeBefore(at: string): Promise<void> {
      await db.deleteFrom("audit_events").where("at", "<", at).execute();
    },

    /** Stops the writer thread, if one runs (after the last insert has settled). */
    close: (): Promise<void> => write.close(),
  };
}

function writer(db: Db, sqlite: SQLite.Database | undefined): { insert(batch: AuditBatch): Promise<void>; close(): Promise<void> } {
  if (sqlite !== undefined && !sqlite.memory) return auditWriterThread(sqlite.name);
  if (sqlite !== undefined) {
    const insert = sqliteBatchWriter(sqlite);
    return { insert: async (batch) => insert(batch), close: async () => undefined };
  }
  return {
    async insert(batch) {
      await db.insertInto("audit_events").values(batchRows(batch)).execute();
    },
    close: async () => undefined,
  };
}

export type AuditRepository = ReturnType<typeof auditRepository>;
