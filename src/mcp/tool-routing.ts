/**
 * Maps an aggregated tool name `{alias or name}{separator}{tool}` back to its server and
 * upstream tool (the longest configured name or alias wins, as for `x-mcp-{server}-*`
 * headers), within the servers the caller may use. A server with an alias is listed under
 * its alias; a call with its name as the prefix reaches it too.
 *
 * With general_settings.mcp_unprefixed_single_server, a request that names its servers (by
 * path or `x-mcp-servers`) and comes to exactly one is served that server's own tool and
 * prompt names, and every name it sends goes to that server as it is (LiteLLM left the
 * prefix out whenever one server was allowed, for a while in 2025, then prefixed always).
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

/**
 * The server whose names one aggregate request serves unprefixed, or undefined when names
 * are prefixed: only with the setting on, when the request named its servers (`addressed`:
 * the path's or the headers' names) and they come to exactly one the caller may use. Never
 * for a plain `/mcp`, so a key given a second server does not see its names change.
 */
export function soleServer(unprefixed: boolean, addressed: readonly string[] | undefined, servers: readonly McpServerEntry[]): McpServerEntry | undefined {
  return unprefixed && addressed !== undefined && servers.length === 1 ? servers[0] : undefined;
}

/** The name a tool or prompt of `server` has on the aggregate: its own with a sole server, else prefixed. */
export function exposedName(sole: McpServerEntry | undefined, server: McpServerEntry, name: string): string {
  return sole === undefined ? prefixedToolName(server, name) : name;
}

/** The server and upstream name an aggregate name (tool or prompt) stands for, within `servers`; undefined when none. */
export function matchExposedName(
  snapshot: RegistrySnapshot,
  servers: readonly McpServerEntry[],
  sole: McpServerEntry | undefined,
  name: string,
): { server: McpServerEntry; name: string } | undefined {
  if (sole !== undefined) return { server: sole, name };
  const match = snapshot.toolNames.matchPrefix(name);
  const server = match === undefined ? undefined : servers.find((candidate) => candidate.name === match.server);
  return match === undefined || server === undefined ? undefined : { server, name: match.rest };
}

/** Route a prefixed name (or any name, to a sole server) within `servers` (the caller's servers, narrowed by x-mcp-servers). */
export function routePrefixedTool(
  snapshot: RegistrySnapshot,
  servers: readonly McpServerEntry[],
  caller: Caller,
  name: string,
  sole?: McpServerEntry,
): ToolRoute {
  const match = matchExposedName(snapshot, servers, sole, name);
  if (match === undefined) throw unknownTool(caller, name);
  assertToolAllowed(caller, match.server, match.name);
  return { server: match.server, tool: match.name };
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
