/**
 * The sessions of the aggregate `/mcp` endpoint, shared by every gateway instance: one row
 * per gateway session (`server_id` empty: when it ended), and one per upstream session
 * opened under it (the upstream's sealed `Mcp-Session-Id`, protocol version and
 * capabilities), so any instance can continue a session another one started.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("mcp_aggregate_sessions")
    .ifNotExists()
    /** SHA-256 (hex) of the session's nonce: the row says nothing a client could present. */
    .addColumn("session_id", "varchar(64)", (col) => col.notNull())
    /** The upstream server's id; empty for the gateway session's own row. */
    .addColumn("server_id", "varchar(255)", (col) => col.notNull())
    /** The upstream's Mcp-Session-Id, sealed with the salt key (null: the upstream keeps no session). */
    .addColumn("upstream_session_id", "text")
    .addColumn("protocol_version", "varchar(32)")
    /** The upstream's capabilities from its initialize, JSON. */
    .addColumn("capabilities", "text")
    .addColumn("created_at", "bigint", (col) => col.notNull())
    .addColumn("ended_at", "bigint")
    .addPrimaryKeyConstraint("mcp_aggregate_sessions_pk", ["session_id", "server_id"])
    .execute();
  await db.schema.createIndex("mcp_aggregate_sessions_created_at").ifNotExists().on("mcp_aggregate_sessions").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("mcp_aggregate_sessions").execute();
}
