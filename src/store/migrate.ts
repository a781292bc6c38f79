/**
 * Runs the migrations at startup. Kysely's Migrator records what ran and, on PostgreSQL,
 * serialises concurrent runs with an advisory lock, so starting two instances at once,
 * or restarting, is safe and idempotent.
 *
 * On SQLite the Migrator's lock is only a transaction: two processes opening the same
 * file can both see "nothing migrated yet", and the slower one then fails on a table the
 * faster one created. Its retry finds the migration recorded and does nothing. The slower
 * one can collide again at a later migration, so it has a few attempts; migrations that
 * alter a table skip what another run did already (migrations/add-column-once.ts).
 */
import { Migrator, type MigrationResultSet } from "kysely";
import { GatewayError } from "../errors.js";
import { migrationProvider } from "./migrations/index.js";
import type { Database } from "./database.js";

const SQLITE_ATTEMPTS = 5;

export async function migrateToLatest(database: Database): Promise<string[]> {
  const migrator = new Migrator({ db: database.db, provider: migrationProvider });
  const attempts = database.dialect === "sqlite" ? SQLITE_ATTEMPTS : 1;
  let outcome: MigrationResultSet | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    outcome = await migrator.migrateToLatest();
    if (outcome.error === undefined) break;
  }
  const { error, results = [] } = outcome!;
  const failed = results.find((result) => result.status === "Error");
  if (error !== undefined || failed !== undefined) {
    throw new GatewayError({
      status: 500,
      code: "migration_failed",
      message: `database migration ${failed?.migrationName ?? ""} failed on ${database.description}: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }
  return results.filter((result) => result.status === "Success").map((result) => result.migrationName);
}
