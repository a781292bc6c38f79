/**
 * Wires `import-litellm`: opens the LiteLLM database (read only) and Gatehouse's (migrated,
 * as the gateway would at startup), builds the server registry and admin the API uses,
 * runs the import, and closes everything. The CLI parses flags and reads the environment.
 */
import { existsSync } from "node:fs";
import { Migrator } from "kysely";
import { upstreamAuthFactory } from "../auth/upstream/select-strategy.js";
import type { Config } from "../config/schema.js";
import type { RuntimeSettings } from "../config/settings.js";
import { GatewayError } from "../errors.js";
import { silentLogger } from "../log.js";
import { databaseRegistry } from "../registry/database-registry.js";
import { createServerAdmin } from "../registry/server-admin.js";
import { maskDatabaseUrl, openDatabase, parseDatabaseUrl, type Database } from "../store/database.js";
import { keysRepository } from "../store/keys-repository.js";
import { migrateToLatest } from "../store/migrate.js";
import { migrationProvider } from "../store/migrations/index.js";
import { createSecretBox } from "../store/secret-box.js";
import { serversRepository } from "../store/servers-repository.js";
import { importLiteLLM, type ImportReport } from "./import.js";
import { openLiteLLMDatabase } from "./litellm-database.js";

export interface RunImportOptions {
  /** The LiteLLM database (postgres://...). */
  from: string;
  /** Gatehouse's database URL. */
  to: string;
  config: Config;
  settings: RuntimeSettings;
  litellmKeyMaterial: string | undefined;
  dryRun: boolean;
  overwrite: boolean;
  requireKeyMcpAccessDefined: boolean;
  progress: (line: string) => void;
}

export async function runImport(options: RunImportOptions): Promise<ImportReport> {
  assertDifferentDatabases(options.from, options.to);
  const source = await openLiteLLMDatabase(options.from);
  try {
    const target = await openTarget(options.to, options.dryRun, options.progress);
    try {
      const log = silentLogger();
      const box = createSecretBox(options.settings.saltKey, options.settings.previousSaltKeys);
      const servers = serversRepository(target.database.db, box);
      const registry = await databaseRegistry({ config: options.config, servers, env: {}, log, authFor: upstreamAuthFactory({ log }) });
      return await importLiteLLM({
        source,
        target: { description: target.description, servers, keys: keysRepository(target.database.db), registry, admin: createServerAdmin({ registry, servers, env: {} }) },
        litellmKeyMaterial: options.litellmKeyMaterial,
        dryRun: options.dryRun,
        overwrite: options.overwrite,
        requireKeyMcpAccessDefined: options.requireKeyMcpAccessDefined,
        progress: options.progress,
      });
    } finally {
      await target.database.close();
    }
  } finally {
    await source.close();
  }
}

/**
 * LiteLLM names its own database DATABASE_URL too: run in LiteLLM's environment, the
 * importer would otherwise create Gatehouse's tables inside LiteLLM's database.
 */
function assertDifferentDatabases(from: string, to: string): void {
  const target = parseDatabaseUrl(to);
  if (target.dialect !== "postgres" || !URL.canParse(from) || !URL.canParse(target.connectionString)) return;
  const where = (url: URL) => `${url.hostname}:${url.port || "5432"}${url.pathname}`;
  if (where(new URL(from)) === where(new URL(target.connectionString))) {
    throw new GatewayError({
      status: 500,
      code: "same_database",
      message: "Gatehouse's database is LiteLLM's database (DATABASE_URL names LiteLLM's?): give Gatehouse its own with --to or DATABASE_URL",
    });
  }
}

/**
 * Gatehouse's database, migrated. A dry run writes nothing: a database that does not exist
 * yet, or has no tables yet, is stood in for by an empty one in memory; one that needs
 * migrations is refused (the gateway migrates it at its next start).
 */
async function openTarget(url: string, dryRun: boolean, progress: (line: string) => void): Promise<{ database: Database; description: string }> {
  const location = parseDatabaseUrl(url);
  if (!dryRun) {
    const database = await openDatabase(url);
    try {
      const applied = await migrateToLatest(database);
      if (applied.length > 0) progress(`Gatehouse database migrated (${applied.join(", ")})`);
    } catch (error) {
      await database.close();
      throw error;
    }
    return { database, description: database.description };
  }
  if (location.dialect === "sqlite" && location.path !== ":memory:" && !existsSync(location.path)) return standIn(url);
  const database = await openDatabase(url);
  const migrations = await new Migrator({ db: database.db, provider: migrationProvider }).getMigrations();
  const pending = migrations.filter((migration) => migration.executedAt === undefined);
  if (pending.length === 0) return { database, description: database.description };
  await database.close();
  if (pending.length === migrations.length) return standIn(url);
  throw new GatewayError({
    status: 500,
    code: "migrations_pending",
    message: `the Gatehouse database ${database.description} needs migrations (${pending.map((migration) => migration.name).join(", ")}); start the gateway once, or run without --dry-run`,
  });
}

async function standIn(url: string): Promise<{ database: Database; description: string }> {
  const database = await openDatabase("sqlite::memory:");
  await migrateToLatest(database);
  return { database, description: `${maskDatabaseUrl(url)} (empty: a dry run creates nothing)` };
}
