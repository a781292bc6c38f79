/**
 * The registry of config servers plus database servers. `reload()` reads the database
 * and swaps in a new snapshot; entries whose stored config did not change are reused, so their
 * token caches survive. Reloads are serialised: one at a time, and a reload asked for
 * during one runs once after it.
 *
 * A config server's name always wins: a database row whose name collides with it (the
 * config file gained a server) is left out with a warning, never merged. Names collide
 * ignoring case (issue 15 item 10: `x-mcp-{server}-*` header names ignore case). Between
 * database rows the first created (ties: the lower id) keeps the name, on every instance
 * alike; rows that clash (two instances created `A` and `a` at once, or a database from
 * before this rule) are left out with an error naming both, until one is renamed or
 * deleted through the API. A row whose server_id is a config server's name (a config
 * server's id is its name) would share its keys' grants: the gateway does not start.
 */
import type { Environment } from "../config/env-refs.js";
import { ConfigError } from "../config/errors.js";
import type { Config } from "../config/schema.js";
import { parseServerInput } from "../config/server-input.js";
import type { Logger } from "../log.js";
import type { ServersRepository, StoredServer } from "../store/servers-repository.js";
import { configServerEntries, registrySnapshot, type RegistrySnapshot, type ServerRegistry } from "./registry.js";
import { buildServerEntry, type McpServerEntry, type UpstreamAuthFactory } from "./server-entry.js";

/** A database server that could not be loaded on this instance, and why. */
export interface ServerProblem {
  id: string;
  name: string;
  problem: string;
}

export interface DatabaseRegistry extends ServerRegistry {
  reload(): Promise<void>;
  problems(): readonly ServerProblem[];
  /** Raw stored rows of the last reload, by id (the admin API shows them). */
  stored(id: string): StoredServer | undefined;
}

interface Loaded {
  entry: McpServerEntry;
  /** The stored config it was built from: an entry is reused only for identical content (timestamps can tie or skew). */
  source: string;
}

export async function databaseRegistry(options: {
  config: Config;
  servers: ServersRepository;
  env: Environment;
  log: Logger;
  /** Builds each server's credential strategy (auth/upstream, from the composition root). */
  authFor: UpstreamAuthFactory;
  /** MCP_TOOL_PREFIX_SEPARATOR (default `-`). */
  toolSeparator?: string;
  /** The header of LiteLLM's client-side credential (default `x-mcp-auth`). */
  clientAuthHeader?: string;
  /** general_settings.mcp_allow_stdio_servers_from_api: off, stored stdio servers are left out (with a problem each). */
  allowStdio?: boolean;
  /** Told of every new snapshot (the composition root starts and stops stdio processes with it). */
  onSnapshot?: (snapshot: RegistrySnapshot) => void;
}): Promise<DatabaseRegistry> {
  const toolSeparator = options.toolSeparator ?? "-";
  const context = { log: options.log, authFor: options.authFor, toolSeparator, ...(options.clientAuthHeader === undefined ? {} : { clientAuthHeader: options.clientAuthHeader }) };
  const fromConfig = configServerEntries(options.config, context);
  let snapshot: RegistrySnapshot = registrySnapshot(fromConfig, toolSeparator);
  let loaded = new Map<string, Loaded>();
  let rows = new Map<string, StoredServer>();
  let problems: ServerProblem[] = [];
  let running: Promise<void> | undefined;
  let again = false;
  let first = true;

  function entryFor(row: StoredServer, source: string): McpServerEntry {
    const previous = loaded.get(row.id);
    if (previous !== undefined && previous.source === source && previous.entry.name === row.name) return previous.entry;
    // Stored configs never resolve os.environ/ (the API refuses them): an empty environment.
    const config = parseServerInput(row.config, {}, `database server '${row.name}' (${row.id})`);
    // A row stored while the setting was on (or written by another instance's config): never run unless allowed here.
    if (config.transport === "stdio" && options.allowStdio !== true) throw new Error(STDIO_FROM_DATABASE_DISABLED);
    return buildServerEntry(row.id, row.name, "database", config, context);
  }

  async function load(initial: boolean): Promise<void> {
    const { servers: stored, unreadable } = await options.servers.listReadable();
    const idClashes: string[] = [];
    const next = new Map<string, Loaded>();
    const nextProblems: ServerProblem[] = unreadable.map((row) => ({
      ...row,
      problem: `${row.problem} (set the salt key it was sealed with in GATEHOUSE_SALT_KEY_PREVIOUS)`,
    }));
    // Lowercased name → who holds it: config servers first, then rows in creation order.
    const holders = new Map<string, { name: string; id?: string }>(
      fromConfig.flatMap((entry) => [entry.name, ...(entry.alias === undefined ? [] : [entry.alias])].map((label) => [label.toLowerCase(), { name: entry.name }] as const)),
    );
    for (const row of stored) {
      const holder = holders.get(row.name.toLowerCase());
      if (holder !== undefined) {
        nextProblems.push({ id: row.id, name: row.name, problem: nameClash(row.name, holder) });
        continue;
      }
      // A config server's id is its name: a row with that id shares its keys' grants (and takes its routes).
      const idHolder = holders.get(row.id.toLowerCase());
      if (idHolder !== undefined && idHolder.id === undefined) {
        idClashes.push(`mcp_servers.${idHolder.name}: database server '${row.name}' has the server_id '${row.id}', and a config server's id is its name (ignoring case here): keys granted either one would be granted both. Rename the config server; or, to drop the database server, start without the config server, delete it (DELETE /v1/mcp/server/${row.id}) and take '${row.id}' out of the keys granted it, which would otherwise be granted the config server`);
        nextProblems.push({ id: row.id, name: row.name, problem: `its server_id '${row.id}' is the name or alias of config server '${idHolder.name}' (ignoring case), so keys granted one are granted the other; delete this one` });
        continue;
      }
      holders.set(row.name.toLowerCase(), { name: row.name, id: row.id });
      try {
        const source = JSON.stringify(row.config);
        const entry = entryFor(row, source);
        // An alias is a name too (URLs, x-mcp-{alias}-* headers): it must not be another server's name or alias.
        const aliasHolder = entry.alias === undefined ? undefined : holders.get(entry.alias.toLowerCase());
        if (entry.alias !== undefined && aliasHolder !== undefined && aliasHolder.id !== row.id) {
          nextProblems.push({ id: row.id, name: row.name, problem: `its alias '${entry.alias}' is the name or alias of ${aliasHolder.id === undefined ? "config" : "database"} server '${aliasHolder.name}' (ignoring case); rename one` });
          continue;
        }
        if (entry.alias !== undefined) holders.set(entry.alias.toLowerCase(), { name: row.name, id: row.id });
        next.set(row.id, { entry, source });
      } catch (error) {
        const problem = error instanceof ConfigError ? error.problems.join("; ") : error instanceof Error ? error.message : String(error);
        nextProblems.push({ id: row.id, name: row.name, problem });
      }
    }
    // At startup the gateway does not start (fail closed); a row another instance writes later is left out.
    if (initial && idClashes.length > 0) throw new ConfigError(idClashes);
    for (const problem of nextProblems) {
      if (!problems.some((known) => known.id === problem.id && known.problem === problem.problem)) {
        options.log.error({ server: problem.name, server_id: problem.id, problem: problem.problem }, "a database MCP server cannot be loaded; it is left out");
      }
    }
    loaded = next;
    rows = new Map(stored.map((row) => [row.id, row]));
    problems = nextProblems;
    snapshot = registrySnapshot([...fromConfig, ...[...next.values()].map(({ entry }) => entry)], toolSeparator);
    options.onSnapshot?.(snapshot);
  }

  async function reload(): Promise<void> {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await load(first);
          first = false;
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  await reload();
  return {
    current: () => snapshot,
    reload,
    problems: () => problems,
    stored: (id) => rows.get(id),
  };
}

export const STDIO_FROM_DATABASE_DISABLED =
  "stdio servers from the management API are disabled on this instance (general_settings.mcp_allow_stdio_servers_from_api: false): a stdio server runs a command on the gateway's host; define it in the config file, or enable the setting";

/** Why a row is left out: its name is held by a config server or an older row (ignoring case). */
function nameClash(name: string, holder: { name: string; id?: string }): string {
  if (holder.id === undefined) {
    return holder.name === name
      ? `the config file defines a server named '${name}' too; the config server is used`
      : `the config file defines a server named '${holder.name}', which differs only in case (names are unique ignoring case); the config server is used: rename or delete this one`;
  }
  return `database server '${holder.name}' (${holder.id}) was created first with the same name ignoring case (names are unique ignoring case); this one is left out: rename or delete one of them`;
}
