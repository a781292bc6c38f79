/**
 * The audit trail over a real store, on both dialects: on a SQLite file the batches are
 * written by the writer thread's own connection, on PostgreSQL by the pool. What is
 * recorded is listed (newest first, filtered, paged), a shutdown writes what is buffered,
 * and a write that fails keeps its events for the next one.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../../src/auth/inbound/caller.js";
import { createLogger } from "../../../src/log.js";
import { createAuditTrail, type ToolCallEvent } from "../../../src/observability/audit.js";
import { auditRepository, type AuditRepository } from "../../../src/store/audit-repository.js";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { createTestDatabase, dialects, type TestDatabase } from "../../fixtures/databases.js";

const master = { kind: "master", keyId: "master", subject: "master", servers: "all", tools: new Map() } as Caller;
const virtual = { kind: "virtual", keyId: "team-key", subject: "key:abc", userId: "user-7", servers: "all", tools: new Map() } as unknown as Caller;

const event = (overrides: Partial<ToolCallEvent> = {}): ToolCallEvent => ({
  requestId: "request-1",
  caller: master,
  route: "passthrough",
  server: "alpha",
  tool: "echo",
  outcome: "ok",
  status: 200,
  durationMs: 1.6,
  ...overrides,
});

function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: createLogger({ level: "warn", destination }), lines };
}

describe.each(await dialects())("the audit trail on %s", (dialect) => {
  let testDb: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    database = await openDatabase(testDb.url);
    await migrateToLatest(database);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  const trailOn = (repository: AuditRepository, log = capturedLog().log, now?: () => Date) =>
    createAuditTrail({ repository, log, enabled: true, ...(now === undefined ? {} : { now }) });

  it("writes every event of several batches, and lists them newest first, filtered and paged", async () => {
    const trail = trailOn(auditRepository(database.db, database.sqlite));
    try {
      for (let index = 0; index < 600; index++) trail.record(event({ requestId: `bulk-${index}`, tool: "bulk" }));
      trail.record(event({ requestId: "failed", caller: virtual, tool: "bulk", outcome: "error", status: 502, errorCode: "upstream_unreachable" }));
      trail.record(event({ tool: "bulk", outcome: "tool_error", status: undefined, requestId: undefined }));
      const all = await trail.list({ tool: "bulk", limit: 1000 });
      expect(all.events).toHaveLength(602);
      expect(new Set(all.events.map((row) => row.id)).size).toBe(602);
      const times = all.events.map((row) => row.at);
      expect([...times].sort().reverse()).toEqual(times);
      expect(all.events.find((row) => row.request_id === "bulk-0")).toMatchObject({ caller_kind: "master", caller: "master", subject: "master", user_id: null, route: "passthrough", server: "alpha", outcome: "ok", status: 200, error_code: null, duration_ms: 2 });
      expect((await trail.list({ tool: "bulk", caller: "user-7", limit: 10 })).events).toEqual([]);
      const failed = await trail.list({ tool: "bulk", caller: "key:abc", limit: 10 });
      expect(failed.events).toEqual([expect.objectContaining({ request_id: "failed", caller: "team-key", user_id: "user-7", outcome: "error", status: 502, error_code: "upstream_unreachable" })]);
      expect((await trail.list({ tool: "bulk", outcome: "tool_error", limit: 10 })).events).toEqual([expect.objectContaining({ request_id: null, status: null })]);

      const first = await trail.list({ tool: "bulk", limit: 250 });
      const [at, id] = first.next!.split("~") as [string, string];
      const second = await trail.list({ tool: "bulk", limit: 1000, after: { at, id } });
      expect([...first.events, ...second.events].map((row) => row.id)).toEqual(all.events.map((row) => row.id));
    } finally {
      await trail.close();
    }
  });

  it("writes what is buffered when it closes", async () => {
    const trail = trailOn(auditRepository(database.db, database.sqlite));
    trail.record(event({ requestId: "at-shutdown", tool: "shutdown" }));
    await trail.close();
    const reader = trailOn(auditRepository(database.db, database.sqlite));
    try {
      expect((await reader.list({ tool: "shutdown", limit: 10 })).events.map((row) => row.request_id)).toEqual(["at-shutdown"]);
    } finally {
      await reader.close();
    }
  });

  it("purges events older than the retention", async () => {
    let clock = new Date("2020-01-01T00:00:00Z");
    const trail = trailOn(auditRepository(database.db, database.sqlite), undefined, () => clock);
    try {
      trail.record(event({ requestId: "old", tool: "retention" }));
      await trail.flush();
      clock = new Date("2020-01-10T00:00:00Z");
      trail.record(event({ requestId: "recent", tool: "retention" }));
      await trail.purgeOlderThan(7);
      expect((await trail.list({ tool: "retention", limit: 10 })).events.map((row) => row.request_id)).toEqual(["recent"]);
    } finally {
      await trail.close();
    }
  });

  it("keeps the events of a failed write and writes them with the next one", async () => {
    // A database that refuses one write: a fault the real store cannot be made to produce on demand.
    const real = auditRepository(database.db, database.sqlite);
    let refuse = true;
    const flaky: AuditRepository = {
      ...real,
      insert: (batch) => (refuse ? Promise.reject(new Error("database is locked")) : real.insert(batch)),
    };
    const { log, lines } = capturedLog();
    const trail = trailOn(flaky, log);
    try {
      trail.record(event({ requestId: "kept-1", tool: "flaky" }));
      trail.record(event({ requestId: "kept-2", tool: "flaky" }));
      await trail.flush();
      expect(lines).toEqual([expect.objectContaining({ msg: "cannot write audit events; they are kept and retried", pending: 2, err: "database is locked" })]);
      refuse = false;
      trail.record(event({ requestId: "kept-3", tool: "flaky" }));
      expect((await trail.list({ tool: "flaky", limit: 10 })).events.map((row) => row.request_id)).toEqual(["kept-3", "kept-2", "kept-1"]);
    } finally {
      await trail.close();
    }
  });

  it("one event the database refuses (a constraint nothing foresaw) no longer holds back the rest: written one by one, that one dropped and logged", async () => {
    // A database that refuses every batch holding one poisoned event: what a value too wide for its column did on PostgreSQL.
    const real = auditRepository(database.db, database.sqlite);
    const poisoned: AuditRepository = {
      ...real,
      insert: (batch) => (batch.strings.includes("poison") ? Promise.reject(new Error("value too long for type character varying(16)")) : real.insert(batch)),
    };
    const { log, lines } = capturedLog();
    const trail = trailOn(poisoned, log);
    try {
      trail.record(event({ requestId: "around-1", tool: "poisoned" }));
      trail.record(event({ requestId: "the-poison", tool: "poisoned", errorCode: "poison", outcome: "error" }));
      trail.record(event({ requestId: "around-2", tool: "poisoned" }));
      await trail.flush();
      expect((await trail.list({ tool: "poisoned", limit: 10 })).events.map((row) => row.request_id)).toEqual(["around-2", "around-1"]);
      expect(lines).toEqual([
        expect.objectContaining({ level: 50, msg: "the database refused audit events that others around them were written with: they are dropped", refused: [{ server: "alpha", outcome: "error" }] }),
      ]);
      // Later events are written as batches again.
      trail.record(event({ requestId: "after", tool: "poisoned" }));
      expect((await trail.list({ tool: "poisoned", limit: 1 })).events.map((row) => row.request_id)).toEqual(["after"]);
    } finally {
      await trail.close();
    }
  });

  it("stores values PostgreSQL would refuse, made to fit: strings past their column's width cut (…), a NUL as U+FFFD; the batch with them is written whole", async () => {
    const trail = trailOn(auditRepository(database.db, database.sqlite));
    const long = { ...virtual, keyId: `alias_${"a".repeat(400)}`, userId: `user_${"u".repeat(400)}` } as Caller;
    try {
      trail.record(event({ requestId: "fit-1", tool: "nul\u0000name", caller: long, errorCode: `code_${"c".repeat(100)}`, server: `server_${"s".repeat(300)}` }));
      trail.record(event({ requestId: `fit-2-${"r".repeat(200)}`, tool: "fits" }));
      await trail.flush();
      const [fits, cut] = (await trail.list({ limit: 2 })).events;
      expect(fits!.request_id).toHaveLength(128);
      expect(cut).toMatchObject({ request_id: "fit-1", tool: "nul\uFFFDname" });
      for (const [value, width] of [[cut!.caller, 255], [cut!.user_id, 255], [cut!.server, 255], [cut!.error_code, 64]] as const) {
        expect(value).toHaveLength(width);
        expect(value!.endsWith("…")).toBe(true);
      }
    } finally {
      await trail.close();
    }
  });

  it("keeps a refused batch whole when no event of it can be written (the database is down, not one event)", async () => {
    const real = auditRepository(database.db, database.sqlite);
    let down = true;
    const flaky: AuditRepository = { ...real, insert: (batch) => (down ? Promise.reject(new Error("connection refused")) : real.insert(batch)) };
    const { log, lines } = capturedLog();
    const trail = trailOn(flaky, log);
    try {
      trail.record(event({ requestId: "down-1", tool: "down" }));
      // A lone event the database refuses is kept too: nothing shows it is the event rather than the database.
      await trail.flush();
      for (const id of ["down-2", "down-3"]) trail.record(event({ requestId: id, tool: "down" }));
      await trail.flush();
      expect(lines).toEqual([
        expect.objectContaining({ msg: "cannot write audit events; they are kept and retried", pending: 1 }),
        expect.objectContaining({ msg: "cannot write audit events; they are kept and retried", pending: 3 }),
      ]);
      down = false;
      expect((await trail.list({ tool: "down", limit: 10 })).events.map((row) => row.request_id)).toEqual(["down-3", "down-2", "down-1"]);
    } finally {
      await trail.close();
    }
  });
});
