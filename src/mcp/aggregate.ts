/**
 * The aggregate `/mcp` endpoint: the gateway is itself an MCP server (the official SDK's
 * Server over its web-standard streamable HTTP transport, stateless, so any gateway
 * instance can answer any request). `tools/list` merges the tools of every server the
 * caller may use as `{server}-{tool}`; `tools/call` routes to the right upstream.
 * An upstream that is down or slow loses its tools from the list (logged with its name);
 * a call to it is a JSON-RPC error that names it.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, clientMessage, isGatewayError, toGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { serversForCaller, toolVisibility } from "./access.js";
import { calledTool, type ParsedBody } from "./jsonrpc.js";
import type { InboundRequestInfo } from "./outbound-headers.js";
import { prefixedToolName, routePrefixedTool } from "./tool-routing.js";
import { challengeMetadataUrl, pointChallengeAt, type DelegatedResourceMetadata } from "../oauth/delegated-resource-metadata.js";
import { UPSTREAM_UNAUTHORIZED, type UpstreamClients } from "./upstream-clients.js";
import { GATEWAY_CLIENT_INFO, type ToolsClient } from "./upstream-session.js";

export interface AggregateRequest {
  snapshot: RegistrySnapshot;
  caller: Caller;
  /** `x-mcp-servers`, parsed. */
  narrowTo: string[] | undefined;
  inbound: InboundRequestInfo & { signal: AbortSignal };
  request: Request;
  parsed: ParsedBody;
  /** Where a delegating server's relayed challenge points: its metadata as seen from /mcp. */
  resourceMetadataUrl: (server: McpServerEntry) => string;
}

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
  /** Upper bound for one upstream's tools/list inside an aggregated listing. */
  listTimeoutMs: number;
  delegated: DelegatedResourceMetadata;
}

export function createAggregate(deps: AggregateDeps) {
  /** The visible tools of each server, in parallel, and which servers failed (logged), so a caller can explain a tool that is missing. */
  async function listToolsSettled(
    snapshot: RegistrySnapshot,
    caller: Caller,
    servers: readonly McpServerEntry[],
    inbound: InboundRequestInfo,
  ): Promise<{ lists: ServerTools[]; failures: ListFailure[] }> {
    const settled = await Promise.allSettled(
      servers.map(async (server) => {
        const tools = await deps.clients.withClient(server, snapshot, inbound, (client) =>
          listAllTools(client, { signal: inbound.signal, timeout: Math.min(server.timeoutMs, deps.listTimeoutMs) }),
        );
        const visible = toolVisibility(caller, server);
        return { server, tools: visible === undefined ? tools : tools.filter((tool) => visible(tool.name)) };
      }),
    );
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

  async function callTool(
    server: McpServerEntry,
    tool: string,
    args: Record<string, unknown> | undefined,
    snapshot: RegistrySnapshot,
    inbound: InboundRequestInfo,
    progress?: (progress: { progress: number; total?: number; message?: string }) => void,
  ): Promise<CallToolResult> {
    return deps.clients.withClient(server, snapshot, inbound, async (client) => {
      const result = await client.callTool(args === undefined ? { name: tool } : { name: tool, arguments: args }, {
        signal: inbound.signal,
        timeout: server.timeoutMs,
        ...(progress === undefined ? {} : { onprogress: progress, resetTimeoutOnProgress: true }),
      });
      return result as CallToolResult;
    });
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

  /** Answer one POST /mcp. */
  async function handle(request: AggregateRequest): Promise<Response> {
    const servers = serversForCaller(request.snapshot, request.caller, request.narrowTo);
    const delegating = servers.length > 0 && servers.every((entry) => entry.delegatesAuth);
    /** The first upstream refusal of a delegating server during this request. */
    let refusal: { server: McpServerEntry; error: GatewayError } | undefined;
    const noteRefusal = (entry: McpServerEntry, error: GatewayError) => {
      if (delegating && isUpstreamRefusal(error)) refusal ??= { server: entry, error };
    };
    if (delegating) await openDelegatedSessions(request, servers);
    // A forbidden tool is an HTTP 403 like on every other route (CONTRACT §3).
    for (const message of request.parsed.messages) {
      const name = calledTool(message);
      if (name === undefined) continue;
      try {
        routePrefixedTool(request.snapshot, servers, request.caller, name);
      } catch (error) {
        if (error instanceof GatewayError && error.status === 403) throw error;
      }
    }

    const server = new Server(GATEWAY_CLIENT_INFO, {
      capabilities: { tools: {} },
      instructions: "Gatehouse MCP gateway: tools of several MCP servers, named {server}-{tool}.",
    });
    server.setRequestHandler(ListToolsRequestSchema, async (_list, extra) => {
      const { lists, failures } = await listToolsSettled(request.snapshot, request.caller, servers, { ...request.inbound, signal: extra.signal });
      for (const failure of failures) noteRefusal(failure.server, failure.error);
      return {
        tools: lists.flatMap(({ server: entry, tools }) =>
          tools.map((tool) => ({ ...tool, name: prefixedToolName(entry, tool.name) })),
        ),
      };
    });
    server.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
      let called: McpServerEntry | undefined;
      try {
        const route = routePrefixedTool(request.snapshot, servers, request.caller, call.params.name);
        called = route.server;
        const progressToken = call.params._meta?.progressToken;
        const relay =
          progressToken === undefined
            ? undefined
            : (progress: { progress: number; total?: number; message?: string }) => {
                void extra.sendNotification({ method: "notifications/progress", params: { ...progress, progressToken } });
              };
        return await callTool(route.server, route.tool, call.params.arguments, request.snapshot, { ...request.inbound, signal: extra.signal }, relay);
      } catch (error) {
        const failure = toGatewayError(error);
        if (called !== undefined) noteRefusal(called, failure);
        if (failure.status >= 500) deps.log.warn({ code: failure.code, detail: failure.detail ?? failure.message, tool: call.params.name }, "aggregated tools/call failed");
        throw new McpError(failure.rpcCode, clientMessage(failure), failure.expose ? { code: failure.code, ...failure.extra } : undefined);
      }
    });

    // Debug headers must describe the calls, which a stream would start before: debug requests get JSON (no progress).
    // So do requests to delegating servers: an upstream 401 must be able to replace the whole answer.
    const wantsSse =
      request.inbound.debug === undefined &&
      !delegating &&
      request.parsed.messages.some((message) => calledTool(message) !== undefined && hasProgressToken(message)) &&
      (request.request.headers.get("accept") ?? "").includes("text/event-stream");
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !wantsSse });
    await server.connect(transport);
    const close = () => void server.close().catch(() => undefined);
    try {
      const response = await transport.handleRequest(request.request, { parsedBody: request.parsed.isBatch ? request.parsed.messages : request.parsed.messages[0] });
      if (refusal !== undefined) {
        close();
        throw relayedChallenge(request, refusal.server, refusal.error);
      }
      return closeWhenDone(response, close, request.inbound.signal);
    } catch (error) {
      close();
      throw error;
    }
  }

  return { handle, listToolsSettled, callTool };
}

export type Aggregate = ReturnType<typeof createAggregate>;

function isUpstreamRefusal(error: unknown): error is GatewayError {
  return isGatewayError(error) && error.code === UPSTREAM_UNAUTHORIZED;
}

async function listAllTools(client: ToolsClient, options: { signal?: AbortSignal; timeout: number }): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? {} : { cursor }, options);
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return tools;
}

function hasProgressToken(message: ParsedBody["messages"][number]): boolean {
  const params = "params" in message ? message.params : undefined;
  const meta = params?._meta as { progressToken?: unknown } | undefined;
  return meta?.progressToken !== undefined;
}

/** Close the per-request server once its response body has been fully sent (or abandoned). */
function closeWhenDone(response: Response, close: () => void, signal: AbortSignal): Response {
  signal.addEventListener("abort", close, { once: true });
  if (response.body === null) {
    close();
    return response;
  }
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush: () => close(),
    }),
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
