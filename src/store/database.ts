/**
 * The database connection: SQLite through better-sqlite3 (embedded default) or
 * PostgreSQL through pg, both behind Kysely. This module owns the URL forms
 * (README, "Database") and the connection lifecycle; migrate.ts creates the tables.
 */
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import type pg from "pg";
import { GatewayError } from "../errors.js";
import type { Db, Tables } from "./schema.js";

export type DatabaseDialect = "sqlite" | "postgres";

export interface Database {
  dialect: DatabaseDialect;
  /** The URL with any password masked, for logs. */
  description: string;
  db: Db;
  /** The SQLite handle under `db`, for the few bulk writes that need prepared statements (the audit trail). */
  sqlite?: SQLite.Database;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseLocation =
  | { dialect: "sqlite"; path: string }
  | { dialect: "postgres"; connectionString: string };

/** `sqlite:PATH`, `sqlite::memory:`, `postgres://...`, `postgresql://...`. */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw badUrl(url, "sqlite: needs a file path, e.g. sqlite:./gatehouse.db or sqlite::memory:");
    return { dialect: "sqlite", path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: "postgres", connectionString: url };
  throw badUrl(url, "use sqlite:PATH, sqlite::memory: or postgres://user@host:5432/db");
}

export function maskDatabaseUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, "$1****@");
}

function badUrl(url: string, hint: string): GatewayError {
  return new GatewayError({ status: 500, code: "bad_database_url", message: `unsupported database URL '${maskDatabaseUrl(url)}': ${hint}` });
}

export interface OpenOptions {
  /**
   * An idle pooled PostgreSQL connection failed (the server restarted, an admin ended it).
   * The pool drops it and the next query opens a new one; without a listener, pg would
   * throw it as an uncaught exception and end the process.
   */
  onConnectionError?: (error: Error) => void;
}

export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Database> {
  const location = parseDatabaseUrl(url);
  const description = maskDatabaseUrl(url);
  const unavailable = (error: unknown) =>
    new GatewayError({
      status: 500,
      code: "database_unavailable",
      message: `cannot open the database ${description}: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  const sqlite = location.dialect === "sqlite" ? await openSqlite(location.path).catch((error: unknown) => Promise.reject(unavailable(error))) : undefined;
  const db =
    sqlite !== undefined
      ? new Kysely<Tables>({ dialect: new SqliteDialect({ database: sqlite }) })
      : new Kysely<Tables>({ dialect: new PostgresDialect({ pool: await postgresPool((location as { connectionString: string }).connectionString, options) }) });
  const database: Database = {
    dialect: location.dialect,
    description,
    db,
    ...(sqlite === undefined ? {} : { sqlite }),
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
  try {
    await database.ping();
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw unavailable(error);
  }
  return database;
}

/** pg is loaded only when the database is PostgreSQL: on SQLite it would cost ~16 MiB of RSS for nothing. */
async function postgresPool(connectionString: string, options: OpenOptions): Promise<pg.Pool> {
  const { default: driver } = await import("pg");
  const pool = new driver.Pool({ connectionString, max: 10, connectionTimeoutMillis: 5_000 });
  pool.on("error", (error) => options.onConnectionError?.(error));
  return pool;
}

const SQLITE_OPEN_WAIT_MS = 5_000;

async function openSqlite(path: string): Promise<SQLite.Database> {
  const sqlite = new SQLite(path);
  sqlite.pragma("busy_timeout = 5000");
  if (path === ":memory:") return sqlite;
  // WAL lets readers proceed while a write is in progress (several gateway processes on one
  // file). Switching to it needs the write lock, and SQLite answers SQLITE_BUSY at once
  // rather than wait (busy_timeout does not apply): retry while another process holds it.
  const deadline = Date.now() + SQLITE_OPEN_WAIT_MS;
  for (;;) {
    try {
      sqlite.pragma("journal_mode = WAL");
      // The usual setting with WAL: a commit survives the process crashing, and is synced at
      // checkpoints rather than each time (the audit trail commits five times a second).
      sqlite.pragma("synchronous = NORMAL");
      return sqlite;
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) {
        sqlite.close();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
