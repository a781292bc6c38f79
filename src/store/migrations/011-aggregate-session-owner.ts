/**
 * Whose each `/mcp` session is (its key's subject, or for callers without a key the hash of
 * the credential they present), on the session's own row: the gateway counts a key's live
 * sessions when it opens one, so that `initialize` in a loop cannot fill the table (and open
 * upstream sessions) without end. Rows made before carry no owner and count for no one.
 */
import type { Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await addColumnOnce(db, "mcp_aggregate_sessions", "owner", () => db.schema.alterTable("mcp_aggregate_sessions").addColumn("owner", "varchar(255)"));
  await db.schema.createIndex("mcp_aggregate_sessions_owner").ifNotExists().on("mcp_aggregate_sessions").columns(["owner", "created_at"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("mcp_aggregate_sessions_owner").ifExists().execute();
  await db.schema.alterTable("mcp_aggregate_sessions").dropColumn("owner").execute();
}
