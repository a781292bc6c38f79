/**
 * The MCP servers and tools a LiteLLM key may use, computed as LiteLLM computes them, and
 * written as the explicit lists a Gatehouse key holds. Permissions must never widen on the
 * way: where LiteLLM's answer depends on something Gatehouse cannot hold, the narrower
 * answer is imported and a note says why.
 *
 * LiteLLM's rules (newest), per level (key, team, organization):
 * - a level's set is its `mcp_servers` (ids, names or aliases) ∪ the servers sharing one of
 *   its `mcp_access_groups` ∪ the servers named in its `mcp_tool_permissions`; an empty set
 *   means "no restriction at this level";
 * - key and team: both set → key ∩ team; only one → that one (none at all → nothing);
 *   `general_settings.require_key_mcp_access_defined` makes a key without a set get nothing;
 * - an organization's set caps the result (and becomes it when nothing else restricted);
 * - every key also gets the servers with `allow_all_keys`;
 * - per server, tool lists: key ∩ team when both have one, else whichever has one, then ∩
 *   the organization's; no list means every tool, `[]` none.
 * Gatehouse, by contrast, lets a key without `mcp_servers` use every server: the result is
 * therefore always written as an explicit list, possibly empty.
 */
import type { Row } from "./litellm-database.js";
import { isObject, texts } from "./row-values.js";

/** A server as key permissions see it. */
export interface PermissionServer {
  /** LiteLLM's server_id. */
  ref: string;
  /** server_name and alias: permissions may name a server by either. */
  names: readonly string[];
  groups: readonly string[];
  allowAllKeys: boolean;
  /** Its Gatehouse id; undefined when it is not imported (its grants are dropped, and said so). */
  gatehouseId: string | undefined;
}

export interface PermissionContext {
  servers: readonly PermissionServer[];
  /**
   * Gatehouse's config-file servers, name → id. LiteLLM permissions may name servers of
   * LiteLLM's own config file; an operator who moved that file to Gatehouse has them here.
   */
  configServers: ReadonlyMap<string, string>;
  /** LiteLLM's `general_settings.require_key_mcp_access_defined` (not stored in its database). */
  requireKeyMcpAccessDefined: boolean;
}

export interface PermissionInput {
  key: Row | undefined;
  team?: { id: string; permission: Row | undefined; accessGroupIds: readonly string[] } | undefined;
  organization?: { id: string; permission: Row | undefined } | undefined;
  agentId?: string | undefined;
  accessGroupIds: readonly string[];
  userRole?: string | undefined;
}

export interface EffectivePermission {
  /** Gatehouse server ids, sorted. */
  servers: string[];
  /** Gatehouse server id → allowed tools (sorted); servers not listed allow every tool. */
  tools: Record<string, string[]>;
  /** Why the result is narrower than LiteLLM's, or depends on something not carried. */
  notes: string[];
}

const NO_SERVERS = "no-mcp-servers";
const ALL_PROXY_SERVERS = "all-proxy-mcpservers";
const ALL_TEAM_SERVERS = "all-team-mcpservers";

type ToolLists = Map<string, Set<string>>;

interface Level {
  servers: Set<string>;
  tools: ToolLists;
  /** `no-mcp-servers`: this level allows nothing at all. */
  none: boolean;
}

export function effectivePermission(input: PermissionInput, context: PermissionContext): EffectivePermission {
  const notes: string[] = [];
  const failClosed = (why: string): EffectivePermission => ({ servers: [], tools: {}, notes: [...notes, `${why}; imported with no MCP servers (grant them with the key API)`] });

  // What Gatehouse cannot evaluate and what could narrow LiteLLM's answer: import nothing rather than too much.
  const permissions: [string, Row | undefined][] = [["key", input.key], [`team ${input.team?.id ?? ""}`, input.team?.permission], [`organization ${input.organization?.id ?? ""}`, input.organization?.permission]];
  if (input.agentId !== undefined) return failClosed(`the key belongs to agent '${input.agentId}', whose own MCP list LiteLLM intersects with the key's and Gatehouse does not read`);
  for (const [level, row] of permissions) {
    if (row === undefined) continue;
    if ((texts(row, "mcp_toolsets") ?? []).length > 0) return failClosed(`the ${level.trim()} uses MCP toolsets (mcp_toolsets), which Gatehouse cannot represent`);
    if ((texts(row, "blocked_tools") ?? []).length > 0) return failClosed(`the ${level.trim()} has blocked_tools, which Gatehouse cannot represent per key`);
  }

  const unknown = new Set<string>();
  const key = level(input.key, context, unknown, notes, "key");
  const team = input.team === undefined ? undefined : level(input.team.permission, context, unknown, notes, "team");
  const organization = input.organization === undefined ? undefined : level(input.organization.permission, context, unknown, notes, "organization");

  let base: Set<string>;
  if (key.none || team?.none === true) {
    base = new Set();
  } else if (team === undefined || team.servers.size === 0) {
    base = key.servers;
  } else if (key.servers.size === 0) {
    base = context.requireKeyMcpAccessDefined ? new Set() : team.servers;
    if (!context.requireKeyMcpAccessDefined) notes.push(`MCP servers come from team '${input.team!.id}' (copied; later changes to the team in LiteLLM are not followed)`);
  } else {
    base = intersect(key.servers, team.servers);
  }
  if (organization !== undefined && organization.servers.size > 0) {
    if (base.size > 0) base = intersect(base, organization.servers);
    else if (!organization.none) notes.push(`organization '${input.organization!.id}' lists MCP servers that LiteLLM would give this key; not carried (narrower)`);
  }
  if (organization?.none === true) base = new Set();
  if (input.accessGroupIds.length > 0) notes.push(`access_group_ids [${input.accessGroupIds.join(", ")}] not carried: servers they grant are not imported for this key (narrower)`);
  if ((input.team?.accessGroupIds.length ?? 0) > 0) notes.push(`team '${input.team!.id}' access_group_ids not carried: servers they add to the team's list are left out (narrower)`);
  if (input.userRole === "proxy_admin" || input.userRole === "proxy_admin_viewer") {
    notes.push(`the key's user is a LiteLLM ${input.userRole}: LiteLLM lets such a key without an MCP list use every server; imported with its own lists only (narrower)`);
  }

  const allowAll = context.servers.filter((server) => server.allowAllKeys).map((server) => server.ref);
  const final = new Set([...base, ...allowAll]);

  const servers: string[] = [];
  const tools: Record<string, string[]> = {};
  const notImported: string[] = [];
  for (const ref of final) {
    const id = gatehouseId(ref, context);
    if (id === undefined) {
      notImported.push(ref);
      continue;
    }
    servers.push(id);
    const list = combineTools(ref, key.tools, team?.tools, organization?.tools);
    if (list !== undefined) tools[id] = [...list].sort();
  }
  if (notImported.length > 0) notes.push(`servers not imported into Gatehouse are left out: ${notImported.sort().join(", ")}`);
  if (unknown.size > 0) notes.push(`names no server LiteLLM or Gatehouse knows, left out: ${[...unknown].sort().join(", ")}`);
  return { servers: [...new Set(servers)].sort(), tools, notes };
}

/** One level's servers (as LiteLLM server refs, or `config:<name>`) and tool lists. */
function level(row: Row | undefined, context: PermissionContext, unknown: Set<string>, notes: string[], which: "key" | "team" | "organization"): Level {
  const result: Level = { servers: new Set(), tools: new Map(), none: false };
  if (row === undefined) return result;
  for (const entry of texts(row, "mcp_servers") ?? []) {
    if (entry === NO_SERVERS) result.none = true;
    else if (entry === ALL_PROXY_SERVERS && which !== "key") for (const server of context.servers) result.servers.add(server.ref);
    else if (entry === ALL_TEAM_SERVERS) notes.push(`the ${which}'s '${ALL_TEAM_SERVERS}' entry not carried (narrower)`);
    else for (const ref of resolve(entry, context, unknown)) result.servers.add(ref);
  }
  const groups = new Set(texts(row, "mcp_access_groups") ?? []);
  if (groups.size > 0) {
    for (const server of context.servers) if (server.groups.some((group) => groups.has(group))) result.servers.add(server.ref);
    notes.push(`the ${which}'s mcp_access_groups [${[...groups].join(", ")}] expanded to the servers in them now (later group changes are not followed)`);
  }
  const toolPermissions = row.mcp_tool_permissions;
  if (isObject(toolPermissions)) {
    for (const [entry, names] of Object.entries(toolPermissions)) {
      const refs = resolve(entry, context, unknown);
      const list = new Set(Array.isArray(names) ? names.filter((name): name is string => typeof name === "string") : []);
      for (const ref of refs) {
        result.servers.add(ref);
        // A server named twice (by id and by name): only tools both lists allow.
        const previous = result.tools.get(ref);
        result.tools.set(ref, previous === undefined ? list : intersect(previous, list));
      }
    }
  }
  return result;
}

/** An entry of mcp_servers / mcp_tool_permissions: a server id, else a name or alias (all servers that bear it). */
function resolve(entry: string, context: PermissionContext, unknown: Set<string>): string[] {
  const byId = context.servers.find((server) => server.ref === entry);
  if (byId !== undefined) return [byId.ref];
  const byName = context.servers.filter((server) => server.names.includes(entry)).map((server) => server.ref);
  if (byName.length > 0) return byName;
  if (context.configServers.has(entry)) return [`config:${entry}`];
  unknown.add(entry);
  return [];
}

function gatehouseId(ref: string, context: PermissionContext): string | undefined {
  if (ref.startsWith("config:")) return context.configServers.get(ref.slice("config:".length));
  return context.servers.find((server) => server.ref === ref)?.gatehouseId;
}

function combineTools(ref: string, key: ToolLists, team: ToolLists | undefined, organization: ToolLists | undefined): Set<string> | undefined {
  const keyList = key.get(ref);
  const teamList = team?.get(ref);
  let list = keyList !== undefined && teamList !== undefined ? intersect(keyList, teamList) : (teamList ?? keyList);
  const orgList = organization?.get(ref);
  if (orgList !== undefined) list = list === undefined ? orgList : intersect(list, orgList);
  return list;
}

function intersect<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): Set<T> {
  return new Set([...a].filter((item) => b.has(item)));
}
