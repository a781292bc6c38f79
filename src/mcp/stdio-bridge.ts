/**
 * stdio servers behind `/{server}/mcp`: each client gets a streamable-HTTP session of its
 * own (the official SDK's server transport), and every session's requests go to the
 * server's one shared process (stdio-process.ts), which remaps their ids and progress tokens.
 *
 * - `initialize` is answered from the process's own initialize result: the process was
 *   initialized once, by the gateway, when it started.
 * - `notifications/initialized` stays here; `notifications/cancelled` is passed on with the
 *   gateway's id for the request; other client notifications are not passed on (the
 *   gateway declared no client capabilities to the process).
 * - The process's `notifications/…/list_changed` go to every session of the server.
 * - `resources/unsubscribe` is answered here: the process stays subscribed for every caller.
 * - `tools/list` answers are filtered by the caller's tool permissions, as on every route.
 *
 * Sessions live in this process (several instances need sticky sessions, as for legacy SSE
 * servers) and survive a restart of the server's process. Each session draws on the stream
 * budget (stream-budget.ts) like a pass-through GET stream: 429 past it.
 */
import { randomUUID } from "node:crypto";
import type { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js";
import { GatewayError, JsonRpcCode, clientMessage, toGatewayError } from "../errors.js";
import { fetchHeaders } from "../headers.js";
import type { Logger } from "../log.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { toolVisibility } from "./access.js";
import type { ToolPins } from "./tool-pins.js";
import type { ParsedBody } from "./jsonrpc.js";
import type { LegacySseRequest } from "./legacy-sse-bridge.js";
import type { StdioProcess, StdioRequest } from "./stdio-process.js";
import { stdioDebugCall, type StdioServers } from "./stdio-servers.js";
import { bridgeSessions, type BridgeSessionBase } from "./bridge-sessions.js";
import { streamOwner, type StreamBudget } from "./stream-budget.js";
import type { ToolVisible } from "./tool-list-filter.js";

/** The SDK's server transport, loaded with the first stdio session. */
const sdk = async () => (await import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js")).WebStandardStreamableHTTPServerTransport;

interface BridgeSession extends BridgeSessionBase {
  client: WebStandardStreamableHTTPServerTransport;
  /** The caller's requests still waiting for the process, by the caller's id. */
  inFlight: Map<RequestId, StdioRequest>;
  release: () => void;
  stopListening: () => void;
}

export interface StdioBridge {
  handle(request: LegacySseRequest, parsed: ParsedBody | undefined): Promise<Response>;
  close(): Promise<void>;
}

export function createStdioBridge(deps: { log: Logger; stdio: StdioServers; streams: StreamBudget; maxSessions?: number; idleMs?: number; now?: () => number; pins?: ToolPins }): StdioBridge {
  const sessions = bridgeSessions<BridgeSession>(deps, (session) => {
    session.release();
    session.stopListening();
    for (const pending of session.inFlight.values()) pending.cancel("the client closed its session", new Error("session closed"));
    session.inFlight.clear();
    void session.client.close().catch(() => undefined);
  });
  const closeSession = sessions.close;

  /** A new session: the process must be up (its initialize result answers the client's). */
  async function open(request: LegacySseRequest, process: StdioProcess): Promise<{ client: WebStandardStreamableHTTPServerTransport; dispose: () => void }> {
    const { server } = request;
    await process.ready(server.timeoutMs, request.inbound.cancel);
    const Transport = await sdk();
    const release = deps.streams.admit(server, streamOwner(request.caller, request.inbound.headers));
    sessions.evictIdle();
    const visible = toolVisibility(request.caller, server);
    const inFlight = new Map<RequestId, StdioRequest>();
    const client: WebStandardStreamableHTTPServerTransport = new Transport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        sessions.add(id, { serverId: server.id, callerSubject: request.caller.subject, client, inFlight, lastUsed: sessions.now(), release, stopListening });
      },
      onsessionclosed: (id) => closeSession(id),
    });
    // Only list changes concern every client; other notifications (logging) would need a per-client level.
    const stopListening = process.onNotification((message) => {
      if ("method" in message && message.method.endsWith("/list_changed")) void client.send(message).catch(() => undefined);
    });
    client.onmessage = (message) => relay(message, { server, client, inFlight, visible, process });
    await client.start();
    const dispose = () => {
      stopListening();
      release();
      void client.close().catch(() => undefined);
    };
    return { client, dispose };
  }

  /** One message from a client, toward the process (or answered here). */
  function relay(message: JSONRPCMessage, session: { server: McpServerEntry; client: WebStandardStreamableHTTPServerTransport; inFlight: Map<RequestId, StdioRequest>; visible: ToolVisible | undefined; process: StdioProcess }): void {
    const { server, client, inFlight } = session;
    if (!("method" in message)) return; // an answer to a server request: the gateway never relays those
    if (!("id" in message)) {
      if (message.method === "notifications/cancelled") {
        const requestId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        const pending = requestId === undefined ? undefined : inFlight.get(requestId);
        if (pending !== undefined && requestId !== undefined) {
          inFlight.delete(requestId);
          pending.cancel(String((message.params as { reason?: unknown }).reason ?? "cancelled by the client"), new Error("cancelled"));
        }
      }
      return;
    }
    const id = message.id;
    const answer = (result: JSONRPCMessage) => void client.send(result, { relatedRequestId: id }).catch(() => undefined);
    const fail = (error: unknown) => {
      const failure = toGatewayError(error);
      answer({ jsonrpc: "2.0", id, error: { code: failure.rpcCode, message: clientMessage(failure) } });
    };
    if (message.method === "initialize") {
      answer({ jsonrpc: "2.0", id, result: initializeAnswer(session.process, message.params) });
      return;
    }
    // The process is shared and stays subscribed for every `/mcp` session that asked (shared-subscriptions.ts): one
    // client's unsubscribe would end the updates of others, of any key. This client gets no updates from the process anyway.
    if (message.method === "resources/unsubscribe") {
      answer({ jsonrpc: "2.0", id, result: {} });
      return;
    }
    // The process in place now: after a restart or a config change it is another one.
    let process: StdioProcess;
    let pending: StdioRequest;
    try {
      process = deps.stdio.processFor(server);
      pending = process.request(message.method, message.params, (progress) => {
        const token = (message.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
        void client.send({ jsonrpc: "2.0", method: "notifications/progress", params: { ...progress, progressToken: token as string | number } }, { relatedRequestId: id }).catch(() => undefined);
        arm();
      });
    } catch (error) {
      fail(error);
      return;
    }
    inFlight.set(id, pending);
    // The server's timeout bounds the wait for an answer; progress restarts it (a long tool that reports progress).
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        inFlight.delete(id);
        pending.cancel("timeout", upstreamTimedOut(server));
      }, server.timeoutMs);
    };
    arm();
    pending.answer.then(
      async (reply) => {
        inFlight.delete(id);
        if (message.method === "tools/list" && "result" in reply) {
          // Tool pinning first (it pins what it has not seen), then the caller's permissions.
          if (deps.pins !== undefined && Array.isArray(reply.result.tools)) {
            try {
              reply.result.tools = await deps.pins.review(server, (reply.result.tools as unknown[]).filter((tool): tool is { name: string } => typeof (tool as { name?: unknown } | null)?.name === "string"));
            } catch (error) {
              fail(error); // fail closed: an unreviewed list could carry a blocked tool
              return;
            }
          }
          if (session.visible !== undefined) filterTools(reply.result, session.visible);
        }
        answer({ ...reply, id } as JSONRPCMessage);
      },
      (error: unknown) => {
        if (!inFlight.delete(id) && !isTimeout(error)) return; // cancelled by the client: it expects no answer
        fail(error);
      },
    ).finally(() => clearTimeout(timer));
  }

  return {
    async handle(request, parsed) {
      const sessionId = request.inbound.headers.get("mcp-session-id");
      request.inbound.debug?.record(stdioDebugCall(request.server));
      const process = deps.stdio.processFor(request.server);
      let transport: WebStandardStreamableHTTPServerTransport;
      let dispose: (() => void) | undefined;
      if (sessionId === null) {
        ({ client: transport, dispose } = await open(request, process));
      } else {
        const session = sessions.owned(sessionId, request.server.id, request.caller.subject);
        // A request to a process that is down gets 503 with Retry-After, as the route's other upstream failures do.
        if (parsed?.messages.some((message) => "method" in message && "id" in message)) await process.ready(request.server.timeoutMs, request.inbound.cancel);
        transport = session.client;
      }
      const parsedBody = parsed === undefined ? undefined : parsed.isBatch ? parsed.messages : parsed.messages[0];
      const response = await transport.handleRequest(
        new Request(`http://gateway.invalid/${encodeURIComponent(request.server.name)}/mcp`, { method: request.inbound.method, headers: fetchHeaders(request.inbound.headers), body: request.body ?? null, signal: request.inbound.signal }),
        { parsedBody },
      );
      // The first request was not an initialize: nothing will reuse this session.
      if (sessionId === null && transport.sessionId === undefined) dispose?.();
      return response;
    },
    async close() {
      sessions.closeAll();
    },
  };
}

/**
 * The process's initialize result, for one client: the client's protocol version when the
 * SDK speaks it (the gateway relays messages; it does not translate them), else the process's.
 */
function initializeAnswer(process: StdioProcess, params: Record<string, unknown> | undefined): Record<string, unknown> {
  const result = process.initializeResult!;
  const asked = params?.protocolVersion;
  const protocolVersion = typeof asked === "string" && SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : result.protocolVersion;
  return { ...result, protocolVersion };
}

function filterTools(result: Record<string, unknown>, visible: ToolVisible): void {
  if (Array.isArray(result.tools)) result.tools = result.tools.filter((tool: { name?: unknown }) => typeof tool?.name === "string" && visible(tool.name));
}

function upstreamTimedOut(server: McpServerEntry): GatewayError {
  return new GatewayError({
    status: 504,
    code: "upstream_timeout",
    message: `MCP server '${server.name}' did not answer within ${server.timeoutMs} ms`,
    rpcCode: JsonRpcCode.UpstreamTimeout,
    extra: { server: server.name },
  });
}

function isTimeout(error: unknown): boolean {
  return error instanceof GatewayError && error.code === "upstream_timeout";
}
