/** The audit trail's table: batched inserts, filtered newest-first listing, retention. */
import type { AuditEventsTable, Db } from "./schema.js";

export interface AuditQuery {
  server?: string;
  tool?: string;
  /** The key's label or its subject. */
  caller?: string;
  outcome?: string;
  /** Events at or after this ISO time. */
  since?: string;
  /** The page cursor: events older than this one (by time, then id). */
  after?: { at: string; id: string };
  limit: number;
}

export function auditRepository(db: Db) {
  return {
    async insert(rows: readonly AuditEventsTable[]): Promise<void> {
      if (rows.length === 0) return;
      await db.insertInto("audit_events").values([...rows]).execute();
    },

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
      if (query.after !== undefined) {
        const { at, id } = query.after;
        select = select.where((eb) => eb.or([eb("at", "<", at), eb.and([eb("at", "=", at), eb("id", "<", id)])]));
      }
      return select.orderBy("at", "desc").orderBy("id", "desc").limit(query.limit).execute();
    },

    async purgeBefore(at: string): Promise<void> {
      await db.deleteFrom("audit_events").where("at", "<", at).execute();
    },
  };
}

export type AuditRepository = ReturnType<typeof auditRepository>;
