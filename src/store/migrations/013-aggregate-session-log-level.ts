/**
 * The log level a `/mcp` session's client set (`logging/setLevel`), on the session's own
 * row: a 2026-07-28 upstream has no such request and takes the level on each request
 * instead, from whichever instance the session's next request lands on.
 */
import type { Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await addColumnOnce(db, "mcp_aggregate_sessions", "log_level", () => db.schema.alterTable("mcp_aggregate_sessions").addColumn("log_level", "varchar(16)"));
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("mcp_aggregate_sessions").dropColumn("log_level").execute();
}
