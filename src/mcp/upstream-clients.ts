/**
 * MCP client sessions to upstreams, for the aggregate `/mcp` endpoint and the REST API:
 * the lean `StreamableHttpSession` for streamable-HTTP servers, the official SDK's Client
 * for legacy SSE ones.
 *
 * One session per (server, caller, outbound headers): a session is never shared between
 * two gateway keys, even when the gateway sends the same credentials for both (a stateful
 * upstream keeps per-session state: issue 15 item 3, key Y was shown what key X stored);
 * a new M2M token or a per-request header makes a new one too. Sessions are kept in
 * a bounded LRU, closed when idle or evicted, and dropped when they fail so the next call
 * reconnects (an upstream restart loses its sessions: 404 per the MCP transport spec).
 */
import { LATEST_PROTOCOL_VERSION, McpError, ErrorCode, ResultSchema, type CallToolResult, type ListToolsResult } from "@modelcontextprotocol/sdk/types.js";
import { GatewayError, JsonRpcCode, isGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { CredentialScrubber } from "../credential-scrubber.js";
import { upstreamCall, withTraceMeta } from "../observability/tracing.js";
import { outboundRequest, retryAfterUnauthorized, type InboundRequestInfo, type OutboundRequest } from "./outbound-headers.js";
import { clientAnswersChallenge, upstreamAuthFailed, USER_TOKEN_MODES } from "./upstream-refusal.js";
import { upstreamRefusedUserToken } from "../auth/upstream/oauth2-interactive.js";
import { upstreamTimeout, type UpstreamHttp } from "./upstream-http.js";
import { stdioDebugCall, type StdioServers } from "./stdio-servers.js";
import { GATEWAY_CLIENT_INFO, StreamableHttpSession, UpstreamProtocolError, type ListenOptions, type ServerMessage, type SubscriptionFilter, type ToolsClient } from "./upstream-session.js";
import type { AggregateSessionsRepository, StoredUpstreamSession } from "../store/aggregate-sessions-repository.js";
import { aggregateSessionNotFound, type AggregateSession } from "./aggregate-session.js";
import { sharedSubscriptions } from "./shared-subscriptions.js";
import { openApiClient } from "./openapi-client.js";
import type { OpenApiSpecs } from "./openapi-specs.js";
import type { LoadedSpec } from "../openapi/types.js";

export interface UpstreamClients {
  /**
   * Run `use` with a connected client for this server and caller; reconnects once if the
   * session was lost. With `session` (an aggregate `/mcp` session), a streamable-HTTP server
   * gets an upstream session of that session's own, declaring its client's capabilities and
   * recorded in the database so any instance continues it; other servers are pooled as without.
   */
  withClient<T>(
    server: McpServerEntry,
    snapshot: RegistrySnapshot,
    inbound: InboundRequestInfo,
    use: (client: ToolsClient) => Promise<T>,
    session?: AggregateSession,
    /** Without a session: what a 2026-07-28 client declared, for a pooled session opened with them (kept apart from the others). */
    capabilities?: Record<string, unknown>,
  ): Promise<T>;
  /** Answers a request an upstream sent in its session `upstreamSession`, from any instance (multi round-trip requests). */
  answerUpstream(server: McpServerEntry, snapshot: RegistrySnapshot, inbound: InboundRequestInfo, upstreamSession: string | undefined, id: string | number, answer: { result: unknown } | { error: unknown }): Promise<void>;
  /**
   * Follows one server's change notifications for a 2026-07-28 client's
   * `subscriptions/listen`, on an upstream session opened for it alone and ended after (a
   * server keeps one GET stream per session, and resource subscriptions are per session): a
   * 2026-07-28 server is asked with `filter`; an earlier one has `filter.resourceSubscriptions`
   * subscribed in the session (when it offers subscriptions), then its GET stream read.
   * Resolves when the stream ends; rejects with the server named.
   */
  listen(server: McpServerEntry, snapshot: RegistrySnapshot, inbound: InboundRequestInfo, filter: SubscriptionFilter, onMessage: (message: ServerMessage) => void, options: ListenOptions): Promise<void>;
  /** Closes (DELETE upstream) and forgets every upstream session of an ended aggregate session. */
  endSession(session: AggregateSession, snapshot: RegistrySnapshot, inbound: InboundRequestInfo): Promise<void>;
  close(): Promise<void>;
}

/** The WWW-Authenticate of the latest 401 on a session (relayed for servers that delegate auth). */
interface Challenge {
  value: string | undefined;
}

interface PooledClient {
  client: Promise<ToolsClient>;
  challenge: Challenge;
  lastUsed: number;
  /** Calls running on this session now. */
  inFlight: number;
  /** Out of the pool; closed once `inFlight` reaches 0. */
  retired: boolean;
}

export interface UpstreamClientsOptions {
  log: Logger;
  /** Where aggregate sessions record their upstream sessions (shared by every instance). */
  sessions?: AggregateSessionsRepository;
  /** The pooled HTTP client the streamable-HTTP sessions send through. */
  http: UpstreamHttp;
  /** The processes of stdio servers: every caller shares a server's one process (no pooled session). */
  stdio?: StdioServers;
  /** OpenAPI servers: their loaded specs, and the bytes an API's answer may have (general_settings.openapi_max_response_bytes). */
  openapi?: { specs: OpenApiSpecs; maxResponseBytes: number };
  maxSessions?: number;
  idleMs?: number;
  now?: () => number;
}

export function createUpstreamClients(options: UpstreamClientsOptions): UpstreamClients {
  const maxSessions = options.maxSessions ?? 512;
  const idleMs = options.idleMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const pool = new Map<string, PooledClient>();

  function closePooled(pooled: PooledClient): void {
    pooled.client.then((client) => client.close()).catch(() => undefined);
  }

  function drop(key: string, pooled: PooledClient): void {
    if (pool.get(key) !== pooled) return;
    pool.delete(key);
    pooled.retired = true;
    // Closing a session fails every call still running on it with "Connection closed"
    // (a sibling call's 401 or an eviction must not break them): the last one closes it.
    if (pooled.inFlight === 0) closePooled(pooled);
  }

  function evictIdle(): void {
    const cutoff = now() - idleMs;
    for (const [key, pooled] of pool) {
      if (pool.size > maxSessions || pooled.lastUsed < cutoff) drop(key, pooled);
    }
  }

  /**
   * One caller keeps at most SESSIONS_PER_CALLER sessions to one server (a session per
   * distinct set of outbound headers: a per-request header with a fresh value each time
   * would otherwise open one upstream session, for a legacy SSE server an open stream, per
   * call, and push every other caller's sessions out of the pool). Its least recently used
   * one goes first.
   */
  function retireOldestBeyond(server: McpServerEntry, caller: string): void {
    const prefix = `${server.id}\0${server.url.href}\0${caller}\0`;
    const mine: Array<[string, PooledClient]> = [];
    for (const entry of pool) if (entry[0].startsWith(prefix)) mine.push(entry);
    for (let index = 0; index <= mine.length - SESSIONS_PER_CALLER; index++) drop(...mine[index]!);
  }

  function acquire(server: McpServerEntry, caller: string, outbound: OutboundRequest, session: AggregateSession | undefined, capabilities: Record<string, unknown> | undefined): [string, PooledClient] {
    const own = session !== undefined && ownsUpstreamSession(server);
    const declared = !own && capabilities !== undefined && Object.keys(capabilities).length > 0 && ownsUpstreamSession(server) ? capabilities : undefined;
    // An aggregate session's upstream session is its own whatever the headers (a refreshed token keeps it).
    const key = own
      ? `${AGGREGATE_KEY}${session.nonce}\0${server.id}`
      : `${sessionKey(server, caller, outbound.headers)}${declared === undefined ? "" : `\0capabilities\0${JSON.stringify(declared)}`}`;
    let pooled = pool.get(key);
    if (pooled === undefined) {
      evictIdle();
      if (!own) retireOldestBeyond(server, caller);
      const challenge: Challenge = { value: undefined };
      // The key holds every outbound header, so one pooled session's credentials (and scrubber) never change.
      const client = own ? connectForSession(server, outbound, challenge, session) : connect(options.http, server, outbound.headers, challenge, outbound.scrubber, declared);
      pooled = { client, challenge, lastUsed: now(), inFlight: 0, retired: false };
      pool.set(key, pooled);
      const created = pooled;
      created.client.catch(() => drop(key, created));
    } else {
      // Map order is LRU order: re-insert on use.
      pool.delete(key);
      pool.set(key, pooled);
      pooled.lastUsed = now();
    }
    return [key, pooled];
  }

  /**
   * The upstream session of an aggregate session at a streamable-HTTP server: the one
   * recorded (by this or another instance), else a new one that declares the session's
   * client capabilities, recorded unless another instance recorded one first (then that one
   * is used and the new one let go).
   */
  async function connectForSession(server: McpServerEntry, outbound: OutboundRequest, challenge: Challenge, session: AggregateSession): Promise<ToolsClient> {
    const repo = options.sessions!;
    const onUnauthorized = (value: string | undefined) => (challenge.value = value);
    const attach = (stored: StoredUpstreamSession) =>
      StreamableHttpSession.attach(options.http, server, outbound.headers, onUnauthorized, outbound.scrubber, { sessionId: stored.upstreamSessionId, protocolVersion: stored.protocolVersion, capabilities: stored.capabilities });
    const stored = await repo.upstream(session.nonce, server.id);
    if (stored !== undefined) return attach(stored);
    // An ended session (DELETE, on any instance) gets no new upstream session: a GET stream or a call still running would otherwise open one that nothing ends.
    if ((await repo.state(session.nonce)) !== "live") throw aggregateSessionNotFound();
    let opened: StreamableHttpSession;
    try {
      opened = await StreamableHttpSession.open(options.http, server, outbound.headers, onUnauthorized, outbound.scrubber, session.clientCapabilities);
    } catch (error) {
      throw upstreamCallError(server, error, challenge.value);
    }
    const recorded = await repo.recordUpstream(session.nonce, server.id, { upstreamSessionId: opened.upstreamSessionId, protocolVersion: opened.negotiatedVersion, capabilities: opened.capabilities ?? {} });
    if (recorded.upstreamSessionId === opened.upstreamSessionId) return opened;
    void opened.end().catch(() => undefined);
    return attach(recorded);
  }

  /** A stdio server: no credentials, no session to open; its process's failures are already the gateway's errors. */
  async function withStdioClient<T>(server: McpServerEntry, inbound: InboundRequestInfo, use: (client: ToolsClient) => Promise<T>): Promise<T> {
    inbound.debug?.record(stdioDebugCall(server));
    if (options.stdio === undefined) throw new Error(`stdio server '${server.name}' without stdio processes`);
    try {
      return await use(options.stdio.toolsClient(server));
    } catch (error) {
      if (inbound.cancel?.aborted) throw error;
      throw upstreamCallError(server, error);
    }
  }

  /**
   * An OpenAPI server: no session, the API is called per tool call with the server's
   * credentials, fetched for each call as for an MCP upstream; a 401 is retried once with a
   * new token where that can help, else refused as an MCP upstream's would be.
   */
  async function withOpenApiClient<T>(server: McpServerEntry, snapshot: RegistrySnapshot, inbound: InboundRequestInfo, use: (client: ToolsClient) => Promise<T>): Promise<T> {
    if (options.openapi === undefined) throw new Error(`OpenAPI server '${server.name}' without OpenAPI specs`);
    let spec: LoadedSpec;
    try {
      spec = await options.openapi.specs.get(server);
    } catch (error) {
      throw new GatewayError({
        status: 502,
        code: "openapi_spec_unavailable",
        message: `MCP server '${server.name}' is unavailable: its OpenAPI spec could not be loaded (the gateway's log says why)`,
        detail: error instanceof Error ? error.message : String(error),
        rpcCode: JsonRpcCode.UpstreamError,
        extra: { server: server.name },
        cause: error,
      });
    }
    for (let attempt = 0; ; attempt++) {
      const outbound = await outboundRequest(server, snapshot, inbound, { forwardMcpHeaders: false });
      try {
        return await use(openApiClient({ http: options.http, server, spec, headers: outbound.headers, scrubber: outbound.scrubber, maxResponseBytes: options.openapi.maxResponseBytes }));
      } catch (error) {
        if (inbound.cancel?.aborted || (isGatewayError(error) && error.status < 500)) throw error;
        if (isUnauthorized(error) && USER_TOKEN_MODES.has(outbound.credentials.resolution)) {
          // As the pass-through does: the user's token is dropped, and the user told to authorize again.
          await outbound.credentials.onRejected?.();
          throw upstreamRefusedUserToken(server.name);
        }
        if (attempt === 0 && isUnauthorized(error) && retryAfterUnauthorized(server, outbound.credentials)) continue;
        if (isUnauthorized(error) && !clientAnswersChallenge(outbound.credentials.resolution)) throw upstreamAuthFailed(server, outbound.credentials.resolution);
        throw outbound.scrubber.error(upstreamCallError(server, error));
      }
    }
  }

  return {
    async answerUpstream(server, snapshot, inbound, upstreamSession, id, answer) {
      const outbound = await outboundRequest(server, snapshot, inbound, { forwardMcpHeaders: false });
      StreamableHttpSession.attach(options.http, server, outbound.headers, () => undefined, outbound.scrubber, { sessionId: upstreamSession, protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {} }).respond(id, answer);
    },
    async withClient(server, snapshot, inbound, use, session, capabilities) {
      if (server.stdio !== undefined) return withStdioClient(server, inbound, use);
      if (server.openapi !== undefined) return withOpenApiClient(server, snapshot, inbound, use);
      const own = session !== undefined && options.sessions !== undefined && ownsUpstreamSession(server) ? session : undefined;
      for (let attempt = 0; ; attempt++) {
        const outbound = await outboundRequest(server, snapshot, inbound, { forwardMcpHeaders: false });
        const [key, pooled] = acquire(server, inbound.caller?.subject ?? NO_CALLER, outbound, own, capabilities);
        pooled.inFlight++;
        try {
          const client = await pooled.client;
          if (own !== undefined) (client as StreamableHttpSession).useHeaders(outbound.headers, outbound.scrubber);
          return await use(client);
        } catch (error) {
          // The client's own fault (a refused tool, unforwardable params): the session is fine.
          if (inbound.cancel?.aborted || (isGatewayError(error) && error.status < 500)) throw error;
          const lost = isSessionLost(error);
          const scrubber = outbound.scrubber;
          if (lost || isTransportFailure(error)) {
            options.log.warn({ server: server.name, err: scrubber.text(errorSummary(error)), retry: lost && attempt === 0 }, "upstream MCP session failed; it will be reconnected");
            drop(key, pooled);
            // The upstream forgot the session: every instance must open a new one.
            if (lost && own !== undefined) {
              const gone = await pooled.client.then((client) => (client as StreamableHttpSession).upstreamSessionId).catch(() => undefined);
              await options.sessions!.forgetUpstream(own.nonce, server.id, gone).catch(() => undefined);
            }
          }
          // One retry: a lost session reconnects; a refused cached token is replaced.
          if (attempt === 0 && (lost || (isUnauthorized(error) && retryAfterUnauthorized(server, outbound.credentials)))) continue;
          const resolution = outbound.credentials.resolution;
          if (isUnauthorized(error) && !clientAnswersChallenge(resolution)) throw upstreamAuthFailed(server, resolution);
          throw scrubber.error(upstreamCallError(server, error, pooled.challenge.value));
        } finally {
          pooled.inFlight--;
          if (pooled.retired && pooled.inFlight === 0) closePooled(pooled);
        }
      }
    },
    async listen(server, snapshot, inbound, filter, onMessage, listenOptions) {
      // A stdio server's process, a legacy SSE server's session of the caller: shared, so only what the filter names of them is followed.
      if (server.stdio !== undefined) return withStdioClient(server, inbound, async (client) => client.listen?.(onMessage, { ...listenOptions, filter }));
      // An OpenAPI server's tools never change while it is served, and it has no resources: nothing to follow until the listen ends.
      if (server.openapi !== undefined) return new Promise<void>((resolve) => listenOptions.cancel.once("abort", () => resolve()));
      if (server.config.transport === "sse") return this.withClient(server, snapshot, inbound, async (client) => client.listen?.(onMessage, { ...listenOptions, filter }));
      const outbound = await outboundRequest(server, snapshot, inbound, { forwardMcpHeaders: false });
      const challenge: Challenge = { value: undefined };
      let session: StreamableHttpSession | undefined;
      try {
        session = await StreamableHttpSession.open(options.http, server, outbound.headers, (value) => (challenge.value = value), outbound.scrubber);
        const uris = filter.resourceSubscriptions ?? [];
        if (!session.speaksModern && uris.length > 0) {
          if ((session.capabilities?.resources as { subscribe?: unknown } | undefined)?.subscribe !== true) {
            options.log.info({ server: server.name }, "an MCP server offers no resource subscriptions: a subscriptions/listen gets no updates of its resources");
          } else {
            for (const uri of uris) await session.request("resources/subscribe", { uri }, { cancel: listenOptions.cancel, timeout: server.timeoutMs });
          }
        }
        await session.listen(onMessage, { ...listenOptions, filter });
      } catch (error) {
        if (listenOptions.cancel.aborted) return;
        // A refused cached token is replaced before the caller reconnects.
        if (isUnauthorized(error)) retryAfterUnauthorized(server, outbound.credentials);
        throw outbound.scrubber.error(upstreamCallError(server, error, challenge.value));
      } finally {
        void session?.end().catch(() => undefined);
      }
    },
    async endSession(session, snapshot, inbound) {
      const ended = (await options.sessions?.end(session.nonce)) ?? [];
      for (const [key, pooled] of pool) if (key.startsWith(`${AGGREGATE_KEY}${session.nonce}\0`)) drop(key, pooled);
      await Promise.allSettled(
        ended.map(async ({ serverId, session: stored }) => {
          const server = [...snapshot.servers.values()].find((entry) => entry.id === serverId);
          if (server === undefined || stored.upstreamSessionId === undefined) return;
          const outbound = await outboundRequest(server, snapshot, inbound, { forwardMcpHeaders: false });
          await StreamableHttpSession.attach(options.http, server, outbound.headers, () => undefined, outbound.scrubber, {
            sessionId: stored.upstreamSessionId,
            protocolVersion: stored.protocolVersion,
            capabilities: stored.capabilities,
          }).end();
        }),
      );
    },
    async close() {
      const all = [...pool.values()];
      pool.clear();
      await Promise.allSettled(all.map(async (pooled) => (await pooled.client).close()));
    },
  };
}

function errorSummary(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The pool keys of aggregate sessions' upstream sessions start with this (no pooled key does: those start with a server id). */
const AGGREGATE_KEY = "\0aggregate\0";

/** Whether an aggregate session gets an upstream session of its own at this server: streamable HTTP only (a stdio process and a legacy SSE session are shared). */
export function ownsUpstreamSession(server: McpServerEntry): boolean {
  return server.stdio === undefined && server.openapi === undefined && server.config.transport !== "sse";
}

/** Sessions one caller may hold to one server at once (see retireOldestBeyond). */
const SESSIONS_PER_CALLER = 4;

/** In-process uses without a caller share nothing with HTTP callers (whose subjects are `master`, `key:...`, `anonymous`). */
const NO_CALLER = "(no caller)";

/**
 * The pool key: the server, the caller's identity (its key's `subject`), and every
 * outbound header, joined (no digest: the session keeps these headers in memory anyway,
 * and hashing them cost more than the rest of the lookup).
 */
function sessionKey(server: McpServerEntry, caller: string, headers: Record<string, string>): string {
  let key = `${server.id}\0${server.url.href}\0${caller}\0`;
  for (const name of Object.keys(headers).sort()) key += `\0${name}\0${headers[name]!}`;
  return key;
}

async function connect(
  http: UpstreamHttp,
  server: McpServerEntry,
  headers: Record<string, string>,
  challenge: Challenge,
  scrubber: CredentialScrubber,
  capabilities: Record<string, unknown> = {},
): Promise<ToolsClient> {
  if (server.config.transport !== "sse") {
    try {
      // A 401's challenge is kept: a delegating server's client needs it.
      return await StreamableHttpSession.open(http, server, headers, (value) => (challenge.value = value), scrubber, capabilities);
    } catch (error) {
      throw upstreamCallError(server, error, challenge.value);
    }
  }
  // The SDK client serves legacy SSE servers only: loaded with the first one.
  const [{ Client }, { SSEClientTransport }] = await Promise.all([import("@modelcontextprotocol/sdk/client/index.js"), import("@modelcontextprotocol/sdk/client/sse.js")]);
  const client = new Client(GATEWAY_CLIENT_INFO, { capabilities: {} });
  /** Who follows this session's list changes and updates (listen): the resources each follows, and what ends it when the session closes. */
  const listeners = new Map<(message: ServerMessage) => void, { uris: ReadonlySet<string>; fail: (error: Error) => void }>();
  const subscribed = sharedSubscriptions();
  client.fallbackNotificationHandler = async (notification) => {
    const uri = notification.params?.uri;
    for (const [listener, { uris }] of listeners) {
      if (LIST_CHANGES.has(notification.method)) listener({ method: notification.method });
      else if (notification.method === "notifications/resources/updated" && typeof uri === "string" && uris.has(uri)) listener({ method: notification.method, params: { uri } });
    }
  };
  client.onclose = () => {
    for (const { fail } of [...listeners.values()]) fail(new McpError(ErrorCode.ConnectionClosed, "the legacy SSE session closed"));
  };
  try {
    await client.connect(new SSEClientTransport(server.url, { requestInit: { headers } }), { timeout: server.timeoutMs });
  } catch (error) {
    await client.close().catch(() => undefined);
    throw upstreamCallError(server, error, challenge.value);
  }
  // The SDK parses the answers itself: scrubbed once parsed (its errors are, in withClient).
  // Every request goes with the call's trace context in `_meta` (the session's headers are fixed when it opens).
  const request = (method: string, params: Record<string, unknown>, callOptions: Parameters<ToolsClient["request"]>[2], tool?: string) =>
    upstreamCall(server.name, method, tool, async (trace) => scrubber.value((await client.request({ method, params: withTraceMeta(params, trace) }, ResultSchema, callOptions)) as Record<string, unknown>));
  return {
    // The list as the server sent it, not as the SDK's Tool schema rewrites it (unknown fields dropped):
    // tool pinning hashes what is relayed, and must hash it alike on /mcp and the pass-through.
    listTools: async (params, callOptions) => namedTools(await request("tools/list", params, callOptions)),
    callTool: async (params, callOptions) => (await request("tools/call", params, callOptions, params.name)) as CallToolResult,
    request,
    get capabilities() {
      return client.getServerCapabilities() as Record<string, unknown> | undefined;
    },
    // The caller's list changes on this session, and the updates of the resources in `filter` (subscribed here unless they were for this listener,
    // never unsubscribed: the caller's other sessions may want them), until `cancel`; rejects when the session closes (the caller reconnects).
    listen: async (onMessage, listenOptions) => {
      const uris = new Set(listenOptions.filter?.resourceSubscriptions ?? []);
      if ((client.getServerCapabilities()?.resources as { subscribe?: unknown } | undefined)?.subscribe === true) {
        await subscribed.subscribe(onMessage, uris, (uri) => client.request({ method: "resources/subscribe", params: { uri } }, ResultSchema, { timeout: server.timeoutMs }), listenOptions.cancel);
      }
      await new Promise<void>((resolve, reject) => {
        const stop = () => listeners.delete(onMessage);
        listeners.set(onMessage, {
          uris,
          fail: (error) => {
            stop();
            reject(error);
          },
        });
        listenOptions.onOpen();
        listenOptions.cancel.once("abort", () => {
          stop();
          resolve();
        });
      });
    },
    close: () => client.close(),
  };
}

function namedTools(result: Record<string, unknown>): ListToolsResult {
  if (!Array.isArray(result.tools) || !result.tools.every((tool) => typeof (tool as { name?: unknown } | null)?.name === "string")) {
    throw new UpstreamProtocolError("the tools/list result has no list of named tools");
  }
  return result as ListToolsResult;
}

/** What a legacy SSE session (the caller's, pooled) sends outside a call that a listen relays. */
const LIST_CHANGES = new Set(["notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed"]);

function httpStatus(error: unknown): number | undefined {
  if (isGatewayError(error) && typeof error.extra.upstream_status === "number") return error.extra.upstream_status;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" && code >= 400 && code < 600 ? code : undefined;
}

function isSessionLost(error: unknown): boolean {
  return httpStatus(error) === 404;
}

function isUnauthorized(error: unknown): boolean {
  return httpStatus(error) === 401;
}

function isTransportFailure(error: unknown): boolean {
  return !(error instanceof McpError) || error.code === ErrorCode.ConnectionClosed;
}

/** Name the server and keep the upstream's own words out of the client's view unless they are JSON-RPC errors. */
export function upstreamCallError(server: McpServerEntry, error: unknown, challenge?: string): GatewayError {
  if (isGatewayError(error)) return error;
  if (server.kind === "delegated" && httpStatus(error) === 401) return upstreamUnauthorized(server, challenge, error);
  if (error instanceof UpstreamProtocolError) {
    return new GatewayError({
      status: 502,
      code: "upstream_error",
      // The gateway's own words about the answer, never the answer itself.
      message: `MCP server '${server.name}' answered with something that is not MCP: ${error.message}`,
      detail: `${upstreamLabel(server)}: ${error.message}`,
      rpcCode: JsonRpcCode.UpstreamError,
      extra: { server: server.name },
      cause: error,
    });
  }
  if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
    return upstreamTimeout({ serverName: server.name, timeoutMs: server.timeoutMs }, `${upstreamLabel(server)}: ${error.message}`, error);
  }
  if (error instanceof McpError && error.code !== ErrorCode.ConnectionClosed) {
    // A JSON-RPC error the upstream chose to send: relay its code and message, named.
    return new GatewayError({
      status: 502,
      code: "upstream_error",
      message: `MCP server '${server.name}': ${error.message}`,
      rpcCode: error.code,
      extra: { server: server.name },
      cause: error,
    });
  }
  const status = httpStatus(error);
  return new GatewayError({
    status: 502,
    code: status === undefined ? "upstream_unreachable" : "upstream_error",
    message:
      status === undefined
        ? `MCP server '${server.name}' is unreachable`
        : `MCP server '${server.name}' answered HTTP ${status}`,
    detail: error instanceof Error ? `${upstreamLabel(server)}: ${error.message}` : String(error),
    rpcCode: JsonRpcCode.UpstreamError,
    extra: { server: server.name, ...(status === undefined ? {} : { upstream_status: status }) },
    cause: error,
  });
}

export const UPSTREAM_UNAUTHORIZED = "upstream_unauthorized";

/** A delegating server refused the client's credentials: the client authorizes with the upstream (its challenge is relayed). */
function upstreamUnauthorized(server: McpServerEntry, challenge: string | undefined, cause: unknown): GatewayError {
  return new GatewayError({
    status: 401,
    code: UPSTREAM_UNAUTHORIZED,
    message: `MCP server '${server.name}' answered 401: it delegates auth to its own authorization server; authorize there (your MCP client starts it from this 401) and send that token in Authorization`,
    rpcCode: JsonRpcCode.InvalidRequest,
    ...(challenge === undefined ? {} : { headers: { "www-authenticate": challenge } }),
    extra: { server: server.name, upstream_status: 401 },
    cause,
  });
}

/** Where a server is, for log details: its origin, or `stdio://{name}` for a process. */
function upstreamLabel(server: McpServerEntry): string {
  return server.stdio === undefined ? server.url.origin : server.url.href;
}
