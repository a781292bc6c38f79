/**
 * Just enough JSON-RPC 2.0 for routing and permission checks: the proxy parses a request
 * body once, looks at `method` and `params.name`, and forwards the original bytes.
 * Error codes follow the MCP SDK: -32700 for unparsable JSON, -32600 for a body that is
 * not a JSON-RPC message.
 */
import { GatewayError, JsonRpcCode } from "../errors.js";
import { assertUnambiguousKeys, foldCase } from "./unambiguous-keys.js";

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id?: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

/** A message sent by a client: a request, a notification, or a response to a server request. */
export type ClientMessage = JsonRpcRequest | { jsonrpc: "2.0"; id: JsonRpcId; result?: unknown; error?: unknown };

export interface ParsedBody {
  messages: ClientMessage[];
  isBatch: boolean;
}

export function isRequest(message: ClientMessage): message is JsonRpcRequest {
  return "method" in message;
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

function isMessage(value: unknown): value is ClientMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const message = value as Record<string, unknown>;
  if (message.jsonrpc !== "2.0") return false;
  if (typeof message.method === "string") {
    return (message.id === undefined || isId(message.id)) &&
      (message.params === undefined || (typeof message.params === "object" && message.params !== null));
  }
  return isId(message.id) && ("result" in message || "error" in message);
}

/** Messages one JSON-RPC batch may hold. */
export const MAX_BATCH_MESSAGES = 100;

export function parseJsonRpcBody(body: string): ParsedBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new GatewayError({
      status: 400,
      code: "parse_error",
      message: "Parse error: the request body is not valid JSON",
      rpcCode: JsonRpcCode.ParseError,
    });
  }
  const isBatch = Array.isArray(parsed);
  const messages: unknown[] = isBatch ? (parsed as unknown[]) : [parsed];
  if (messages.length > MAX_BATCH_MESSAGES) {
    // Each message can cost an upstream call (or a listing of every upstream on /mcp); real clients batch a handful at most.
    throw new GatewayError({
      status: 400,
      code: "invalid_request",
      message: `Invalid Request: a batch may hold at most ${MAX_BATCH_MESSAGES} messages; this one holds ${messages.length}`,
      rpcCode: JsonRpcCode.InvalidRequest,
    });
  }
  if (messages.length === 0 || !messages.every(isMessage)) {
    throw new GatewayError({
      status: 400,
      code: "invalid_request",
      message: "Invalid Request: the body must be a JSON-RPC 2.0 message (jsonrpc \"2.0\", a method or a result/error, a string or number id)",
      rpcCode: JsonRpcCode.InvalidRequest,
    });
  }
  assertUnambiguousKeys(body);
  for (const message of messages as ClientMessage[]) {
    assertUnambiguousId(message);
    if (isRequest(message) && typeof message.method === "string") assertUnambiguousCall(message);
  }
  return { messages: messages as ClientMessage[], isBatch };
}

/** Methods whose messages the gateway checks or rewrites (permissions, tool filtering). */
const CHECKED_METHODS = new Map(["tools/call", "tools/list"].map((method) => [foldCase(method), method]));

/** Control characters, and UTF-16 surrogates that are not a pair (decoders replace, drop or refuse them). */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const UNSAFE_NAME = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** An id that decoders read differently (a control character, an unpaired surrogate): its answer could escape the id-matched handling. */
function assertUnambiguousId(message: ClientMessage): void {
  if (typeof message.id !== "string" || !UNSAFE_NAME.test(message.id)) return;
  throw new GatewayError({
    status: 400,
    code: "invalid_request",
    message: "Invalid Request: the id holds a control character or an unpaired surrogate, which JSON decoders read differently; use printable text or a number",
    rpcCode: JsonRpcCode.InvalidRequest,
  });
}

/**
 * A method or tool name that another decoder or server could read as a different one than
 * the permission check saw: a checked method in other letter case, a tool name with
 * characters that some decoders replace, drop or cut at.
 */
function assertUnambiguousCall(message: JsonRpcRequest): void {
  const method = CHECKED_METHODS.get(foldCase(message.method));
  if (method !== undefined && method !== message.method) {
    throw new GatewayError({
      status: 400,
      code: "invalid_request",
      message: `Invalid Request: method ${JSON.stringify(message.method.slice(0, 64))} differs from ${JSON.stringify(method)} only in letter case; JSON-RPC method names are case-sensitive`,
      rpcCode: JsonRpcCode.InvalidRequest,
    });
  }
  const name = message.params?.name;
  if (message.method === "tools/call" && typeof name === "string" && UNSAFE_NAME.test(name)) {
    throw new GatewayError({
      status: 400,
      code: "invalid_params",
      message: "Invalid params: params.name holds a control character or an unpaired surrogate, which JSON decoders read differently; MCP tool names are printable text",
      rpcCode: JsonRpcCode.InvalidParams,
    });
  }
}

export function jsonRpcError(id: JsonRpcId | null, code: number, message: string, data?: unknown) {
  return { jsonrpc: "2.0" as const, id, error: data === undefined ? { code, message } : { code, message, data } };
}

/** The id to answer with when a whole request fails: the single request's id, else null. */
export function responseId(parsed: ParsedBody | undefined): JsonRpcId | null {
  const first = parsed?.messages[0];
  return parsed !== undefined && !parsed.isBatch && first !== undefined && "id" in first && first.id !== undefined ? first.id : null;
}

/** The tool a `tools/call` request names, or undefined for any other message. */
export function calledTool(message: ClientMessage): string | undefined {
  if (!isRequest(message) || message.method !== "tools/call") return undefined;
  const name = message.params?.name;
  return typeof name === "string" ? name : "";
}

/** The `tools/call` requests of a body: what a key's rpm_limit counts. */
export function toolCallCount(parsed: ParsedBody): number {
  let calls = 0;
  for (const message of parsed.messages) if (isRequest(message) && message.method === "tools/call") calls++;
  return calls;
}

/**
 * A request body's Content-Type, when present, must be JSON in UTF-8: the gateway reads the
 * body as UTF-8, and an upstream that honoured `charset=utf-7` (Express's `json()` does)
 * would read other keys and values than the permission check saw (issue 15 item 2). The
 * MCP transport sends `application/json`; JSON is UTF-8 (RFC 8259 §8.1).
 */
export function assertJsonUtf8(contentType: string | null): void {
  // The usual values, settled without taking them apart.
  if (contentType === null || contentType === "application/json" || contentType === "application/json; charset=utf-8") return;
  const [type, ...parameters] = contentType.split(";");
  const charset = parameters.map((parameter) => parameter.trim().toLowerCase()).find((parameter) => parameter.startsWith("charset="));
  const charsetValue = charset?.slice("charset=".length).replace(/^"(.*)"$/, "$1");
  if (type!.trim().toLowerCase() === "application/json" && (charsetValue === undefined || charsetValue === "utf-8" || charsetValue === "utf8")) return;
  throw new GatewayError({
    status: 415,
    code: "unsupported_media_type",
    message: "Unsupported Media Type: Content-Type must be application/json (UTF-8; no other charset)",
    rpcCode: JsonRpcCode.TransportError,
  });
}
