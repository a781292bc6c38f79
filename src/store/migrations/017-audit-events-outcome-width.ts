/**
 * The audit trail's `outcome` held 16 characters, but tool pinning records its decisions as
 * `tool_change_approved` and `tool_change_rejected` (20): on PostgreSQL, which enforces a
 * varchar's length, such an event failed its whole batch, which was kept and retried, so
 * nothing recorded after it was written. SQLite does not enforce the length: nothing to do.
 */
import { PostgresAdapter, type Kysely } from "kysely";

const onPostgres = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof PostgresAdapter;

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!onPostgres(db)) return;
  await db.schema.alterTable("audit_events").alterColumn("outcome", (column) => column.setDataType("varchar(32)")).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!onPostgres(db)) return;
  await db.schema.alterTable("audit_events").alterColumn("outcome", (column) => column.setDataType("varchar(16)")).execute();
}
