/**
 * One request and its answer on node:http: the `InboundRequest` the routes' steps read,
 * and the one writer of answers and errors. It carries the request's state (request id,
 * debug recorder, the caller once authenticated, the route it was counted under) so that
 * no per-request map or set is needed (README, Performance), and it is the request's
 * cancellation: aborted when the client goes away before its answer is complete.
 *
 * Cross-cutting steps live here and in node-server.ts, once for every route: the request
 * id, debug headers, `Connection: close` while draining, metrics and the access log at
 * the end.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { Caller } from "../auth/inbound/caller.js";
import { extractGatewayKey } from "../auth/inbound/gateway-key.js";
import { DEBUG_REQUEST_HEADER, DebugRecorder, debugHeaders } from "../debug.js";
import { toGatewayError, type GatewayError } from "../errors.js";
import { Cancellation, type HttpAnswer, type InboundRequest } from "../exchange.js";
import { IncomingRequestHeaders, type ResponseHeaders } from "../headers.js";
import type { Logger } from "../log.js";
import { acceptedRequestId, REQUEST_ID_HEADER } from "../observability/request-id.js";
import type { RouteLabel } from "../observability/metrics.js";
import { errorAnswer, logFailure, type ErrorStyle } from "./error-response.js";
import { readIncoming } from "./read-body.js";

/** What every exchange of one server shares: shutdown accounting and the end-of-request observer. */
export interface ExchangeHost {
  draining: boolean;
  log: Logger;
  /** Told once per request, when its connection is done with it. */
  ended(exchange: NodeExchange): void;
}

export class NodeExchange extends Cancellation implements InboundRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: IncomingRequestHeaders;
  readonly requestId: string;
  readonly debug: DebugRecorder | undefined;
  readonly started = performance.now();
  /** Set by the authentication step: debug headers must know whether the Authorization header was a gateway key. */
  caller: Caller | undefined;
  /** The metric labels this request is counted under; set by the router (undefined: read from the path at the end). */
  route: RouteLabel | undefined;
  serverLabel = "";
  private controller: AbortController | undefined;
  /** Run once when the connection is done with the request (a key's max_parallel_requests slot is freed so, a stream's recheck stopped). */
  private onEnd: (() => void) | undefined;
  private ended = false;
  /** Run, and waited for, before a whole answer is sent (see `releaseBeforeAnswer`). */
  private beforeAnswer: Array<() => unknown> | undefined;

  constructor(
    readonly incoming: IncomingMessage,
    readonly response: ServerResponse,
    private readonly host: ExchangeHost,
  ) {
    super();
    const url = incoming.url ?? "/";
    const queryAt = url.indexOf("?");
    this.path = queryAt === -1 ? url : url.slice(0, queryAt);
    this.query = queryAt === -1 ? "" : url.slice(queryAt + 1);
    this.method = incoming.method ?? "GET";
    this.headers = new IncomingRequestHeaders(incoming.headers);
    this.requestId = acceptedRequestId(incoming.headers[REQUEST_ID_HEADER]);
    this.debug = isTrue(incoming.headers[DEBUG_REQUEST_HEADER]) ? new DebugRecorder() : undefined;
    // "close" is emitted once: `on` spares the wrapper `once` makes.
    response.on("close", () => {
      this.ended = true;
      if (!response.writableFinished) this.abort();
      if (this.onEnd !== undefined) this.onEnd();
      host.ended(this);
    });
  }

  /** Runs `release` when the request ends, however it ends (at once when it has already); several run in the order given. */
  whenEnded(release: () => void): void {
    if (this.ended) {
      release();
      return;
    }
    const before = this.onEnd;
    this.onEnd =
      before === undefined
        ? release
        : () => {
            before();
            release();
          };
  }

  /**
   * Runs `release` (and waits for it) before a whole answer is sent, not only when the
   * request ends: a client that gets its answer and at once asks again finds the slot free,
   * on every instance. A streamed answer keeps it until the stream ends.
   */
  releaseBeforeAnswer(release: () => unknown): void {
    (this.beforeAnswer ??= []).push(release);
  }

  get cancel(): Cancellation {
    return this;
  }

  get peer(): string | undefined {
    return this.incoming.socket.remoteAddress;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = (this.controller = new AbortController());
      this.once("abort", () => controller.abort());
    }
    return this.controller.signal;
  }

  readBody(limitBytes: number): Promise<string> {
    return readIncoming(this.incoming, limitBytes);
  }

  cut(): void {
    this.response.destroy();
  }

  /** The headers every answer of this request carries besides its own: the request id, and debug headers when asked for. */
  private addOwnHeaders(headers: ResponseHeaders): void {
    headers[REQUEST_ID_HEADER] = this.requestId;
    if (this.debug !== undefined) Object.assign(headers, this.debugHeaders(this.debug));
    if (this.host.draining) this.response.shouldKeepAlive = false;
  }

  /** For an answer another writer writes (the Hono adapter): the same headers, set on the response before it writes. */
  applyOwnHeaders(): void {
    if (this.response.headersSent) return;
    const headers: ResponseHeaders = {};
    this.addOwnHeaders(headers);
    for (const [name, value] of Object.entries(headers)) this.response.setHeader(name, value);
  }

  private debugHeaders(recorder: DebugRecorder): Record<string, string> {
    // A request admitted by the delegate bypass presented no key: its Authorization is the upstream's, not a leaked key.
    const gatewayKey = this.caller?.kind === "delegated" ? undefined : extractGatewayKey(this.headers)?.key;
    return debugHeaders(this.headers, recorder, gatewayKey);
  }

  /** Writes the answer: a small body at once (no promise), a stream as the client takes it. */
  write(answer: HttpAnswer): Promise<void> | undefined {
    const response = this.response;
    const headers = answer.headers;
    this.addOwnHeaders(headers);
    const body = answer.body;
    if (body === null || typeof body === "string" || body instanceof Uint8Array) {
      if (body !== null) headers["content-length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
      const releasing = this.beforeAnswer?.splice(0).map((release) => release());
      if (releasing !== undefined && releasing.length > 0) {
        return Promise.all(releasing).then(() => {
          response.writeHead(answer.status, headers);
          response.end(body ?? undefined);
        });
      }
      response.writeHead(answer.status, headers);
      response.end(body ?? undefined);
      return undefined;
    }
    response.writeHead(answer.status, headers);
    response.flushHeaders();
    return this.writeStream(body);
  }

  private async writeStream(body: ReadableStream<Uint8Array>): Promise<void> {
    const response = this.response;
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!response.write(value) && !response.destroyed) await drained(response);
        if (response.destroyed) break;
      }
      response.end();
    } catch {
      response.destroy();
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  /**
   * Answers a failure in the route's style (a JSON-RPC error with the request's id on MCP
   * routes), logged with its detail; cuts the connection when the answer had already started.
   */
  async fail(thrown: unknown, style: ErrorStyle, id: string | number | null = null): Promise<void> {
    const error: GatewayError = toGatewayError(thrown);
    logFailure(this.host.log, error, { method: this.method, path: this.path, request_id: this.requestId });
    if (this.response.headersSent) {
      this.response.destroy();
      return;
    }
    await this.write(errorAnswer(error, style, id));
  }
}

function isTrue(value: string | string[] | undefined): boolean {
  return typeof value === "string" && value.toLowerCase() === "true";
}

/** Resolves when the client has taken the buffered output, or has gone. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}
