/**
 * The pooled keep-alive HTTP client every pass-through request goes through (undici).
 * `timeoutMs` bounds everything before the upstream's response headers: the wait for a
 * free connection in the pool, sending, and the upstream's first answer (connecting is
 * bounded by it too for a request that waited for a slot, else by undici's connect timeout)
 * (issue 15 item 5: undici's headersTimeout starts only once the request is sent, so a
 * request queued behind a full pool waited past its `timeout`). A response that has
 * started (an SSE stream, a long tool call answered as SSE) is never cut. The connection
 * limit per origin and the queue are the gateway's own (origin-slots.ts).
 *
 * Long-lived requests (pass-through GET streams) go through a second agent, so that
 * however many are open they never take the connections tool calls need; their number
 * is bounded by the stream budget (stream-budget.ts).
 */
import type { Readable } from "node:stream";
import { Agent, errors as undiciErrors, type Dispatcher } from "undici";
import { GatewayError, JsonRpcCode } from "../errors.js";
import { Cancellation } from "../exchange.js";
import type { UpstreamTarget } from "../registry/server-entry.js";
import { originSlots, type ReleaseSlot } from "./origin-slots.js";

export interface UpstreamHttp {
  send(request: UpstreamHttpRequest): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

export interface UpstreamHttpRequest {
  serverName: string;
  /** The server's `target`: origin and path as strings, computed once. */
  target: UpstreamTarget;
  /** GET, POST and DELETE for MCP; an OpenAPI server's operations use the others too. */
  method: "GET" | "POST" | "DELETE" | "PUT" | "PATCH" | "HEAD" | "OPTIONS";
  headers: Record<string, string>;
  body?: string | Buffer;
  /** The client's going away (the inbound request's Cancellation). */
  signal?: Cancellation;
  timeoutMs: number;
  /** A stream expected to stay open (a GET stream): sent on the streams' own connections. */
  longLived?: boolean;
}

export function createUpstreamHttp(options: { connectionsPerOrigin?: number } = {}): UpstreamHttp {
  // The connection limit is the slots' (origin-slots.ts): undici never queues a request itself.
  const slots = originSlots(options.connectionsPerOrigin ?? 256);
  const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: null, pipelining: 1 });
  // No limit of its own either: the stream budget admits every stream it carries.
  const streams = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: null, pipelining: 1 });
  /** A free slot (or a stream, which needs none): sent at once, bounded by undici's headersTimeout and the client's signal. */
  function sendNow(request: UpstreamHttpRequest, dispatcher: Agent, release: ReleaseSlot | undefined): Promise<Dispatcher.ResponseData> {
    return dispatcher.request(requestOptions(request, request.signal)).then(
      (response) => {
        holdUntilRead(response, release);
        return response;
      },
      (error: unknown) => {
        release?.();
        throw upstreamFailure(request, error);
      },
    );
  }

  /** The origin is at its limit: wait for a slot and the answer's headers within one deadline. */
  async function sendQueued(request: UpstreamHttpRequest): Promise<Dispatcher.ResponseData> {
    const deadline = new HeadersDeadline(request.signal, request.timeoutMs);
    let release: ReleaseSlot | undefined;
    let sent: Promise<Dispatcher.ResponseData> | undefined;
    try {
      release = await slots.wait(request.target.origin, deadline.ended);
      sent = agent.request(requestOptions(request, deadline.signal));
      // Raced: while it connects, undici acts on an abort only once connected.
      const response = await Promise.race([sent, deadline.ended]);
      deadline.headersArrived(response.body);
      holdUntilRead(response, release);
      return response;
    } catch (error) {
      deadline.failed();
      // A request that lost the race is aborted; its slot is free once undici lets go of it, and a late answer is dropped.
      if (sent === undefined) release?.();
      else void sent.then((late) => late.body.destroy(), () => undefined).finally(() => release?.());
      throw upstreamFailure(request, deadline.expired ? new undiciErrors.HeadersTimeoutError() : error);
    }
  }

  return {
    send(request) {
      // The usual case pays for no deadline of its own (a timer, an emitter and a race per
      // request cost about a third of the pass-through's CPU in the benchmark).
      if (request.longLived === true) return sendNow(request, streams, undefined);
      const release = slots.tryTake(request.target.origin);
      return release === undefined ? sendQueued(request) : sendNow(request, agent, release);
    },
    close: async () => {
      await Promise.all([agent.close(), streams.close()]);
    },
  };
}

function requestOptions(request: UpstreamHttpRequest, signal: Cancellation | undefined): Dispatcher.RequestOptions {
  return {
    origin: request.target.origin,
    path: request.target.path,
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal,
    headersTimeout: request.timeoutMs,
    bodyTimeout: 0,
  };
}

/** The connection (and its slot) is busy until the answer's body is read or destroyed. */
function holdUntilRead(response: Dispatcher.ResponseData, release: ReleaseSlot | undefined): void {
  if (release === undefined) return;
  if (response.body.closed) release();
  else response.body.once("close", release);
}

/**
 * One request's cancellation until its response headers: the client's signal, or the
 * request's `timeoutMs` from the moment it is handed to the pool. After the headers only
 * the client's signal counts (it still aborts the body when the client goes away).
 */
class HeadersDeadline {
  readonly signal = new Cancellation();
  expired = false;
  /** Rejects when the deadline passes or the client goes away before the headers. */
  readonly ended: Promise<never>;
  private readonly timer: NodeJS.Timeout;
  private end: (error: Error) => void = () => undefined;
  private readonly onClientGone = () => {
    this.signal.abort();
    this.end(new undiciErrors.RequestAbortedError());
  };

  constructor(
    private readonly client: Cancellation | undefined,
    timeoutMs: number,
  ) {
    this.ended = new Promise<never>((_, reject) => (this.end = reject));
    this.ended.catch(() => undefined);
    this.timer = setTimeout(() => {
      this.expired = true;
      this.signal.abort();
      this.end(new undiciErrors.HeadersTimeoutError());
    }, timeoutMs);
    if (client === undefined) return;
    if (client.aborted) this.onClientGone();
    else client.once("abort", this.onClientGone);
  }

  headersArrived(body: Readable): void {
    clearTimeout(this.timer);
    this.end = () => undefined;
    if (this.client === undefined) return;
    // From here the client's leaving aborts the body only (through `signal`); the listener goes with the body.
    body.once("close", () => this.detach());
  }

  failed(): void {
    clearTimeout(this.timer);
    this.detach();
  }

  private detach(): void {
    this.client?.removeListener("abort", this.onClientGone);
  }
}

/** An upstream body, whole (small answers: JSON-RPC results, error bodies). Events, not `for await`: cheaper per request. */
export function readAll(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on("data", (chunk: Buffer) => chunks.push(chunk));
    body.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    body.once("error", reject);
  });
}

/** Map a transport failure to what the client is told; the log keeps the cause. */
export function upstreamFailure(request: Pick<UpstreamHttpRequest, "serverName" | "target" | "timeoutMs" | "signal">, error: unknown): unknown {
  if (request.signal?.aborted) {
    // The client went away: nobody reads the answer, and it is not a server fault to log as one.
    return new GatewayError({ status: 499, code: "client_closed_request", message: "the client closed the request", cause: error });
  }
  if (error instanceof undiciErrors.HeadersTimeoutError) {
    return upstreamTimeout(request, `no response headers from ${request.target.origin} within ${request.timeoutMs} ms (waiting for a pooled connection included)`, error);
  }
  const code = (error as { code?: string } | undefined)?.code;
  return new GatewayError({
    status: 502,
    code: "upstream_unreachable",
    message: `MCP server '${request.serverName}' is unreachable`,
    detail: `${request.target.origin}: ${code ?? ""} ${error instanceof Error ? error.message : String(error)}`,
    rpcCode: JsonRpcCode.UpstreamError,
    extra: { server: request.serverName },
    cause: error,
  });
}

/** The upstream did not start answering within the server's `timeout` (504). */
export function upstreamTimeout(request: Pick<UpstreamHttpRequest, "serverName" | "timeoutMs">, detail: string, cause?: unknown): GatewayError {
  return new GatewayError({
    status: 504,
    code: "upstream_timeout",
    message: `MCP server '${request.serverName}' did not answer within ${request.timeoutMs / 1000} s (its 'timeout' setting)`,
    detail,
    rpcCode: JsonRpcCode.UpstreamTimeout,
    extra: { server: request.serverName },
    cause,
  });
}
