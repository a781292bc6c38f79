/**
 * The set of upstream servers, as immutable snapshots. A request takes one snapshot and
 * uses it throughout, so a concurrent reload (database servers, issue 3) can never mix
 * two versions of the registry inside one request.
 */
import type { Config } from "../config/schema.js";
import { buildServerEntry, type McpServerEntry, type ServerEntryOptions } from "./server-entry.js";
import { serverNameMatcher, type ServerLabel, type ServerNameMatcher } from "./server-names.js";

export interface RegistrySnapshot {
  /** By name, in configuration order. */
  readonly servers: ReadonlyMap<string, McpServerEntry>;
  /** Names and aliases, for `x-mcp-{server}-{header}` (always split at `-`, as LiteLLM does). */
  readonly names: ServerNameMatcher;
  /** Names and aliases, for prefixed tool names (`{alias or name}{separator}{tool}`). */
  readonly toolNames: ServerNameMatcher;
  /** Whether any server is `available_on_public_internet: false`. */
  readonly hasInternalOnly: boolean;
  /** Some server delegates auth upstream (a request may then be admitted without a gateway key). */
  readonly hasDelegating: boolean;
  /** Routes that take `{server_id}` also accept the name, and the alias (README, "Managing servers and keys"). */
  byIdOrName(idOrName: string): McpServerEntry | undefined;
}

export interface ServerRegistry {
  current(): RegistrySnapshot;
}

export function registrySnapshot(entries: Iterable<McpServerEntry>, toolSeparator = "-"): RegistrySnapshot {
  const servers = new Map<string, McpServerEntry>();
  const byId = new Map<string, McpServerEntry>();
  const byAlias = new Map<string, McpServerEntry>();
  for (const entry of entries) {
    servers.set(entry.name, entry);
    byId.set(entry.id, entry);
    if (entry.alias !== undefined) byAlias.set(entry.alias, entry);
  }
  const labels: ServerLabel[] = [...servers.keys(), ...[...byAlias].map(([alias, entry]) => [alias, entry.name] as const)];
  const names = serverNameMatcher(labels);
  return {
    servers,
    names,
    toolNames: toolSeparator === "-" ? names : serverNameMatcher(labels, toolSeparator),
    hasInternalOnly: [...servers.values()].some((entry) => entry.internalOnly),
    hasDelegating: [...servers.values()].some((entry) => entry.kind === "delegated"),
    byIdOrName: (idOrName) => byId.get(idOrName) ?? servers.get(idOrName) ?? byAlias.get(idOrName),
  };
}

/** The config file's servers. */
export function configServerEntries(config: Config, options: ServerEntryOptions): McpServerEntry[] {
  return Object.entries(config.mcp_servers).map(([name, server]) => buildServerEntry(name, name, "config", server, options));
}
