/**
 * Sessions of the admin web UI. Kept in the database, not in a signed cookie alone, so
 * that "Log out" ends a session everywhere at once and any instance can serve any page.
 * Only the SHA-256 of the session id is stored.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("ui_sessions")
    .addColumn("id_hash", "varchar(64)", (col) => col.primaryKey())
    /** `master`, or `key:<sha256 of the virtual key>`. */
    .addColumn("subject", "varchar(255)", (col) => col.notNull())
    .addColumn("created_at", "varchar(40)", (col) => col.notNull())
    .addColumn("expires_at", "varchar(40)", (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("ui_sessions").execute();
}
