/**
 * Who is calling, and what they may use. Built once per key (and cached by the key
 * resolver), then consulted on every request without further I/O.
 *
 * Permission semantics (CONTRACT §3, issue 3): `servers: "all"` sees every server;
 * a set limits the caller to those server names (an empty set sees none). `tools`
 * optionally limits, per server, which tools may be listed and called.
 */

export interface Caller {
  kind: "master" | "virtual";
  /** Non-secret identifier for logs and audit (a key alias or a hash prefix). */
  keyId: string;
  userId?: string;
  servers: ReadonlySet<string> | "all";
  tools: ReadonlyMap<string, ReadonlySet<string>>;
}

export function masterCaller(): Caller {
  return { kind: "master", keyId: "master", servers: "all", tools: new Map() };
}

export function canUseServer(caller: Caller, serverName: string): boolean {
  return caller.servers === "all" || caller.servers.has(serverName);
}

/** Whether the caller's own key permits the tool; the server's allowed/disallowed lists are checked separately. */
export function callerMayUseTool(caller: Caller, serverName: string, tool: string): boolean {
  const allowed = caller.tools.get(serverName);
  return allowed === undefined || allowed.has(tool);
}

/**
 * Whether the caller is limited to a list of servers. Such a caller gets the same answer
 * for an unknown server and a forbidden one, so it cannot probe which servers exist.
 */
export function isServerRestricted(caller: Caller): boolean {
  return caller.servers !== "all";
}
