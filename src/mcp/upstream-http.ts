/**
 * The pooled keep-alive HTTP client every pass-through request goes through (undici).
 * `timeoutMs` bounds the wait for the upstream's response headers only: a response that
 * has started (an SSE stream, a long tool call answered as SSE) is never cut.
 */
import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { Agent, errors as undiciErrors, type Dispatcher } from "undici";
import { GatewayError, JsonRpcCode } from "../errors.js";

export interface UpstreamHttp {
  send(request: UpstreamHttpRequest): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

export interface UpstreamHttpRequest {
  serverName: string;
  url: URL;
  method: "GET" | "POST" | "DELETE";
  headers: Record<string, string>;
  body?: string | Buffer;
  signal?: CancelSignal;
  timeoutMs: number;
}

/** What aborts an upstream request: the fetch request's AbortSignal, or the fast path's `ClientGone`. */
export type CancelSignal = AbortSignal | ClientGone;

/**
 * The node:http fast path's cancellation: an EventEmitter that undici accepts as a request
 * signal, for a fraction of an AbortController's cost (EventTarget setup on every request).
 */
export class ClientGone extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit("abort");
  }
}

export function createUpstreamHttp(options: { connectionsPerOrigin?: number } = {}): UpstreamHttp {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: options.connectionsPerOrigin ?? 256,
    pipelining: 1,
  });
  return {
    async send(request) {
      try {
        return await agent.request({
          origin: request.url.origin,
          path: request.url.pathname + request.url.search,
          method: request.method,
          headers: request.headers,
          body: request.body,
          signal: request.signal,
          headersTimeout: request.timeoutMs,
          bodyTimeout: 0,
        });
      } catch (error) {
        throw upstreamFailure(request, error);
      }
    },
    close: () => agent.close(),
  };
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
export function upstreamFailure(request: Pick<UpstreamHttpRequest, "serverName" | "url" | "timeoutMs" | "signal">, error: unknown): unknown {
  if (request.signal?.aborted) {
    // The client went away: nobody reads the answer, and it is not a server fault to log as one.
    return new GatewayError({ status: 499, code: "client_closed_request", message: "the client closed the request", cause: error });
  }
  if (error instanceof undiciErrors.HeadersTimeoutError) {
    return upstreamTimeout(request, `no response headers from ${request.url.origin} after ${request.timeoutMs} ms`, error);
  }
  const code = (error as { code?: string } | undefined)?.code;
  return new GatewayError({
    status: 502,
    code: "upstream_unreachable",
    message: `MCP server '${request.serverName}' is unreachable`,
    detail: `${request.url.origin}: ${code ?? ""} ${error instanceof Error ? error.message : String(error)}`,
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
