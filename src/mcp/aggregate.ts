/**
 * The aggregate `/mcp` endpoint: the gateway is itself an MCP server (stateless
 * streamable HTTP, `stateless-server.ts`, so any gateway instance can answer any request;
 * a client that accepts only JSON, like curl, gets JSON). `tools/list` merges the tools of every server the
 * caller may use as `{server}-{tool}`; `tools/call` routes to the right upstream.
 * An upstream that is down or slow loses its tools from the list (logged with its name);
 * a call to it is a JSON-RPC error that names it.
 */
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type CallToolResult, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode, isGatewayError, toGatewayError } from "../errors.js";
import { Cancellation, type CancelSource, type HttpAnswer } from "../exchange.js";
import type { AuditRoute, AuditTrail } from "../observability/audit.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { performance } from "node:perf_hooks";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { assertArgumentsAllowed, serversForCaller, toolVisibility } from "./access.js";
import { calledTool, isRequest, type JsonRpcRequest, type ParsedBody } from "./jsonrpc.js";
import { acceptsEventStream, answerMessages, checkTransportHeaders, wantsProgressStream, type MethodHandler, type StatelessServer } from "./stateless-server.js";
import { checkModernRequest, discoverResult, isModernRequest, logLevelAtLeast, modernMethodNotFound, modernResult, requestLogLevel, type ModernServer } from "./modern-protocol.js";
import { aggregateSessionNotFound, keptCapabilities, type AggregateSession, type SessionSeal } from "./aggregate-session.js";
import type { AnswerSlots, InputBridge } from "./input-bridge.js";
import { createAggregateStreams, forwardedMessage, parseForwardedId } from "./aggregate-stream.js";
import { createListens } from "./aggregate-listen.js";
import { streamOwner, type StreamBudget } from "./stream-budget.js";
import { unknownTask, type TaskIds } from "./aggregate-tasks.js";
import type { AggregateSessionsRepository } from "../store/aggregate-sessions-repository.js";
import type { InboundRequestInfo } from "./outbound-headers.js";
import { exposedName, routePrefixedTool, soleServer } from "./tool-routing.js";
import { challengeMetadataUrl, pointChallengeAt, type DelegatedResourceMetadata } from "../oauth/delegated-resource-metadata.js";
import { ownsUpstreamSession, UPSTREAM_UNAUTHORIZED, type UpstreamClients } from "./upstream-clients.js";
import { GATEWAY_CLIENT_INFO, SUBSCRIPTIONS_LISTEN, type ServerMessage } from "./upstream-session.js";
import { DEFAULT_LIST_LIMITS, fanOut, listAllTools, type ListLimits } from "./tool-listing.js";
import { createCatalog, type CatalogRequest } from "./aggregate-catalog.js";
import type { ToolPins } from "./tool-pins.js";

export interface AggregateRequest {
  snapshot: RegistrySnapshot;
  caller: Caller;
  /** `x-mcp-servers`, parsed. */
  narrowTo: readonly string[] | undefined;
  inbound: InboundRequestInfo & { cancel: CancelSource };
  parsed: ParsedBody;
  /** Where a delegating server's relayed challenge points: its metadata as seen from /mcp. */
  resourceMetadataUrl: (server: McpServerEntry) => string;
  /** For the audit trail. */
  requestId?: string;
  /** Authenticates the request again, against the registry as it is then (a long-lived `subscriptions/listen` asks now and then). */
  recheck?: () => Promise<{ caller: Caller; snapshot: RegistrySnapshot }>;
  /** `/{server}/mcp` of a server the gateway serves itself (an OpenAPI server): its tools keep their own names, as on any server's own endpoint. */
  ownNames?: boolean;
}

/** Who a tool call is audited as, besides the caller. */
export interface ToolCallContext {
  route: AuditRoute;
  requestId?: string;
  progress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** The aggregate session the call belongs to, and where the upstream's requests and notifications during it go. */
  session?: AggregateSession;
  /** A task-augmented call's `task` (MCP tasks): the upstream answers with the task it created. */
  task?: Record<string, unknown>;
  /** A 2026-07-28 client's retry of a multi round-trip request: its `inputResponses` and `requestState`, for the upstream. */
  retry?: Record<string, unknown>;
  /** What a 2026-07-28 client declared: its pooled upstream session is opened with them. */
  capabilities?: Record<string, unknown>;
  /** The log level a 2026-07-28 upstream is asked for (the client's request's, or its session's). */
  logLevel?: string;
  forward?: (message: ServerMessage) => void;
}

/** Only in-process uses without a caller (none on HTTP routes, where authentication comes first). */
const UNKNOWN_CALLER: Caller = { kind: "delegated", keyId: "(unknown)", subject: "anonymous", servers: new Set(), tools: new Map() };

export interface ServerTools {
  server: McpServerEntry;
  tools: Tool[];
}

/** A server whose tools/list failed, with the error its callers may be told about. */
export interface ListFailure {
  server: McpServerEntry;
  error: GatewayError;
}

export interface AggregateDeps {
  clients: UpstreamClients;
  log: Logger;
  audit?: AuditTrail;
  metrics?: Pick<GatewayMetrics, "upstreamError">;
  /** Upper bound for one page of one upstream's tools/list inside an aggregated listing. */
  listTimeoutMs: number;
  /** Pages and tools one listing may take from one server (general_settings.tools_list_max_pages / tools_list_max_tools). */
  listLimits?: ListLimits;
  delegated: DelegatedResourceMetadata;
  /** Multi round-trip requests for 2026-07-28 clients of upstreams that ask as earlier revisions do (input-bridge.ts). */
  inputBridge?: InputBridge;
  /** The other way: a 2026-07-28 upstream's input_required fulfilled by an earlier client in a session (input-bridge.ts). */
  answerSlots?: AnswerSlots;
  /** Task ids given to clients (aggregate-tasks.ts); without, task-augmented calls and tasks/* are refused. */
  taskIds?: TaskIds;
  /** Sessions on /mcp (README, "Sessions on /mcp"); without, /mcp is stateless only. `streams` bounds their GET streams' upstream streams. */
  sessions?: {
    seal: SessionSeal;
    repo: AggregateSessionsRepository;
    streams: StreamBudget;
    /** Live sessions one key may hold (general_settings.mcp_aggregate_sessions_per_key); past it, initialize is answered without a session. */
    maxPerKey: number;
    /** How long a session lives (general_settings.mcp_aggregate_session_max_age_hours): older ones no longer count. */
    maxAgeMs: number;
  };
  /** general_settings.mcp_unprefixed_single_server: a request naming one server gets its own tool and prompt names. */
  unprefixedSingleServer?: boolean;
  /** Bounds the upstream streams of 2026-07-28 clients' `subscriptions/listen` (and of sessions' GET streams, without `sessions.streams`); without, listen is not offered. */
  streams?: StreamBudget;
  /** Milliseconds between a stream's checks that its key may go on, and its keep-alives (general_settings.mcp_stream_recheck_seconds). Default 25 s. */
  streamRecheckMs?: number;
  /** Tool pinning (tool-pins.ts): every listing reviewed, calls of blocked changes refused. */
  pins?: ToolPins;
}

/** With sessions, /mcp also says that lists change and resources can be subscribed to (both come on a session's GET stream). */
const SESSION_CAPABILITIES = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  completions: {},
  logging: {},
  tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
};

/** What `/mcp` says of itself in `initialize`. */
const GATEWAY_SERVER = {
  serverInfo: GATEWAY_CLIENT_INFO,
  capabilities: { tools: {}, resources: {}, prompts: {}, completions: {}, logging: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
  instructions:
    "Gatehouse MCP gateway: the tools, prompts and resources of several MCP servers. Tools and prompts are named {server}-{name}; a resource URI two servers share is written gatehouse://{server}/{uri}.",
};

const SESSION_GATEWAY_SERVER = { ...GATEWAY_SERVER, capabilities: SESSION_CAPABILITIES };

/** What /mcp says of itself to 2026-07-28 clients (no logging, no tasks: that revision removed or moved them); list changes and resource updates come on subscriptions/listen. */
const MODERN_GATEWAY: ModernServer = {
  serverInfo: GATEWAY_CLIENT_INFO,
  capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
  instructions: GATEWAY_SERVER.instructions,
  ttlMs: 30_000,
};
const MODERN_LISTENING_GATEWAY: ModernServer = {
  ...MODERN_GATEWAY,
  capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true }, prompts: { listChanged: true }, completions: {} },
};
const MODERN_REMOVED = new Set(["logging/setLevel", "resources/subscribe", "resources/unsubscribe", "tasks/get", "tasks/result", "tasks/cancel", "tasks/list"]);
const RESOURCE_NOT_FOUND_LEGACY = -32002;
/** How long an instance trusts its read of a session's row (another instance's DELETE or logging/setLevel is seen within it). */
const LIVE_ROW_MS = 1_000;
const LIVE_ROWS = 10_000;
/** Resource subscriptions one session may hold where the gateway keeps them (each a row, asked for by its GET stream). */
const MAX_SESSION_SUBSCRIPTIONS = 256;
/** Rounds of input a 2026-07-28 upstream may ask of an earlier client for one call. */
const MAX_INPUT_ROUNDS = 8;

/** What a 2026-07-28 request's client declared that lets an upstream ask it something (sampling, elicitation, roots), or undefined for none. */
function declaredCapabilities(parsed: ParsedBody): Record<string, unknown> | undefined {
  const [first] = parsed.messages;
  const meta = first !== undefined && isRequest(first) ? first.params?._meta : undefined;
  const declared = typeof meta === "object" && meta !== null ? keptCapabilities((meta as Record<string, unknown>)["io.modelcontextprotocol/clientCapabilities"]) : {};
  const { tasks: _tasks, ...asking } = declared;
  return Object.keys(asking).length === 0 ? undefined : asking;
}

function inputRequiredForLegacyClient(server: McpServerEntry): GatewayError {
  return new GatewayError({
    status: 502,
    code: "upstream_input_required",
    message: `MCP server '${server.name}' (MCP 2026-07-28) needs more input for this call (a multi round-trip request), which the gateway cannot yet ask a client of an earlier revision for; call it from a 2026-07-28 client`,
    rpcCode: JsonRpcCode.UpstreamError,
    extra: { server: server.name },
  });
}
/** Answers to upstream requests routed from one POST (an upstream asks a few things at a time: 16 per call at most, upstream-session.ts). */
const RESPONSES_PER_REQUEST = 16;

export function createAggregate(deps: AggregateDeps) {
  const listLimits = deps.listLimits ?? DEFAULT_LIST_LIMITS;
  const streamBudget = deps.sessions?.streams ?? deps.streams;
  const sessionStreams =
    streamBudget === undefined
      ? undefined
      : createAggregateStreams({ clients: deps.clients, streams: streamBudget, log: deps.log, ...(deps.streamRecheckMs === undefined ? {} : { keepAliveMs: deps.streamRecheckMs }) });
  const listens = sessionStreams === undefined ? undefined : createListens({ clients: deps.clients, streams: sessionStreams });
  const modernGatewayServer = listens === undefined ? MODERN_GATEWAY : MODERN_LISTENING_GATEWAY;
  /** The calls of sessions running on this instance, by session and the client's request id: what a notifications/cancelled stops. */
  const runningCalls = new Map<string, Cancellation>();
  const callKey = (session: AggregateSession, id: unknown) => `${session.nonce}\0${JSON.stringify(id)}`;
  /** Sessions' rows as this instance last read them (liveRow). */
  const liveRows = new Map<string, { at: number; row: { logLevel?: string } }>();
  const catalog = createCatalog({
    clients: deps.clients,
    log: deps.log,
    listTimeoutMs: deps.listTimeoutMs,
    ...(deps.sessions === undefined
      ? {}
      : {
          keptSubscription: async (session: AggregateSession, server: McpServerEntry, uri: string, subscribed: boolean) => {
            const kept = await deps.sessions!.repo.setSubscription(session.nonce, server.id, uri, subscribed, MAX_SESSION_SUBSCRIPTIONS);
            if (kept === "full") {
              throw new GatewayError({ status: 400, code: "too_many_subscriptions", message: `this /mcp session already holds ${MAX_SESSION_SUBSCRIPTIONS} resource subscriptions the gateway keeps (at 2026-07-28, stdio and legacy SSE servers): unsubscribe some first`, rpcCode: JsonRpcCode.InvalidRequest });
            }
            // Ended on another instance within the second this one trusts its read of the session (liveRow).
            if (kept === "ended") throw aggregateSessionNotFound();
            // Each restart is a new listen at a 2026-07-28 server: none when nothing changed.
            if (kept === "changed") sessionStreams?.resubscribe(session.nonce, server.id);
          },
        }),
  });
  /** The visible tools of each server, in parallel, and which servers failed (logged), so a caller can explain a tool that is missing. */
  async function listToolsSettled(
    snapshot: RegistrySnapshot,
    caller: Caller,
    servers: readonly McpServerEntry[],
    inbound: InboundRequestInfo,
    session?: AggregateSession,
    capabilities?: Record<string, unknown>,
  ): Promise<{ lists: ServerTools[]; failures: ListFailure[] }> {
    const settled = await fanOut("tools/list", servers, async (server) => {
        const { tools, truncated, pages } = await deps.clients.withClient(
          server,
          snapshot,
          inbound,
          (client) =>
            listAllTools(client, {
              ...(inbound.cancel === undefined ? {} : { cancel: inbound.cancel }),
              pageTimeoutMs: Math.min(server.timeoutMs, deps.listTimeoutMs),
              totalTimeoutMs: server.timeoutMs,
              limits: listLimits,
            }),
          session,
          capabilities,
        );
        if (truncated !== undefined) {
          deps.log.warn({ server: server.name, reason: truncated, pages, tools: tools.length }, "tools/list of an MCP server was cut short (a bound on pages, tools or time); its tools listed so far are served");
        }
        const reviewed = deps.pins === undefined ? tools : await deps.pins.review(server, tools);
        const visible = toolVisibility(caller, server);
        return { server, tools: visible === undefined ? reviewed : reviewed.filter((tool) => visible(tool.name)) };
      });
    const lists: ServerTools[] = [];
    const failures: ListFailure[] = [];
    settled.forEach((outcome, index) => {
      if (outcome.status === "fulfilled") {
        lists.push(outcome.value);
        return;
      }
      const server = servers[index]!;
      const error = toGatewayError(outcome.reason);
      failures.push({ server, error });
      deps.log.warn(
        { server: server.name, code: error.code, detail: error.detail ?? error.message },
        "tools/list failed for an MCP server; its tools are left out of the aggregated list",
      );
    });
    return { lists, failures };
  }

  /** One tool call on a pooled upstream session, audited under `call.route`; upstream failures are counted. */
  async function callTool(
    server: McpServerEntry,
    tool: string,
    args: Record<string, unknown> | undefined,
    snapshot: RegistrySnapshot,
    inbound: InboundRequestInfo,
    call: ToolCallContext,
  ): Promise<CallToolResult> {
    const started = performance.now();
    const audit = { requestId: call.requestId, caller: inbound.caller ?? UNKNOWN_CALLER, route: call.route, server: server.name, tool };
    try {
      // Here, not in each route: /mcp and both REST forms (prefixed, server_name, or a name one server offers) all call through this.
      assertArgumentsAllowed(server, tool, args);
      const pinned = deps.pins?.assertCallable(server, tool);
      if (pinned !== undefined) await pinned;
      const result = await deps.clients.withClient(
        server,
        snapshot,
        inbound,
        (client) =>
          client.callTool({ name: tool, ...(args === undefined ? {} : { arguments: args }), ...(call.task === undefined ? {} : { task: call.task }), ...call.retry }, {
            ...(inbound.cancel === undefined ? {} : { cancel: inbound.cancel }),
            timeout: server.timeoutMs,
            ...(call.progress === undefined ? {} : { onprogress: call.progress, resetTimeoutOnProgress: true }),
            ...(call.logLevel === undefined ? {} : { logLevel: call.logLevel }),
            ...(call.forward === undefined ? {} : { onServerMessage: call.forward }),
          }),
        call.session,
        call.capabilities,
      );
      deps.audit?.record({ ...audit, outcome: result.isError === true ? "tool_error" : "ok", durationMs: performance.now() - started });
      return result;
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.code.startsWith("upstream_")) deps.metrics?.upstreamError(server.name, failure.code);
      deps.audit?.record({ ...audit, outcome: "error", status: failure.status, errorCode: failure.code, durationMs: performance.now() - started });
      throw failure;
    }
  }

  /**
   * When every server delegates auth upstream, an upstream's 401 must reach the client as
   * an HTTP 401 with its challenge (seed step 3), not as a server missing from the list
   * or a JSON-RPC error: MCP clients start OAuth only on an HTTP 401. New sessions are
   * opened before the request is answered (so `initialize` gets the 401 too), and a
   * refusal during the request (a pooled session whose token expired) replaces its answer.
   */
  function relayedChallenge(request: AggregateRequest, server: McpServerEntry, error: GatewayError): GatewayError {
    const challenge = error.headers["www-authenticate"];
    if (challenge === undefined) return error;
    deps.delegated.remember(server, challenge);
    const pointed = challengeMetadataUrl(challenge) === undefined ? challenge : pointChallengeAt(challenge, request.resourceMetadataUrl(server));
    return new GatewayError({ status: 401, code: error.code, message: error.message, extra: error.extra, headers: { "www-authenticate": pointed }, cause: error });
  }

  async function openDelegatedSessions(request: AggregateRequest, servers: readonly McpServerEntry[]): Promise<void> {
    const opened = await Promise.allSettled(servers.map((server) => deps.clients.withClient(server, request.snapshot, request.inbound, async () => undefined)));
    const refused = opened.findIndex((outcome) => outcome.status === "rejected" && isUpstreamRefusal(outcome.reason));
    if (refused !== -1) throw relayedChallenge(request, servers[refused]!, (opened[refused] as PromiseRejectedResult).reason as GatewayError);
  }

  /**
   * The session of this request: the one its Mcp-Session-Id names (404 when it is not this
   * caller's, ended or unknown), a new one for an `initialize` without it, or none (stateless).
   */
  async function sessionOf(request: AggregateRequest): Promise<{ session?: AggregateSession; issued?: string }> {
    if (deps.sessions === undefined) return {};
    const presented = request.inbound.headers.get("mcp-session-id");
    const owner = streamOwner(request.caller, request.inbound.headers);
    if (presented !== null) {
      const session = deps.sessions.seal.open(presented, request.caller, owner);
      const live = await liveRow(session.nonce);
      if (live === undefined) throw aggregateSessionNotFound();
      return { session: live.logLevel === undefined ? session : { ...session, logLevel: live.logLevel } };
    }
    const initialize = request.parsed.messages.find((message): message is JsonRpcRequest => isRequest(message) && message.method === "initialize");
    if (initialize === undefined) return {};
    const issued = deps.sessions.seal.issue(request.caller, owner, initialize.params?.capabilities, negotiatedVersion(initialize.params?.protocolVersion));
    // Each session is a row and, once used, an upstream session at every server: a key that initializes in a loop gets stateless answers past its bound.
    if (!(await deps.sessions.repo.create(issued.nonce, { name: owner, maxLive: deps.sessions.maxPerKey, withinMs: deps.sessions.maxAgeMs }))) {
      deps.log.warn({ key: request.caller.keyId, limit: deps.sessions.maxPerKey }, "a key holds its maximum of live /mcp sessions (mcp_aggregate_sessions_per_key); initialize is answered without a session (end sessions with DELETE /mcp)");
      return {};
    }
    return { session: issued, issued: issued.id };
  }

  /**
   * A live session's row, as this instance read it at most LIVE_ROW_MS ago (a session's
   * requests do not each read the database); undefined when it is not live. What this
   * instance changes (DELETE, logging/setLevel) it changes here too; another instance's
   * DELETE is seen within LIVE_ROW_MS.
   */
  async function liveRow(nonce: string): Promise<{ logLevel?: string } | undefined> {
    const cached = liveRows.get(nonce);
    if (cached !== undefined && Date.now() - cached.at < LIVE_ROW_MS) return cached.row;
    const row = await deps.sessions!.repo.live(nonce);
    liveRows.delete(nonce);
    if (row === undefined) return undefined;
    liveRows.set(nonce, { at: Date.now(), row });
    if (liveRows.size > LIVE_ROWS) liveRows.delete(liveRows.keys().next().value!);
    return row;
  }

  /**
   * A client's notifications/cancelled in a session: the named call stops if it runs on this
   * instance (the upstream is told, as when the client goes away). On another instance, the
   * call's own stream closing (which clients do when they cancel) stops it there.
   */
  function cancelCalls(request: AggregateRequest, session: AggregateSession | undefined): void {
    if (session === undefined) return;
    for (const message of request.parsed.messages) {
      if (!isRequest(message) || message.method !== "notifications/cancelled") continue;
      runningCalls.get(callKey(session, message.params?.requestId))?.abort();
    }
  }

  /**
   * The client's answers to requests an upstream sent it: each goes back to that upstream's
   * session, RESPONSES_PER_REQUEST at most per POST (each is a POST upstream, and answers
   * count against no limit of the key; an upstream asks a few things at a time).
   */
  async function routeResponses(request: AggregateRequest, servers: readonly McpServerEntry[], session: AggregateSession | undefined): Promise<void> {
    let routed = 0;
    for (const message of request.parsed.messages) {
      if (isRequest(message)) continue;
      if (++routed > RESPONSES_PER_REQUEST) {
        deps.log.warn({ limit: RESPONSES_PER_REQUEST }, "a POST to /mcp held more answers to upstream requests than are routed from one request; the rest were dropped");
        return;
      }
      const target = session === undefined ? undefined : parseForwardedId(message.id);
      const server = target === undefined ? undefined : servers.find((entry) => entry.name === target.server);
      if (target === undefined || server === undefined) {
        deps.log.debug({ id: String(message.id).slice(0, 100) }, "a response on /mcp that answers no upstream request of this session was dropped");
        continue;
      }
      const answer = "error" in message && message.error !== undefined ? { error: message.error } : { result: (message as { result?: unknown }).result ?? {} };
      if (deps.answerSlots?.isSlotId(target.id) === true) {
        // An answer to a 2026-07-28 upstream's input request: for the call that waits for it, wherever it runs.
        const result = "result" in answer && typeof answer.result === "object" && answer.result !== null ? (answer.result as Record<string, unknown>) : {};
        await deps.answerSlots.deliver(target.id, result, { session: session!.nonce, server: server.name }).catch((error: unknown) => deps.log.warn({ server: server.name, err: toGatewayError(error).message }, "could not hand the client's answer to the waiting call"));
        continue;
      }
      await deps.clients
        .withClient(server, request.snapshot, request.inbound, async (client) => client.respond?.(target.id, answer), session)
        .catch((error: unknown) => deps.log.warn({ server: server.name, err: toGatewayError(error).message }, "could not return the client's answer to an upstream request"));
    }
  }

  /** The live session a GET or DELETE names: 405 without an id (or without sessions), 404 for one not this caller's, ended or too old. */
  async function presentedSession(
    request: Pick<AggregateRequest, "caller" | "inbound">,
    what: string,
  ): Promise<{ session: AggregateSession; sessions: NonNullable<AggregateDeps["sessions"]>; owner: string }> {
    const presented = request.inbound.headers.get("mcp-session-id");
    if (deps.sessions === undefined || presented === null) {
      throw new GatewayError({
        status: 405,
        code: "method_not_allowed",
        message: `${what}: send the Mcp-Session-Id that initialize gave (POST JSON-RPC otherwise)`,
        rpcCode: JsonRpcCode.InvalidRequest,
        headers: { allow: "GET, POST, DELETE" },
      });
    }
    const owner = streamOwner(request.caller, request.inbound.headers);
    const session = deps.sessions.seal.open(presented, request.caller, owner);
    if ((await deps.sessions.repo.state(session.nonce)) !== "live") throw aggregateSessionNotFound();
    return { session, sessions: deps.sessions, owner };
  }

  /**
   * GET /mcp: the session's stream (what its upstreams send outside any call). `recheck`
   * authenticates the request again, against the registry as it is then.
   */
  async function openStream(
    request: Pick<AggregateRequest, "snapshot" | "caller" | "inbound" | "narrowTo" | "recheck">,
  ): Promise<HttpAnswer> {
    const { session, sessions, owner } = await presentedSession(request, "GET /mcp opens a session's stream");
    if (sessionStreams === undefined) throw aggregateSessionNotFound();
    const servers = serversForCaller(request.snapshot, request.caller, request.narrowTo);
    const taskIds = deps.taskIds;
    const repo = sessions.repo;
    const maxAgeMs = sessions.maxAgeMs;
    const permitted = stillPermitted(request, owner, servers);
    const stillAllowed = async (): Promise<boolean> => !(Date.now() - session.issuedAt > maxAgeMs || (await repo.state(session.nonce)) !== "live") && (await permitted());
    return sessionStreams.open({
      stillAllowed,
      subscriptions: (server) => repo.subscriptions(session.nonce, server.id),
      snapshot: request.snapshot,
      caller: request.caller,
      servers,
      inbound: request.inbound,
      session,
      ...(taskIds === undefined ? {} : { outwardTasks: (server: McpServerEntry, message: ServerMessage) => taskIds.rewrite(server, owner, message) }),
    });
  }

  /**
   * Whether a long-lived stream's caller may go on: its key authenticates again (`recheck`,
   * against the registry as it is then), as the same owner, and may still use every server
   * the stream follows, as configured when it opened.
   */
  function stillPermitted(
    request: Pick<AggregateRequest, "caller" | "inbound" | "narrowTo" | "recheck">,
    owner: string,
    servers: readonly McpServerEntry[],
  ): () => Promise<boolean> {
    const recheck = request.recheck;
    return async () => {
      if (recheck === undefined) return true;
      const again = await recheck();
      if (again.caller.subject !== request.caller.subject || streamOwner(again.caller, request.inbound.headers) !== owner) return false;
      // The entries, not their ids: a server whose config changed (its URL, its credentials) is a new entry, and a stream that reconnected to it as it was would send the old credentials to the old URL.
      const permitted = new Set(serversForCaller(again.snapshot, again.caller, request.narrowTo));
      return servers.every((server) => permitted.has(server));
    };
  }

  /** A 2026-07-28 client's `subscriptions/listen`: its long-lived stream of the change notifications it asked for. */
  async function listen(request: AggregateRequest, message: JsonRpcRequest, servers: readonly McpServerEntry[], sole: McpServerEntry | undefined): Promise<HttpAnswer> {
    if (listens === undefined || message.id === undefined) throw modernMethodNotFound(message.method);
    const owner = streamOwner(request.caller, request.inbound.headers);
    const scope: CatalogRequest = { snapshot: request.snapshot, caller: request.caller, servers, sole, inbound: request.inbound };
    return listens.listen({
      snapshot: request.snapshot,
      caller: request.caller,
      servers,
      inbound: request.inbound,
      id: message.id,
      params: message.params ?? {},
      routeUri: (uri) => catalog.route(scope, uri, "subscriptions/listen"),
      stillAllowed: stillPermitted(request, owner, servers),
      serverInfo: GATEWAY_CLIENT_INFO,
    });
  }

  /** DELETE /mcp: ends the caller's session and every upstream session under it. */
  async function endSession(request: Pick<AggregateRequest, "snapshot" | "caller" | "inbound">): Promise<HttpAnswer> {
    const { session } = await presentedSession(request, "DELETE /mcp ends a session");
    liveRows.delete(session.nonce);
    sessionStreams?.closeSession(session.nonce);
    await deps.clients.endSession(session, request.snapshot, request.inbound);
    return { status: 200, headers: {}, body: null };
  }

  /** Answer one POST /mcp. */
  async function handle(request: AggregateRequest): Promise<HttpAnswer> {
    const modern = isModernRequest(request.inbound.headers, request.parsed);
    checkTransportHeaders(request.inbound.headers, request.parsed, { versionChecked: modern });
    if (modern) checkModernRequest(request.inbound.headers, request.parsed);
    const servers = serversForCaller(request.snapshot, request.caller, request.narrowTo);
    // The 2026-07-28 revision has no sessions: an Mcp-Session-Id is ignored, none is given. Its
    // client declares its capabilities in each request instead: those that let an upstream ask it something.
    const { session, issued } = modern ? {} : await sessionOf(request);
    const declared = modern && deps.inputBridge !== undefined ? declaredCapabilities(request.parsed) : undefined;
    // The 2026-07-28 revision asks for log messages per request; an earlier client sets its session's level once.
    const logLevel = modern ? requestLogLevel(request.parsed) : session?.logLevel;
    /** A 2026-07-28 client's call: the log messages it asked for, on the call's stream. */
    const modernLogs = (server: McpServerEntry, send: ((message: Record<string, unknown>) => void) | undefined) =>
      modern && logLevel !== undefined && send !== undefined
        ? (message: ServerMessage) => {
            if (message.method !== "notifications/message" || !logLevelAtLeast(message.params?.level, logLevel)) return;
            const forwarded = forwardedMessage(server, message);
            if (forwarded !== undefined) send(forwarded);
          }
        : undefined;
    cancelCalls(request, session);
    await routeResponses(request, servers, session);
    const sole = soleServer(deps.unprefixedSingleServer === true || request.ownNames === true, request.narrowTo, servers);
    // An Mcp-Method saying subscriptions/listen goes with that 2026-07-28 request only (what reads the header must not take a call for a stream).
    const [first] = request.parsed.messages;
    const listening = first !== undefined && isRequest(first) && first.method === SUBSCRIPTIONS_LISTEN;
    if (request.inbound.headers.get("mcp-method") === SUBSCRIPTIONS_LISTEN && !(modern && listening)) {
      throw new GatewayError({ status: 400, code: "header_mismatch", message: "Header mismatch: Mcp-Method says subscriptions/listen, which is a single 2026-07-28 request", rpcCode: -32020 });
    }
    const delegating = servers.length > 0 && servers.every((entry) => entry.kind === "delegated");
    /** The first upstream refusal of a delegating server during this request. */
    let refusal: { server: McpServerEntry; error: GatewayError } | undefined;
    const noteRefusal = (entry: McpServerEntry, error: GatewayError) => {
      if (delegating && isUpstreamRefusal(error)) refusal ??= { server: entry, error };
    };
    if (delegating) await openDelegatedSessions(request, servers);
    // After that check: a listen whose credential a delegating server refuses is that server's 401, not a stream holding a place in the budget while the refused credential is retried upstream.
    if (modern && listening) return listen(request, first, servers, sole);
    // A forbidden tool is an HTTP 403 like on every other route.
    for (const message of request.parsed.messages) {
      const name = calledTool(message);
      if (name === undefined) continue;
      try {
        routePrefixedTool(request.snapshot, servers, request.caller, name, sole);
      } catch (error) {
        if (!(error instanceof GatewayError && error.status === 403)) continue;
        deps.audit?.record({ requestId: request.requestId, caller: request.caller, route: "aggregate", server: "", tool: name, outcome: "error", status: error.status, errorCode: error.code, durationMs: 0 });
        throw error;
      }
    }

    // One listing per HTTP request, however many tools/list a batch holds: each would otherwise be a full bounded listing of every upstream.
    let listing: Promise<{ tools: unknown[] }> | undefined;
    const listOnce = async () => {
      const { lists, failures } = await listToolsSettled(request.snapshot, request.caller, servers, request.inbound, session, declared);
      for (const failure of failures) noteRefusal(failure.server, failure.error);
      return {
        tools: lists.flatMap(({ server: entry, tools }) => tools.map((tool) => ({ ...tool, name: exposedName(sole, entry, tool.name) }))),
      };
    };
    const scope: CatalogRequest = { snapshot: request.snapshot, caller: request.caller, servers, sole, inbound: request.inbound, ...(session === undefined ? {} : { session }) };
    /** A catalog method; a delegating server's refusal is noted, so its challenge can replace the answer. */
    const catalogMethod =
      (run: (params: Record<string, unknown>) => Promise<unknown>) =>
      async (params: Record<string, unknown>): Promise<unknown> => {
        try {
          return await run(params);
        } catch (error) {
          const failure = toGatewayError(error);
          const named = typeof failure.extra.server === "string" ? servers.find((entry) => entry.name === failure.extra.server) : undefined;
          if (named !== undefined) noteRefusal(named, failure);
          throw failure;
        }
      };
    const owner = streamOwner(request.caller, request.inbound.headers);
    /** Every upstream task id in `value` as this caller's gateway task id. */
    const outwardTasks = <T,>(server: McpServerEntry, value: T): T => (deps.taskIds === undefined ? value : deps.taskIds.rewrite(server, owner, value));
    /** tasks/get, tasks/result, tasks/cancel: to the server the id names, for the caller it was given to. */
    const taskMethod =
      (method: "tasks/get" | "tasks/result" | "tasks/cancel") =>
      async (params: Record<string, unknown>): Promise<unknown> => {
        const target = typeof params.taskId === "string" && deps.taskIds !== undefined ? deps.taskIds.inward(owner, params.taskId, (name) => servers.find((entry) => entry.name === name)) : undefined;
        if (target === undefined) throw unknownTask(params.taskId);
        const result = await deps.clients.withClient(
          target.server,
          request.snapshot,
          request.inbound,
          (client) => client.request(method, { ...params, taskId: target.taskId }, { ...(request.inbound.cancel === undefined ? {} : { cancel: request.inbound.cancel }), timeout: target.server.timeoutMs }),
          session,
        );
        return outwardTasks(target.server, result);
      };
    const methods: StatelessServer["methods"] = {
      "tasks/get": catalogMethod(taskMethod("tasks/get")),
      "tasks/result": catalogMethod(taskMethod("tasks/result")),
      "tasks/cancel": catalogMethod(taskMethod("tasks/cancel")),
      "tasks/list": catalogMethod((params) => catalog.listTasks(scope, params.cursor, (server, task) => outwardTasks(server, task))),
      "resources/list": catalogMethod((params) => catalog.listResources(scope, params.cursor)),
      "resources/templates/list": catalogMethod((params) => catalog.listTemplates(scope, params.cursor)),
      "resources/read": catalogMethod((params) => catalog.readResource(scope, params)),
      "resources/subscribe": catalogMethod((params) => catalog.subscribe(scope, params)),
      "resources/unsubscribe": catalogMethod((params) => catalog.unsubscribe(scope, params)),
      "prompts/list": catalogMethod((params) => catalog.listPrompts(scope, params.cursor)),
      "prompts/get": catalogMethod((params) => catalog.getPrompt(scope, params)),
      "completion/complete": catalogMethod((params) => catalog.complete(scope, params)),
      "logging/setLevel": catalogMethod(async (params) => {
        const answer = await catalog.setLevel(scope, params);
        // 2026-07-28 upstreams take the level with each request of the session, from whichever instance serves it.
        if (session !== undefined && deps.sessions !== undefined) {
          await deps.sessions.repo.setLogLevel(session.nonce, params.level as string);
          liveRows.delete(session.nonce);
        }
        return answer;
      }),
      "tools/list": () => (listing ??= listOnce()),
      "tools/call": async (params, context) => {
        const { name, arguments: args, task } = params;
        if (typeof name !== "string" || (args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args)))) {
          throw new GatewayError({ status: 400, code: "invalid_params", message: "tools/call needs params.name (a string) and optional params.arguments (an object)", rpcCode: JsonRpcCode.InvalidParams });
        }
        if (task !== undefined && (typeof task !== "object" || task === null || Array.isArray(task) || deps.taskIds === undefined)) {
          throw new GatewayError({ status: 400, code: "invalid_params", message: "tools/call: params.task must be an object (a task-augmented call)", rpcCode: JsonRpcCode.InvalidParams });
        }
        let called: McpServerEntry | undefined;
        let key: string | undefined;
        try {
          const route = routePrefixedTool(request.snapshot, servers, request.caller, name, sole);
          called = route.server;
          const send = context.send;
          // In a session, the call can be cancelled by the client's notifications/cancelled as well as by its going away.
          let inbound = request.inbound;
          if (session !== undefined && context.id !== undefined) {
            const cancel = new Cancellation();
            if (request.inbound.cancel.aborted) cancel.abort();
            else request.inbound.cancel.once("abort", () => cancel.abort());
            key = callKey(session, context.id);
            runningCalls.set(key, cancel);
            inbound = { ...request.inbound, cancel };
          }
          const bridge = deps.inputBridge;
          if (declared !== undefined && bridge !== undefined && bridge.owns(params.requestState)) {
            return outwardTasks(
              route.server,
              await bridge.resume(route.server, params.requestState, params.inputResponses, (server, upstreamSession, id, answer) =>
                deps.clients.answerUpstream(server, request.snapshot, inbound, upstreamSession, id, answer),
              ),
            );
          }
          if (declared !== undefined && bridge !== undefined && ownsUpstreamSession(route.server)) {
            // The call outlives this HTTP request when the upstream asks something (the client answers in a retry): only its timeout, or the bridge, ends it.
            const started = (forward: (message: ServerMessage) => void, cancel: Cancellation) =>
              callTool(route.server, route.tool, args as Record<string, unknown> | undefined, request.snapshot, { ...inbound, cancel }, {
                route: "aggregate",
                requestId: request.requestId,
                ...(context.progress === undefined ? {} : { progress: context.progress }),
                ...(task === undefined ? {} : { task: task as Record<string, unknown> }),
                // A 2026-07-28 upstream's own multi round-trip retry goes to it unchanged.
                ...(params.inputResponses !== undefined || params.requestState !== undefined
                  ? { retry: { ...(params.inputResponses === undefined ? {} : { inputResponses: params.inputResponses }), ...(params.requestState === undefined ? {} : { requestState: params.requestState }) } }
                  : {}),
                capabilities: declared,
                ...(logLevel === undefined ? {} : { logLevel }),
                forward,
              }) as Promise<Record<string, unknown>>;
            const logs = modernLogs(route.server, context.send);
            return outwardTasks(route.server, await bridge.run(route.server, { owner, keyId: request.caller.keyId }, started, logs));
          }
          // In a session, everything the upstream sends during the call reaches the client; a 2026-07-28 call gets the log messages it asked for.
          const forward =
            session === undefined || send === undefined
              ? modernLogs(route.server, send)
              : (message: ServerMessage) => {
                  const forwarded = forwardedMessage(route.server, outwardTasks(route.server, message));
                  if (forwarded !== undefined) send(forwarded);
                };
          const result = await callTool(route.server, route.tool, args as Record<string, unknown> | undefined, request.snapshot, inbound, {
            route: "aggregate",
            requestId: request.requestId,
            ...(context.progress === undefined ? {} : { progress: context.progress }),
            ...(session === undefined ? {} : { session }),
            ...(task === undefined ? {} : { task: task as Record<string, unknown> }),
            ...(modern && (params.inputResponses !== undefined || params.requestState !== undefined)
              ? { retry: { ...(params.inputResponses === undefined ? {} : { inputResponses: params.inputResponses }), ...(params.requestState === undefined ? {} : { requestState: params.requestState }) } }
              : {}),
            ...(logLevel === undefined ? {} : { logLevel }),
            ...(forward === undefined ? {} : { forward }),
          });
          // A 2026-07-28 upstream that needs input answers input_required: a 2026-07-28 client retries with it itself; an
          // earlier client in a session is asked on the call's stream, and the gateway retries; without a session it cannot be.
          if ((result as { resultType?: unknown }).resultType === "input_required" && !modern) {
            const slots = deps.answerSlots;
            if (session === undefined || send === undefined || slots === undefined) throw inputRequiredForLegacyClient(route.server);
            let current = result as Record<string, unknown>;
            for (let round = 1; current.resultType === "input_required"; round++) {
              if (round > MAX_INPUT_ROUNDS) throw inputRequiredForLegacyClient(route.server);
              const requests = (typeof current.inputRequests === "object" && current.inputRequests !== null ? current.inputRequests : {}) as Record<string, { method?: unknown; params?: unknown }>;
              const call = slots.newCall(session.nonce, route.server.name);
              for (const [key, asked] of Object.entries(requests)) {
                if (typeof asked.method !== "string") continue;
                const forwarded = forwardedMessage(route.server, { method: asked.method, id: slots.slotId(call, key), ...(typeof asked.params === "object" && asked.params !== null ? { params: asked.params as Record<string, unknown> } : {}) });
                if (forwarded !== undefined) send(forwarded);
              }
              const answers = Object.fromEntries(await Promise.all(Object.keys(requests).map(async (key) => [key, await slots.take(slots.slotId(call, key), route.server.timeoutMs)] as const)));
              current = (await callTool(route.server, route.tool, args as Record<string, unknown> | undefined, request.snapshot, inbound, {
                route: "aggregate",
                requestId: request.requestId,
                session,
                ...(logLevel === undefined ? {} : { logLevel }),
                retry: { inputResponses: answers, ...(current.requestState === undefined ? {} : { requestState: current.requestState }) },
              })) as Record<string, unknown>;
            }
            return outwardTasks(route.server, current);
          }
          return outwardTasks(route.server, result);
        } catch (error) {
          const failure = toGatewayError(error);
          if (called !== undefined) noteRefusal(called, failure);
          // Refused before it reached a server (an unknown tool, one the key may not use): in the trail too, as the pass-through's refusals are.
          else deps.audit?.record({ requestId: request.requestId, caller: request.caller, route: "aggregate", server: "", tool: name, outcome: "error", status: failure.status, errorCode: failure.code, durationMs: 0 });
          if (failure.status >= 500) deps.log.warn({ code: failure.code, detail: failure.detail ?? failure.message, tool: name }, "aggregated tools/call failed");
          throw failure;
        } finally {
          if (key !== undefined) runningCalls.delete(key);
        }
      },
    };
    // Debug headers must describe the calls, which a stream would start before: debug requests get JSON (no progress).
    // So do requests to delegating servers: an upstream 401 must be able to replace the whole answer.
    // In a session, a call streams whenever the client takes streams: its upstream may ask the client something meanwhile.
    // So does a 2026-07-28 call that asks for log messages: they come on its stream.
    const sessionStream = (session !== undefined || (modern && logLevel !== undefined)) && acceptsEventStream(request.inbound.headers) && request.parsed.messages.some((message) => calledTool(message) !== undefined);
    // A progress stream starts at once; a session's call streams only once the upstream sends something before the result (else JSON: cheaper).
    const stream = request.inbound.debug !== undefined || delegating ? false : wantsProgressStream(request.inbound.headers, request.parsed) ? true : sessionStream ? "upgrade" : false;
    const server = modern ? modernGateway(methods) : { ...(deps.sessions === undefined ? GATEWAY_SERVER : SESSION_GATEWAY_SERVER), methods };
    if (modern) {
      if (first !== undefined && isRequest(first) && first.id !== undefined && !Object.hasOwn(server.methods, first.method)) throw modernMethodNotFound(first.method);
    }
    const answer = await answerMessages(server, request.parsed, {
      stream,
      onDropped: () => deps.log.warn({ requestId: request.requestId }, "an /mcp answer stream is not being read fast enough; notifications are dropped until it catches up"),
      beforeAnswer: () => {
        if (refusal !== undefined) throw relayedChallenge(request, refusal.server, refusal.error);
      },
    });
    return issued === undefined ? answer : { ...answer, headers: { ...answer.headers, "mcp-session-id": issued } };
  }

  /**
   * The aggregate as a 2026-07-28 server: `server/discover`, and every method's result
   * shaped for the revision (the methods it removed or moved into extensions are not offered:
   * logging/setLevel, tasks/*, resources/subscribe).
   */
  function modernGateway(methods: StatelessServer["methods"]): StatelessServer {
    const modern: StatelessServer["methods"] = {};
    const shape = (method: string, handler: MethodHandler): MethodHandler => async (params, context) => {
      try {
        return modernResult(method, await handler(params, context), modernGatewayServer);
      } catch (error) {
        const failure = toGatewayError(error);
        // This revision names an unknown resource -32602 (invalid params), where earlier ones said -32002.
        if (failure.rpcCode === RESOURCE_NOT_FOUND_LEGACY) throw new GatewayError({ status: failure.status, code: failure.code, message: failure.message, rpcCode: JsonRpcCode.InvalidParams, extra: failure.extra, cause: failure });
        throw failure;
      }
    };
    for (const [method, handler] of Object.entries(methods)) {
      if (!MODERN_REMOVED.has(method)) modern[method] = shape(method, handler);
    }
    modern["server/discover"] = shape("server/discover", async () => discoverResult(modernGatewayServer));
    return { serverInfo: GATEWAY_SERVER.serverInfo, capabilities: modernGatewayServer.capabilities, instructions: GATEWAY_SERVER.instructions, methods: modern };
  }

  /** Ends every long-lived stream of this instance (shutdown): a subscriptions/listen gets its closing result first. */
  function close(): void {
    sessionStreams?.closeAll();
  }

  return { handle, openStream, endSession, listToolsSettled, callTool, close };
}

export type Aggregate = ReturnType<typeof createAggregate>;

function negotiatedVersion(requested: unknown): string {
  return typeof requested === "string" && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

function isUpstreamRefusal(error: unknown): error is GatewayError {
  return isGatewayError(error) && error.code === UPSTREAM_UNAUTHORIZED;
}
