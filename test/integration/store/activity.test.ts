/**
 * The activity page's numbers over a real store, on both dialects: the summary's buckets
 * (calls per minute, error rate, nearest-rank p50 / p95 of the recorded durations) for
 * each range, every server's last hour, and the list's filters (until, caller, outcome,
 * server, tool) with cursor paging and one event by id. Events are recorded through the
 * audit trail with a fake clock, so each lands in a known minute.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Caller } from "../../../src/auth/inbound/caller.js";
import { createLogger } from "../../../src/log.js";
import { createAuditTrail, type AuditTrail, type ToolCallEvent } from "../../../src/observability/audit.js";
import { sql } from "kysely";
import { auditRepository } from "../../../src/store/audit-repository.js";
import { windowStatsQuery } from "../../../src/store/audit-summary.js";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { createTestDatabase, dialects, type TestDatabase } from "../../fixtures/databases.js";

const master = { kind: "master", keyId: "master", subject: "master", servers: "all", tools: new Map() } as Caller;
const team = { kind: "virtual", keyId: "team-key", subject: "key:abc", userId: "user-7", servers: "all", tools: new Map() } as unknown as Caller;

const call = (overrides: Partial<ToolCallEvent>): ToolCallEvent => ({
  requestId: "r",
  caller: master,
  route: "passthrough",
  server: "alpha",
  tool: "echo",
  outcome: "ok",
  status: 200,
  durationMs: 1,
  ...overrides,
});

describe.each(await dialects())("activity on %s", (dialect) => {
  let testDb: TestDatabase;
  let database: Database;
  let trail: AuditTrail;
  let clock = new Date("2026-12-07T10:00:10.000Z");

  const at = (iso: string, event: ToolCallEvent) => {
    clock = new Date(iso);
    trail.record(event);
  };

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    database = await openDatabase(testDb.url);
    await migrateToLatest(database);
    trail = createAuditTrail({ repository: auditRepository(database.db, database.sqlite), log: createLogger({ level: "silent" }), enabled: true, now: () => clock });
    // Two hours before "now": in the day and week, not in the hour.
    at("2026-12-07T10:00:10.000Z", call({ durationMs: 5, tool: "old" }));
    // 11:58: four calls, one tool error and one error.
    at("2026-12-07T11:58:01.000Z", call({ durationMs: 10 }));
    at("2026-12-07T11:58:02.000Z", call({ durationMs: 40, outcome: "error", status: 502, errorCode: "upstream_unreachable", caller: team }));
    at("2026-12-07T11:58:03.000Z", call({ durationMs: 30, outcome: "tool_error", caller: team }));
    at("2026-12-07T11:58:04.000Z", call({ durationMs: 20 }));
    // 11:59: twenty calls of 1 to 20 ms.
    for (let ms = 20; ms >= 1; ms--) at(`2026-12-07T11:59:${String(40 - ms).padStart(2, "0")}.000Z`, call({ durationMs: ms, tool: "bulk", requestId: `bulk-${ms}` }));
    // 12:00: another server's one failed call.
    at("2026-12-07T12:00:05.000Z", call({ server: "beta", durationMs: 100, outcome: "error", status: 500 }));
    clock = new Date("2026-12-07T12:00:30.000Z");
    await trail.flush();
  });
  afterAll(async () => {
    await trail?.close();
    await database?.close();
    await testDb?.drop();
  });

  it("summarizes one server's last hour in 60 one-minute buckets: calls per minute, error rate, nearest-rank p50 and p95", async () => {
    const summary = await trail.summary("hour", "alpha");
    expect(summary).toMatchObject({ server: "alpha", range: "hour", from: "2026-12-07T11:01:00.000Z", to: "2026-12-07T12:01:00.000Z", bucketSeconds: 60 });
    expect(summary.buckets).toHaveLength(60);
    const bucket = (start: string) => summary.buckets.find((entry) => entry.start === start);
    // Durations 10, 20, 30, 40: p50 is the 2nd, p95 the 4th.
    expect(bucket("2026-12-07T11:58:00.000Z")).toEqual({ start: "2026-12-07T11:58:00.000Z", calls: 4, callsPerMinute: 4, errors: 1, toolErrors: 1, errorRate: 0.5, p50Ms: 20, p95Ms: 40 });
    // 1..20: p50 is the 10th, p95 the 19th.
    expect(bucket("2026-12-07T11:59:00.000Z")).toMatchObject({ calls: 20, errors: 0, errorRate: 0, p50Ms: 10, p95Ms: 19 });
    expect(bucket("2026-12-07T12:00:00.000Z")).toEqual({ start: "2026-12-07T12:00:00.000Z", calls: 0, callsPerMinute: 0, errors: 0, toolErrors: 0, errorRate: null, p50Ms: null, p95Ms: null });
    // All 24: 1..9, 10, 10, 11 (the 12th) ... 20, 20, 30 (the 23rd), 40.
    expect(summary.totals).toEqual({ calls: 24, errors: 1, toolErrors: 1, errorRate: 2 / 24, p50Ms: 11, p95Ms: 30 });
  });

  it("buckets a day in 144 ten-minute buckets and a week in 168 hours, counting calls per minute", async () => {
    const day = await trail.summary("day", "alpha");
    expect(day.buckets).toHaveLength(144);
    expect(day.bucketSeconds).toBe(600);
    expect(day.buckets.find((entry) => entry.start === "2026-12-07T10:00:00.000Z")).toMatchObject({ calls: 1, callsPerMinute: 0.1, p50Ms: 5 });
    expect(day.buckets.find((entry) => entry.start === "2026-12-07T11:50:00.000Z")).toMatchObject({ calls: 24, p50Ms: 11, p95Ms: 30 });
    expect(day.totals.calls).toBe(25);
    const week = await trail.summary("week", "alpha");
    expect(week.buckets).toHaveLength(168);
    expect(week.buckets.at(-1)).toMatchObject({ start: "2026-12-07T12:00:00.000Z", calls: 0 });
    expect(week.buckets.find((entry) => entry.start === "2026-12-07T11:00:00.000Z")).toMatchObject({ calls: 24, callsPerMinute: 0.4 });
  });

  it("summarizes every server together when none is named, and each server's last hour for the servers list", async () => {
    const all = await trail.summary("hour");
    expect(all.server).toBeNull();
    expect(all.totals).toMatchObject({ calls: 25, errors: 2, toolErrors: 1 });
    const recent = await trail.recentByServer();
    expect(Object.fromEntries(recent)).toEqual({
      alpha: { calls: 24, errors: 1, toolErrors: 1, errorRate: 2 / 24, p50Ms: 11, p95Ms: 30 },
      beta: { calls: 1, errors: 1, toolErrors: 0, errorRate: 1, p50Ms: 100, p95Ms: 100 },
    });
  });

  it("summarizes a server without calls as empty buckets", async () => {
    const summary = await trail.summary("hour", "nobody");
    expect(summary.totals).toEqual({ calls: 0, errors: 0, toolErrors: 0, errorRate: null, p50Ms: null, p95Ms: null });
    expect(summary.buckets.every((entry) => entry.calls === 0)).toBe(true);
  });

  it("filters the list by server, tool, caller (alias or identity), outcome and a time range, and pages it by cursor", async () => {
    const ids = async (query: Parameters<AuditTrail["list"]>[0]) => (await trail.list(query)).events.map((event) => event.request_id ?? event.id);
    expect(await ids({ limit: 100, server: "beta" })).toHaveLength(1);
    expect(await ids({ limit: 100, caller: "team-key" })).toHaveLength(2);
    expect(await ids({ limit: 100, caller: "key:abc", outcome: "error" })).toHaveLength(1);
    expect(await ids({ limit: 100, tool: "old" })).toHaveLength(1);
    expect(await ids({ limit: 100, since: "2026-12-07T11:59:00.000Z", until: "2026-12-07T12:00:00.000Z" })).toEqual(Array.from({ length: 20 }, (_, index) => `bulk-${index + 1}`));
    expect(await ids({ limit: 100, until: "2026-12-07T11:00:00.000Z" })).toHaveLength(1);

    const pages: string[] = [];
    let after: { at: string; id: string } | undefined;
    for (;;) {
      const page = await trail.list({ limit: 7, tool: "bulk", ...(after === undefined ? {} : { after }) });
      pages.push(...page.events.map((event) => event.request_id!));
      if (page.next === undefined) break;
      const [time, id] = page.next.split("~") as [string, string];
      after = { at: time, id };
    }
    expect(pages).toEqual(Array.from({ length: 20 }, (_, index) => `bulk-${index + 1}`));
  });

  it("reads one server's range through the (server, at) index and every server's through the at index, never the whole table", async () => {
    const window = { since: "2026-12-01T00:00:00.000Z", until: "2026-12-08T00:00:00.000Z" };
    const plan = async (query: Parameters<typeof windowStatsQuery>[0]): Promise<string> => {
      const compiled = windowStatsQuery(query, { bucketChars: 13 }).compile(database.db);
      if (dialect === "sqlite") {
        const rows = database.sqlite!.prepare(`explain query plan ${compiled.sql}`).all(...compiled.parameters) as Array<{ detail: string }>;
        return rows.map((row) => row.detail).join("\n");
      }
      // A few rows make a sequential scan cheapest; with it priced out, the plan shows which index serves the query.
      return database.db.transaction().execute(async (trx) => {
        await sql`set local enable_seqscan = off`.execute(trx);
        const result = await sql<{ "QUERY PLAN": string }>`explain ${sql.raw(compiled.sql.replace(/\$(\d+)/g, (_, index: string) => `'${String(compiled.parameters[Number(index) - 1])}'`))}`.execute(trx);
        return result.rows.map((row) => row["QUERY PLAN"]).join("\n");
      });
    };
    expect(await plan({ ...window, server: "alpha" })).toMatch(/audit_events_server_at/);
    expect(await plan(window)).toMatch(/audit_events_at/);
  });

  it("finds one event by id, and nothing for an unknown id", async () => {
    const [listed] = (await trail.list({ limit: 1, server: "beta" })).events;
    expect(await trail.find(listed!.id)).toEqual(listed);
    expect(await trail.find("no-such-event")).toBeUndefined();
  });
});
