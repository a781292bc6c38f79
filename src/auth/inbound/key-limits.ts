/**
 * The keys' `rpm_limit` and `max_parallel_requests` on MCP requests (README, "Key limits").
 *
 * - `rpm_limit` counts tool calls, as LiteLLM does (its limiter runs on MCP tool calls
 *   only): each `tools/call` in a pass-through or `/mcp` body, each `/mcp-rest/tools/call`.
 *   A fixed window of `LITELLM_RATE_LIMIT_WINDOW_SIZE` seconds (60), aligned to the epoch,
 *   as LiteLLM's fixed window; past the limit, 429 with `Retry-After` = the seconds left in
 *   the window.
 * - `max_parallel_requests` counts the key's MCP requests in flight (every method on
 *   every MCP route), from authentication until the answer ends, an SSE answer included.
 *   GET streams are left out: a client holds one open for its whole session, so with a
 *   limit of 1 it would lock itself out; `max_streams_per_key` bounds them. Past the
 *   limit, 429 with `Retry-After: 1`.
 *
 * The counters are shared (key-counters.ts: the database, or Redis). A key without limits
 * costs nothing here: no promise, no round trip. When the shared counters fail (Redis or
 * the database away), requests are counted in this process instead and a warning is
 * logged once per outage: the limits then hold per instance, and nobody is locked out by
 * an outage of the counters (LiteLLM likewise carries on with its in-memory counters).
 * A limit is a quota, not a permission: keys, blocked keys and server permissions are
 * checked before, and fail closed.
 */
import { randomUUID } from "node:crypto";
import { GatewayError, JsonRpcCode } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { KeyCounters } from "../../store/key-counters.js";
import type { Caller } from "./caller.js";

export interface KeyLimiter {
  /** Counts `calls` tool calls against the caller's rpm_limit; a 429 past it. Undefined (nothing to wait for) when the key has no rpm_limit. */
  countToolCalls(caller: Caller, calls: number): Promise<void> | undefined;
  /** Takes one of the caller's max_parallel_requests slots (a 429 when none is free); the function that frees it (once). Undefined when the key has no such limit. */
  /** A slot, and what frees it (its promise: when the shared counter has it back). */
  admit(caller: Caller): Promise<() => Promise<void> | void> | undefined;
  close(): Promise<void>;
}

export interface KeyLimiterOptions {
  counters: KeyCounters;
  windowSeconds: number;
  log: Logger;
  now?: () => number;
  /** How long a lease lives unless renewed: the longest an instance that died keeps a slot. */
  leaseMs?: number;
}

export const DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60;
const DEFAULT_LEASE_MS = 60_000;

export function createKeyLimiter(options: KeyLimiterOptions): KeyLimiter {
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const windowSeconds = options.windowSeconds;
  const local = memoryCounters();
  let failing = false;
  /** Leases this instance holds in the shared counters, renewed while held. */
  const held = new Map<string, string>();
  let renewal: ReturnType<typeof setInterval> | undefined;

  /** The shared counters' answer, or this process's when they fail. */
  async function counted<T>(shared: () => Promise<T>, fallback: () => Promise<T>): Promise<{ value: T; sharedOk: boolean }> {
    try {
      const value = await shared();
      failing = false;
      return { value, sharedOk: true };
    } catch (error) {
      if (!failing) {
        failing = true;
        options.log.warn({ err: error instanceof Error ? error.message : String(error) }, "the shared key-limit counters do not answer; rpm_limit and max_parallel_requests are counted per instance until they do");
      }
      return { value: await fallback(), sharedOk: false };
    }
  }

  async function countToolCalls(subject: string, limit: number, calls: number): Promise<void> {
    const nowSeconds = now() / 1000;
    const windowStart = Math.floor(nowSeconds / windowSeconds) * windowSeconds;
    const { value: count } = await counted(
      () => options.counters.addToWindow(subject, windowStart, calls, windowSeconds),
      () => local.addToWindow(subject, windowStart, calls, windowSeconds),
    );
    if (count > limit) throw rateLimitExceeded(limit, windowSeconds, Math.max(1, Math.ceil(windowStart + windowSeconds - nowSeconds)));
  }

  function renewHeld(): void {
    if (held.size === 0) {
      clearInterval(renewal);
      renewal = undefined;
      return;
    }
    const leases = [...held].map(([leaseId, subject]) => ({ leaseId, subject }));
    options.counters.renewLeases(leases, now() + leaseMs).catch((error: unknown) => {
      options.log.warn({ err: error instanceof Error ? error.message : String(error), leases: leases.length }, "cannot renew max_parallel_requests leases; they expire unless renewed in time");
    });
  }

  async function admit(subject: string, limit: number): Promise<() => Promise<void> | void> {
    const leaseId = randomUUID();
    const at = now();
    const { value: taken, sharedOk } = await counted(
      () => options.counters.acquireLease(subject, leaseId, limit, at, at + leaseMs),
      () => local.acquireLease(subject, leaseId, limit, at, Number.MAX_SAFE_INTEGER),
    );
    if (!taken) throw parallelLimitReached(limit);
    if (!sharedOk) return once(() => void local.releaseLease(subject, leaseId));
    held.set(leaseId, subject);
    if (renewal === undefined) {
      renewal = setInterval(renewHeld, Math.max(1_000, Math.floor(leaseMs / 3)));
      renewal.unref();
    }
    // Released once, however often asked; the promise says when the shared counter has it back.
    let released: Promise<void> | undefined;
    return () =>
      (released ??= (held.delete(leaseId),
      options.counters.releaseLease(subject, leaseId).catch((error: unknown) => {
        options.log.warn({ err: error instanceof Error ? error.message : String(error) }, "cannot release a max_parallel_requests lease; it expires on its own");
      })));
  }

  return {
    countToolCalls(caller, calls) {
      const limit = caller.limits?.rpm;
      if (limit === undefined || calls === 0) return undefined;
      return countToolCalls(caller.subject, limit, calls);
    },
    admit(caller) {
      const limit = caller.limits?.parallel;
      if (limit === undefined) return undefined;
      return admit(caller.subject, limit);
    },
    async close() {
      clearInterval(renewal);
      renewal = undefined;
      await options.counters.close();
    },
  };
}

function once(run: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    run();
  };
}

function rateLimitExceeded(limit: number, windowSeconds: number, retryAfter: number): GatewayError {
  return new GatewayError({
    status: 429,
    code: "rate_limit_exceeded",
    message: `rate limit exceeded for this key: its rpm_limit allows ${limit} tool calls per ${windowSeconds} s; retry after ${retryAfter} s`,
    rpcCode: JsonRpcCode.InvalidRequest,
    headers: { "retry-after": String(retryAfter) },
    extra: { limit, limit_type: "rpm_limit" },
  });
}

function parallelLimitReached(limit: number): GatewayError {
  return new GatewayError({
    status: 429,
    code: "rate_limit_exceeded",
    message: `too many parallel requests for this key: its max_parallel_requests allows ${limit} MCP requests in flight; retry when one has ended`,
    rpcCode: JsonRpcCode.InvalidRequest,
    headers: { "retry-after": "1" },
    extra: { limit, limit_type: "max_parallel_requests" },
  });
}

/** The counters of this process alone: the fallback while the shared ones fail. */
function memoryCounters(): KeyCounters {
  const windows = new Map<string, { start: number; count: number }>();
  const leases = new Map<string, Map<string, number>>();
  return {
    async addToWindow(subject, windowStart, by) {
      const current = windows.get(subject);
      const window = current !== undefined && current.start === windowStart ? current : { start: windowStart, count: 0 };
      window.count += by;
      windows.set(subject, window);
      return window.count;
    },
    async acquireLease(subject, leaseId, limit, nowMs, expiresAtMs) {
      const held = leases.get(subject) ?? new Map<string, number>();
      for (const [id, expiresAt] of held) if (expiresAt <= nowMs) held.delete(id);
      if (held.size >= limit) return false;
      held.set(leaseId, expiresAtMs);
      leases.set(subject, held);
      return true;
    },
    async releaseLease(subject, leaseId) {
      const held = leases.get(subject);
      held?.delete(leaseId);
      if (held?.size === 0) leases.delete(subject);
    },
    renewLeases: async () => undefined,
    close: async () => undefined,
  };
}
