/**
 * `gatehouse import-litellm`: brings a LiteLLM proxy's MCP servers and virtual keys into
 * Gatehouse's database. First a plan (every row mapped, checked against what Gatehouse
 * holds), then, unless it is a dry run, the writes: servers through the server admin (the
 * path `POST /v1/mcp/server` takes, so credentials are sealed like any API-created server),
 * keys through the keys repository, by hash. Matching is by server id and key hash, so a
 * second run changes nothing; a row that exists with other content is reported and kept
 * unless `overwrite` is set.
 */
import { createHash, randomBytes } from "node:crypto";
import { ConfigError } from "../config/errors.js";
import { parseServerInput } from "../config/server-input.js";
import { SERVER_NAME_PATTERN } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import type { DatabaseRegistry } from "../registry/database-registry.js";
import { SERVER_ID_PATTERN, type ServerAdmin } from "../registry/server-admin.js";
import type { KeysRepository, StoredKey } from "../store/keys-repository.js";
import type { ServersRepository } from "../store/servers-repository.js";
import { effectivePermission, type PermissionContext, type PermissionInput } from "./key-permissions.js";
import { keyLabel, mapKey } from "./key-mapping.js";
import { KEYS_TABLE, ORGANIZATIONS_TABLE, PERMISSIONS_TABLE, SERVERS_TABLE, TEAMS_TABLE, type LiteLLMDatabase, type Row } from "./litellm-database.js";
import { litellmKeys, openLiteLLMSecret, type LiteLLMKeys, type LiteLLMScheme } from "./litellm-secrets.js";
import { text, texts, flag } from "./row-values.js";
import { isLoadedByLiteLLM, mapServer, type SecretOutcome } from "./server-mapping.js";

export type Outcome = "imported" | "unchanged" | "updated" | "skipped" | "failed" | "conflict";
export const OUTCOMES: readonly Outcome[] = ["imported", "unchanged", "updated", "skipped", "failed", "conflict"];

export interface ReportEntry {
  /** Servers: LiteLLM's server_id. Keys: a label (alias, `sk-...abcd`), never the key. */
  source: string;
  /** Servers: the Gatehouse name. */
  name?: string;
  /** Servers: the Gatehouse id (differs from `source` when LiteLLM's id could not be kept). */
  id?: string;
  outcome: Outcome;
  reason?: string;
  notes: string[];
}

export interface Section {
  counts: Record<Outcome, number>;
  entries: ReportEntry[];
}

export interface ImportReport {
  dryRun: boolean;
  source: string;
  target: string;
  servers: Section;
  keys: Section & { total: number };
  credentials: { decrypted: Partial<Record<LiteLLMScheme, number>>; plain: number; undecryptable: number };
  /** About the whole import (tables missing, what no row shows). */
  notes: string[];
}

export interface ImportOptions {
  source: LiteLLMDatabase;
  target: {
    description: string;
    servers: ServersRepository;
    keys: KeysRepository;
    registry: DatabaseRegistry;
    admin: ServerAdmin;
  };
  /** Key material LiteLLM encrypted credentials with (its salt key, else its master key); undefined when neither was given. */
  litellmKeyMaterial: string | undefined;
  dryRun: boolean;
  overwrite: boolean;
  requireKeyMcpAccessDefined: boolean;
  /** A progress line (the CLI writes it to stderr). */
  progress: (line: string) => void;
  /** Keys read per query. */
  pageSize?: number;
  /** A progress line after every this many keys. */
  progressEvery?: number;
}

/** The salt key opens no stored credential: stop before writing anything. */
export class WrongSaltKeyError extends GatewayError {}

/** LiteLLM reserves these as permission-list keywords. */
const RESERVED_IDS = new Set(["all-team-mcpservers", "all-proxy-mcpservers", "no-mcp-servers"]);

const emptyCounts = (): Record<Outcome, number> => ({ imported: 0, unchanged: 0, updated: 0, skipped: 0, failed: 0, conflict: 0 });

export async function importLiteLLM(options: ImportOptions): Promise<ImportReport> {
  const { source } = options;
  if (!source.has(SERVERS_TABLE) && !source.has(KEYS_TABLE)) {
    throw new GatewayError({
      status: 500,
      code: "not_litellm_database",
      message: `${source.description} is not a LiteLLM database: it has neither ${SERVERS_TABLE} nor ${KEYS_TABLE} (if LiteLLM uses another schema, add ?schema=NAME to the URL)`,
    });
  }
  const report: ImportReport = {
    dryRun: options.dryRun,
    source: source.description,
    target: options.target.description,
    servers: { counts: emptyCounts(), entries: [] },
    keys: { total: 0, counts: emptyCounts(), entries: [] },
    credentials: { decrypted: {}, plain: 0, undecryptable: 0 },
    notes: [],
  };
  for (const table of [SERVERS_TABLE, KEYS_TABLE]) if (!source.has(table)) report.notes.push(`${table} does not exist: nothing imported from it`);
  if (source.has(KEYS_TABLE) && !source.has(PERMISSIONS_TABLE)) {
    report.notes.push(`${PERMISSIONS_TABLE} does not exist: keys are imported with the allow_all_keys servers only`);
  }
  report.notes.push(
    "end users: LiteLLM narrows a request further by its end user's MCP list (and require_end_user_mcp_access_defined); Gatehouse has no end users, so such limits do not apply",
  );

  const servers = await importServers(options, report);
  await importKeys(options, report, servers);
  return report;
}

interface ServerPlan {
  row: Row;
  entry: ReportEntry;
  write?: { id: string; name: string; config: Record<string, unknown>; mode: "create" | "update" };
}

/** LiteLLM server_id → Gatehouse id, for the servers that are in Gatehouse after this run (or would be). */
type ImportedServers = Map<string, string>;

async function importServers(options: ImportOptions, report: ImportReport): Promise<{ rows: Row[]; imported: ImportedServers }> {
  const { source, target } = options;
  const rows = await source.servers();
  // Without key material every ciphertext fails to open, and assertSaltKeyFits says what to pass.
  const keys: LiteLLMKeys = litellmKeys(options.litellmKeyMaterial ?? randomBytes(32).toString("hex"));
  const mapped = rows.map((row) => ({ row, mapped: mapServer(row, { open: (stored) => openLiteLLMSecret(stored, keys) }) }));
  tallyCredentials(report, mapped.flatMap(({ mapped: result }) => result.secrets));
  assertSaltKeyFits(report, options.litellmKeyMaterial !== undefined);

  // Who holds each name and id now (lowercased: names are unique ignoring case, and routes find a server by id or name).
  const holders = new Map<string, string>();
  for (const entry of target.registry.current().servers.values()) {
    holders.set(entry.name.toLowerCase(), entry.id);
    holders.set(entry.id.toLowerCase(), entry.id);
  }
  for (const problem of target.registry.problems()) {
    holders.set(problem.name.toLowerCase(), problem.id);
    holders.set(problem.id.toLowerCase(), problem.id);
  }

  const plans: ServerPlan[] = [];
  for (const { row, mapped: result } of mapped) {
    const litellmId = String(row.server_id);
    const entry: ReportEntry = { source: litellmId, outcome: "failed", notes: [] };
    plans.push({ row, entry });
    if (!result.ok) {
      entry.name = text(row, "server_name") ?? text(row, "alias");
      entry.outcome = result.skipped ? "skipped" : "failed";
      entry.reason = result.reason;
      continue;
    }
    entry.notes.push(...result.notes);
    const name = gatehouseName(result.name, entry.notes);
    entry.name = name;
    const id = await gatehouseId(litellmId, holders, target.servers, entry.notes);
    entry.id = id;
    const nameHolder = holders.get(name.toLowerCase());
    if (nameHolder !== undefined && nameHolder !== id) {
      entry.reason = `a Gatehouse server named '${name}' (or with that id) exists already (id ${nameHolder}); rename one of them and run again`;
      continue;
    }
    const problem = configProblem(result.config);
    if (problem !== undefined) {
      entry.reason = problem;
      continue;
    }
    const existing = await target.servers.get(id);
    holders.set(name.toLowerCase(), id);
    holders.set(id.toLowerCase(), id);
    if (existing === undefined) {
      entry.outcome = "imported";
      plans[plans.length - 1]!.write = { id, name, config: result.config, mode: "create" };
    } else if (existing.name === name && canonical(existing.config) === canonical(result.config)) {
      entry.outcome = "unchanged";
    } else if (options.overwrite) {
      entry.outcome = "updated";
      plans[plans.length - 1]!.write = { id, name, config: result.config, mode: "update" };
    } else {
      entry.outcome = "conflict";
      entry.reason = `a Gatehouse server with id ${id} exists with other content ('${existing.name}'); kept as it is (--overwrite replaces it)`;
    }
  }

  const imported: ImportedServers = new Map();
  for (const plan of plans) {
    const { entry, write } = plan;
    if (write !== undefined && !options.dryRun) {
      try {
        if (write.mode === "create") {
          const view = await target.admin.create({ server_name: write.name, server_id: write.id, ...write.config });
          entry.notes.push(...view.warnings.map((warning) => `Gatehouse warns: ${warning}`));
        } else {
          // Straight to the repository: the API's edit keeps secrets an edit leaves out, and an overwrite must not.
          await target.servers.update(write.id, write.name, write.config);
          await target.registry.reload();
        }
      } catch (error) {
        entry.outcome = "failed";
        entry.reason = error instanceof Error ? error.message : String(error);
      }
    }
    if (entry.outcome === "imported" || entry.outcome === "unchanged" || entry.outcome === "updated") imported.set(entry.source, entry.id!);
    report.servers.counts[entry.outcome]++;
    report.servers.entries.push(entry);
  }
  return { rows, imported };
}

function tallyCredentials(report: ImportReport, outcomes: readonly SecretOutcome[]): void {
  for (const outcome of outcomes) {
    if (outcome.kind === "plain") report.credentials.plain++;
    else if (outcome.kind === "undecryptable") report.credentials.undecryptable++;
    else if (outcome.scheme !== undefined) report.credentials.decrypted[outcome.scheme] = (report.credentials.decrypted[outcome.scheme] ?? 0) + 1;
  }
}

/**
 * A wrong salt key opens nothing. Values in a ciphertext form that none of the others
 * confirm were sealed with this key mean the key is wrong (or missing): stop, naming what
 * to pass. Some opening and some not means those few were sealed with an older key: their
 * servers are reported as failed.
 */
function assertSaltKeyFits(report: ImportReport, keyGiven: boolean): void {
  const opened = Object.values(report.credentials.decrypted).reduce((sum, n) => sum + n, 0);
  if (report.credentials.undecryptable === 0 || opened > 0) return;
  const what = `${report.credentials.undecryptable} stored MCP credential value(s) are encrypted`;
  throw new WrongSaltKeyError({
    status: 500,
    code: keyGiven ? "wrong_litellm_salt_key" : "litellm_salt_key_required",
    message: keyGiven
      ? `${what} and the LiteLLM key given opens none of them: it is not the key LiteLLM encrypted them with. Pass the LITELLM_SALT_KEY the LiteLLM proxy runs with (--litellm-salt-key), or, if it has none, its master key (--litellm-master-key). Nothing was imported.`
      : `${what}: pass the LITELLM_SALT_KEY the LiteLLM proxy runs with (--litellm-salt-key or env LITELLM_SALT_KEY), or, if it has none, its master key (--litellm-master-key or env LITELLM_MASTER_KEY). Nothing was imported.`,
  });
}

/** LiteLLM's name when Gatehouse accepts it, else a renamed one (with a note: URLs change). */
function gatehouseName(name: string, notes: string[]): string {
  if (SERVER_NAME_PATTERN.test(name) && name.length <= 255) return name;
  const renamed = name.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 255) || "server";
  notes.push(`renamed from '${name}' to '${renamed}': Gatehouse names hold only letters, digits, '_' and '-' (they appear in URLs and tool prefixes); clients use /${renamed}/mcp`);
  return renamed;
}

/**
 * LiteLLM's server_id when Gatehouse can keep it (so keys and clients naming it still
 * match), else a stable id derived from it: a second run finds the same server.
 */
async function gatehouseId(litellmId: string, holders: ReadonlyMap<string, string>, servers: ServersRepository, notes: string[]): Promise<string> {
  let why: string | undefined;
  if (!SERVER_ID_PATTERN.test(litellmId) || RESERVED_IDS.has(litellmId)) {
    why = "it is not a plain id (letters, digits, '.', '_', '~', '-'; at most 64)";
  } else {
    // Held by this very server (a run before imported it) is fine; by anything else (a config server of that name...) is not.
    const holder = holders.get(litellmId.toLowerCase());
    if (holder !== undefined && (holder !== litellmId || (await servers.get(litellmId)) === undefined)) {
      why = `it is the name or id of another Gatehouse server (${holder})`;
    }
  }
  if (why === undefined) return litellmId;
  const mapped = `litellm-${createHash("sha256").update(litellmId, "utf8").digest("hex").slice(0, 40)}`;
  notes.push(`server_id '${litellmId}' kept as '${mapped}': ${why}; imported keys that name '${litellmId}' are given '${mapped}'`);
  return mapped;
}

/** Why Gatehouse would refuse this config (the API's own checks), or undefined. */
function configProblem(config: Record<string, unknown>): string | undefined {
  const reference = JSON.stringify(config).includes('"os.environ/');
  if (reference) return "a value is an os.environ/ reference, which Gatehouse resolves only in the config file; move this server to config.yaml";
  try {
    parseServerInput(config, {}, "server");
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return `Gatehouse refuses its config: ${error.problems.map((line) => line.replace(/^server: /, "")).join("; ")}`;
    throw error;
  }
}

/** JSON with sorted object keys: equal configs compare equal whatever order their fields came in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    typeof inner === "object" && inner !== null && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

async function importKeys(options: ImportOptions, report: ImportReport, servers: { rows: Row[]; imported: ImportedServers }): Promise<void> {
  const { source, target } = options;
  if (!source.has(KEYS_TABLE)) return;
  const pageSize = options.pageSize ?? 500;
  const progressEvery = options.progressEvery ?? 1000;
  const total = await source.countKeys();
  report.keys.total = total;

  const context: PermissionContext = {
    servers: servers.rows.filter(isLoadedByLiteLLM).map((row) => ({
      ref: String(row.server_id),
      names: [text(row, "server_name"), text(row, "alias")].filter((name): name is string => name !== undefined),
      groups: texts(row, "mcp_access_groups") ?? [],
      allowAllKeys: flag(row, "allow_all_keys") === true,
      gatehouseId: servers.imported.get(String(row.server_id)),
    })),
    configServers: new Map([...target.registry.current().servers.values()].filter((entry) => entry.source === "config").map((entry) => [entry.name, entry.id])),
    requireKeyMcpAccessDefined: options.requireKeyMcpAccessDefined,
  };
  const teams = await source.byId(TEAMS_TABLE, "team_id");
  const organizations = await source.byId(ORGANIZATIONS_TABLE, "organization_id");
  const levelPermissions = await source.objectPermissions(
    [...teams.values(), ...organizations.values()].map((row) => text(row, "object_permission_id")).filter((id): id is string => id !== undefined),
  );
  const permissionOf = (row: Row | undefined, found: ReadonlyMap<string, Row>): Row | undefined => {
    const id = row === undefined ? undefined : text(row, "object_permission_id");
    return id === undefined ? undefined : found.get(id);
  };

  const aliasesUsed = new Map<string, string>();
  let done = 0;
  let reported = 0;
  for await (const page of source.keyPages(pageSize)) {
    const keyPermissions = await source.objectPermissions(page.map((row) => text(row, "object_permission_id")).filter((id): id is string => id !== undefined));
    const roles = await source.userRoles(page.map((row) => text(row, "user_id")).filter((id): id is string => id !== undefined));
    const existing = await target.keys.findExisting(
      page.map((row) => text(row, "token")).filter((token): token is string => token !== undefined),
      page.map((row) => text(row, "key_alias")).filter((alias): alias is string => alias !== undefined),
    );
    const byToken = new Map(existing.map((key) => [key.token, key]));
    for (const key of existing) if (key.keyAlias !== null && !aliasesUsed.has(key.keyAlias)) aliasesUsed.set(key.keyAlias, key.token);

    for (const row of page) {
      const entry: ReportEntry = { source: keyLabel(row), outcome: "failed", notes: [] };
      try {
        await importKey(row, entry);
      } catch (error) {
        entry.outcome = "failed";
        entry.reason = error instanceof Error ? error.message : String(error);
      }
      report.keys.counts[entry.outcome]++;
      report.keys.entries.push(entry);
      done++;
    }
    if (done - reported >= progressEvery || done === total) {
      reported = done;
      const counts = report.keys.counts;
      options.progress(`keys ${done}/${total}: ${OUTCOMES.filter((outcome) => counts[outcome] > 0).map((outcome) => `${counts[outcome]} ${outcome}`).join(", ")}`);
    }

    async function importKey(row: Row, entry: ReportEntry): Promise<void> {
      const team = teams.get(text(row, "team_id") ?? "");
      const organization = organizations.get(text(row, "organization_id") ?? "");
      const input: PermissionInput = {
        key: permissionOf(row, keyPermissions),
        team: team === undefined ? undefined : { id: String(team.team_id), permission: permissionOf(team, levelPermissions), accessGroupIds: texts(team, "access_group_ids") ?? [] },
        organization: organization === undefined ? undefined : { id: String(organization.organization_id), permission: permissionOf(organization, levelPermissions) },
        agentId: text(row, "agent_id"),
        accessGroupIds: texts(row, "access_group_ids") ?? [],
        userRole: roles.get(text(row, "user_id") ?? ""),
      };
      const mapped = mapKey(row, { teamBlocked: flag(team ?? {}, "blocked") === true, permission: effectivePermission(input, context) });
      if (!mapped.ok) {
        entry.outcome = mapped.skipped ? "skipped" : "failed";
        entry.reason = mapped.reason;
        return;
      }
      entry.notes.push(...mapped.notes);
      const key = mapped.key;
      if (key.keyAlias !== null) {
        const holder = aliasesUsed.get(key.keyAlias);
        if (holder !== undefined && holder !== key.token) {
          entry.notes.push(`key_alias '${key.keyAlias}' not carried: another Gatehouse key has it (aliases are unique)`);
          key.keyAlias = null;
        } else {
          aliasesUsed.set(key.keyAlias, key.token);
        }
      }
      const before = byToken.get(key.token);
      if (before === undefined) {
        entry.outcome = "imported";
        if (!options.dryRun) await target.keys.insert(key);
      } else if (canonicalKey(before) === canonicalKey(key)) {
        entry.outcome = "unchanged";
      } else if (options.overwrite) {
        entry.outcome = "updated";
        if (!options.dryRun) await target.keys.replace(key);
      } else {
        entry.outcome = "conflict";
        entry.reason = "a Gatehouse key with this hash exists with other settings; kept as it is (--overwrite replaces it)";
      }
    }
  }
}

function canonicalKey(key: StoredKey): string {
  const permission = key.objectPermission;
  return canonical({
    ...key,
    objectPermission:
      permission === null
        ? null
        : {
            ...(permission.mcp_servers === undefined ? {} : { mcp_servers: [...permission.mcp_servers].sort() }),
            ...(permission.mcp_tool_permissions === undefined
              ? {}
              : { mcp_tool_permissions: Object.fromEntries(Object.entries(permission.mcp_tool_permissions).map(([server, tools]) => [server, [...tools].sort()])) }),
          },
  });
}
