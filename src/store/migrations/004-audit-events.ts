/**
 * The audit trail of tool calls (issue 10): who called which tool of which server, how it
 * ended and how long it took. Never the arguments or results.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("audit_events")
    .addColumn("id", "varchar(36)", (col) => col.primaryKey())
    /** ISO 8601 with milliseconds: sorts as text in both dialects. */
    .addColumn("at", "varchar(40)", (col) => col.notNull())
    .addColumn("request_id", "varchar(128)")
    /** `master`, `virtual` or `delegated`. */
    .addColumn("caller_kind", "varchar(16)", (col) => col.notNull())
    /** The key's non-secret label (alias or `sk-...abcd`). */
    .addColumn("caller", "varchar(255)", (col) => col.notNull())
    /** The key's stable identity: `master`, or `key:<sha256 of the key>`. */
    .addColumn("subject", "varchar(255)", (col) => col.notNull())
    .addColumn("user_id", "varchar(255)")
    /** `passthrough`, `aggregate` or `rest`. */
    .addColumn("route", "varchar(16)", (col) => col.notNull())
    .addColumn("server", "varchar(255)", (col) => col.notNull())
    .addColumn("tool", "varchar(255)", (col) => col.notNull())
    /** `ok`, `tool_error` (the tool answered isError) or `error`. */
    .addColumn("outcome", "varchar(16)", (col) => col.notNull())
    .addColumn("status", "integer")
    .addColumn("error_code", "varchar(64)")
    .addColumn("duration_ms", "integer", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("audit_events_at").on("audit_events").column("at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("audit_events").execute();
}
