/**
 * Interactive OAuth (authorization code + PKCE through the gateway): the MCP clients the
 * gateway registered, pending authorizations, the gateway's own authorization codes, and
 * the per-user upstream tokens. Everything that must survive a restart or be seen by
 * another instance lives here, never in one process's memory (ContextForge #4352).
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("oauth_clients")
    .addColumn("client_id", "varchar(128)", (col) => col.primaryKey())
    .addColumn("server_id", "varchar(64)", (col) => col.notNull())
    /** JSON: the client's registration as the gateway keeps it (redirect_uris, client_name, ...). */
    .addColumn("metadata", "text", (col) => col.notNull())
    /** Sealed JSON: the upstream client credentials when the upstream registered this client itself. */
    .addColumn("upstream_credentials", "text")
    .addColumn("created_at", "varchar(40)", (col) => col.notNull())
    .execute();

  // Pending authorizations, by the hash of the state sent upstream; the gateway's codes, by their hash.
  await createSingleUseTable(db, "oauth_flows", "state_hash");
  await createSingleUseTable(db, "oauth_codes", "code_hash");

  await db.schema
    .createTable("user_tokens")
    .addColumn("server_id", "varchar(64)", (col) => col.notNull())
    .addColumn("user_id", "varchar(255)", (col) => col.notNull())
    /** Sealed JSON: access_token, refresh_token, token_type, scope. */
    .addColumn("sealed", "text", (col) => col.notNull())
    .addColumn("expires_at", "varchar(40)")
    .addColumn("updated_at", "varchar(40)", (col) => col.notNull())
    .addPrimaryKeyConstraint("user_tokens_pk", ["server_id", "user_id"])
    .execute();
}

/** A sealed, expiring, single-use record keyed by a SHA-256 hash. */
async function createSingleUseTable(db: Kysely<unknown>, table: string, keyColumn: string): Promise<void> {
  await db.schema
    .createTable(table)
    .addColumn(keyColumn, "varchar(64)", (col) => col.primaryKey())
    .addColumn("server_id", "varchar(64)", (col) => col.notNull())
    .addColumn("sealed", "text", (col) => col.notNull())
    .addColumn("expires_at", "varchar(40)", (col) => col.notNull())
    .addColumn("consumed_at", "varchar(40)")
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ["user_tokens", "oauth_codes", "oauth_flows", "oauth_clients"]) await db.schema.dropTable(table).execute();
}
