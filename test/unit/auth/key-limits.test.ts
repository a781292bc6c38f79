/**
 * The key limiter against the database counters with a fake clock: the windows of
 * rpm_limit, and the leases of max_parallel_requests that an instance which died never
 * released (they expire; a live instance renews its own).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyLimiter } from "../../../src/auth/inbound/key-limits.js";
import type { Caller } from "../../../src/auth/inbound/caller.js";
import { createLogger } from "../../../src/log.js";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { databaseCounters } from "../../../src/store/key-counters.js";
import { migrateToLatest } from "../../../src/store/migrate.js";

const caller = (subject: string, limits: Caller["limits"]): Caller => ({ kind: "virtual", keyId: subject, subject, servers: "all", tools: new Map(), limits });
const log = createLogger({ level: "silent" });

describe("createKeyLimiter on the database counters", () => {
  let database: Database;
  let clock = 1_000_000_000_000;
  const now = () => clock;

  beforeAll(async () => {
    database = await openDatabase("sqlite::memory:");
    await migrateToLatest(database);
  });
  afterAll(async () => {
    await database.close();
  });

  it("rpm_limit: a new window starts counting afresh, and Retry-After is what is left of the window", async () => {
    clock = 60_000 * 1000 + 45_000; // 45 s into a window
    const limiter = createKeyLimiter({ counters: databaseCounters(database.db, "sqlite"), windowSeconds: 60, log, now });
    const key = caller("key:rpm", { rpm: 1 });
    await limiter.countToolCalls(key, 1);
    const refused = await limiter.countToolCalls(key, 1)!.catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 429, headers: { "retry-after": "15" } });
    clock += 15_000;
    await expect(limiter.countToolCalls(key, 1)).resolves.toBeUndefined();
  });

  it("a key without limits gets no promise at all", () => {
    const limiter = createKeyLimiter({ counters: databaseCounters(database.db, "sqlite"), windowSeconds: 60, log, now });
    expect(limiter.countToolCalls(caller("key:free", undefined), 1)).toBeUndefined();
    expect(limiter.admit(caller("key:free", undefined))).toBeUndefined();
  });

  it("max_parallel_requests: the slot of an instance that died frees itself when its lease expires", async () => {
    const key = caller("key:parallel", { parallel: 1 });
    const dead = createKeyLimiter({ counters: databaseCounters(database.db, "sqlite"), windowSeconds: 60, log, now, leaseMs: 30_000 });
    await dead.admit(key); // never released: the instance "dies" holding it
    await dead.close();
    const alive = createKeyLimiter({ counters: databaseCounters(database.db, "sqlite"), windowSeconds: 60, log, now, leaseMs: 30_000 });
    await expect(alive.admit(key)).rejects.toMatchObject({ status: 429, code: "rate_limit_exceeded" });
    clock += 30_001;
    const release = await alive.admit(key);
    await expect(alive.admit(key)).rejects.toMatchObject({ status: 429 });
    release!();
    release!(); // freeing twice frees once
    const again = await alive.admit(key);
    again!();
    await alive.close();
  });
});
