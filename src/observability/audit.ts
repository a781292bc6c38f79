/**
 * The audit trail of tool calls: who (the key's label and identity, never the key), which
 * server and tool, through which route, how it ended, how long it took, and the request
 * id. Never the arguments or the result.
 *
 * The request path only appends to a buffer; a timer writes the buffer in batches every
 * 200 ms, or as soon as a batch is full (and at shutdown). The store writes a batch off the
 * event loop where it can (a worker thread on a SQLite file). When the database is unreachable the events wait, up to
 * `MAX_PENDING`; past that the oldest are dropped, counted and logged, rather than
 * growing without bound.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../log.js";
import { activitySummary, rangeWindow, RANGE_BUCKETS, totalsOf, type ActivityRange, type ActivitySummary, type ActivityTotals } from "./activity.js";
import { AUDIT_REQUEST_ID_WIDTH, AUDIT_STRING_COLUMNS, AUDIT_STRING_WIDTHS, type AuditBatch } from "../store/audit-batch.js";
import type { AuditQuery, AuditRepository } from "../store/audit-repository.js";
import type { AuditEventsTable } from "../store/schema.js";

/** Who called, as the trail records it (auth/inbound's Caller has these fields; observability does not depend on auth). */
export interface AuditedCaller {
  kind: string;
  /** The key's label, never the key. */
  keyId: string;
  subject: string;
  userId?: string | undefined;
}

/**
 * `admin`: an admin's decision, not a tool call (tool pinning's approve and reject);
 * `connections`: a user's upstream OAuth connection made or ended (My connections, the
 * Connect flow, an MCP client's authorization), not a tool call.
 */
export type AuditRoute = "passthrough" | "aggregate" | "rest" | "ui" | "admin" | "connections";

export interface ToolCallEvent {
  requestId: string | undefined;
  caller: AuditedCaller;
  route: AuditRoute;
  server: string;
  tool: string;
  /**
   * `tool_error`: the tool answered with `isError`; `error`: the call failed.
   * `tool_change_approved` / `tool_change_rejected` (route `admin`): an admin's decision on a changed tool definition.
   * `connected` / `disconnected` (route `connections`, `tool` empty): a user's tokens for the server stored or deleted;
   * a disconnect's `errorCode` says when the upstream did not revoke them (`revocation_failed`, `revocation_not_offered`).
   */
  outcome: "ok" | "tool_error" | "error" | "tool_change_approved" | "tool_change_rejected" | "connected" | "disconnected";
  /** The upstream's HTTP status (pass-through) or the gateway's error status. */
  status?: number;
  errorCode?: string | undefined;
  durationMs: number;
}

/** An event as stored and listed. */
export type AuditEvent = AuditEventsTable;

export interface AuditTrail {
  record(event: ToolCallEvent): void;
  /** Newest first; `next` is the cursor of the following page, when there may be one. */
  list(query: AuditQuery): Promise<{ events: AuditEvent[]; next?: string }>;
  /** One event by its id (written events only, after a flush). */
  find(id: string): Promise<AuditEvent | undefined>;
  /** The charts' numbers for a range ending now: one server's, or every server's together. */
  summary(range: ActivityRange, server?: string): Promise<ActivitySummary>;
  /** Each server's calls, error rate and p50 / p95 over the last hour (the servers list). */
  recentByServer(): Promise<Map<string, ActivityTotals>>;
  /** Writes what is buffered (tests, shutdown). */
  flush(): Promise<void>;
  purgeOlderThan(days: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The longest tool name the trail keeps, `…` included (MCP tool names are 1 to 128
 * characters; the column holds 255): a caller chooses the name it calls, and a longer one
 * failed its batch on PostgreSQL, or was stored whole on SQLite and rendered into every
 * activity page that lists it.
 */
export const MAX_AUDITED_TOOL_CHARS = 255;

/** Events kept while the database cannot take them. */
const MAX_PENDING = 10_000;
const FLUSH_INTERVAL_MS = 200;
/**
 * Events per batch, and how many make a flush start before the timer: handing a batch
 * over costs the event loop ~1 µs an event, so a batch holds requests for ~0.3 ms at most.
 */
const BATCH = 256;

export function createAuditTrail(deps: { repository: AuditRepository; log: Logger; enabled: boolean; now?: () => Date }): AuditTrail {
  const now = deps.now ?? (() => new Date());
  const nowMs = deps.now === undefined ? Date.now : () => now().getTime();
  // Ids: this process's random prefix and a counter, unique across instances without a UUID per call.
  const idPrefix = `${randomUUID().slice(0, 18)}-`;
  let sequence = 0;
  // What record() keeps: the caller's event and its time, side by side (no object per event).
  let events: ToolCallEvent[] = [];
  let times: number[] = [];
  let writing: Promise<void> | undefined;
  let dropped = 0;

  function keepWithinBound(): void {
    const excess = events.length - MAX_PENDING;
    if (excess <= 0) return;
    events = events.slice(excess);
    times = times.slice(excess);
    dropped += excess;
  }

  async function insert(taken: readonly ToolCallEvent[], takenTimes: readonly number[]): Promise<void> {
    await deps.repository.insert(encode(taken, takenTimes, idPrefix, sequence + 1));
    sequence += taken.length;
  }

  /**
   * After a batch failed: its events one at a time, so one the database refuses (whatever
   * encode did not foresee) cannot hold back every later event. An event that fails while
   * another is written is dropped, counted and logged; two failures before any success
   * read as the database being unreachable, and what was not written is kept. True when
   * the batch is settled.
   */
  async function writeOneByOne(taken: ToolCallEvent[], takenTimes: number[]): Promise<boolean> {
    const refused: Array<{ server: string; outcome: string }> = [];
    let written = 0;
    let lastError: unknown;
    for (let index = 0; index < taken.length && !(written === 0 && refused.length === 2); index++) {
      try {
        await insert([taken[index]!], [takenTimes[index]!]);
        written++;
      } catch (error) {
        lastError = error;
        refused.push({ server: taken[index]!.server, outcome: taken[index]!.outcome });
      }
    }
    if (written === 0) {
      // Nothing could be written (every event tried was refused): all of them are kept for the next try.
      events = taken.concat(events);
      times = takenTimes.concat(times);
      keepWithinBound();
      deps.log.warn({ err: reason(lastError), pending: events.length }, "cannot write audit events; they are kept and retried");
      return false;
    }
    if (refused.length > 0) deps.log.error({ err: reason(lastError), refused }, "the database refused audit events that others around them were written with: they are dropped");
    return true;
  }

  async function write(): Promise<void> {
    while (events.length > 0) {
      const taken = events.splice(0, BATCH);
      const takenTimes = times.splice(0, BATCH);
      try {
        await insert(taken, takenTimes);
      } catch {
        if (!(await writeOneByOne(taken, takenTimes))) return;
      }
      if (dropped > 0) {
        deps.log.warn({ dropped }, "audit events were dropped while the database was unreachable");
        dropped = 0;
      }
      // Let requests run between batches (the in-memory SQLite writes on this thread).
      if (events.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  function flush(): Promise<void> {
    writing ??= write().finally(() => {
      writing = undefined;
    });
    return writing;
  }

  const timer = setInterval(() => void flush(), FLUSH_INTERVAL_MS);
  timer.unref();

  return {
    record(event) {
      if (!deps.enabled) return;
      events.push(event.tool.length > MAX_AUDITED_TOOL_CHARS ? { ...event, tool: clampedName(event.tool) } : event);
      times.push(nowMs());
      if (events.length === BATCH) void flush();
      else if (events.length > MAX_PENDING) {
        events.shift();
        times.shift();
        dropped++;
      }
    },
    async list(query) {
      await flush();
      const rows = await deps.repository.list(query);
      const last = rows.at(-1);
      return { events: rows, ...(rows.length === query.limit && last !== undefined ? { next: `${last.at}~${last.id}` } : {}) };
    },
    async find(id) {
      await flush();
      return deps.repository.get(id);
    },
    async summary(range, server) {
      await flush();
      const window = rangeWindow(range, now());
      const query = { ...window, ...(server === undefined ? {} : { server }) };
      const [buckets, totals] = await Promise.all([
        deps.repository.stats(query, { bucketChars: RANGE_BUCKETS[range].bucketChars }),
        deps.repository.stats(query, "all"),
      ]);
      return activitySummary({ server, range, window, buckets, totals: totals[0] });
    },
    async recentByServer() {
      await flush();
      const rows = await deps.repository.stats(rangeWindow("hour", now()), "server");
      return new Map(rows.map((row) => [row.group, totalsOf(row)]));
    },
    flush,
    async purgeOlderThan(days) {
      await deps.repository.purgeBefore(new Date(now().getTime() - days * 86_400_000).toISOString());
    },
    async close() {
      clearInterval(timer);
      await flush();
      if (events.length > 0) await write();
      await deps.repository.close();
    },
  };
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A string as the audit table can keep it: at most `width` characters (never half a
 * surrogate pair; `…` marks a cut), and no NUL, which PostgreSQL's text refuses.
 */
function storable(value: string, width: number): string {
  const text = value.includes("\0") ? value.replaceAll("\0", "\uFFFD") : value;
  return text.length > width ? clampedName(text, width) : text;
}

/** Events as a batch of columns, each repeated string once. */
function encode(events: readonly ToolCallEvent[], times: readonly number[], idPrefix: string, firstSequence: number): AuditBatch {
  const length = events.length;
  const width = AUDIT_STRING_COLUMNS.length;
  const batch: AuditBatch = {
    length,
    idPrefix,
    firstSequence,
    at: new Float64Array(times),
    durationMs: new Float64Array(length),
    status: new Float64Array(length),
    requestIds: new Array<string | null>(length),
    refs: new Uint32Array(length * width),
    strings: [null],
  };
  const index = new Map<string, number>();
  const ref = (raw: string | undefined, column: number): number => {
    if (raw === undefined) return 0;
    const value = storable(raw, AUDIT_STRING_WIDTHS[column]!);
    let found = index.get(value);
    if (found === undefined) {
      found = batch.strings.push(value) - 1;
      index.set(value, found);
    }
    return found;
  };
  for (let row = 0; row < length; row++) {
    const event = events[row]!;
    const at = row * width;
    batch.durationMs[row] = Math.round(event.durationMs);
    batch.status[row] = event.status ?? Number.NaN;
    batch.requestIds[row] = event.requestId === undefined ? null : storable(event.requestId, AUDIT_REQUEST_ID_WIDTH);
    // In AUDIT_STRING_COLUMNS' order.
    batch.refs[at] = ref(event.caller.kind, 0);
    batch.refs[at + 1] = ref(event.caller.keyId, 1);
    batch.refs[at + 2] = ref(event.caller.subject, 2);
    batch.refs[at + 3] = ref(event.caller.userId, 3);
    batch.refs[at + 4] = ref(event.route, 4);
    batch.refs[at + 5] = ref(event.server, 5);
    batch.refs[at + 6] = ref(event.tool, 6);
    batch.refs[at + 7] = ref(event.outcome, 7);
    batch.refs[at + 8] = ref(event.errorCode, 8);
  }
  return batch;
}

/** The name's first characters (never half a surrogate pair) and `…`, `width` in all. */
function clampedName(name: string, width = MAX_AUDITED_TOOL_CHARS): string {
  const cut = name.slice(0, width - 1);
  const last = cut.charCodeAt(cut.length - 1);
  return `${last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut}…`;
}

/** A page cursor from `list`, or undefined when it is not one. */
export function parseCursor(cursor: string): { at: string; id: string } | undefined {
  const split = cursor.lastIndexOf("~");
  if (split <= 0) return undefined;
  const at = cursor.slice(0, split);
  const id = cursor.slice(split + 1);
  return Number.isNaN(Date.parse(at)) || !/^[0-9a-z-]{1,36}$/.test(id) ? undefined : { at, id };
}
