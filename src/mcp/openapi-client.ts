/**
 * An OpenAPI server as the aggregate, REST and the UI see every server: a ToolsClient whose
 * tools are the spec's operations and whose calls are HTTP requests to the API, sent through
 * the gateway's pooled client with the server's headers and credentials (static, M2M,
 * per-user OAuth, token exchange, per-request, exactly as for MCP upstreams) and its
 * `timeout`. An answer is read up to `maxResponseBytes`; its text is scrubbed of the
 * credentials sent. `timeout` bounds the whole answer, its body included (an MCP upstream's
 * streamed answer may take longer; a REST answer that stops mid-body would hold the call and
 * its connection until the client gave up). A 401 is thrown as the upstream's refusal (the caller retries once with
 * a new token, or tells the client to authorize); any other status is the tool's result.
 */
import { ErrorCode, McpError, type CallToolResult, type ListToolsResult } from "@modelcontextprotocol/sdk/types.js";
import type { Readable } from "node:stream";
import type { CredentialScrubber } from "../credential-scrubber.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import { Cancellation } from "../exchange.js";
import { addTraceHeaders } from "../observability/tracing.js";
import { buildHttpCall } from "../openapi/request.js";
import { toolResult } from "../openapi/result.js";
import { ArgumentError, type LoadedSpec } from "../openapi/types.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { upstreamTimeout, type UpstreamHttp } from "./upstream-http.js";
import type { CallOptions, ToolsClient } from "./upstream-session.js";

/** The API's 401: thrown so the caller's retry and authorization paths take it, as an MCP upstream's. */
export class ApiUnauthorized extends Error {
  override readonly name = "ApiUnauthorized";
  readonly code = 401;
}

export interface OpenApiClientOptions {
  http: UpstreamHttp;
  server: McpServerEntry;
  spec: LoadedSpec;
  /** The server's outbound headers: `static_headers`, forwarded `extra_headers`, credentials. */
  headers: Record<string, string>;
  scrubber: CredentialScrubber;
  /** Bytes an answer may have; past it the call fails (`isError`), never with a cut JSON. */
  maxResponseBytes: number;
}

export function openApiClient(options: OpenApiClientOptions): ToolsClient {
  const { server, spec } = options;

  async function call(params: { name: string; arguments?: Record<string, unknown> }, callOptions: CallOptions): Promise<CallToolResult> {
    const operation = spec.byName.get(params.name);
    if (operation === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${params.name}`);
    let request;
    try {
      request = buildHttpCall(operation, params.arguments ?? {});
    } catch (error) {
      if (error instanceof ArgumentError) throw new GatewayError({ status: 400, code: "invalid_arguments", message: `${params.name}: ${error.message}`, rpcCode: JsonRpcCode.InvalidParams });
      throw error;
    }
    // The operation's own headers (its header and cookie parameters) never replace the server's credentials or configured headers.
    const headers: Record<string, string> = { ...request.headers, ...options.headers };
    addTraceHeaders(headers);
    const signal = new Cancellation();
    const started = Date.now();
    const onCancel = () => signal.abort(callOptions.cancel?.reason);
    callOptions.cancel?.once("abort", onCancel);
    try {
      const response = await options.http.send({
        serverName: server.name,
        target: { url: request.url, origin: request.url.origin, path: request.url.pathname + request.url.search },
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal,
        timeoutMs: callOptions.timeout,
      });
      if (response.statusCode === 401) {
        // Not read on: destroying an unread undici body emits RequestAbortedError, which without a listener crashed the process.
        response.body.on("error", () => undefined);
        response.body.destroy();
        throw new ApiUnauthorized(`${request.method} ${request.url.pathname}: 401`);
      }
      const timeout = { serverName: server.name, timeoutMs: callOptions.timeout };
      const body = await readAtMost(response.body, options.maxResponseBytes, callOptions.timeout - (Date.now() - started), () =>
        upstreamTimeout(timeout, `the body of ${request.method} ${request.url.pathname} (HTTP ${response.statusCode}) did not end within ${callOptions.timeout} ms`),
      );
      if (body === undefined) {
        return { content: [{ type: "text", text: `The API's answer (HTTP ${response.statusCode}) is larger than ${options.maxResponseBytes} bytes (general_settings.openapi_max_response_bytes): not returned` }], isError: true };
      }
      const contentType = response.headers["content-type"];
      return toolResult({
        status: response.statusCode,
        contentType: Array.isArray(contentType) ? contentType[0] : contentType,
        body: options.scrubber.bytes(body),
      });
    } finally {
      callOptions.cancel?.removeListener("abort", onCancel);
    }
  }

  return {
    capabilities: { tools: {} },
    async listTools(): Promise<ListToolsResult> {
      return { tools: spec.operations.map((operation) => operation.tool) };
    },
    callTool: call,
    async request(method) {
      throw new McpError(ErrorCode.MethodNotFound, `Method not found: ${method} (an OpenAPI server offers tools only)`);
    },
    async close() {},
  };
}

/** The body, whole, or undefined once it passes `limit` bytes (the rest is not read); `timedOut()` once `remainingMs` pass first. */
function readAtMost(body: Readable, limit: number, remainingMs: number, timedOut: () => Error): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: () => void) => {
      clearTimeout(timer);
      outcome();
    };
    const timer = setTimeout(() => {
      body.destroy();
      reject(timedOut());
    }, Math.max(remainingMs, 0));
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.destroy();
        settle(() => resolve(undefined));
        return;
      }
      chunks.push(chunk);
    });
    body.once("end", () => settle(() => resolve(Buffer.concat(chunks))));
    body.once("error", (error) => settle(() => reject(error)));
  });
}
