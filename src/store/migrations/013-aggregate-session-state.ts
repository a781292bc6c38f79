/**
 * What a 2025 client sets in its `/mcp` session that a 2026-07-28 upstream takes on each
 * request instead, kept where whichever instance serves the session's next request finds
 * it: the log level the client set (`logging/setLevel`, on the session's own row), and the
 * resources it subscribed to at such an upstream (`resources/subscribe`, one row each: the
 * session's GET stream asks the upstream's `subscriptions/listen` for them).
 */
import type { Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await addColumnOnce(db, "mcp_aggregate_sessions", "log_level", () => db.schema.alterTable("mcp_aggregate_sessions").addColumn("log_level", "varchar(16)"));
  await db.schema
    .createTable("mcp_aggregate_subscriptions")
    .ifNotExists()
    /** SHA-256 (hex) of the session's nonce, as in mcp_aggregate_sessions. */
    .addColumn("session_id", "varchar(64)", (col) => col.notNull())
    .addColumn("server_id", "varchar(255)", (col) => col.notNull())
    /** SHA-256 (hex) of the URI (the key: URIs can be long). */
    .addColumn("uri_hash", "varchar(64)", (col) => col.notNull())
    /** The URI as the upstream knows it. */
    .addColumn("uri", "text", (col) => col.notNull())
    .addColumn("created_at", "bigint", (col) => col.notNull())
    .addPrimaryKeyConstraint("mcp_aggregate_subscriptions_pk", ["session_id", "server_id", "uri_hash"])
    .execute();
  await db.schema.createIndex("mcp_aggregate_subscriptions_created_at").ifNotExists().on("mcp_aggregate_subscriptions").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("mcp_aggregate_subscriptions").ifExists().execute();
  await db.schema.alterTable("mcp_aggregate_sessions").dropColumn("log_level").execute();
}
