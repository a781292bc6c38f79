/**
 * Who is calling, and what they may use. Built once per key (and cached by the key
 * resolver), then consulted on every request without further I/O.
 *
 * Permission semantics (README, "Gateway keys (inbound)"): `servers: "all"` sees every
 * server; a set limits the caller to those server ids (an empty set sees none). `tools`
 * optionally limits, per server id, which tools may be listed and called. Ids, not names: a
 * database server's id survives renames, so an edit never orphans the keys that grant it
 * (LiteLLM #33431). A config server's id is its name.
 */

export interface Caller {
  /** `delegated`: no gateway key, admitted only because every target server delegates auth upstream. */
  kind: "master" | "virtual" | "delegated";
  /** Non-secret label for logs and audit (a key alias or `sk-...abcd`); not unique, never an identity. */
  keyId: string;
  /** Stable, unique identity of the key: `master`, or `key:<sha256 of the key>`. */
  subject: string;
  userId?: string;
  servers: ReadonlySet<string> | "all";
  tools: ReadonlyMap<string, ReadonlySet<string>>;
  /** Set per request when the caller is outside `mcp_internal_ip_ranges`: internal-only servers are hidden from it. */
  fromPublicInternet?: boolean;
  /** The key's limits on MCP requests; undefined when it has none (the master key, most keys). */
  limits?: CallerLimits;
  /**
   * The key's `object_permission.mcp_access_groups`. The servers of these groups are added
   * to `servers` by the access-group step; a key with groups and no `mcp_servers` starts
   * from no server (fail closed), never from every server.
   */
  mcpAccessGroups?: readonly string[];
}

/** LiteLLM's key limits that concern MCP (README, "Key limits"). */
export interface CallerLimits {
  /** Tool calls per fixed window (`rpm_limit`). */
  rpm?: number;
  /** MCP requests of the key in flight at once, GET streams excepted (`max_parallel_requests`). */
  parallel?: number;
}

export function masterCaller(): Caller {
  return { kind: "master", keyId: "master", subject: "master", servers: "all", tools: new Map() };
}

export interface ServerIdentity {
  id: string;
  /** `available_on_public_internet: false`. */
  internalOnly?: boolean;
  /** The server's `access_groups`: a key whose `mcp_access_groups` shares one may use it. */
  accessGroups?: readonly string[];
  /** `allow_all_keys: true`: every gateway key may use it, limited ones included (as in LiteLLM). */
  allowAllKeys?: boolean;
  /** `api_keys`: only these callers' subjects, and the master key, may use it. */
  keySubjects?: ReadonlySet<string> | undefined;
}

/**
 * Whether the caller may use the server: its key lists it (or lists no servers at all), or
 * the server is in one of the key's access groups, or it allows all keys; and, where the
 * server lists `api_keys`, the key is one of them (or the master key). Never for a
 * caller without a key (the delegate bypass reaches only the servers the request named),
 * and never an internal-only server from outside the internal ranges.
 */
export function canUseServer(caller: Caller, server: ServerIdentity): boolean {
  if (server.internalOnly === true && caller.fromPublicInternet === true) return false;
  if (server.keySubjects !== undefined && caller.kind !== "master" && !server.keySubjects.has(caller.subject)) return false;
  if (caller.servers === "all" || caller.servers.has(server.id)) return true;
  if (caller.kind === "delegated") return false;
  if (server.allowAllKeys === true) return true;
  const groups = caller.mcpAccessGroups;
  return groups !== undefined && server.accessGroups !== undefined && server.accessGroups.some((group) => groups.includes(group));
}

/** The caller as one request sees it: marked when the request comes from outside the internal ranges. */
export function seenFrom(caller: Caller, fromPublicInternet: boolean): Caller {
  return fromPublicInternet ? { ...caller, fromPublicInternet } : caller;
}

/** A caller without a gateway key, limited to the servers that delegate auth upstream and were named by the request. */
export function delegatedCaller(serverIds: Iterable<string>): Caller {
  return { kind: "delegated", keyId: "(delegated to upstream)", subject: "anonymous", servers: new Set(serverIds), tools: new Map() };
}

/** Whether the caller's own key permits the tool; the server's allowed/disallowed lists are checked separately. */
export function callerMayUseTool(caller: Caller, server: ServerIdentity, tool: string): boolean {
  const allowed = caller.tools.get(server.id);
  return allowed === undefined || allowed.has(tool);
}

export function callerLimitsTools(caller: Caller, server: ServerIdentity): boolean {
  return caller.tools.has(server.id);
}

/**
 * Whether the caller is limited to a list of servers. Such a caller gets the same answer
 * for an unknown server and a forbidden one, so it cannot probe which servers exist.
 */
export function isServerRestricted(caller: Caller): boolean {
  return caller.servers !== "all";
}

/** The user a caller's per-user upstream tokens are stored under: its user_id, else its key's stable identity. */
export function callerUserKey(caller: Caller): string {
  return caller.userId === undefined ? caller.subject : `user:${caller.userId}`;
}
