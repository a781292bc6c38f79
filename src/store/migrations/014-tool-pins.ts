/**
 * Tool pinning (README, "Tool pinning"): the definition of every tool each server listed,
 * as first seen, and a changed definition waiting for an admin's decision; and the
 * decisions taken (who approved or rejected what).
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("tool_pins")
    .ifNotExists()
    .addColumn("server_id", "varchar(255)", (col) => col.notNull())
    .addColumn("tool_name", "varchar(512)", (col) => col.notNull())
    /** SHA-256, hex, of the pinned definition's canonical JSON. */
    .addColumn("pinned_hash", "varchar(64)", (col) => col.notNull())
    /** The pinned definition, canonical JSON. */
    .addColumn("pinned_definition", "text", (col) => col.notNull())
    .addColumn("first_seen_at", "bigint", (col) => col.notNull())
    .addColumn("pinned_at", "bigint", (col) => col.notNull())
    /** A changed definition the server listed since, not yet approved (null: none). */
    .addColumn("pending_hash", "varchar(64)")
    .addColumn("pending_definition", "text")
    .addColumn("pending_seen_at", "bigint")
    /** The pending definition was rejected: the old pin stays, the change stays blocked or flagged. */
    .addColumn("pending_rejected", "integer", (col) => col.notNull().defaultTo(0))
    .addPrimaryKeyConstraint("tool_pins_pk", ["server_id", "tool_name"])
    .execute();
  await db.schema
    .createTable("tool_pin_decisions")
    .ifNotExists()
    .addColumn("id", "varchar(64)", (col) => col.primaryKey())
    .addColumn("at", "bigint", (col) => col.notNull())
    /** Who decided: the key's label (never the key) and its subject. */
    .addColumn("actor", "varchar(255)", (col) => col.notNull())
    .addColumn("server_id", "varchar(255)", (col) => col.notNull())
    .addColumn("server_name", "varchar(255)", (col) => col.notNull())
    .addColumn("tool_name", "varchar(512)", (col) => col.notNull())
    /** `approved` or `rejected`. */
    .addColumn("decision", "varchar(16)", (col) => col.notNull())
    .addColumn("old_hash", "varchar(64)", (col) => col.notNull())
    .addColumn("new_hash", "varchar(64)", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("tool_pin_decisions_at").ifNotExists().on("tool_pin_decisions").column("at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("tool_pin_decisions").execute();
  await db.schema.dropTable("tool_pins").execute();
}
