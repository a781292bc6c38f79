/**
 * Runs the migrations at startup. Kysely's Migrator serialises concurrent runs (a
 * PostgreSQL advisory lock, SQLite's single writer) and records what ran, so starting
 * two instances at once, or restarting, is safe and idempotent.
 */
import { Migrator } from "kysely";
import { GatewayError } from "../errors.js";
import { migrationProvider } from "./migrations/index.js";
import type { Database } from "./database.js";

export async function migrateToLatest(database: Database): Promise<string[]> {
  const migrator = new Migrator({ db: database.db, provider: migrationProvider });
  const { error, results = [] } = await migrator.migrateToLatest();
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
