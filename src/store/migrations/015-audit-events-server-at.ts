/**
 * The activity charts (issue 20) read one server's events over an hour, a day or a week:
 * an index on (server, at) makes that a range scan of that server's events alone, where
 * the `at` index alone would walk every server's events in the range.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex("audit_events_server_at").on("audit_events").columns(["server", "at"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("audit_events_server_at").execute();
}
