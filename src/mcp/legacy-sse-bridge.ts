/**
 * Legacy HTTP+SSE upstreams (`transport: sse`, MCP 2024-11-05) behind the same
 * streamable-HTTP route as every other server. The gateway holds, per client session,
 * one SSE connection to the upstream and one streamable-HTTP server transport toward the
 * client (both from the official SDK), and relays JSON-RPC messages between them.
 *
 * Sessions live in this process: deployments with several instances need sticky
 * sessions for legacy SSE servers (README). Streamable-HTTP servers do not.
 *
 * Each session holds one upstream SSE stream for its whole life, so opening one draws on
 * the stream budget (stream-budget.ts) like a pass-through GET stream: 429 past it.
 */
import { randomUUID } from "node:crypto";
import type { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import type { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { JSONRPCMessage, RequestId } from "@modelcontextprotocol/sdk/types.js";
import { DebugRecorder, type UpstreamCallRecord } from "../debug.js";
import { fetchHeaders } from "../headers.js";
import { JsonRpcCode } from "../errors.js";
import type { Logger } from "../log.js";
import { toolVisibility } from "./access.js";
import type { JsonRpcId, ParsedBody } from "./jsonrpc.js";
import type { CredentialScrubber } from "../credential-scrubber.js";
import { outboundRequest, retryAfterUnauthorized } from "./outbound-headers.js";
import type { Caller } from "../auth/inbound/caller.js";
import type { CredentialScreen } from "../auth/inbound/credential-screen.js";
import type { PresentedKey } from "../auth/inbound/gateway-key.js";
import type { InboundRequest } from "../exchange.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { ToolVisible } from "./tool-list-filter.js";
import type { ToolPins } from "./tool-pins.js";
import { activeTraceContext, withTraceMeta } from "../observability/tracing.js";
import { upstreamCallError } from "./upstream-clients.js";
import { upstreamTimeout } from "./upstream-http.js";
import { bridgeSessions, type BridgeSessionBase } from "./bridge-sessions.js";
import { streamOwner, type StreamBudget } from "./stream-budget.js";
import { clientAnswersChallenge, upstreamAuthFailed } from "./upstream-refusal.js";

/** The SDK's SSE client and server transport, loaded with the first legacy SSE session (most deployments have none). */
const sdk = async () => {
  const [client, server] = await Promise.all([import("@modelcontextprotocol/sdk/client/sse.js"), import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js")]);
  return { SSEClientTransport: client.SSEClientTransport, SseError: client.SseError, WebStandardStreamableHTTPServerTransport: server.WebStandardStreamableHTTPServerTransport };
};

interface BridgeSession extends BridgeSessionBase {
  /** The credentials chosen when the session opened, reported again on each of its requests. */
  call: UpstreamCallRecord | undefined;
  client: WebStandardStreamableHTTPServerTransport;
  upstream: SSEClientTransport;
  /** Frees the session's slot in the stream budget (idempotent). */
  release: () => void;
}

/** What the bridge reads of a pass-through request (declared here: the pass-through imports the bridge). */
export interface LegacySseRequest {
  snapshot: RegistrySnapshot;
  server: McpServerEntry;
  caller: Caller;
  /** The client's request: method, headers, cancellation, request id, debug recorder. */
  inbound: InboundRequest;
  presentedKey: PresentedKey | undefined;
  /** Which inbound header values hold a gateway key (never forwarded). */
  screen: CredentialScreen;
  /** The raw request body (POST only). */
  body: string | undefined;
}

export interface LegacySseBridge {
  handle(request: LegacySseRequest, parsed: ParsedBody | undefined): Promise<Response>;
  close(): Promise<void>;
}

export function createLegacySseBridge(deps: { log: Logger; streams: StreamBudget; maxSessions?: number; idleMs?: number; now?: () => number; pins?: ToolPins }): LegacySseBridge {
  const sessions = bridgeSessions<BridgeSession>(deps, (session) => {
    session.release();
    void session.upstream.close().catch(() => undefined);
    void session.client.close().catch(() => undefined);
  });
  const closeSession = sessions.close;

  /** The upstream's SSE stream, open and past its endpoint event; one retry when a cached token is refused. */
  async function connectUpstream(request: LegacySseRequest, recorder: DebugRecorder): Promise<{ upstream: SSEClientTransport; scrubber: CredentialScrubber }> {
    const { server } = request;
    const { SSEClientTransport, SseError } = await sdk();
    for (let attempt = 0; ; attempt++) {
      const outbound = await outboundRequest(server, request.snapshot, { headers: request.inbound.headers, presentedKey: request.presentedKey, screen: request.screen, caller: request.caller, debug: recorder, signal: request.inbound.signal }, { forwardMcpHeaders: false });
      const upstream = new SSEClientTransport(server.url, { requestInit: { headers: outbound.headers } });
      try {
        await withTimeout(upstream.start(), request.inbound.signal, server.timeoutMs, () =>
          upstreamTimeout({ serverName: server.name, timeoutMs: server.timeoutMs }, `no endpoint event from ${server.url.origin} within ${server.timeoutMs} ms`),
        );
        return { upstream, scrubber: outbound.scrubber };
      } catch (error) {
        await upstream.close().catch(() => undefined);
        const unauthorized = error instanceof SseError && error.code === 401;
        if (attempt === 0 && unauthorized && retryAfterUnauthorized(server, outbound.credentials)) continue;
        const resolution = outbound.credentials.resolution;
        if (unauthorized && !clientAnswersChallenge(resolution)) throw upstreamAuthFailed(server, resolution);
        throw outbound.scrubber.error(upstreamCallError(server, error));
      }
    }
  }

  async function open(request: LegacySseRequest): Promise<{ client: WebStandardStreamableHTTPServerTransport; dispose: () => void }> {
    const { server } = request;
    const recorder = new DebugRecorder();
    const { WebStandardStreamableHTTPServerTransport, SseError } = await sdk();
    const release = deps.streams.admit(server, streamOwner(request.caller, request.inbound.headers));
    let connected: { upstream: SSEClientTransport; scrubber: CredentialScrubber };
    try {
      connected = await connectUpstream(request, recorder);
    } catch (error) {
      release();
      throw error;
    }
    const { upstream, scrubber } = connected;
    const call = recorder.records[0];
    if (call !== undefined) request.inbound.debug?.record(call);
    sessions.evictIdle();
    const visible = toolVisibility(request.caller, server);
    const pendingLists = new Set<JsonRpcId>();
    const progressOwners = new Map<string | number, RequestId>();
    const client = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        sessions.add(id, { serverId: server.id, callerSubject: request.caller.subject, call, client, upstream, lastUsed: sessions.now(), release });
      },
      onsessionclosed: (id) => closeSession(id),
    });
    client.onmessage = (received) => {
      trackRequest(received, pendingLists, progressOwners);
      // The session's headers were fixed when it opened: a request's trace context goes in its `_meta` (MCP 2026-07-28).
      const message = "method" in received && "id" in received ? { ...received, params: withTraceMeta(received.params, activeTraceContext()) } : received;
      upstream.send(message).catch((error: unknown) => {
        deps.log.warn({ server: server.name, err: scrubber.text(String(error)) }, "could not relay a message to a legacy SSE MCP server");
        const id = "id" in message && "method" in message ? message.id : undefined;
        if (id !== undefined) {
          void client.send({ jsonrpc: "2.0", id, error: { code: JsonRpcCode.UpstreamError, message: `MCP server '${server.name}' is unreachable` } });
        }
      });
    };
    const relay = (message: JSONRPCMessage) => {
      const relatedRequestId = relatedRequest(message, pendingLists, progressOwners, visible);
      void client.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId }).catch(() => undefined);
    };
    // Tool pinning reviews a tools/list answer before it is relayed; the messages after it wait their turn (order kept).
    let reviewing: Promise<void> | undefined;
    upstream.onmessage = (upstreamMessage) => {
      const message = scrubber.value(upstreamMessage);
      const pins = deps.pins;
      if (pins === undefined || (reviewing === undefined && !isToolsListAnswer(message, pendingLists))) return relay(message);
      const turn = (reviewing ?? Promise.resolve()).then(async () => relay(await reviewedList(pins, server, message, pendingLists)));
      reviewing = turn;
      void turn.finally(() => {
        if (reviewing === turn) reviewing = undefined;
      });
    };
    upstream.onclose = () => {
      if (client.sessionId !== undefined) closeSession(client.sessionId);
      release();
    };
    // The upstream's SSE stream broke (a restart, a proxy timeout). A legacy session cannot be
    // resumed, and EventSource would silently reconnect into a new, uninitialized one: end the
    // bridge session instead, so the client gets 404 and initializes again (MCP transports spec).
    upstream.onerror = (error) => {
      if (!(error instanceof SseError)) return;
      deps.log.warn({ server: server.name, err: scrubber.text(error.message) }, "the legacy SSE stream of an MCP server ended; closing its bridge session");
      if (client.sessionId !== undefined) closeSession(client.sessionId);
      else void upstream.close().catch(() => undefined);
    };
    await client.start();
    // For a bridge that never became a session: the client transport, the upstream stream and the slot.
    const dispose = () => {
      void client.close().catch(() => undefined);
      void upstream.close().catch(() => undefined);
      release();
    };
    return { client, dispose };
  }

  return {
    async handle(request, parsed) {
      const sessionId = request.inbound.headers.get("mcp-session-id");
      let transport: WebStandardStreamableHTTPServerTransport;
      let dispose: (() => void) | undefined;
      if (sessionId === null) {
        ({ client: transport, dispose } = await open(request));
      } else {
        const session = sessions.owned(sessionId, request.server.id, request.caller.subject);
        if (session.call !== undefined) request.inbound.debug?.record(session.call);
        transport = session.client;
      }
      const parsedBody = parsed === undefined ? undefined : parsed.isBatch ? parsed.messages : parsed.messages[0];
      const response = await transport.handleRequest(new Request(request.server.url, { method: request.inbound.method, headers: fetchHeaders(request.inbound.headers), body: request.body ?? null, signal: request.inbound.signal }), { parsedBody });
      // The first request was not an initialize: nothing will reuse this bridge.
      if (sessionId === null && transport.sessionId === undefined) dispose?.();
      return response;
    },
    async close() {
      sessions.closeAll();
    },
  };
}

function isToolsListAnswer(message: JSONRPCMessage, pendingLists: Set<JsonRpcId>): boolean {
  return "id" in message && !("method" in message) && message.id !== undefined && pendingLists.has(message.id) && "result" in message && Array.isArray((message.result as { tools?: unknown }).tools);
}

/** A tools/list answer with tool pinning's verdict applied; an error in its place when it cannot be reviewed (fail closed). */
async function reviewedList(pins: ToolPins, server: McpServerEntry, message: JSONRPCMessage, pendingLists: Set<JsonRpcId>): Promise<JSONRPCMessage> {
  if (!isToolsListAnswer(message, pendingLists)) return message;
  const answer = message as unknown as { id: RequestId; result: { tools: unknown[] } };
  try {
    const named = answer.result.tools.filter((tool): tool is { name: string } => typeof (tool as { name?: unknown } | null)?.name === "string");
    answer.result.tools = await pins.review(server, named);
    return message;
  } catch {
    return { jsonrpc: "2.0", id: answer.id, error: { code: JsonRpcCode.InternalError, message: "the gateway could not check this list's tool definitions against their pins (tool pinning); try again" } };
  }
}

function trackRequest(message: JSONRPCMessage, pendingLists: Set<JsonRpcId>, progressOwners: Map<string | number, RequestId>): void {
  if (!("method" in message) || !("id" in message)) return;
  if (message.method === "tools/list") pendingLists.add(message.id);
  const token = (message.params?._meta as { progressToken?: string | number } | undefined)?.progressToken;
  if (token !== undefined) progressOwners.set(token, message.id);
}

/** Filters tools/list results in place and returns the client request a message belongs to. */
function relatedRequest(
  message: JSONRPCMessage,
  pendingLists: Set<JsonRpcId>,
  progressOwners: Map<string | number, RequestId>,
  visible: ToolVisible | undefined,
): RequestId | undefined {
  if ("id" in message && !("method" in message)) {
    if (message.id !== undefined && pendingLists.delete(message.id) && visible !== undefined && "result" in message) {
      const result = message.result as { tools?: Array<{ name: string }> };
      if (Array.isArray(result.tools)) result.tools = result.tools.filter((tool) => visible(tool.name));
    }
    for (const [token, owner] of progressOwners) if (owner === message.id) progressOwners.delete(token);
    return undefined;
  }
  if ("method" in message && message.method === "notifications/progress") {
    const token = (message.params as { progressToken?: string | number } | undefined)?.progressToken;
    return token === undefined ? undefined : progressOwners.get(token);
  }
  return undefined;
}

/** A legacy server answers its SSE GET at once; `timeout` bounds the wait for its endpoint event (504 after). */
function withTimeout<T>(promise: Promise<T>, signal: AbortSignal, ms: number, timedOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut()), ms);
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
    });
  });
}
