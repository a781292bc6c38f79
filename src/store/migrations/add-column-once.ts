/**
 * Adding a column in a migration that may run twice at once. On SQLite Kysely takes no
 * migration lock, so instances starting on one file run a migration concurrently
 * (migrate.ts retries the loser), and every step must survive the other run's.
 */
import type { Kysely } from "kysely";

/** Adds the column; false when another run added it meanwhile (the error is thrown when it did not). */
export async function addColumnOnce(db: Kysely<unknown>, table: string, column: string, alter: () => { execute(): Promise<void> }): Promise<boolean> {
  try {
    await alter().execute();
    return true;
  } catch (error) {
    const tables = await db.introspection.getTables();
    const exists = tables.find((candidate) => candidate.name === table)?.columns.some((candidate) => candidate.name === column) ?? false;
    if (exists) return false;
    throw error;
  }
}
