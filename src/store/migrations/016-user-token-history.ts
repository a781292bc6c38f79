/**
 * When each per-user upstream token was connected and last refreshed, for the "My
 * connections" page: `updated_at` changes on both, so it cannot tell them apart. Rows
 * stored before this migration have neither (shown as unknown) until the next save.
 */
import type { Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await addColumnOnce(db, "user_tokens", "connected_at", () => db.schema.alterTable("user_tokens").addColumn("connected_at", "varchar(40)"));
  await addColumnOnce(db, "user_tokens", "refreshed_at", () => db.schema.alterTable("user_tokens").addColumn("refreshed_at", "varchar(40)"));
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("user_tokens").dropColumn("refreshed_at").execute();
  await db.schema.alterTable("user_tokens").dropColumn("connected_at").execute();
}
