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
});
