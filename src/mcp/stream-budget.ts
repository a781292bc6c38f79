/**
 * How many long-lived streams to upstreams may be open at once: pass-through `GET`
 * streams (the standalone SSE stream, open for a whole session) and SSE answers to POSTs,
 * counted per (server, caller) and per server.
 *
 * Issue 15 item 5: one key held 260 `GET /{server}/mcp` streams open, filled the
 * 256-connection pool, and every other key's POSTs waited past their `timeout`. GET
 * streams now use their own connections (upstream-http.ts), and this budget bounds them:
 *
 * - a GET stream is admitted only while both counts are under their limits, else 429
 *   with `Retry-After`, before anything is sent upstream;
 * - a POST is refused (429) only when its own caller already holds its per-caller limit
 *   on that server (the per-server limit is not checked: one group of keys filling it
 *   must not shut out everyone's tool calls); it counts from when it is sent until its
 *   answer starts, and on while that answer is an open SSE stream. A stream that has
 *   started is never cut: the upstream has done the work, and refusing its answer then
 *   would lose the result (a retry would run the tool twice).
 *
 * A legacy SSE bridge session (legacy-sse-bridge.ts) holds one upstream SSE stream for its
 * whole life: it is admitted like a GET stream when it opens.
 *
 * A slot is freed when its stream closes, however it ends. Counts are per gateway
 * instance. Limits: the server's `max_streams_per_key` / `max_streams`, else
 * `general_settings.max_streams_per_key` / `max_streams_per_server`.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { RequestHeaders, ResponseHeaders } from "../headers.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export interface StreamLimits {
  /** Streams one caller may hold open to one server. */
  perKey: number;
  /** Streams all callers together may hold open to one server. */
  perServer: number;
}

export interface StreamBudget {
  /** Takes a slot for a GET stream, or throws a 429; the returned function frees it (once). */
  admit(server: McpServerEntry, caller: string): () => void;
  /** Throws a 429 when `caller` already holds its per-key limit on this server (a POST, before it is sent). */
  check(server: McpServerEntry, caller: string): void;
  /** Counts a stream that has started regardless of the limits (an SSE answer to a POST); the returned function frees it (once). */
  count(server: McpServerEntry, caller: string): () => void;
  /** Open streams to a server (metrics, tests). */
  open(serverId: string): number;
}

/** What a refused client is told to wait: the budget cannot know when a stream will close. */
export const STREAM_RETRY_AFTER_SECONDS = 10;

interface ServerStreams {
  total: number;
  byCaller: Map<string, number>;
}

export function createStreamBudget(defaults: StreamLimits): StreamBudget {
  const servers = new Map<string, ServerStreams>();

  const limitsOf = (server: McpServerEntry): StreamLimits => ({
    perKey: server.config.max_streams_per_key ?? defaults.perKey,
    perServer: server.config.max_streams ?? defaults.perServer,
  });

  function take(server: McpServerEntry, caller: string): () => void {
    let streams = servers.get(server.id);
    if (streams === undefined) servers.set(server.id, (streams = { total: 0, byCaller: new Map() }));
    streams.total++;
    streams.byCaller.set(caller, (streams.byCaller.get(caller) ?? 0) + 1);
    const held = streams;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      held.total--;
      const left = (held.byCaller.get(caller) ?? 1) - 1;
      // Entries go when they reach zero: the maps hold only callers with open streams.
      if (left === 0) held.byCaller.delete(caller);
      else held.byCaller.set(caller, left);
      if (held.total === 0 && servers.get(server.id) === held) servers.delete(server.id);
    };
  }

  function check(server: McpServerEntry, caller: string): void {
    const limit = limitsOf(server).perKey;
    if ((servers.get(server.id)?.byCaller.get(caller) ?? 0) >= limit) throw tooManyStreams(server, "key", limit);
  }

  return {
    admit(server, caller) {
      check(server, caller);
      const limit = limitsOf(server).perServer;
      if ((servers.get(server.id)?.total ?? 0) >= limit) throw tooManyStreams(server, "server", limit);
      return take(server, caller);
    },
    check,
    count: take,
    open: (serverId) => servers.get(serverId)?.total ?? 0,
  };
}

/**
 * Whose budget a request draws on: its key's subject. Callers without a gateway key
 * (servers that delegate auth) are told apart by the credential they present upstream, so
 * that one of them cannot use up the budget of all the others.
 */
export function streamOwner(caller: Caller, headers: RequestHeaders): string {
  if (caller.kind !== "delegated") return caller.subject;
  const authorization = headers.get("authorization");
  return authorization === null ? "anonymous" : `delegated:${createHash("sha256").update(authorization).digest("base64url")}`;
}

/** Told the upstream's answer once its headers are in: the stream's slot is freed when its body closes. */
export type StreamTracker = (body: Readable, headers: ResponseHeaders) => void;

/** One pass-through request's place in the budget. */
export interface StreamAdmission {
  /** Told the upstream's answer once its headers are in: a stream's slot is freed when its body closes, any other answer's at once. */
  track: StreamTracker;
  /** The request failed before its answer: its slot is freed. */
  release(): void;
}

const NOTHING_HELD: StreamAdmission = { track: () => undefined, release: () => undefined };

/**
 * Admits one pass-through request: a stream (a GET, or a POST the client holds open: a
 * 2026-07-28 `subscriptions/listen`) is admitted or refused (429), any other POST is checked
 * and counted; a DELETE holds nothing.
 */
export function admitStream(budget: StreamBudget, server: McpServerEntry, caller: string, method: "GET" | "POST" | "DELETE", stream = method === "GET"): StreamAdmission {
  let release: () => void;
  if (stream) release = budget.admit(server, caller);
  else if (method === "POST") {
    // Counted from now, not from its answer's headers: concurrent POSTs of one key would
    // otherwise all pass the check and all become open SSE answers (an attack review saw 4
    // of max 2 fill the pool). Freed at its headers unless the answer is a stream.
    budget.check(server, caller);
    release = budget.count(server, caller);
  } else return NOTHING_HELD;
  return {
    track(body, headers) {
      if (!stream && method === "POST" && !String(headers["content-type"] ?? "").includes("text/event-stream")) {
        release();
        return;
      }
      if (body.closed) release();
      else body.once("close", release);
    },
    release,
  };
}

function tooManyStreams(server: McpServerEntry, scope: "key" | "server", limit: number): GatewayError {
  const message =
    scope === "key"
      ? `your key already holds ${limit} open streams to MCP server '${server.name}' (its max_streams_per_key); close one (an idle GET stream, a finished session) or retry after ${STREAM_RETRY_AFTER_SECONDS} s`
      : `MCP server '${server.name}' already has ${limit} open streams through the gateway (its max_streams); retry after ${STREAM_RETRY_AFTER_SECONDS} s`;
  return new GatewayError({
    status: 429,
    code: "too_many_streams",
    message,
    rpcCode: JsonRpcCode.InvalidRequest,
    headers: { "retry-after": String(STREAM_RETRY_AFTER_SECONDS) },
    extra: { server: server.name, limit },
  });
}
