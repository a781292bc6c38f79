/**
 * The GET stream of an aggregate `/mcp` session (MCP transports spec, "Listening for
 * Messages from the Server"): one SSE stream to the client that carries what every upstream
 * session of the client's session sends outside a call: list changes, resource updates,
 * log messages, and requests (sampling, elicitation, roots; their ids mapped as on a call's
 * stream, answered by a POST to `/mcp` from any instance).
 *
 * Behind it, this instance holds each streamable-HTTP server's own GET stream (counted
 * against `max_streams_per_key` / `max_streams_per_server` like a pass-through GET),
 * reconnecting after it ends. When an upstream's stream fails, the client is told that the
 * lists changed (that server's items are gone until it is back), and told again when it is
 * back. A server that offers no GET stream (405) is left alone.
 */
import type { Caller } from "../auth/inbound/caller.js";
import { Cancellation, type HttpAnswer } from "../exchange.js";
import { GatewayError, JsonRpcCode, toGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { AggregateSession } from "./aggregate-session.js";
import type { InboundRequestInfo } from "./outbound-headers.js";
import { streamOwner, type StreamBudget } from "./stream-budget.js";
import type { UpstreamClients } from "./upstream-clients.js";
import type { ServerMessage } from "./upstream-session.js";

export interface AggregateStreamDeps {
  clients: UpstreamClients;
  streams: StreamBudget;
  log: Logger;
  /** Milliseconds between keep-alive comments. Default 25 s. */
  keepAliveMs?: number;
  /** Milliseconds before reconnecting an upstream stream that ended or failed (doubling to 30 s). Default 1 s. */
  retryMs?: number;
  /** Bytes a stream may hold for a client that does not read before messages are dropped. Default 1 MiB. */
  maxQueuedBytes?: number;
}

export interface AggregateStreamRequest {
  snapshot: RegistrySnapshot;
  caller: Caller;
  servers: readonly McpServerEntry[];
  inbound: InboundRequestInfo;
  session: AggregateSession;
  /** Every upstream task id in a message as the caller's gateway task id (aggregate-tasks.ts). */
  outwardTasks?: (server: McpServerEntry, message: ServerMessage) => ServerMessage;
  /**
   * Whether the stream may go on: the session is live, the key still authenticates and may
   * still use every server of the stream. Asked before each reconnect to an upstream and
   * with each keep-alive; when not, the stream ends (the client opens a new one, or learns why).
   */
  stillAllowed?: () => Promise<boolean>;
}

const LIST_CHANGES = ["notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed"];
const MAX_RETRY_MS = 30_000;
const MAX_QUEUED_BYTES = 1024 * 1024;

/**
 * An upstream's request or notification as the client sees it: a request's id names the
 * server (`gh:{server}:{id}`), and so does the request a `notifications/cancelled` cancels
 * (one server cannot cancel another's request to the client); a log message's logger names
 * it too. Undefined for what is not the upstream's to send the client: progress (the
 * gateway relays a call's own; an upstream's other tokens could only be the client's
 * tokens for other calls, spoofed).
 */
export function forwardedMessage(server: McpServerEntry, message: ServerMessage): Record<string, unknown> | undefined {
  if (message.method === "notifications/progress") return undefined;
  let params = message.params;
  if (message.method === "notifications/message" && params !== undefined) {
    params = { ...params, logger: typeof params.logger === "string" ? `${server.name}/${params.logger}` : server.name };
  }
  if (message.method === "notifications/cancelled" && params !== undefined) {
    const requestId = params.requestId;
    if (typeof requestId !== "string" && typeof requestId !== "number") return undefined;
    params = { ...params, requestId: forwardedId(server, requestId) };
  }
  return {
    jsonrpc: "2.0",
    ...(message.id === undefined ? {} : { id: forwardedId(server, message.id) }),
    method: message.method,
    ...(params === undefined ? {} : { params }),
  };
}

function forwardedId(server: McpServerEntry, id: string | number): string {
  return `gh:${server.name}:${JSON.stringify(id)}`;
}

/** The server and upstream id behind a forwarded request's id, or undefined for any other id. */
export function parseForwardedId(id: unknown): { server: string; id: string | number } | undefined {
  if (typeof id !== "string" || !id.startsWith("gh:") || id.length > 1024) return undefined;
  const colon = id.indexOf(":", 3);
  if (colon < 0) return undefined;
  try {
    const upstreamId: unknown = JSON.parse(id.slice(colon + 1));
    return typeof upstreamId === "string" || typeof upstreamId === "number" ? { server: id.slice(3, colon), id: upstreamId } : undefined;
  } catch {
    return undefined;
  }
}

export function createAggregateStreams(deps: AggregateStreamDeps) {
  const keepAliveMs = deps.keepAliveMs ?? 25_000;
  const retryMs = deps.retryMs ?? 1_000;
  const maxQueuedBytes = deps.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  /** The session streams open on this instance, by session nonce: one each (a second GET is 409), ended by DELETE. */
  const open = new Map<string, () => void>();

  /**
   * GET /mcp in a session: the client's stream, fed by every upstream session's own.
   * Refused with 409 while the session already has one here, and with the budget's 429 when
   * no upstream stream could be admitted (a stream that holds none would still be a socket
   * and a timer that no limit counts).
   */
  function openStream(request: AggregateStreamRequest): HttpAnswer {
    if (open.has(request.session.nonce)) throw streamConflict();
    const owner = streamOwner(request.caller, request.inbound.headers);
    const admitted: Array<{ server: McpServerEntry; release: () => void }> = [];
    let refusal: unknown;
    for (const server of request.servers) {
      if (server.stdio !== undefined || server.config.transport === "sse") continue;
      try {
        admitted.push({ server, release: deps.streams.admit(server, owner) });
      } catch (error) {
        refusal ??= error;
        deps.log.info({ server: server.name }, "the /mcp session's stream leaves out an MCP server: its stream limit is reached");
      }
    }
    if (admitted.length === 0 && refusal !== undefined) throw refusal;
    // No server the stream could follow (stdio and legacy SSE servers are shared, with no stream of the session's own): the transport's "no stream offered".
    if (admitted.length === 0) throw noStreamOffered();

    const cancel = new Cancellation();
    const encoder = new TextEncoder();
    let timer: NodeJS.Timeout | undefined;
    let close: () => void = () => undefined;
    const stop = () => {
      if (cancel.aborted) return;
      cancel.abort();
      clearInterval(timer);
      if (open.get(request.session.nonce) === stop) open.delete(request.session.nonce);
      for (const { release } of admitted.splice(0)) release();
      close();
    };
    open.set(request.session.nonce, stop);
    request.inbound.cancel?.once("abort", stop);

    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          close = () => {
            try {
              controller.close();
            } catch {
              // already closed or errored
            }
          };
          let dropped = 0;
          const write = (text: string, droppable: boolean) => {
            // A client that does not read (or an upstream that floods) must not grow this queue without end.
            if (droppable && (controller.desiredSize ?? 0) < 0) {
              if (dropped++ === 0) deps.log.warn({ queuedBytes: maxQueuedBytes - (controller.desiredSize ?? 0) }, "an /mcp session's stream is not being read fast enough; messages are dropped until it catches up");
              return;
            }
            dropped = 0;
            try {
              controller.enqueue(encoder.encode(text));
            } catch {
              stop();
            }
          };
          const send = (message: Record<string, unknown>) => write(`event: message\ndata: ${JSON.stringify(message)}\n\n`, true);
          const listsChanged = () => {
            for (const method of LIST_CHANGES) send({ jsonrpc: "2.0", method });
          };
          // An SSE comment now, so the client knows the stream is open, then now and then so idle proxies keep it.
          write(": gatehouse\n\n", false);
          timer = setInterval(() => {
            write(": keep-alive\n\n", true);
            void allowed(request, stop);
          }, keepAliveMs);
          timer.unref();
          for (const { server } of admitted) void follow(request, server, cancel, send, listsChanged, stop);
        },
        cancel: stop,
      },
      new ByteLengthQueuingStrategy({ highWaterMark: maxQueuedBytes }),
    );
    return { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" }, body };
  }

  /** Whether the stream may go on (`stillAllowed`); when not, it is stopped. */
  async function allowed(request: AggregateStreamRequest, stop: () => void): Promise<boolean> {
    const ok = request.stillAllowed === undefined ? true : await request.stillAllowed().catch(() => false);
    if (!ok) stop();
    return ok;
  }

  /** Ends this instance's stream of a session (DELETE ended the session). */
  function closeSession(nonce: string): void {
    open.get(nonce)?.();
  }

  /** Keeps one upstream session's GET stream open while the client's is, reconnecting; says when it is lost and back. */
  async function follow(
    request: AggregateStreamRequest,
    server: McpServerEntry,
    cancel: Cancellation,
    send: (message: Record<string, unknown>) => void,
    listsChanged: () => void,
    stop: () => void,
  ): Promise<void> {
    let down = false;
    let delay = retryMs;
    for (let attempt = 0; !cancel.aborted; attempt++) {
      // A revoked key, a session ended elsewhere or a server taken from the key: no reconnecting with the gateway's credentials.
      if (attempt > 0 && !(await allowed(request, stop))) return;
      try {
        await deps.clients.withClient(
          server,
          request.snapshot,
          request.inbound,
          async (client) => {
            if (client.listen === undefined) throw new NoStream();
            await client.listen(
              (message) => {
                const forwarded = forwardedMessage(server, request.outwardTasks?.(server, message) ?? message);
                if (forwarded !== undefined) send(forwarded);
              },
              {
              cancel,
              onOpen: () => {
                delay = retryMs;
                if (down) listsChanged();
                down = false;
              },
            });
          },
          request.session,
        );
      } catch (error) {
        if (cancel.aborted) return;
        const failure = toGatewayError(error);
        if (error instanceof NoStream || failure.extra.upstream_status === 405) return;
        // The session ended (DELETE, on any instance): its stream ends, and no upstream session is opened for it again.
        if (failure.code === "session_not_found") {
          stop();
          return;
        }
        if (!down) {
          deps.log.warn({ server: server.name, code: failure.code, detail: failure.detail ?? failure.message }, "an /mcp session lost its stream from an MCP server; reconnecting");
          listsChanged();
        }
        down = true;
      }
      await pause(delay, cancel);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  return { open: openStream, closeSession };
}

export type AggregateStreams = ReturnType<typeof createAggregateStreams>;

class NoStream extends Error {}

function noStreamOffered(): GatewayError {
  return new GatewayError({
    status: 405,
    code: "method_not_allowed",
    message: "none of this session's MCP servers can send it anything outside a call (stdio and legacy SSE servers only): there is no stream to open",
    rpcCode: JsonRpcCode.InvalidRequest,
    headers: { allow: "POST, DELETE" },
  });
}

function streamConflict(): GatewayError {
  return new GatewayError({
    status: 409,
    code: "stream_already_open",
    message: "this /mcp session already has its GET stream open here: use that one (close it before opening another)",
    rpcCode: JsonRpcCode.InvalidRequest,
  });
}

function pause(ms: number, cancel: Cancellation): Promise<void> {
  return new Promise((resolve) => {
    if (cancel.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      cancel.removeListener("abort", done);
      resolve();
    }
    cancel.once("abort", done);
  });
}
