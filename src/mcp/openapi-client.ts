/**
 * An OpenAPI server as the aggregate, REST and the UI see every server: a ToolsClient whose
 * tools are the spec's operations and whose calls are HTTP requests to the API, sent through
 * the gateway's pooled client with the server's headers and credentials (static, M2M,
 * per-user OAuth, token exchange, per-request, exactly as for MCP upstreams) and its
 * `timeout`. An answer is read up to `maxResponseBytes`; its text is scrubbed of the
 * credentials sent. A 401 is thrown as the upstream's refusal (the caller retries once with
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
import type { UpstreamHttp } from "./upstream-http.js";
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
  const tools = spec.operations.map((operation) => operation.tool);

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
    const deadline = Date.now() + callOptions.timeout;
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
        response.body.destroy();
        throw new ApiUnauthorized(`${request.method} ${request.url.pathname}: 401`);
      }
      const body = await readAtMost(response.body, options.maxResponseBytes, deadline - Date.now());
      if (body === TOO_LARGE) {
        return { content: [{ type: "text", text: `The API's answer (HTTP ${response.statusCode}) is larger than ${options.maxResponseBytes} bytes (general_settings.openapi_max_response_bytes): not returned` }], isError: true };
      }
      if (body === TOO_SLOW) {
        return { content: [{ type: "text", text: `The API did not finish its answer (HTTP ${response.statusCode}) within ${callOptions.timeout} ms (the server's timeout): not returned` }], isError: true };
      }
      const contentType = response.headers["content-type"];
      const result = toolResult({
        status: response.statusCode,
        statusText: statusText(response.statusCode),
        contentType: Array.isArray(contentType) ? contentType[0] : contentType,
        body: options.scrubber.bytes(body),
      });
      return options.scrubber.value(result);
    } finally {
      callOptions.cancel?.removeListener("abort", onCancel);
    }
  }

  return {
    capabilities: { tools: {} },
    async listTools(): Promise<ListToolsResult> {
      return { tools };
    },
    callTool: call,
    async request(method) {
      throw new McpError(ErrorCode.MethodNotFound, `Method not found: ${method} (an OpenAPI server offers tools only)`);
    },
    async close() {},
  };
}

const TOO_LARGE = Symbol("too large");
const TOO_SLOW = Symbol("too slow");

/**
 * The body, whole; or TOO_LARGE once it passes `limit` bytes, TOO_SLOW once `timeoutMs` pass
 * (the rest is not read). The pooled client bounds only the wait for the headers (a started
 * MCP stream is never cut), so an API that sent them and then trickled or stalled held the call.
 */
function readAtMost(body: Readable, limit: number, timeoutMs: number): Promise<Buffer | typeof TOO_LARGE | typeof TOO_SLOW> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (outcome: typeof TOO_LARGE | typeof TOO_SLOW) => {
      clearTimeout(timer);
      body.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => stop(TOO_SLOW), Math.max(timeoutMs, 0));
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    });
    body.once("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    body.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** HTTP/1.1's reason phrases are optional and HTTP/2 has none: the standard phrase of the status (RFC 9110 §15). */
function statusText(status: number): string {
  return STATUS_TEXT[status] ?? "";
}
