/**
 * Virtual keys take LiteLLM's key parameters (issue 17): team, models, metadata (tags
 * inside), budgets, rpm/tpm limits, max_parallel_requests, blocked, and the rest of
 * LiteLLM's fields kept as given (`extra_fields`). Keys made before this migration keep
 * working: every new column is nullable or has a default that means "no limit", "not
 * blocked".
 *
 * Two tables hold the counters that every instance sharing the database sees (used when
 * REDIS_URL is not set): tool calls per key per fixed window, and the leases of in-flight
 * requests for `max_parallel_requests`, which expire on their own if an instance dies.
 */
import type { Kysely } from "kysely";
import { addColumnOnce } from "./add-column-once.js";

type Column = [name: string, type: "varchar(255)" | "varchar(40)" | "text" | "double precision" | "bigint" | "integer", notNullDefault?: number];

const COLUMNS: Column[] = [
  ["team_id", "varchar(255)"],
  /** JSON array of model names (stored, not enforced: MCP has no models). */
  ["models", "text"],
  /** JSON object; `tags` lives inside, as in LiteLLM. */
  ["metadata", "text"],
  ["spend", "double precision", 0],
  ["max_budget", "double precision"],
  ["budget_duration", "varchar(40)"],
  ["budget_reset_at", "varchar(40)"],
  ["tpm_limit", "bigint"],
  ["rpm_limit", "bigint"],
  ["max_parallel_requests", "integer"],
  /** 1 when blocked: every request with the key is refused (401). */
  ["blocked", "integer", 0],
  /** JSON object of LiteLLM's other key fields (aliases, config, soft_budget, ...), returned as given. */
  ["extra_fields", "text"],
  ["updated_at", "varchar(40)"],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [name, type, notNullDefault] of COLUMNS) {
    await addColumnOnce(db, "virtual_keys", name, () =>
      db.schema.alterTable("virtual_keys").addColumn(name, type, (col) => (notNullDefault === undefined ? col : col.notNull().defaultTo(notNullDefault))),
    );
  }

  await db.schema
    .createTable("key_rate_windows")
    .ifNotExists()
    /** The key's stable identity: `key:<sha256 of the key>`. */
    .addColumn("subject", "varchar(80)", (col) => col.notNull())
    /** Epoch seconds at which the fixed window starts (a multiple of the window size). */
    .addColumn("window_start", "bigint", (col) => col.notNull())
    .addColumn("count", "integer", (col) => col.notNull())
    .addPrimaryKeyConstraint("key_rate_windows_pk", ["subject", "window_start"])
    .execute();

  await db.schema
    .createTable("key_parallel_leases")
    .ifNotExists()
    .addColumn("lease_id", "varchar(64)", (col) => col.primaryKey())
    .addColumn("subject", "varchar(80)", (col) => col.notNull())
    /** Epoch milliseconds; the owning instance renews it while the request is in flight. */
    .addColumn("expires_at", "bigint", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("key_parallel_leases_subject").ifNotExists().on("key_parallel_leases").columns(["subject", "expires_at"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("key_parallel_leases").execute();
  await db.schema.dropTable("key_rate_windows").execute();
  for (const [name] of [...COLUMNS].reverse()) await db.schema.alterTable("virtual_keys").dropColumn(name).execute();
}
