/**
 * What happened to an `/mcp` call that a 2026-07-28 client is fulfilling through multi
 * round-trip requests (the gateway's bridge to an upstream of an earlier revision): each
 * event (the upstream asked for input again, or the call ended) in order, so that the
 * instance the client's retry lands on learns what the instance holding the call saw.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("mcp_input_events")
    .ifNotExists()
    /** Random, 128 bits, base64url: the held call. */
    .addColumn("call_id", "varchar(64)", (col) => col.notNull())
    /** 1, 2, ...: the events of one call in order. */
    .addColumn("seq", "integer", (col) => col.notNull())
    /** The event, JSON, sealed with the salt key (it may hold what the user typed). */
    .addColumn("event", "text", (col) => col.notNull())
    .addColumn("created_at", "bigint", (col) => col.notNull())
    .addPrimaryKeyConstraint("mcp_input_events_pk", ["call_id", "seq"])
    .execute();
  await db.schema.createIndex("mcp_input_events_created_at").ifNotExists().on("mcp_input_events").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("mcp_input_events").execute();
}
