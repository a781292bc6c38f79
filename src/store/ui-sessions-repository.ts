/** Admin UI sessions, by the SHA-256 of their id (see migration 003). */
import type { Db } from "./schema.js";

export interface StoredSession {
  subject: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Keyed fingerprint of the key that opened it (migration 007); null on older rows. */
  binding: string | null;
}

export function uiSessionsRepository(db: Db, now: () => Date = () => new Date()) {
  return {
    async insert(idHash: string, session: StoredSession): Promise<void> {
      await db
        .insertInto("ui_sessions")
        .values({
          id_hash: idHash,
          subject: session.subject,
          created_at: now().toISOString(),
          expires_at: new Date(session.expiresAt).toISOString(),
          binding: session.binding,
        })
        .execute();
    },
    async find(idHash: string): Promise<StoredSession | undefined> {
      const row = await db.selectFrom("ui_sessions").select(["subject", "expires_at", "binding"]).where("id_hash", "=", idHash).executeTakeFirst();
      return row === undefined ? undefined : { subject: row.subject, expiresAt: Date.parse(row.expires_at), binding: row.binding };
    },
    async delete(idHash: string): Promise<void> {
      await db.deleteFrom("ui_sessions").where("id_hash", "=", idHash).execute();
    },
    async purgeExpired(): Promise<void> {
      await db.deleteFrom("ui_sessions").where("expires_at", "<", now().toISOString()).execute();
    },
  };
}

export type UiSessionsRepository = ReturnType<typeof uiSessionsRepository>;
