/**
 * Per-user tokens get a version and a refresh lease, so that of several instances that
 * find the same token expired, one refreshes it and the others wait for its result: an
 * authorization server that rotates refresh tokens treats a second use of the old one as
 * theft and revokes the whole grant (RFC 9700 §4.14.2), and the user would have to
 * connect again.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("user_tokens").addColumn("version", "integer", (col) => col.notNull().defaultTo(0)).execute();
  await db.schema.alterTable("user_tokens").addColumn("refresh_lease_until", "varchar(40)").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("user_tokens").dropColumn("refresh_lease_until").execute();
  await db.schema.alterTable("user_tokens").dropColumn("version").execute();
}
