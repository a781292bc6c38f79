/**
 * Maps an aggregated tool name `{alias or name}{separator}{tool}` back to its server and
 * upstream tool (the longest configured name or alias wins, as for `x-mcp-{server}-*`
 * headers), within the servers the caller may use. A server with an alias is listed under
 * its alias; a call with its name as the prefix reaches it too.
 */
import { isServerRestricted, type Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { assertToolAllowed } from "./access.js";

export interface ToolRoute {
  server: McpServerEntry;
  tool: string;
}

export function prefixedToolName(server: McpServerEntry, tool: string): string {
  return server.toolPrefix + tool;
}

/** Route a prefixed name within `servers` (the caller's servers, narrowed by x-mcp-servers). */
export function routePrefixedTool(
  snapshot: RegistrySnapshot,
  servers: readonly McpServerEntry[],
  caller: Caller,
  name: string,
): ToolRoute {
  const match = snapshot.toolNames.matchPrefix(name);
  const server = match === undefined ? undefined : servers.find((candidate) => candidate.name === match.server);
  if (match === undefined || server === undefined) throw unknownTool(caller, name);
  assertToolAllowed(caller, server, match.rest);
  return { server, tool: match.rest };
}

export function unknownTool(caller: Caller, name: string): GatewayError {
  if (isServerRestricted(caller)) {
    return new GatewayError({
      status: 403,
      code: "tool_not_allowed",
      message: `tool '${name}' is not available to this key`,
      rpcCode: JsonRpcCode.Forbidden,
    });
  }
  return new GatewayError({
    status: 404,
    code: "unknown_tool",
    message: `unknown tool '${name}': aggregated tools are named '{server}-{tool}', the server's alias in place of its name where it has one (see tools/list)`,
    rpcCode: JsonRpcCode.InvalidParams,
  });
}
