/**
 * The audit trail of tool calls: who (the key's label and identity, never the key), which
 * server and tool, through which route, how it ended, how long it took, and the request
 * id. Never the arguments or the result.
 *
 * The request path only appends to a buffer; a timer writes the buffer in one batch every
 * 200 ms (and at shutdown). When the database is unreachable the events wait, up to
 * `MAX_PENDING`; past that the oldest are dropped, counted and logged, rather than
 * growing without bound.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../log.js";
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

export type AuditRoute = "passthrough" | "aggregate" | "rest" | "ui";

export interface ToolCallEvent {
  requestId: string | undefined;
  caller: AuditedCaller;
  route: AuditRoute;
  server: string;
  tool: string;
  /** `tool_error`: the tool answered with `isError`; `error`: the call failed. */
  outcome: "ok" | "tool_error" | "error";
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
  /** Writes what is buffered (tests, shutdown). */
  flush(): Promise<void>;
  purgeOlderThan(days: number): Promise<void>;
  close(): Promise<void>;
}

/** Events kept while the database cannot take them. */
const MAX_PENDING = 10_000;
/** Short, so each write is small: on SQLite it runs on the event loop (~7 µs a row). */
const FLUSH_INTERVAL_MS = 200;

/** A recorded event, as cheap as possible to keep: it becomes a row when written. */
interface Pending {
  event: ToolCallEvent;
  at: number;
}

export function createAuditTrail(deps: { repository: AuditRepository; log: Logger; enabled: boolean; now?: () => Date }): AuditTrail {
  const now = deps.now ?? (() => new Date());
  const nowMs = deps.now === undefined ? Date.now : () => now().getTime();
  // Ids: this process's random prefix and a counter, unique across instances without a UUID per call.
  const idPrefix = `${randomUUID().slice(0, 18)}-`;
  let sequence = 0;
  let pending: Pending[] = [];

  function toRow({ event, at }: Pending): AuditEventsTable {
    return {
      id: idPrefix + (++sequence).toString(36),
      at: new Date(at).toISOString(),
      request_id: event.requestId ?? null,
      caller_kind: event.caller.kind,
      caller: event.caller.keyId,
      subject: event.caller.subject,
      user_id: event.caller.userId ?? null,
      route: event.route,
      server: event.server,
      tool: event.tool,
      outcome: event.outcome,
      status: event.status ?? null,
      error_code: event.errorCode ?? null,
      duration_ms: Math.round(event.durationMs),
    };
  }
  let writing: Promise<void> | undefined;
  let dropped = 0;

  async function write(): Promise<void> {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    try {
      await deps.repository.insert(batch.map(toRow));
      if (dropped > 0) {
        deps.log.warn({ dropped }, "audit events were dropped while the database was unreachable");
        dropped = 0;
      }
    } catch (error) {
      // Put them back in front of anything recorded meanwhile, within the bound.
      pending = [...batch, ...pending];
      const excess = pending.length - MAX_PENDING;
      if (excess > 0) {
        pending = pending.slice(excess);
        dropped += excess;
      }
      deps.log.warn({ err: error instanceof Error ? error.message : String(error), pending: pending.length }, "cannot write audit events; they are kept and retried");
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
      pending.push({ event, at: nowMs() });
      if (pending.length > MAX_PENDING) {
        pending.shift();
        dropped++;
      }
    },
    async list(query) {
      await flush();
      const rows = await deps.repository.list(query);
      const last = rows.at(-1);
      return { events: rows, ...(rows.length === query.limit && last !== undefined ? { next: `${last.at}~${last.id}` } : {}) };
    },
    flush,
    async purgeOlderThan(days) {
      await deps.repository.purgeBefore(new Date(now().getTime() - days * 86_400_000).toISOString());
    },
    async close() {
      clearInterval(timer);
      await flush();
      if (pending.length > 0) await write();
    },
  };
}

/** A page cursor from `list`, or undefined when it is not one. */
export function parseCursor(cursor: string): { at: string; id: string } | undefined {
  const split = cursor.lastIndexOf("~");
  if (split <= 0) return undefined;
  const at = cursor.slice(0, split);
  const id = cursor.slice(split + 1);
  return Number.isNaN(Date.parse(at)) || !/^[0-9a-z-]{1,36}$/.test(id) ? undefined : { at, id };
}
