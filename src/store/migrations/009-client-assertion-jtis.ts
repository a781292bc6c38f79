/**
 * The `jti` of every `private_key_jwt` client assertion the token endpoint accepted, until
 * the assertion expires (RFC 7523 §3: a jti is used once). Kept here rather than in one
 * instance's memory, so an assertion accepted by one instance is refused by every other one
 * sharing the database.
 *
 * The primary key is the check: an instance records a jti by inserting it, and the insert
 * fails to add a row when another instance recorded it first (no read-then-write race).
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("oauth_assertion_jtis")
    .ifNotExists()
    /** SHA-256 (hex) of `client_id` + "\n" + `jti`: a fixed-size key for two values a client chooses. */
    .addColumn("jti_hash", "varchar(64)", (col) => col.primaryKey())
    /** Epoch milliseconds after which the assertion can no longer be presented, so the row can go. */
    .addColumn("expires_at", "bigint", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("oauth_assertion_jtis_expires_at").ifNotExists().on("oauth_assertion_jtis").column("expires_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("oauth_assertion_jtis").execute();
}
