/**
 * Registered MCP clients learn whether they ever completed a flow (issue 15, items 7 and
 * 12): `completed_at` is set by the first authorization code the client redeems. Until
 * then the client is not trusted with automatic error redirects (RFC 9700 §4.11.2), and it
 * is deleted once older than `oauth_incomplete_client_ttl_seconds`, so anonymous
 * registrations cannot fill the database. `first_party` marks the clients the gateway
 * registers for its own Connect flow, whose redirect_uri passed the same-origin policy.
 *
 * Clients registered before this migration are kept as they were: they are marked
 * completed (their owners may have connected long ago, and nothing recorded it).
 */
import { sql, type Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  if (await addColumnOnce(db, "oauth_clients", "completed_at", () => db.schema.alterTable("oauth_clients").addColumn("completed_at", "varchar(40)"))) {
    // Only the run that added the column marks the earlier clients: a later run would mark new ones.
    await sql`update oauth_clients set completed_at = created_at`.execute(db);
  }
  await addColumnOnce(db, "oauth_clients", "first_party", () => db.schema.alterTable("oauth_clients").addColumn("first_party", "integer", (col) => col.notNull().defaultTo(0)));
  // The purge looks for old clients that never completed.
  await db.schema.createIndex("oauth_clients_created_at").ifNotExists().on("oauth_clients").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("oauth_clients_created_at").execute();
  await db.schema.alterTable("oauth_clients").dropColumn("first_party").execute();
  await db.schema.alterTable("oauth_clients").dropColumn("completed_at").execute();
}
