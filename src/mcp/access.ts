/**
 * Which servers and tools a caller may use: the caller's key permissions combined with
 * each server's allowed_tools/disallowed_tools. Every listing and every call goes
 * through these functions, so the rules cannot drift between /mcp, /{server}/mcp and REST.
 */
import { callerLimitsTools, callerMayUseTool, canUseServer, isServerRestricted, type Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode, unknownServer } from "../errors.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import { ALLOW_ALL_TOOLS } from "../registry/tool-filter.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { ToolVisible } from "./tool-list-filter.js";

/**
 * The server a caller names, or an error. A caller limited to some servers gets the same
 * 403 for a server that does not exist and for one it may not use, so a key never learns
 * which servers exist.
 */
export function serverForCaller(snapshot: RegistrySnapshot, caller: Caller, name: string): McpServerEntry {
  const server = snapshot.byIdOrName(name);
  if (server !== undefined && canUseServer(caller, server)) return server;
  if (isServerRestricted(caller)) {
    throw new GatewayError({
      status: 403,
      code: "server_not_allowed",
      message: `this key may not use an MCP server named '${name}'`,
      rpcCode: JsonRpcCode.Forbidden,
    });
  }
  throw unknownServer(name);
}

/**
 * The servers a caller may use, optionally narrowed to `narrowTo`: server names, ids,
 * aliases or access groups (`x-mcp-servers`, `/{a},{b}/mcp`, `/{group}/mcp`). Unknown names
 * are ignored.
 */
export function serversForCaller(snapshot: RegistrySnapshot, caller: Caller, narrowTo?: readonly string[]): McpServerEntry[] {
  const wanted = narrowTo === undefined ? undefined : new Set(narrowTo);
  return [...snapshot.servers.values()].filter(
    (server) =>
      canUseServer(caller, server) &&
      (wanted === undefined ||
        wanted.has(server.name) ||
        wanted.has(server.id) ||
        (server.alias !== undefined && wanted.has(server.alias)) ||
        server.accessGroups.some((group) => wanted.has(group))),
  );
}

/** Whether some server belongs to the access group `name`. */
export function isAccessGroup(snapshot: RegistrySnapshot, name: string): boolean {
  for (const server of snapshot.servers.values()) if (server.accessGroups.includes(name)) return true;
  return false;
}

/** Names a path may list at most (`/{a},{b},.../mcp`). */
const MAX_PATH_TARGETS = 64;

/** `a, b,,c` of `/{a},{b}/mcp` as names: trimmed, empty ones and repeats dropped, at most MAX_PATH_TARGETS. */
export function pathTargets(segment: string): string[] {
  const names = [...new Set(segment.split(",").map((name) => name.trim()).filter((name) => name !== ""))];
  if (names.length > MAX_PATH_TARGETS) {
    throw new GatewayError({ status: 400, code: "invalid_request", message: `a path may name at most ${MAX_PATH_TARGETS} MCP servers or access groups`, rpcCode: JsonRpcCode.InvalidRequest });
  }
  return names;
}

/**
 * A path that names servers (`/{a},{b}/mcp`, `/{group}/mcp`) must name at least one the
 * caller may use; otherwise the answer is the one for a single server it may not use (403
 * for a limited key, whether or not the names exist; 404 otherwise). Unlike LiteLLM, which
 * then serves every server the key may use, nothing is served that the path did not name.
 */
export function assertTargetsReachable(snapshot: RegistrySnapshot, caller: Caller, targets: readonly string[], label: string): void {
  if (serversForCaller(snapshot, caller, targets).length > 0) return;
  serverForCaller(snapshot, caller, targets.length === 1 ? targets[0]! : label);
  throw unknownServer(label);
}

export function toolVisibility(caller: Caller, server: McpServerEntry): ToolVisible | undefined {
  const callerLimited = callerLimitsTools(caller, server);
  if (server.allowsTool === ALLOW_ALL_TOOLS && !callerLimited) return undefined;
  return (tool) => server.allowsTool(tool) && callerMayUseTool(caller, server, tool);
}

export function assertToolAllowed(caller: Caller, server: McpServerEntry, tool: string): void {
  if (server.allowsTool(tool) && callerMayUseTool(caller, server, tool)) return;
  throw new GatewayError({
    status: 403,
    code: "tool_not_allowed",
    message: `tool '${tool}' of MCP server '${server.name}' is not allowed (server allowed_tools/disallowed_tools or this key's tool permissions)`,
    rpcCode: JsonRpcCode.Forbidden,
  });
}

/**
 * A server's `allowed_params` (issue 17, LiteLLM's per-tool argument allowlist): a call of a
 * listed tool may carry only the listed top-level argument names; tools not listed are
 * unrestricted. Refused like a disallowed tool (403, JSON-RPC -32003), never stripped: the
 * caller learns the call did not run as sent. Arguments that are not an object cannot be
 * checked, so they are refused too.
 */
export function assertArgumentsAllowed(server: McpServerEntry, tool: string, args: unknown): void {
  const allowed = server.allowedParams?.get(tool);
  if (allowed === undefined || args === undefined) return;
  const names = typeof args === "object" && args !== null && !Array.isArray(args) ? Object.keys(args) : undefined;
  const extra = names?.filter((name) => !allowed.has(name));
  if (extra !== undefined && extra.length === 0) return;
  const shown = extra === undefined ? "arguments that are not an object" : `parameters ${extra.slice(0, 10).map((name) => `'${name.slice(0, 64)}'`).join(", ")}${extra.length > 10 ? ", ..." : ""}`;
  throw new GatewayError({
    status: 403,
    code: "params_not_allowed",
    message: `${shown} are not allowed for tool '${tool}' of MCP server '${server.name}'; allowed parameters: ${[...allowed].join(", ") || "none"} (server allowed_params)`,
    rpcCode: JsonRpcCode.Forbidden,
  });
}

/**
 * The seed's delegate bypass fires only when every server the request targets delegates
 * auth upstream. Undefined, so that normal gateway auth runs (fail closed), when there is
 * no target, when any target is unknown or hidden from this caller, or when any does not
 * delegate.
 */
export function delegatedTargets(snapshot: RegistrySnapshot, names: readonly string[] | undefined, fromPublicInternet: boolean): McpServerEntry[] | undefined {
  if (names === undefined || names.length === 0) return undefined;
  const servers: McpServerEntry[] = [];
  for (const name of names) {
    const server = snapshot.byIdOrName(name);
    if (server === undefined || server.kind !== "delegated" || (server.internalOnly && fromPublicInternet)) return undefined;
    servers.push(server);
  }
  return servers;
}

/** `x-mcp-servers: a,b` as a list, or undefined when absent or empty. */
export function parseServersHeader(value: string | null): string[] | undefined {
  if (value === null) return undefined;
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  return names.length === 0 ? undefined : names;
}
