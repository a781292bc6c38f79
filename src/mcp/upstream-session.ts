/**
 * A lean MCP client session over streamable HTTP, for the calls the gateway makes itself
 * (the aggregate `/mcp` and the REST API): `initialize` once, then one pooled undici POST
 * per request, its answer read as JSON or as an SSE stream (MCP transports spec,
 * "Sending Messages to the Server").
 *
 * The official SDK's Client does the same through global fetch and web streams, with a
 * zod parse of every message; on the per-call path that cost several times the proxying
 * itself (issue 9; README, Performance). The SDK still serves legacy SSE servers, and
 * its constants, error classes and protocol versions are used here.
 *
 * Errors read like the SDK's, so one classifier serves both: `UpstreamHttpError` with the
 * HTTP status as `code` (404 = session lost, 401 = credentials refused), the SDK's
 * `McpError` for a JSON-RPC error or a timeout, `UpstreamProtocolError` for an answer that
 * is not MCP.
 */
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createParser } from "eventsource-parser";
import {
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  McpError,
  SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolResult,
  type ListToolsResult,
} from "@modelcontextprotocol/sdk/types.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { NO_SCRUBBING, type CredentialScrubber } from "../credential-scrubber.js";
import { Cancellation, type CancelSource } from "../exchange.js";
import type { UpstreamHttp } from "./upstream-http.js";
import { addTraceHeaders, upstreamCall, type TraceCarrier } from "../observability/tracing.js";
import { CACHEABLE_METHODS, META_LOG_LEVEL, MODERN_VERSIONS, SUBSCRIPTIONS_LISTEN, encodeHeaderValue, mirroredHeaders } from "./modern-protocol.js";

export interface CallOptions {
  /** The client's going away (or the caller's deadline). */
  cancel?: CancelSource;
  /** Milliseconds to wait for the answer. */
  timeout: number;
  onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** A progress notification restarts the timeout (a long tool that reports progress). */
  resetTimeoutOnProgress?: boolean;
  /** The log level to ask a 2026-07-28 server for (its `_meta` logLevel); without, it sends no log messages. Earlier servers keep their session's level. */
  logLevel?: string;
  /**
   * The server's requests (other than ping) and notifications (other than this call's
   * progress) that come during this call, for a client session that takes them (the
   * aggregate's sessions); without it, requests are refused with -32601 and notifications dropped.
   */
  onServerMessage?: (message: ServerMessage) => void;
}

/** A request or notification an upstream sent the gateway's client session. */
export interface ServerMessage {
  method: string;
  /** Present on a request: the upstream's id, to answer with `respond`. */
  id?: string | number;
  params?: Record<string, unknown>;
  /** The upstream session it came in (its Mcp-Session-Id), where an answer must go. */
  session?: string;
}

/** A 2026-07-28 `subscriptions/listen` filter (the notification types asked for). */
export interface SubscriptionFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

export interface ListenOptions {
  cancel: Cancellation;
  /** Called once the stream is open. */
  onOpen: () => void;
  /** What a 2026-07-28 server is asked for (default: every list change); an earlier one's GET stream carries what it sends. */
  filter?: SubscriptionFilter;
}

export { SUBSCRIPTIONS_LISTEN };
export const SUBSCRIPTIONS_ACKNOWLEDGED = "notifications/subscriptions/acknowledged";
export const SUBSCRIPTION_ID_META = "io.modelcontextprotocol/subscriptionId";
const ALL_LIST_CHANGES: SubscriptionFilter = { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true };

/** A notification's params without the upstream's subscription id (the gateway's own stream has its own, or none). */
function withoutSubscriptionId(params: Record<string, unknown>): Record<string, unknown> {
  const meta = params._meta;
  if (!isObject(meta) || !(SUBSCRIPTION_ID_META in meta)) return params;
  const { [SUBSCRIPTION_ID_META]: _id, ...rest } = meta;
  return Object.keys(rest).length === 0 ? Object.fromEntries(Object.entries(params).filter(([name]) => name !== "_meta")) : { ...params, _meta: rest };
}

/** What the aggregate and the REST API ask of an upstream session (the SDK Client offers the same). */
export interface ToolsClient {
  listTools(params: { cursor?: string }, options: CallOptions): Promise<ListToolsResult>;
  callTool(params: { name: string; arguments?: Record<string, unknown> }, options: CallOptions): Promise<CallToolResult>;
  /** Any other request (resources, prompts, completion, logging): its result object, or the server's JSON-RPC error as McpError. */
  request(method: string, params: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>>;
  /** What the server said it offers in `initialize` (undefined: not known, e.g. before it answered). */
  readonly capabilities: Record<string, unknown> | undefined;
  /** Whether the server speaks the 2026-07-28 revision (no logging/setLevel: the level goes with each request). */
  readonly speaksModern?: boolean;
  /** Answers a request the server sent during a call (`CallOptions.onServerMessage`); only sessions that forward them have it. */
  respond?(id: string | number, answer: { result: unknown } | { error: unknown }): void;
  /** Holds the session's GET stream open, handing over each message, until it ends or `cancel` fires; only sessions of a client session have it. */
  listen?(onMessage: (message: ServerMessage) => void, options: ListenOptions): Promise<void>;
  close(): Promise<void>;
}

interface JsonRpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: { progressToken?: unknown; progress?: unknown; total?: unknown; message?: unknown };
  result?: unknown;
  error?: { code?: unknown; message?: unknown; data?: unknown };
}

const ACCEPT = "application/json, text/event-stream";

export class StreamableHttpSession implements ToolsClient {
  private nextId = 0;
  private sessionId: string | undefined;
  private protocolVersion = LATEST_PROTOCOL_VERSION;
  private closed = false;
  capabilities: Record<string, unknown> | undefined;

  private constructor(
    private readonly http: UpstreamHttp,
    private readonly server: McpServerEntry,
    private headers: Record<string, string>,
    /** Told the WWW-Authenticate of every 401 (a delegating server's challenge is relayed). */
    private readonly onUnauthorized: (challenge: string | undefined) => void,
    /** Every answer is scrubbed of these headers' credentials once parsed (any escaping decoded), error text before it is shown. */
    private scrubber: CredentialScrubber,
  ) {}

  /** Opens a session: `initialize`, then `notifications/initialized`. */
  static async open(
    http: UpstreamHttp,
    server: McpServerEntry,
    headers: Record<string, string>,
    onUnauthorized: (challenge: string | undefined) => void,
    scrubber: CredentialScrubber = NO_SCRUBBING,
    /** What the gateway declares: none for its own pooled sessions; an aggregate session's client's for its own. */
    clientCapabilities: Record<string, unknown> = {},
  ): Promise<StreamableHttpSession> {
    const known = MODERN_SERVERS.get(server.url.href);
    if (known !== undefined) return StreamableHttpSession.openModern(http, server, headers, onUnauthorized, scrubber, clientCapabilities, known);
    const session = new StreamableHttpSession(http, server, headers, onUnauthorized, scrubber);
    let result: { protocolVersion?: unknown; capabilities?: unknown };
    try {
      result = (await session.request(
        "initialize",
        { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: clientCapabilities, clientInfo: GATEWAY_CLIENT_INFO },
        { timeout: server.timeoutMs },
      )) as { protocolVersion?: unknown; capabilities?: unknown };
    } catch (error) {
      // A server of the 2026-07-28 revision only refuses the handshake with the versions it speaks: speak one of those.
      const modern = modernVersionOffered(error);
      if (modern === undefined) throw error;
      MODERN_SERVERS.set(server.url.href, modern);
      if (MODERN_SERVERS.size > 10_000) MODERN_SERVERS.delete(MODERN_SERVERS.keys().next().value!);
      return StreamableHttpSession.openModern(http, server, headers, onUnauthorized, scrubber, clientCapabilities, modern);
    }
    if (typeof result.protocolVersion !== "string" || !SUPPORTED_PROTOCOL_VERSIONS.includes(result.protocolVersion)) {
      throw new Error(`the server's protocol version is not supported: ${String(result.protocolVersion)}`);
    }
    session.protocolVersion = result.protocolVersion;
    session.capabilities = isObject(result.capabilities) ? boundedCapabilities(result.capabilities) : {};
    session.initialized = true;
    await session.notify("notifications/initialized");
    return session;
  }

  /**
   * A server of the 2026-07-28 revision: no handshake and no session; every request carries
   * the version, the gateway's identity and the client capabilities in `_meta` and mirrors
   * its method and name in headers. What the server offers comes from `server/discover`.
   */
  private static async openModern(
    http: UpstreamHttp,
    server: McpServerEntry,
    headers: Record<string, string>,
    onUnauthorized: (challenge: string | undefined) => void,
    scrubber: CredentialScrubber,
    clientCapabilities: Record<string, unknown>,
    version: string,
  ): Promise<StreamableHttpSession> {
    const session = new StreamableHttpSession(http, server, headers, onUnauthorized, scrubber);
    session.modern = { version, clientCapabilities };
    session.protocolVersion = version;
    session.initialized = true;
    const discovered = await session.request("server/discover", {}, { timeout: server.timeoutMs });
    session.capabilities = isObject(discovered.capabilities) ? discovered.capabilities : {};
    return session;
  }

  /** Set for a server of the 2026-07-28 revision: the version spoken and the capabilities declared on every request. */
  private modern: { version: string; clientCapabilities: Record<string, unknown> } | undefined;

  /** A session another instance (or an earlier connection) opened: no initialize, its id and what it negotiated. */
  static attach(
    http: UpstreamHttp,
    server: McpServerEntry,
    headers: Record<string, string>,
    onUnauthorized: (challenge: string | undefined) => void,
    scrubber: CredentialScrubber,
    opened: { sessionId: string | undefined; protocolVersion: string; capabilities: Record<string, unknown> },
  ): StreamableHttpSession {
    const session = new StreamableHttpSession(http, server, headers, onUnauthorized, scrubber);
    session.sessionId = opened.sessionId;
    if (MODERN_VERSIONS.includes(opened.protocolVersion)) session.modern = { version: opened.protocolVersion, clientCapabilities: {} };
    session.protocolVersion = SUPPORTED_PROTOCOL_VERSIONS.includes(opened.protocolVersion) || session.modern !== undefined ? opened.protocolVersion : LATEST_PROTOCOL_VERSION;
    session.capabilities = opened.capabilities;
    session.initialized = true;
    return session;
  }

  /** Whether the server speaks the 2026-07-28 revision. */
  get speaksModern(): boolean {
    return this.modern !== undefined;
  }

  /** The upstream's Mcp-Session-Id (undefined: it keeps no session). */
  get upstreamSessionId(): string | undefined {
    return this.sessionId;
  }

  get negotiatedVersion(): string {
    return this.protocolVersion;
  }

  /** Whether the upstream said the session is gone (404), or it was closed. */
  get lost(): boolean {
    return this.closed;
  }

  /**
   * The outbound headers of the next requests (a refreshed token), and the scrubber that
   * knows their credentials: an answer echoing the new token must be scrubbed of it too.
   * The session stays the same.
   */
  useHeaders(headers: Record<string, string>, scrubber: CredentialScrubber): void {
    this.headers = headers;
    this.scrubber = scrubber;
  }

  /** Answers a request the server sent (its id), with the client's result or error. */
  respond(id: string | number, answer: { result: unknown } | { error: unknown }): void {
    this.post({ jsonrpc: "2.0", id, ...answer });
  }

  /**
   * The session's change notifications, until its stream ends: for an earlier revision, its
   * GET stream (MCP transports spec, "Listening for Messages from the Server": the server's
   * requests and notifications outside any call); for a 2026-07-28 server, a
   * `subscriptions/listen` request with `filter` (every list change when not given), its
   * acknowledgment skipped and its subscription id taken out of each notification. Resolves
   * when the stream ends (or the server ends the subscription); rejects with
   * UpstreamHttpError for a refusal (405: the server offers no stream).
   */
  async listen(onMessage: (message: ServerMessage) => void, options: ListenOptions): Promise<void> {
    const { "content-type": _json, ...headers } = this.requestHeaders();
    let response: Awaited<ReturnType<UpstreamHttp["send"]>>;
    let listenId: number | undefined;
    if (this.modern === undefined) {
      response = await this.http.send({
        serverName: this.server.name,
        target: this.server.target,
        method: "GET",
        headers: { ...headers, accept: "text/event-stream" },
        signal: options.cancel,
        timeoutMs: this.server.timeoutMs,
        longLived: true,
      });
    } else {
      listenId = ++this.nextId;
      const params = { notifications: options.filter ?? ALL_LIST_CHANGES, _meta: modernMeta(this.modern) };
      response = await this.http.send({
        serverName: this.server.name,
        target: this.server.target,
        method: "POST",
        headers: { ...this.requestHeaders(), ...mirroredHeaders(this.modern.version, SUBSCRIPTIONS_LISTEN, params) },
        body: JSON.stringify({ jsonrpc: "2.0", id: listenId, method: SUBSCRIPTIONS_LISTEN, params }),
        signal: options.cancel,
        timeoutMs: this.server.timeoutMs,
        longLived: true,
      });
    }
    const contentType = String(response.headers["content-type"] ?? "");
    if (response.statusCode >= 300 || (listenId !== undefined && !contentType.includes("text/event-stream"))) {
      const text = this.scrubber.bytes(await readBounded(response.body).catch(() => Buffer.alloc(0))).toString("utf8");
      // A 2026-07-28 server without subscriptions answers -32601 (HTTP 404 or 200): it offers no stream.
      const refusal = listenId === undefined ? undefined : findResponse(safeJson(text), listenId);
      if (refusal?.error?.code === ErrorCode.MethodNotFound) throw new UpstreamHttpError(405, "HTTP 405: the server does not offer subscriptions/listen");
      if (refusal?.error !== undefined) resultOf(refusal);
      if (response.statusCode < 300) throw new UpstreamProtocolError("the subscriptions/listen answer is not text/event-stream");
      this.failed(response.statusCode, response.headers, text.slice(0, 500));
    }
    if (!contentType.includes("text/event-stream")) {
      response.body.resume();
      throw new UpstreamProtocolError("the GET stream is not text/event-stream");
    }
    options.onOpen();
    const pings = { since: Date.now(), answered: 0 };
    await new Promise<void>((resolve, reject) => {
      const parser = createParser({
        maxBufferSize: MAX_MESSAGE_CHARS,
        // A message larger than any MCP message should be: the stream is cut (the caller reconnects).
        onError: () => response.body.destroy(),
        onEvent: (event) => {
          if (event.event !== undefined && event.event !== "message") return;
          let message: JsonRpcMessage;
          try {
            message = this.scrubber.value(JSON.parse(event.data) as JsonRpcMessage);
          } catch {
            return;
          }
          // The answer to subscriptions/listen: the server ended the subscription (gracefully, or with an error).
          if (listenId !== undefined && message.method === undefined && message.id === listenId) {
            response.body.destroy();
            if (message.error !== undefined) reject(new McpError(typeof message.error.code === "number" ? message.error.code : ErrorCode.InternalError, String(message.error.message ?? "subscriptions/listen failed")));
            else resolve();
            return;
          }
          if (typeof message.method !== "string" || message.method === SUBSCRIPTIONS_ACKNOWLEDGED) return;
          if (message.method === "ping" && message.id !== undefined && message.id !== null) {
            // Each answer is a POST back: a stream of pings is answered at most SERVER_REQUESTS_PER_CALL times per PING_WINDOW_MS.
            if (Date.now() - pings.since > PING_WINDOW_MS) Object.assign(pings, { since: Date.now(), answered: 0 });
            if (++pings.answered <= SERVER_REQUESTS_PER_CALL) this.post({ jsonrpc: "2.0", id: message.id, result: {} });
            return;
          }
          const id = message.id;
          if (id !== undefined && id !== null && typeof id !== "string" && typeof id !== "number") return;
          onMessage({
            method: message.method,
            ...(id === undefined || id === null ? {} : { id }),
            ...(typeof message.params === "object" && message.params !== null ? { params: withoutSubscriptionId(message.params as Record<string, unknown>) } : {}),
          });
        },
      });
      const decoder = new StringDecoder("utf8");
      response.body.on("data", (chunk: Buffer) => {
        if (!response.body.destroyed) parser.feed(decoder.write(chunk));
      });
      response.body.once("end", () => resolve());
      // A stream cut by the upstream (reset, gone away) is a failure, so the caller tells the client at once; one we cut is not.
      response.body.once("error", (error: Error) => (options.cancel.aborted ? resolve() : reject(error)));
      response.body.once("close", () => resolve());
    });
  }

  async listTools(params: { cursor?: string }, options: CallOptions): Promise<ListToolsResult> {
    const result = (await this.request("tools/list", params, options)) as { tools?: unknown; nextCursor?: unknown };
    if (!Array.isArray(result.tools) || !result.tools.every((tool) => typeof (tool as { name?: unknown } | null)?.name === "string")) {
      throw new UpstreamProtocolError("the tools/list result has no list of named tools");
    }
    if (this.modern !== undefined) {
      for (const tool of result.tools as Array<{ name: string; inputSchema?: unknown }>) this.paramHeaders.set(tool.name, paramHeaderDeclarations(tool.inputSchema));
      while (this.paramHeaders.size > MAX_CACHED_ANSWERS * 16) this.paramHeaders.delete(this.paramHeaders.keys().next().value!);
    }
    return result as ListToolsResult;
  }

  /**
   * A 2026-07-28 server checks the `Mcp-Param-{Name}` headers a tool's `x-mcp-header`
   * arguments must be mirrored in: the declarations come from its tools/list (listed once
   * when this session has not seen the tool), and a HeaderMismatch lists again and retries
   * once, as the revision tells clients to.
   */
  async callTool(params: { name: string; arguments?: Record<string, unknown> }, options: CallOptions): Promise<CallToolResult> {
    if (this.modern === undefined) return (await this.request("tools/call", params, options)) as CallToolResult;
    if (!this.paramHeaders.has(params.name)) await this.learnTools(options).catch(() => undefined);
    try {
      return (await this.request("tools/call", params, options)) as CallToolResult;
    } catch (error) {
      if (!isHeaderMismatch(error)) throw error;
      this.paramHeaders.clear();
      await this.learnTools(options);
      return (await this.request("tools/call", params, options)) as CallToolResult;
    }
  }

  /** The `x-mcp-header` declarations of a 2026-07-28 server's tools, by tool name (learned from tools/list). */
  private readonly paramHeaders = new Map<string, ParamHeader[]>();

  private async learnTools(options: CallOptions): Promise<void> {
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const listed = await this.listTools(cursor === undefined ? {} : { cursor }, { ...(options.cancel === undefined ? {} : { cancel: options.cancel }), timeout: options.timeout });
      cursor = listed.nextCursor;
      if (cursor === undefined) return;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Ends the session at the upstream (HTTP DELETE with its id, MCP transports spec, "Session Management"), then closes it. */
  async end(): Promise<void> {
    const headers = this.requestHeaders();
    this.closed = true;
    if (this.sessionId === undefined || this.modern !== undefined) return;
    const response = await this.http.send({ serverName: this.server.name, target: this.server.target, method: "DELETE", headers, timeoutMs: this.server.timeoutMs });
    response.body.resume();
  }

  private initialized = false;

  private requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { ...this.headers, "content-type": "application/json", accept: ACCEPT };
    // Negotiated by initialize, then sent on every request (MCP transports spec, "Protocol Version Header").
    if (this.initialized) headers["mcp-protocol-version"] = this.protocolVersion;
    if (this.sessionId !== undefined) headers["mcp-session-id"] = this.sessionId;
    addTraceHeaders(headers);
    return headers;
  }

  private async notify(method: string): Promise<void> {
    const response = await this.http.send({
      serverName: this.server.name,
      target: this.server.target,
      method: "POST",
      headers: this.requestHeaders(),
      body: JSON.stringify({ jsonrpc: "2.0", method }),
      timeoutMs: this.server.timeoutMs,
    });
    response.body.resume();
    if (response.statusCode >= 400) this.failed(response.statusCode, response.headers, `${method} was refused`);
  }

  /**
   * One JSON-RPC request; resolves with its result, rejects with its error. A cacheable
   * answer of a 2026-07-28 server (`ttlMs` > 0) is kept that long: `private` ones in this
   * session (which is one caller's), `public` ones for every session to the server.
   */
  async request(method: string, params: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>> {
    const cacheKey = this.modern !== undefined && CACHEABLE_METHODS.has(method) ? `${method}\0${JSON.stringify(params)}` : undefined;
    if (cacheKey !== undefined) {
      const cached = this.listCache.get(cacheKey) ?? PUBLIC_LIST_CACHE.get(`${this.server.url.href}\0${cacheKey}`);
      if (cached !== undefined && cached.until > Date.now()) return cached.result;
    }
    const result = await this.send(method, params, options);
    if (cacheKey !== undefined) this.remember(cacheKey, result);
    return result;
  }

  /** Answers cached per this session (private) and per server (public), by method and params; bounded. */
  private readonly listCache = new Map<string, CachedAnswer>();

  private remember(key: string, result: Record<string, unknown>): void {
    const ttl = typeof result.ttlMs === "number" && Number.isFinite(result.ttlMs) ? Math.min(result.ttlMs, MAX_UPSTREAM_CACHE_MS) : 0;
    if (ttl <= 0) return;
    const entry = { result, until: Date.now() + ttl };
    const [cache, cacheKey] = result.cacheScope === "public" ? [PUBLIC_LIST_CACHE, `${this.server.url.href}\0${key}`] : [this.listCache, key];
    cache.delete(cacheKey);
    cache.set(cacheKey, entry);
    if (cache.size > MAX_CACHED_ANSWERS) cache.delete(cache.keys().next().value!);
  }

  /** One upstream call, in a client span of its own when tracing is on (server, method and tool name; never the arguments). */
  private send(method: string, params: Record<string, unknown>, options: CallOptions): Promise<Record<string, unknown>> {
    const tool = method === "tools/call" && typeof params.name === "string" ? params.name : undefined;
    return upstreamCall(this.server.name, method, tool, (trace) => this.sendTraced(method, params, options, trace));
  }

  private async sendTraced(method: string, params: Record<string, unknown>, options: CallOptions, trace: TraceCarrier | undefined): Promise<Record<string, unknown>> {
    if (this.closed) throw new McpError(ErrorCode.ConnectionClosed, "Connection closed");
    const id = ++this.nextId;
    const progress = options.onprogress;
    let body: string;
    let headers = this.requestHeaders();
    // The call's own context, in the headers and (MCP 2026-07-28, "OpenTelemetry trace context") in `_meta`, replacing any the client sent.
    if (trace !== undefined) params = { ...params, _meta: { ...(isObject(params._meta) ? params._meta : {}), ...trace } };
    if (this.modern !== undefined) {
      const meta = {
        ...(isObject(params._meta) ? params._meta : {}),
        ...modernMeta(this.modern),
        ...(progress === undefined ? {} : { progressToken: id }),
        ...(options.logLevel === undefined ? {} : { [META_LOG_LEVEL]: options.logLevel }),
      };
      params = { ...params, _meta: meta };
      headers = { ...headers, ...mirroredHeaders(this.modern.version, method, params) };
      if (method === "tools/call" && typeof params.name === "string") Object.assign(headers, paramHeaderValues(this.paramHeaders.get(params.name), params.arguments));
    } else if (progress !== undefined) {
      params = { ...params, _meta: { ...(trace === undefined ? {} : trace), progressToken: id } };
    }
    try {
      body = JSON.stringify({ jsonrpc: "2.0", id, method, params });
    } catch {
      // JSON.parse took the client's body, JSON.stringify overflows its stack (thousands of levels): the client's fault, not the upstream's.
      throw new GatewayError({ status: 400, code: "invalid_params", message: `${method}: the params are nested too deeply to forward`, rpcCode: JsonRpcCode.InvalidParams });
    }
    const call = new PendingCall(options);
    try {
      const response = await this.http.send({
        serverName: this.server.name,
        target: this.server.target,
        method: "POST",
        headers,
        body,
        signal: call.cancel,
        timeoutMs: options.timeout,
      });
      if (method === "initialize") {
        const sessionId = response.headers["mcp-session-id"];
        if (typeof sessionId === "string") this.sessionId = sessionId;
      }
      if (response.statusCode >= 300) {
        const text = this.scrubber.bytes(await readBounded(response.body).catch(() => Buffer.alloc(0))).toString("utf8");
        // A 2026-07-28 server refuses a request it read with a JSON-RPC error in a 400 (a missing client capability, a header mismatch): relayed as that error.
        if (this.modern !== undefined && response.statusCode === 400) {
          const refusal = findResponse(safeJson(text), id);
          if (refusal?.error !== undefined) resultOf(refusal);
        }
        this.failed(response.statusCode, response.headers, text.slice(0, 500));
      }
      const contentType = String(response.headers["content-type"] ?? "");
      const answer = contentType.includes("text/event-stream")
        ? await call.fromEvents(response.body, id, (message) => this.onServerMessage(message, id, call, options.onServerMessage), (message) => this.scrubber.value(message))
        : findResponse(this.scrubber.value(parseJson((await readBounded(response.body)).toString("utf8"))), id);
      if (answer === undefined) throw new UpstreamProtocolError(`the answer holds no response to request ${id}`);
      return resultOf(answer);
    } catch (error) {
      const explained = call.explain(error);
      // Closing the POST is not cancelling (MCP transports spec): a stateful server would run the tool on.
      if (call.cancel.aborted) this.post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: call.timedOut ? "timeout" : "the client went away" } });
      throw explained;
    } finally {
      call.done();
    }
  }

  /** A message in the stream that is not the answer: progress, a server request, or another notification. */
  private onServerMessage(message: JsonRpcMessage, id: number, call: PendingCall, forward: CallOptions["onServerMessage"]): void {
    if (message.method === "notifications/progress" && message.params?.progressToken === id) {
      const { progress, total, message: text } = message.params;
      if (typeof progress !== "number") return;
      call.progressed({ progress, ...(typeof total === "number" ? { total } : {}), ...(typeof text === "string" ? { message: text } : {}) });
      return;
    }
    if (forward !== undefined && typeof message.method === "string" && message.method !== "ping") {
      const serverId = message.id;
      if (serverId !== undefined && serverId !== null && typeof serverId !== "string" && typeof serverId !== "number") return;
      if (serverId !== undefined && serverId !== null && ++call.serverRequests > SERVER_REQUESTS_PER_CALL) return;
      forward({
        method: message.method,
        ...(serverId === undefined || serverId === null ? {} : { id: serverId }),
        ...(typeof message.params === "object" && message.params !== null ? { params: message.params as Record<string, unknown> } : {}),
        ...(this.sessionId === undefined ? {} : { session: this.sessionId }),
      });
      return;
    }
    if (typeof message.method === "string" && message.id !== undefined && message.id !== null) {
      // Each answer is a POST back: an upstream streaming thousands of requests in one answer
      // would have the gateway flood it (and its pool) in return. Past the bound, none is answered.
      if (++call.serverRequests > SERVER_REQUESTS_PER_CALL) return;
      // A ping gets its empty result (MCP ping: the receiver MUST answer). Sampling,
      // elicitation, roots: the gateway declares no client capabilities, and says so.
      this.post(
        message.method === "ping"
          ? { jsonrpc: "2.0", id: message.id, result: {} }
          : { jsonrpc: "2.0", id: message.id, error: { code: ErrorCode.MethodNotFound, message: "Method not found" } },
      );
    }
  }

  /** A message the server gets nothing back for (answers to its requests, notifications): sent, not awaited. */
  private post(message: Record<string, unknown>): void {
    void this.http
      .send({ serverName: this.server.name, target: this.server.target, method: "POST", headers: this.requestHeaders(), body: JSON.stringify(message), timeoutMs: this.server.timeoutMs })
      .then((response) => response.body.resume())
      .catch(() => undefined);
  }

  private failed(status: number, headers: Record<string, string | string[] | undefined>, text: string): never {
    if (status === 401) {
      const challenge = headers["www-authenticate"];
      this.onUnauthorized(Array.isArray(challenge) ? challenge.join(", ") : challenge);
    }
    if (status === 404 && this.sessionId !== undefined) this.closed = true;
    throw new UpstreamHttpError(status, `HTTP ${status}${text === "" ? "" : `: ${text}`}`, text);
  }
}

/**
 * The upstream answered an HTTP error status (`code`, as the SDK's StreamableHTTPError has
 * it, so one classifier reads both; importing that class would load the SDK's OAuth client).
 */
export class UpstreamHttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** The start of the answer's body (scrubbed), for a caller that reads a JSON-RPC error in it. */
    readonly body = "",
  ) {
    super(message);
    this.name = "UpstreamHttpError";
  }
}

/**
 * The upstream answered something that is not MCP (not JSON, no response to the request, a
 * malformed result). Not an McpError: those carry the upstream's own JSON-RPC codes, and
 * -32700 or -32603 here would tell the client its own request was at fault.
 */
export class UpstreamProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamProtocolError";
  }
}

export const GATEWAY_CLIENT_INFO = { name: "gatehouse", version: "0.1.0" };

/** One request's timeout, cancellation (the client's signal, the timeout) and progress. */
/** Server requests (ping, sampling, ...) answered during one call; a real server sends a few at most. */
const SERVER_REQUESTS_PER_CALL = 16;

class PendingCall {
  readonly cancel = new Cancellation();
  private timer: NodeJS.Timeout | undefined;
  timedOut = false;
  /** Requests of the server answered during this call (bounded: SERVER_REQUESTS_PER_CALL). */
  serverRequests = 0;
  private readonly onClientAbort = () => this.cancel.abort();

  constructor(private readonly options: CallOptions) {
    this.arm();
    if (options.cancel?.aborted) this.cancel.abort();
    else options.cancel?.once("abort", this.onClientAbort);
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.cancel.abort();
    }, this.options.timeout);
  }

  progressed(progress: { progress: number; total?: number; message?: string }): void {
    this.options.onprogress?.(progress);
    if (this.options.resetTimeoutOnProgress === true) {
      clearTimeout(this.timer);
      this.arm();
    }
  }

  /** Reads SSE events until the response to `id`; the rest of the stream is dropped. */
  fromEvents(body: Readable, id: number, other: (message: JsonRpcMessage) => void, scrub: (message: JsonRpcMessage) => JsonRpcMessage): Promise<JsonRpcMessage | undefined> {
    return new Promise((resolve, reject) => {
      let answer: JsonRpcMessage | undefined;
      const parser = createParser({
        maxBufferSize: MAX_MESSAGE_CHARS,
        onError: () => {
          body.destroy();
          reject(tooLarge());
        },
        onEvent: (event) => {
          if (answer !== undefined || (event.event !== undefined && event.event !== "message")) return;
          let message: JsonRpcMessage;
          try {
            // Scrubbed once parsed: every escaped spelling of a secret is decoded by then.
            message = scrub(JSON.parse(event.data) as JsonRpcMessage);
          } catch {
            return; // an empty priming event, or a comment-like payload
          }
          if (message.id === id && message.method === undefined) {
            answer = message;
            resolve(message);
            // The server should end the stream now; reading on to its end keeps the connection reusable.
            setTimeout(() => body.destroy(), STREAM_END_GRACE_MS).unref();
            return;
          }
          other(message);
        },
      });
      // undici's body ignores setEncoding: decode here (a character may span two chunks).
      const decoder = new StringDecoder("utf8");
      body.on("data", (chunk: Buffer) => {
        if (!body.destroyed) parser.feed(decoder.write(chunk));
      });
      body.once("end", () => resolve(answer));
      body.once("error", (error) => (answer === undefined ? reject(error) : resolve(answer)));
      body.once("close", () => resolve(answer));
    });
  }

  /** What a failure was: the timeout, the client leaving, or the error itself. */
  explain(error: unknown): unknown {
    if (this.timedOut) return new McpError(ErrorCode.RequestTimeout, "Request timed out", { timeout: this.options.timeout });
    if (this.options.cancel?.aborted) return this.options.cancel.reason ?? error;
    return error;
  }

  done(): void {
    clearTimeout(this.timer);
    this.options.cancel?.removeListener("abort", this.onClientAbort);
  }
}

/** How long a stream may stay open after it carried the answer before it is cut. */
const STREAM_END_GRACE_MS = 5_000;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The largest message an upstream may send (one JSON answer, one SSE event): past it, the answer is refused, not buffered on. */
const MAX_MESSAGE_CHARS = 32 * 1024 * 1024;

/** Pings on a GET stream are answered SERVER_REQUESTS_PER_CALL times per this window at most. */
const PING_WINDOW_MS = 10_000;

function tooLarge(): UpstreamProtocolError {
  return new UpstreamProtocolError(`a message of the answer is larger than ${MAX_MESSAGE_CHARS / 1024 / 1024} MiB`);
}

/** The whole body, up to MAX_MESSAGE_CHARS bytes. */
function readBounded(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_MESSAGE_CHARS) {
        body.destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    body.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    body.once("error", reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UpstreamProtocolError("the answer is not JSON");
  }
}

/** The response to `id` in a JSON answer (one message, or a batch). */
function findResponse(parsed: unknown, id: number): JsonRpcMessage | undefined {
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  return messages.find((message): message is JsonRpcMessage => typeof message === "object" && message !== null && (message as JsonRpcMessage).id === id);
}

function resultOf(message: JsonRpcMessage): Record<string, unknown> {
  if (message.error !== undefined) {
    const { code, message: text, data } = message.error;
    throw new McpError(typeof code === "number" ? code : ErrorCode.InternalError, typeof text === "string" ? text : "error", data);
  }
  if (!isObject(message.result)) throw new UpstreamProtocolError("the response has no result object");
  return message.result;
}

/** The longest an upstream's cacheable answer is kept, whatever its ttlMs. */
const MAX_UPSTREAM_CACHE_MS = 10 * 60_000;
const MAX_CACHED_ANSWERS = 256;

interface CachedAnswer {
  result: Record<string, unknown>;
  /** Epoch ms. */
  until: number;
}

/** `cacheScope: "public"` answers, by server URL, method and params: the same for every caller. */
const PUBLIC_LIST_CACHE = new Map<string, CachedAnswer>();

/** Upstream URLs known to speak only the 2026-07-28 revision, and the version to use (bounded). */
const MODERN_SERVERS = new Map<string, string>();

/** The modern version an upstream offers in its UnsupportedProtocolVersion error (-32022) to the gateway's initialize, if it does. */
function modernVersionOffered(error: unknown): string | undefined {
  if (!(error instanceof UpstreamHttpError) || error.code !== 400) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(error.body);
  } catch {
    return undefined;
  }
  const failure = (parsed as { error?: { code?: unknown; data?: { supported?: unknown } } } | null)?.error;
  const supported = failure?.data?.supported;
  if (failure?.code !== -32022 || !Array.isArray(supported)) return undefined;
  return MODERN_VERSIONS.find((version) => supported.includes(version));
}

function modernMeta(modern: { version: string; clientCapabilities: Record<string, unknown> }): Record<string, unknown> {
  return {
    "io.modelcontextprotocol/protocolVersion": modern.version,
    "io.modelcontextprotocol/clientCapabilities": modern.clientCapabilities,
    "io.modelcontextprotocol/clientInfo": GATEWAY_CLIENT_INFO,
  };
}

/** A tool argument a 2026-07-28 server wants mirrored in `Mcp-Param-{header}` (SEP-2243 `x-mcp-header`). */
interface ParamHeader {
  path: string[];
  header: string;
}

/** The `x-mcp-header` properties of an input schema, reached through `properties` only (where the revision allows them). */
function paramHeaderDeclarations(schema: unknown, path: string[] = [], found: ParamHeader[] = []): ParamHeader[] {
  if (!isObject(schema) || !isObject(schema.properties) || path.length > 8 || found.length > 32) return found;
  for (const [name, property] of Object.entries(schema.properties)) {
    if (!isObject(property)) continue;
    const header = property["x-mcp-header"];
    if (typeof header === "string" && /^[A-Za-z0-9-]{1,64}$/.test(header)) found.push({ path: [...path, name], header });
    paramHeaderDeclarations(property, [...path, name], found);
  }
  return found;
}

/** The Mcp-Param headers of a call: each declared argument present in the body, as text (numbers in decimal, strings header-safe). */
function paramHeaderValues(declarations: readonly ParamHeader[] | undefined, args: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const { path, header } of declarations ?? []) {
    let value: unknown = args;
    for (const key of path) value = isObject(value) ? value[key] : undefined;
    if (typeof value === "string") headers[`mcp-param-${header.toLowerCase()}`] = encodeHeaderValue(value);
    else if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") headers[`mcp-param-${header.toLowerCase()}`] = String(value);
  }
  return headers;
}

/** The upstream refused the request's mirrored headers (HeaderMismatch, -32020). */
function isHeaderMismatch(error: unknown): boolean {
  if (error instanceof McpError) return error.code === -32020;
  if (!(error instanceof UpstreamHttpError) || error.code !== 400) return false;
  try {
    return (JSON.parse(error.body) as { error?: { code?: unknown } }).error?.code === -32020;
  } catch {
    return false;
  }
}

/** Capabilities larger than any server's: kept in memory per pooled session and stored per /mcp session, so cut to their flags. */
const MAX_CAPABILITIES_CHARS = 64 * 1024;

/** The capabilities as declared, or past MAX_CAPABILITIES_CHARS each one's boolean flags only (what the gateway reads of them). */
function boundedCapabilities(capabilities: Record<string, unknown>): Record<string, unknown> {
  if (JSON.stringify(capabilities).length <= MAX_CAPABILITIES_CHARS) return capabilities;
  const flags = (value: unknown) => (isObject(value) ? Object.fromEntries(Object.entries(value).filter(([, flag]) => typeof flag === "boolean").slice(0, 32)) : {});
  return Object.fromEntries(
    Object.entries(capabilities)
      .slice(0, 32)
      .map(([name, value]) => [name.slice(0, 128), flags(value)]),
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
