/**
 * The versioned migrations, in order. A new migration is a new file added here with the
 * next number; a shipped migration is never edited.
 */
import type { Migration, MigrationProvider } from "kysely";
import * as initial from "./001-initial.js";

const MIGRATIONS: Record<string, Migration> = {
  "001-initial": initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
