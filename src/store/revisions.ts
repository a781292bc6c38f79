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

export interface RevisionWatcher {
  /** Read the counters now and fire the callbacks of those that moved. */
  check(): Promise<void>;
  stop(): void;
}

/**
 * Polls the counters every `intervalMs` and calls `onChange[name]` when one moved (a
 * write on any instance). A failing poll is logged once per failure streak.
 *
 * The first read fires every callback once: what the caller loaded before the watcher
 * started may predate the counters read now (a write committed in between would
 * otherwise never be loaded). A counter is taken as seen only once its callback
 * succeeded, so a reload that fails is retried at the next poll instead of lost.
 */
export function watchRevisions(options: {
  db: Db;
  intervalMs: number;
  onChange: Record<RevisionName, () => Promise<void> | void>;
  onError: (error: unknown, firstOfStreak: boolean) => void;
}): RevisionWatcher {
  const seen: Partial<Record<RevisionName, number>> = {};
  let failing = false;
  let running: Promise<void> | undefined;

  async function poll(): Promise<void> {
    try {
      const now = await readRevisions(options.db);
      for (const name of Object.keys(now) as RevisionName[]) {
        if (now[name] === seen[name]) continue;
        await options.onChange[name]();
        seen[name] = now[name];
      }
      failing = false;
    } catch (error) {
      options.onError(error, !failing);
      failing = true;
    }
  }

  const check = () => (running ??= poll().finally(() => (running = undefined)));
  const timer = setInterval(() => void check(), options.intervalMs);
  timer.unref();
  void check();
  return { check, stop: () => clearInterval(timer) };
}
