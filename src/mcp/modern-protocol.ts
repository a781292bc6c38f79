/**
 * The 2026-07-28 ("modern") MCP revision on the aggregate `/mcp`, for clients that speak it
 * (README, "2026-07-28 clients on /mcp"): no `initialize`, the protocol version and client
 * capabilities in every request's `_meta`, the `MCP-Protocol-Version`, `Mcp-Method` and
 * `Mcp-Name` headers checked against the body (400 `HeaderMismatch`, -32020), an unknown
 * version refused with the versions the gateway speaks (400, -32022), `server/discover`,
 * `resultType` and the server's identity on every result, and caching hints (`ttlMs`,
 * `cacheScope: "private"`: an answer is the caller's) on the cacheable ones.
 *
 * Clients of the earlier revisions keep the handshake; a request is modern when its
 * `MCP-Protocol-Version` header names a modern version or its `_meta` carries one.
 */
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { RequestHeaders } from "../headers.js";
import { isRequest, type JsonRpcRequest, type ParsedBody } from "./jsonrpc.js";

export const MODERN_VERSIONS: readonly string[] = ["2026-07-28"];
/** Every version the gateway answers, newest first (server/discover, UnsupportedProtocolVersionError). */
export const ALL_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS];

const META_VERSION = "io.modelcontextprotocol/protocolVersion";
const META_SERVER_INFO = "io.modelcontextprotocol/serverInfo";
const HEADER_MISMATCH = -32020;
const UNSUPPORTED_VERSION = -32022;
/** Results the 2026-07-28 caching rules apply to (the gateway's own, and an upstream's it keeps). */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set(["server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"]);
/** The revision's long-lived request: a stream of the change notifications the client asks for, open as long as the client holds it. */
export const SUBSCRIPTIONS_LISTEN = "subscriptions/listen";
/** Requests whose `Mcp-Name` header mirrors `params.name` or `params.uri`. */
const NAMED: Record<string, "name" | "uri"> = { "tools/call": "name", "prompts/get": "name", "resources/read": "uri" };

/** The version a request's `_meta` names, if any. */
function metaVersion(message: JsonRpcRequest): unknown {
  const meta = message.params?._meta;
  return typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>)[META_VERSION] : undefined;
}

/** Whether the request speaks the 2026-07-28 revision (or a later one the gateway must refuse as such). */
export function isModernRequest(headers: RequestHeaders, parsed: ParsedBody): boolean {
  const header = headers.get("mcp-protocol-version");
  if (header !== null && (MODERN_VERSIONS.includes(header) || header > "2025-11-25")) return true;
  return parsed.messages.some((message) => isRequest(message) && metaVersion(message) !== undefined);
}

/** Whether the body is one `subscriptions/listen` request: a stream the client holds open, not a call. */
export function isListenRequest(parsed: ParsedBody): boolean {
  const message = parsed.messages.length === 1 ? parsed.messages[0] : undefined;
  return message !== undefined && isRequest(message) && message.method === SUBSCRIPTIONS_LISTEN;
}

/**
 * The one request of a modern POST, after the checks the transport asks of every server
 * that reads the body. Notifications and responses pass unchecked (there are none in this
 * revision's client-to-server traffic but cancellation, which needs no routing).
 */
export function checkModernRequest(headers: RequestHeaders, parsed: ParsedBody): void {
  if (parsed.isBatch) throw mismatch("a 2026-07-28 request is one JSON-RPC message, not a batch");
  const message = parsed.messages[0];
  if (message === undefined || !isRequest(message)) return;
  const header = headers.get("mcp-protocol-version");
  const requested = metaVersion(message);
  const version = typeof requested === "string" ? requested : header;
  if (version === null || version === undefined) throw mismatch("the MCP-Protocol-Version header is missing");
  if (!MODERN_VERSIONS.includes(version)) {
    throw new GatewayError({
      status: 400,
      code: "unsupported_protocol_version",
      message: "Unsupported protocol version",
      rpcCode: UNSUPPORTED_VERSION,
      extra: { supported: [...ALL_VERSIONS], requested: String(version).slice(0, 64) },
    });
  }
  if (header !== version) throw mismatch(`MCP-Protocol-Version header value '${String(header).slice(0, 64)}' does not match body value '${version}'`);
  const method = headers.get("mcp-method");
  if (method === null) throw mismatch("the Mcp-Method header is missing");
  if (method !== message.method) throw mismatch(`Mcp-Method header value '${method.slice(0, 128)}' does not match body value '${message.method.slice(0, 128)}'`);
  const field = NAMED[message.method];
  if (field === undefined) return;
  const sent = headers.get("mcp-name");
  if (sent === null) throw mismatch(`the Mcp-Name header is missing (required for ${message.method})`);
  const value = message.params?.[field];
  const decoded = decodeHeaderValue(sent);
  // A malformed Base64 sentinel matches nothing, not even a missing name.
  if (decoded === undefined || decoded !== value) throw mismatch(`Mcp-Name header value '${sent.slice(0, 128)}' does not match body value '${String(value).slice(0, 128)}'`);
}

/**
 * On the pass-through, where the upstream does the version checks: the mirrored method and
 * name, when the client sends them, must be the body's (the gateway checks permissions on
 * the body; an upstream or intermediary that read only the header must not see another tool).
 */
export function checkMirroredHeaders(headers: RequestHeaders, parsed: ParsedBody): void {
  const method = headers.get("mcp-method");
  const name = headers.get("mcp-name");
  if (method === null && name === null) return;
  const message = parsed.messages.length === 1 ? parsed.messages[0] : undefined;
  if (message === undefined || !isRequest(message)) throw mismatch("Mcp-Method and Mcp-Name go with a single request");
  if (method !== null && method !== message.method) throw mismatch(`Mcp-Method header value '${method.slice(0, 128)}' does not match body value '${message.method.slice(0, 128)}'`);
  const field = NAMED[message.method];
  if (name !== null && (field === undefined || decodeHeaderValue(name) !== message.params?.[field])) {
    throw mismatch(`Mcp-Name header value '${name.slice(0, 128)}' does not match the body`);
  }
}

/**
 * The headers a 2026-07-28 request mirrors from its body, as the gateway sends them to an
 * upstream: version, method, and the name or URI it is about (Base64 sentinel form when
 * that is not plain printable ASCII).
 */
export function mirroredHeaders(version: string, method: string, params: Record<string, unknown>): Record<string, string> {
  const field = NAMED[method];
  const named = field === undefined ? undefined : params[field];
  return {
    "mcp-protocol-version": version,
    "mcp-method": method,
    ...(typeof named === "string" ? { "mcp-name": encodeHeaderValue(named) } : {}),
  };
}

/** A header value as sent, or in the Base64 sentinel form when it is not plain printable ASCII (or looks like that form). */
export function encodeHeaderValue(value: string): string {
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !(value.startsWith("=?base64?") && value.endsWith("?="));
  return plain ? value : `=?base64?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

/** A header value as sent, or decoded from the `=?base64?...?=` sentinel form; undefined when that form is malformed. */
export function decodeHeaderValue(value: string): string | undefined {
  if (!value.startsWith("=?base64?") || !value.endsWith("?=")) return value;
  const encoded = value.slice("=?base64?".length, -2);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined;
  return Buffer.from(encoded, "base64").toString("utf8");
}

function mismatch(detail: string): GatewayError {
  return new GatewayError({ status: 400, code: "header_mismatch", message: `Header mismatch: ${detail}`, rpcCode: HEADER_MISMATCH });
}

/** MCP log levels, least severe first (RFC 5424's, as MCP names them). */
export const LOG_LEVELS: readonly string[] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];
export const META_LOG_LEVEL = "io.modelcontextprotocol/logLevel";

/**
 * The level a 2026-07-28 request asks log messages at (`_meta`'s `logLevel`), or undefined
 * when it asks for none (then no `notifications/message` may be sent for it); -32602 for a
 * level MCP does not name.
 */
export function requestLogLevel(parsed: ParsedBody): string | undefined {
  const [message] = parsed.messages;
  const meta = message !== undefined && isRequest(message) ? message.params?._meta : undefined;
  const level = typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>)[META_LOG_LEVEL] : undefined;
  if (level === undefined) return undefined;
  if (typeof level !== "string" || !LOG_LEVELS.includes(level)) {
    throw new GatewayError({ status: 400, code: "invalid_params", message: `_meta.${META_LOG_LEVEL} must be one of ${LOG_LEVELS.join(", ")}`, rpcCode: JsonRpcCode.InvalidParams });
  }
  return level;
}

/** Whether a log message at `level` is at or above `minimum` (an unknown level counts as the most severe: not hidden). */
export function logLevelAtLeast(level: unknown, minimum: string): boolean {
  const rank = typeof level === "string" ? LOG_LEVELS.indexOf(level) : -1;
  return rank === -1 || rank >= LOG_LEVELS.indexOf(minimum);
}

/** A method the gateway does not serve, as the 2026-07-28 transport wants it: HTTP 404 with -32601. */
export function modernMethodNotFound(method: string): GatewayError {
  return new GatewayError({ status: 404, code: "method_not_found", message: `Method not found: ${method.slice(0, 128)}`, rpcCode: JsonRpcCode.MethodNotFound });
}

export interface ModernServer {
  serverInfo: { name: string; version: string };
  capabilities: Record<string, unknown>;
  instructions?: string;
  /** How long a cacheable answer stays fresh for the client. */
  ttlMs: number;
}

/** `server/discover`'s answer. */
export function discoverResult(server: ModernServer): Record<string, unknown> {
  return {
    supportedVersions: [...ALL_VERSIONS],
    capabilities: server.capabilities,
    ...(server.instructions === undefined ? {} : { instructions: server.instructions }),
  };
}

/** A result as this revision shapes it: `resultType`, the server's identity, and caching hints where they apply. */
export function modernResult(method: string, result: unknown, server: ModernServer): unknown {
  if (typeof result !== "object" || result === null || Array.isArray(result)) return result;
  const shaped = result as Record<string, unknown>;
  const meta = typeof shaped._meta === "object" && shaped._meta !== null ? (shaped._meta as Record<string, unknown>) : {};
  return {
    ...shaped,
    resultType: typeof shaped.resultType === "string" ? shaped.resultType : "complete",
    _meta: { ...meta, [META_SERVER_INFO]: server.serverInfo },
    ...(CACHEABLE_METHODS.has(method) ? { ttlMs: server.ttlMs, cacheScope: "private" } : {}),
  };
}
