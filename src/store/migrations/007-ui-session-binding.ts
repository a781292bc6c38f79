/**
 * Admin UI sessions are bound to the key they were opened with: a keyed fingerprint of the
 * master key, or of the virtual key's hash. A session whose binding no longer matches (the
 * master key was changed, the virtual key deleted) is refused; sessions from before this
 * migration have none and end at the next page.
 */
import type { Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

export async function up(db: Kysely<unknown>): Promise<void> {
  await addColumnOnce(db, "ui_sessions", "binding", () => db.schema.alterTable("ui_sessions").addColumn("binding", "varchar(64)"));
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("ui_sessions").dropColumn("binding").execute();
}
