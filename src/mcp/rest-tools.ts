/**
 * The REST face of the gateway: `/mcp-rest/tools/list` and
 * `/mcp-rest/tools/call`, so curl and non-MCP clients can use the same servers, with
 * the same permissions, as `/mcp`.
 */
import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import { parseJson, type CancelSource } from "../exchange.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { assertToolAllowed, serverForCaller, serversForCaller } from "./access.js";
import type { Aggregate, ListFailure } from "./aggregate.js";
import type { InboundRequestInfo } from "./outbound-headers.js";
import { prefixedToolName, routePrefixedTool, unknownTool, type ToolRoute } from "./tool-routing.js";

export interface RestContext {
  snapshot: RegistrySnapshot;
  caller: Caller;
  /** For the audit trail. */
  requestId?: string;
  inbound: InboundRequestInfo & { cancel: CancelSource };
}

export interface RestTool {
  name: string;
  description?: string;
  inputSchema: unknown;
  /** The server's `mcp_info` (description, logo_url, cost info, ... as configured) and its name. */
  mcp_info: { server_name: string; [field: string]: unknown };
}

export const callToolBodySchema = z.object({
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
  server_name: z.string().min(1).optional(),
  server_id: z.string().min(1).optional(),
});

export type CallToolBody = z.output<typeof callToolBodySchema>;

/** A `/mcp-rest/tools/call` body, or a 400 that says what is expected. */
export function parseCallToolBody(text: string): CallToolBody {
  const body = callToolBodySchema.safeParse(parseJson(text));
  if (body.success) return body.data;
  const issue = body.error.issues[0];
  throw new GatewayError({
    status: 400,
    code: "invalid_request",
    message: `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"} (expected {name, arguments?, server_name?, server_id?})`,
  });
}

export function createRestTools(aggregate: Aggregate) {
  async function list(context: RestContext, serverName: string | undefined): Promise<{ tools: RestTool[] }> {
    const servers =
      serverName === undefined
        ? serversForCaller(context.snapshot, context.caller)
        : [serverForCaller(context.snapshot, context.caller, serverName)];
    const { lists, failures } = await aggregate.listToolsSettled(context.snapshot, context.caller, servers, context.inbound);
    // One named server that failed: its own error says why (unreachable, timeout, token refused).
    if (serverName !== undefined && failures[0] !== undefined) throw failures[0].error;
    return {
      tools: lists.flatMap(({ server, tools }) =>
        tools.map((tool) => ({
          name: tool.name,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          inputSchema: tool.inputSchema,
          mcp_info: { ...server.mcpInfo, server_name: server.name },
        })),
      ),
    };
  }

  async function call(context: RestContext, body: CallToolBody): Promise<CallToolResult> {
    const route = await resolve(context, body);
    return aggregate.callTool(route.server, route.tool, body.arguments, context.snapshot, context.inbound, { route: "rest", requestId: context.requestId });
  }

  /**
   * With a server, `name` is the upstream tool. Without one, `name` is `{server}-{tool}`
   * or a tool name that exactly one of the caller's servers offers (the seed's walkthrough
   * calls `echo` this way).
   */
  async function resolve(context: RestContext, body: CallToolBody): Promise<ToolRoute> {
    const named = body.server_id ?? body.server_name;
    if (named !== undefined) {
      const server = serverForCaller(context.snapshot, context.caller, named);
      assertToolAllowed(context.caller, server, body.name);
      return { server, tool: body.name };
    }
    const servers = serversForCaller(context.snapshot, context.caller);
    if (context.snapshot.toolNames.matchPrefix(body.name) !== undefined) {
      return routePrefixedTool(context.snapshot, servers, context.caller, body.name);
    }
    const { lists, failures } = await aggregate.listToolsSettled(context.snapshot, context.caller, servers, context.inbound);
    const offering: McpServerEntry[] = lists.filter(({ tools }) => tools.some((tool) => tool.name === body.name)).map(({ server }) => server);
    if (offering.length === 1) return { server: offering[0]!, tool: body.name };
    // A server that failed (5xx) may well offer the tool; one that only wants this caller's authorization (401) is no fault.
    const broken = failures.filter(({ error }) => error.status >= 500);
    if (offering.length === 0 && broken.length > 0) throw missingBecauseUnlisted(body.name, broken);
    if (offering.length === 0) throw unknownToolAmong(context.caller, body.name, failures);
    throw new GatewayError({
      status: 400,
      code: "ambiguous_tool",
      message: `tool '${body.name}' is offered by several MCP servers: set server_name, or call one of ${offering.map((server) => `'${prefixedToolName(server, body.name)}'`).join(", ")}`,
      rpcCode: JsonRpcCode.InvalidParams,
    });
  }

  return { list, call };
}

export type RestTools = ReturnType<typeof createRestTools>;

/** An unknown tool; the servers this caller has not authorized yet (not listed) are named, since it may be theirs. */
function unknownToolAmong(caller: Caller, tool: string, unauthorized: readonly ListFailure[]): GatewayError {
  const error = unknownTool(caller, tool);
  if (unauthorized.length === 0 || error.status !== 404) return error;
  const names = unauthorized.map(({ server }) => `'${server.name}'`).join(", ");
  return new GatewayError({
    status: error.status,
    code: error.code,
    message: `${error.message}; not listed, because they need your authorization first: ${names} (or name the server with server_name)`,
    rpcCode: error.rpcCode,
  });
}

/**
 * No server that answered offers the tool, but some servers could not be listed: the
 * tool may well be theirs (the seed's walkthrough with a wrong client_secret), so say
 * which servers failed and why instead of a misleading "unknown tool".
 */
function missingBecauseUnlisted(tool: string, failures: readonly ListFailure[]): GatewayError {
  const reasons = failures.map(({ server, error }) => (error.expose ? error.message : `MCP server '${server.name}' failed (see the gateway log)`));
  const only = failures.length === 1 ? failures[0]!.error : undefined;
  return new GatewayError({
    status: only?.status ?? 502,
    code: only?.code ?? "upstream_error",
    message: `tool '${tool}' is not offered by any MCP server that answered, and ${failures.length === 1 ? "one" : failures.length} could not be listed: ${reasons.join("; ")}`,
    rpcCode: only?.rpcCode ?? JsonRpcCode.UpstreamError,
    extra: only?.expose ? only.extra : { servers: failures.map(({ server }) => server.name) },
    expose: true,
  });
}
