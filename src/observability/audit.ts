/**
 * The audit trail of tool calls: who (the key's label and identity, never the key), which
 * server and tool, through which route, how it ended, how long it took, and the request
 * id. Never the arguments or the result.
 *
 * The request path only appends to a buffer; a timer writes the buffer in one insert every
 * second (and at shutdown). When the database is unreachable the events wait, up to
 * `MAX_PENDING`; past that the oldest are dropped, counted and logged, rather than
 * growing without bound.
 */
import { randomUUID } from "node:crypto";
import type { Caller } from "../auth/inbound/caller.js";
import type { Logger } from "../log.js";
import type { AuditQuery, AuditRepository } from "../store/audit-repository.js";
import type { AuditEventsTable } from "../store/schema.js";

export type AuditRoute = "passthrough" | "aggregate" | "rest" | "ui";

export interface ToolCallEvent {
  requestId: string | undefined;
  caller: Caller;
  route: AuditRoute;
  server: string;
  tool: string;
  /** `tool_error`: the tool answered with `isError`; `error`: the call failed. */
  outcome: "ok" | "tool_error" | "error";
  /** The upstream's HTTP status (pass-through) or the gateway's error status. */
  status?: number;
  errorCode?: string;
  durationMs: number;
}

export interface AuditEvent {
  id: string;
  at: string;
  request_id: string | null;
  caller_kind: string;
  caller: string;
  subject: string;
  user_id: string | null;
  route: string;
  server: string;
  tool: string;
  outcome: string;
  status: number | null;
  error_code: string | null;
  duration_ms: number;
}

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
const FLUSH_INTERVAL_MS = 1_000;

export function createAuditTrail(deps: { repository: AuditRepository; log: Logger; enabled: boolean; now?: () => Date }): AuditTrail {
  const now = deps.now ?? (() => new Date());
  let pending: AuditEventsTable[] = [];
  let writing: Promise<void> | undefined;
  let dropped = 0;

  async function write(): Promise<void> {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    try {
      await deps.repository.insert(batch);
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
      pending.push({
        id: randomUUID(),
        at: now().toISOString(),
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
      });
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
  return Number.isNaN(Date.parse(at)) || !/^[0-9a-f-]{36}$/.test(id) ? undefined : { at, id };
}
