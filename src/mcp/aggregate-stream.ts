/**
 * The GET stream of an aggregate `/mcp` session (MCP transports spec, "Listening for
 * Messages from the Server"): one SSE stream to the client that carries what every upstream
 * session of the client's session sends outside a call: list changes, resource updates,
 * log messages, and requests (sampling, elicitation, roots; their ids mapped as on a call's
 * stream, answered by a POST to `/mcp` from any instance).
 *
 * Behind it, this instance holds each streamable-HTTP server's own GET stream (a 2026-07-28
 * server's `subscriptions/listen`; a stdio server's or a legacy SSE server's list changes
 * from its shared process or the caller's pooled session), each counted against
 * `max_streams_per_key` / `max_streams_per_server` like a pass-through GET, reconnecting
 * after it ends. When an upstream's stream fails, the client is told that the lists changed
 * (that server's items are gone until it is back), and told again when it is back. A server
 * that offers no GET stream (405) is left alone.
 *
 * The same fan-in (`fanIn`) carries a 2026-07-28 client's `subscriptions/listen`
 * (aggregate-listen.ts), with its own upstream streams and filter.
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
import { ownsUpstreamSession, type UpstreamClients } from "./upstream-clients.js";
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
  /** The resources the session subscribed to where the gateway keeps them (2026-07-28 servers, shared upstream sessions; read again with each keep-alive). */
  subscriptions?: (server: McpServerEntry) => Promise<string[]>;
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

/** The server name and the rest of an id the gateway made, `gh:{server}:{rest}` (a forwarded request's, a task's), or undefined for any other id. */
export function gatewayIdParts(id: unknown, maxLength: number): { server: string; rest: string } | undefined {
  if (typeof id !== "string" || !id.startsWith("gh:") || id.length > maxLength) return undefined;
  const colon = id.indexOf(":", 3);
  return colon < 0 ? undefined : { server: id.slice(3, colon), rest: id.slice(colon + 1) };
}

/** The server and upstream id behind a forwarded request's id, or undefined for any other id. */
export function parseForwardedId(id: unknown): { server: string; id: string | number } | undefined {
  const parts = gatewayIdParts(id, 1024);
  if (parts === undefined) return undefined;
  try {
    const upstreamId: unknown = JSON.parse(parts.rest);
    return typeof upstreamId === "string" || typeof upstreamId === "number" ? { server: parts.server, id: upstreamId } : undefined;
  } catch {
    return undefined;
  }
}

/** What one fan-in stream follows, and how it speaks to its client. */
interface FanIn {
  caller: Caller;
  inbound: InboundRequestInfo;
  servers: readonly McpServerEntry[];
  /** Follows one server's messages until its stream ends (resolves) or fails (rejects); `onOpen` once it is open. */
  follow(server: McpServerEntry, onMessage: (message: ServerMessage) => void, options: { cancel: Cancellation; onOpen: () => void }): Promise<void>;
  /** A server's message as the client gets it; undefined to drop it. */
  forward(server: McpServerEntry, message: ServerMessage): Record<string, unknown> | undefined;
  /** What the client is told when a server's stream is lost, and again when it is back (its items come and go). */
  listsChanged(): Array<Record<string, unknown>>;
  /** The stream's first message, if any. */
  opening?: Record<string, unknown>;
  /** The last message when the gateway (not the client) ends the stream. */
  closing?: Record<string, unknown>;
  stillAllowed?: () => Promise<boolean>;
  /** Runs with each keep-alive, once the stream may go on. */
  onKeepAlive?: () => void;
  /** When there is no server to follow: the answer instead of a stream. */
  nothingToFollow(): HttpAnswer;
}

/** A server's stream that cannot be followed: it offers none (405, or -32601 to subscriptions/listen). */
export class NoStream extends Error {}

export function createAggregateStreams(deps: AggregateStreamDeps) {
  const keepAliveMs = deps.keepAliveMs ?? 25_000;
  const retryMs = deps.retryMs ?? 1_000;
  const maxQueuedBytes = deps.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  /** The session streams open on this instance, by session nonce: one each (a second GET is 409), ended by DELETE. */
  const open = new Map<string, () => void>();
  /** session nonce + server id → what makes that server's upstream stream reconnect (with the session's subscriptions as they are now). */
  const restarts = new Map<string, () => void>();
  /** Every fan-in stream open on this instance, with what ends it as the gateway's choice (shutdown). */
  const running = new Set<() => void>();

  /**
   * One SSE stream to the client fed by a stream per server. Refused with the budget's 429
   * when no upstream stream could be admitted (a stream that holds none would still be a
   * socket and a timer that no limit counts).
   */
  function fanIn(request: FanIn, onStop: () => void = () => undefined): { answer: HttpAnswer; stop: () => void } {
    const owner = streamOwner(request.caller, request.inbound.headers);
    const admitted: Array<{ server: McpServerEntry; release: () => void }> = [];
    let refusal: unknown;
    for (const server of request.servers) {
      try {
        admitted.push({ server, release: deps.streams.admit(server, owner) });
      } catch (error) {
        refusal ??= error;
        deps.log.info({ server: server.name }, "an /mcp stream leaves out an MCP server: its stream limit is reached");
      }
    }
    if (admitted.length === 0 && refusal !== undefined) throw refusal;
    // No server to follow.
    if (admitted.length === 0) return { answer: request.nothingToFollow(), stop: () => undefined };

    const cancel = new Cancellation();
    const encoder = new TextEncoder();
    let timer: NodeJS.Timeout | undefined;
    let close: (ending: boolean) => void = () => undefined;
    /** `ending`: the gateway ends the stream (its closing message is sent); else the client went away. */
    const finish = (ending: boolean) => {
      if (cancel.aborted) return;
      cancel.abort();
      clearInterval(timer);
      running.delete(end);
      onStop();
      for (const { release } of admitted.splice(0)) release();
      close(ending);
    };
    const end = () => finish(true);
    const gone = () => finish(false);
    running.add(end);
    request.inbound.cancel?.once("abort", gone);

    const body = new ReadableStream<Uint8Array>(
      {
        start(controller) {
          let dropped = 0;
          const write = (text: string, droppable: boolean) => {
            // A client that does not read (or an upstream that floods) must not grow this queue without end.
            if (droppable && (controller.desiredSize ?? 0) < 0) {
              if (dropped++ === 0) deps.log.warn({ queuedBytes: maxQueuedBytes - (controller.desiredSize ?? 0) }, "an /mcp stream is not being read fast enough; messages are dropped until it catches up");
              return;
            }
            dropped = 0;
            try {
              controller.enqueue(encoder.encode(text));
            } catch {
              gone();
            }
          };
          const send = (message: Record<string, unknown>, droppable = true) => write(`event: message\ndata: ${JSON.stringify(message)}\n\n`, droppable);
          close = (ending) => {
            if (ending && request.closing !== undefined) send(request.closing, false);
            try {
              controller.close();
            } catch {
              // already closed or errored
            }
          };
          // The first message now (or an SSE comment), so the client knows the stream is open, then comments now and then so idle proxies keep it.
          if (request.opening === undefined) write(": gatehouse\n\n", false);
          else send(request.opening, false);
          timer = setInterval(() => {
            write(": keep-alive\n\n", true);
            void allowed(request, end).then((ok) => ok && request.onKeepAlive?.());
          }, keepAliveMs);
          timer.unref();
          const listsChanged = () => {
            for (const message of request.listsChanged()) send(message);
          };
          for (const { server } of admitted) {
            void follow(request, server, cancel, (message) => {
              const forwarded = request.forward(server, message);
              if (forwarded !== undefined) send(forwarded);
            }, listsChanged, end);
          }
        },
        cancel: gone,
      },
      new ByteLengthQueuingStrategy({ highWaterMark: maxQueuedBytes }),
    );
    return { answer: { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" }, body }, stop: end };
  }

  /**
   * GET /mcp in a session: the client's stream, fed by every upstream session's own GET
   * stream. Refused with 409 while the session already has one here.
   */
  function openStream(request: AggregateStreamRequest): HttpAnswer {
    const nonce = request.session.nonce;
    if (open.has(nonce)) throw streamConflict();
    /** The subscriptions each 2026-07-28 server was last asked for, by server id. */
    const asked = new Map<string, { server: McpServerEntry; uris: string }>();
    const subscriptions = request.subscriptions;
    const { answer, stop } = fanIn(
      {
        caller: request.caller,
        inbound: request.inbound,
        servers: request.servers,
        ...(request.stillAllowed === undefined ? {} : { stillAllowed: request.stillAllowed }),
        follow: async (server, onMessage, options) => {
          // A restart (the session's subscriptions changed) ends this attempt only: the fan-in reconnects it.
          const attempt = new Cancellation();
          options.cancel.once("abort", () => attempt.abort());
          const key = `${nonce}\0${server.id}`;
          const restart = () => attempt.abort();
          restarts.set(key, restart);
          try {
            await deps.clients.withClient(
              server,
              request.snapshot,
              request.inbound,
              async (client) => {
                if (client.listen === undefined) throw new NoStream();
                // Where the session has no upstream session of its own to hold them, the gateway keeps its subscriptions.
                const kept = client.speaksModern === true || !ownsUpstreamSession(server);
                const uris = kept && subscriptions !== undefined ? await subscriptions(server) : [];
                if (kept) asked.set(server.id, { server, uris: JSON.stringify(uris) });
                await client.listen(onMessage, {
                  ...options,
                  cancel: attempt,
                  ...(uris.length === 0 ? {} : { filter: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true, resourceSubscriptions: uris } }),
                });
              },
              request.session,
            );
          } finally {
            if (restarts.get(key) === restart) restarts.delete(key);
          }
        },
        // A subscription made on another instance: seen here with the next keep-alive.
        onKeepAlive: () => {
          if (subscriptions === undefined) return;
          for (const [serverId, { server, uris }] of asked) {
            void subscriptions(server)
              .then((now) => {
                if (JSON.stringify(now) !== uris) resubscribe(nonce, serverId);
              })
              .catch(() => undefined);
          }
        },
        forward: (server, message) => forwardedMessage(server, request.outwardTasks?.(server, message) ?? message),
        listsChanged: () => LIST_CHANGES.map((method) => ({ jsonrpc: "2.0", method })),
        nothingToFollow: () => {
          throw noStreamOffered();
        },
      },
      () => {
        if (open.get(nonce) === stop) open.delete(nonce);
      },
    );
    open.set(nonce, stop);
    return answer;
  }

  /** Whether the stream may go on (`stillAllowed`); when not, it is ended. */
  async function allowed(request: Pick<FanIn, "stillAllowed">, end: () => void): Promise<boolean> {
    const ok = request.stillAllowed === undefined ? true : await request.stillAllowed().catch(() => false);
    if (!ok) end();
    return ok;
  }

  /** Has a session's stream here ask a 2026-07-28 server again, with the session's subscriptions as they are now. */
  function resubscribe(nonce: string, serverId: string): void {
    restarts.get(`${nonce}\0${serverId}`)?.();
  }

  /** Ends this instance's stream of a session (DELETE ended the session). */
  function closeSession(nonce: string): void {
    open.get(nonce)?.();
  }

  /** Keeps one server's stream open while the client's is, reconnecting; says when it is lost and back. */
  async function follow(
    request: FanIn,
    server: McpServerEntry,
    cancel: Cancellation,
    onMessage: (message: ServerMessage) => void,
    listsChanged: () => void,
    end: () => void,
  ): Promise<void> {
    let down = false;
    let delay = retryMs;
    for (let attempt = 0; !cancel.aborted; attempt++) {
      // A revoked key, a session ended elsewhere or a server taken from the key: no reconnecting with the gateway's credentials.
      if (attempt > 0 && !(await allowed(request, end))) return;
      try {
        await request.follow(server, onMessage, {
          cancel,
          onOpen: () => {
            delay = retryMs;
            if (down) listsChanged();
            down = false;
          },
        });
      } catch (error) {
        if (cancel.aborted) return;
        const failure = toGatewayError(error);
        if (error instanceof NoStream || failure.extra.upstream_status === 405) return;
        // The session ended (DELETE, on any instance): its stream ends, and no upstream session is opened for it again.
        if (failure.code === "session_not_found") {
          end();
          return;
        }
        if (!down) {
          deps.log.warn({ server: server.name, code: failure.code, detail: failure.detail ?? failure.message }, "an /mcp stream lost its stream from an MCP server; reconnecting");
          listsChanged();
        }
        down = true;
      }
      await pause(delay, cancel);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  /** Ends every stream of this instance, as the gateway's choice (each gets its closing message): shutdown. */
  function closeAll(): void {
    for (const end of [...running]) end();
  }

  return { open: openStream, fanIn, closeSession, closeAll, resubscribe };
}

export type AggregateStreams = ReturnType<typeof createAggregateStreams>;

function noStreamOffered(): GatewayError {
  return new GatewayError({
    status: 405,
    code: "method_not_allowed",
    message: "this session has no MCP server that could send it anything outside a call: there is no stream to open",
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
