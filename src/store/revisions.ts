/**
 * Revision counters: every write to shared state bumps its counter in the same
 * transaction; every instance polls the counters and reloads what changed. Polling is
 * dialect-neutral and costs one indexed read per second.
 */
import type { Db, RevisionName } from "./schema.js";
import type { Transaction } from "kysely";
import type { Tables } from "./schema.js";

export async function bumpRevision(trx: Transaction<Tables> | Db, name: RevisionName): Promise<void> {
  await trx
    .updateTable("gatehouse_revisions")
    .set((eb) => ({ revision: eb("revision", "+", 1) }))
    .where("name", "=", name)
    .execute();
}

export async function readRevisions(db: Db): Promise<Record<RevisionName, number>> {
  const rows = await db.selectFrom("gatehouse_revisions").select(["name", "revision"]).execute();
  const revisions: Record<RevisionName, number> = { servers: 0, keys: 0 };
  for (const row of rows) if (row.name === "servers" || row.name === "keys") revisions[row.name] = Number(row.revision);
  return revisions;
}
