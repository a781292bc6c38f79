/**
 * The server registry's management API, `/v1/mcp/server` (README, "Managing servers and
 * keys"): list, read, create, edit, delete. Input is validated by the config file's own
 * schema; config servers are listed read-only; secrets are write-only (masked on the way
 * out, kept when an edit leaves them out).
 */
import type { Environment } from "../config/env-refs.js";
import { ConfigError } from "../config/errors.js";
import { SERVER_NAME_PATTERN, type ServerConfig } from "../config/schema.js";
import { isSpecUrl, parseServerInput } from "../config/server-input.js";
import { GatewayError } from "../errors.js";
import { SECRET_SERVER_FIELDS, type ServersRepository } from "../store/servers-repository.js";
import type { DatabaseRegistry } from "./database-registry.js";
import type { McpServerEntry } from "./server-entry.js";
import { maskUrl } from "../debug.js";

/**
 * Fields of the API body that are about the record, not the server's config. The
 * read-only ones the API shows are accepted and ignored, so a GET body can be PUT back.
 */
/** A client-chosen server_id: URL-safe (it appears in paths), within the id column's 64 characters. */
export const SERVER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$/;
/** LiteLLM reserves these as permission-list keywords. */
const RESERVED_SERVER_IDS = new Set(["all-team-mcpservers", "all-proxy-mcpservers", "no-mcp-servers"]);

const RECORD_FIELDS = [
  "server_name",
  "name",
  "server_id",
  "source",
  "read_only",
  "created_at",
  "updated_at",
  "warnings",
  // LiteLLM's read-only fields, so that one of its server objects can be sent back as it came.
  "created_by",
  "updated_by",
  "status",
  "last_health_check",
  "health_check_error",
  "teams",
  "has_user_credential",
  "approval_status",
] as const;

/** LiteLLM's `credentials` object: its fields are the config file's server fields of the same names. */
const CREDENTIAL_OBJECT_FIELDS = ["auth_value", "client_id", "client_secret", "scopes"] as const;



export interface ServerView extends Record<string, unknown> {
  server_id: string;
  server_name: string;
  source: "config" | "database";
  read_only: boolean;
  /** Settings that do not do what they seem to, or weaken security (also logged when loaded). */
  warnings: readonly string[];
}

export function maskSecret(value: string): string {
  return value.length >= 16 ? `****${value.slice(-4)}` : "****";
}

function maskedConfig(config: ServerConfig): Record<string, unknown> {
  const view: Record<string, unknown> = { ...config };
  for (const field of SECRET_SERVER_FIELDS) {
    const value = view[field];
    if (typeof value === "string") view[field] = maskSecret(value);
  }
  view.static_headers = Object.fromEntries(Object.keys(config.static_headers).map((header) => [header, "****"]));
  if (config.url !== undefined) view.url = maskedUrl(config.url);
  // Gateway keys a config server is limited to: never shown.
  if (config.api_keys !== undefined) view.api_keys = config.api_keys.map(() => "****");
  // A stdio server's env usually holds its API keys: masked like static_headers.
  if (config.env !== undefined) view.env = Object.fromEntries(Object.keys(config.env).map((name) => [name, "****"]));
  return view;
}

/**
 * The URL with its query values and userinfo masked (a query often carries an API key);
 * an edit that sends this form back keeps the stored URL.
 */
export function maskedUrl(href: string): string {
  // A URL with nothing to mask is shown as configured (maskUrl would normalise it).
  return URL.canParse(href) && !/[?@]/.test(href) ? href : maskUrl(href, maskSecret);
}

function badRequest(message: string, extra: Record<string, unknown> = {}): GatewayError {
  return new GatewayError({ status: 400, code: "invalid_request", message, extra });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const MASK = /^\*{4}/;

const isMasked = (value: unknown): boolean => typeof value === "string" && MASK.test(value);

/** Secrets that are maps of names to secret values, masked and kept one value at a time. */
const MAP_SECRETS: ReadonlySet<string> = new Set(["static_headers", "env"]);

/** auth_value and its alias authentication_token are one credential. */
const CREDENTIAL_FIELDS = ["auth_value", "authentication_token"] as const;

/**
 * Secrets are write-only: a secret left out of an edit, or sent back masked as the API
 * showed it, keeps its stored value (per header for static_headers). The static
 * credential is one value under either name, and is dropped when the edit sets
 * auth_type none (which has no use for it).
 */
function keepUnsentSecrets(config: Record<string, unknown>, previous: Record<string, unknown>): void {
  if (typeof previous.url === "string" && config.url === maskedUrl(previous.url)) config.url = previous.url;
  const previousCredential = CREDENTIAL_FIELDS.find((field) => previous[field] !== undefined);
  const sentCredential = CREDENTIAL_FIELDS.find((field) => config[field] !== undefined);
  if (previousCredential !== undefined) {
    if (sentCredential === undefined) {
      if ((config.auth_type ?? "none") !== "none") config[previousCredential] = previous[previousCredential];
    } else if (isMasked(config[sentCredential])) {
      delete config[sentCredential];
      config[previousCredential] = previous[previousCredential];
    }
  }
  for (const field of SECRET_SERVER_FIELDS) {
    if ((CREDENTIAL_FIELDS as readonly string[]).includes(field)) continue;
    const sent = config[field];
    const before = previous[field];
    if (before === undefined) continue;
    if (sent === undefined || isMasked(sent)) {
      config[field] = before;
    } else if (MAP_SECRETS.has(field) && isObject(sent) && isObject(before)) {
      config[field] = Object.fromEntries(
        Object.entries(sent).map(([header, value]) => [header, isMasked(value) && header in before ? before[header] : value]),
      );
    }
  }
}

/**
 * LiteLLM's API shapes: `credentials: {auth_value, client_id, client_secret, scopes}` and
 * `mcp_access_groups` are the config file's `auth_value`, ..., and `access_groups`. A field
 * given both ways with different values is a 400 (which one was meant is unknowable).
 */
function flattenLiteLlmFields(body: Record<string, unknown>, config: Record<string, unknown>): void {
  const moved: Array<[string, string, unknown]> = [];
  const credentials = body.credentials;
  if (credentials !== undefined && credentials !== null) {
    if (!isObject(credentials)) throw badRequest("credentials: must be an object {auth_value?, client_id?, client_secret?, scopes?}", { field: "credentials" });
    for (const [key, value] of Object.entries(credentials)) {
      if (!(CREDENTIAL_OBJECT_FIELDS as readonly string[]).includes(key)) {
        throw badRequest(`credentials.${key}: not a credential field Gatehouse knows (auth_value, client_id, client_secret, scopes)`, { field: `credentials.${key}` });
      }
      if (value !== null && value !== undefined) moved.push([`credentials.${key}`, key, value]);
    }
  }
  // An empty list is the default (no groups), as the GET view shows it.
  const groups = body.mcp_access_groups;
  if (groups !== undefined && groups !== null && !(Array.isArray(groups) && groups.length === 0)) moved.push(["mcp_access_groups", "access_groups", body.mcp_access_groups]);
  for (const [from, to, value] of moved) {
    if (config[to] !== undefined && JSON.stringify(config[to]) !== JSON.stringify(value)) {
      throw badRequest(`${from}: differs from ${to} given beside it; send one`, { field: from });
    }
    config[to] = value;
  }
}

/** A masked placeholder that no stored value replaced would be stored as the secret itself: refuse it. */
function assertNoMaskedPlaceholder(config: Record<string, unknown>): void {
  if (typeof config.url === "string" && /(?:[?&][^=&]*=|\/\/)\*{4}/.test(config.url)) {
    throw badRequest("url: holds a masked placeholder (****) that is not the stored URL's; send the real URL", { field: "url" });
  }
  for (const field of SECRET_SERVER_FIELDS) {
    const value = config[field];
    let masked: string | undefined;
    if (isMasked(value)) masked = field;
    else if (MAP_SECRETS.has(field) && isObject(value)) {
      const header = Object.keys(value).find((name) => isMasked(value[name]));
      if (header !== undefined) masked = `${field}.${header}`;
    }
    if (masked !== undefined) {
      throw badRequest(`${masked}: is a masked placeholder (****) but no stored value exists to keep; send the real secret`, { field: masked });
    }
  }
}

/** The path of the first string that is an `os.environ/` reference, if any. */
function findEnvReference(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return value.startsWith("os.environ/") ? path || "body" : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = findEnvReference(child, Array.isArray(value) ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

export function createServerAdmin(options: {
  registry: DatabaseRegistry;
  servers: ServersRepository;
  env: Environment;
  /** general_settings.mcp_allow_stdio_servers_from_api. */
  allowStdio?: boolean;
  /** Loads an OpenAPI server's spec (spec_path) as it would be served, so a bad one is refused here with its problem; throws the problem. */
  checkSpec?: (name: string, config: ServerConfig) => Promise<void>;
}) {
  const { registry, servers, env } = options;

  function view(entry: McpServerEntry): ServerView {
    const stored = entry.source === "database" ? registry.stored(entry.id) : undefined;
    return {
      server_id: entry.id,
      server_name: entry.name,
      source: entry.source,
      read_only: entry.source === "config",
      warnings: entry.warnings,
      ...maskedConfig(entry.config),
      // LiteLLM's names: credentials are never shown (the masked fields above say which are set).
      credentials: null,
      mcp_access_groups: entry.accessGroups,
      mcp_info: entry.mcpInfo,
      ...(stored === undefined ? {} : { created_at: stored.createdAt, updated_at: stored.updatedAt }),
    };
  }

  function find(idOrName: string): McpServerEntry {
    const entry = registry.current().byIdOrName(idOrName);
    if (entry === undefined) throw new GatewayError({ status: 404, code: "unknown_server", message: `no MCP server with id or name '${idOrName}'` });
    return entry;
  }

  /**
   * A database server the API may change: one in the registry, or a stored row the registry
   * left out (its name clashes, its config no longer loads), by id, so it can be renamed,
   * fixed or deleted.
   */
  function writable(idOrName: string): { id: string; name: string } {
    const entry = registry.current().byIdOrName(idOrName);
    const leftOut = entry === undefined ? registry.stored(idOrName) : undefined;
    if (leftOut !== undefined) return { id: leftOut.id, name: leftOut.name };
    if (entry === undefined) throw new GatewayError({ status: 404, code: "unknown_server", message: `no MCP server with id or name '${idOrName}'` });
    if (entry.source === "config") {
      throw new GatewayError({
        status: 403,
        code: "read_only_server",
        message: `MCP server '${entry.name}' is defined in the config file and is read-only here; change the config file instead`,
      });
    }
    return entry;
  }

  /** Splits the body into the record fields and the server config, and checks the name. */
  function parseBody(body: unknown, fallbackName?: string): { name: string; serverId?: string; config: Record<string, unknown> } {
    if (!isObject(body)) throw badRequest("the body must be a JSON object: {server_name, url, transport?, auth_type?, ...} (the config file's server fields)");
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      if ((RECORD_FIELDS as readonly string[]).includes(key) || key === "credentials" || key === "mcp_access_groups") continue;
      // LiteLLM's API sends `alias: null` for a server without one.
      if (key === "alias" && value === null) continue;
      config[key] = value;
    }
    flattenLiteLlmFields(body, config);
    const name = body.server_name ?? body.name ?? body.alias ?? fallbackName;
    if (typeof name !== "string" || !SERVER_NAME_PATTERN.test(name)) {
      throw badRequest("server_name: required, letters, digits, '_' and '-' only (it is used in URL paths and tool prefixes)", { field: "server_name" });
    }
    const serverId = typeof body.server_id === "string" ? body.server_id : undefined;
    return { name, ...(serverId === undefined ? {} : { serverId }), config };
  }

  function validate(config: Record<string, unknown>): ServerConfig {
    if (config.api_keys !== undefined) {
      // The values are gateway keys: the API would have to store and show them. The config file's owner decides.
      throw badRequest("api_keys: only the config file may limit a server to listed keys; give keys access with object_permission.mcp_servers (POST /key/generate)", { field: "api_keys" });
    }
    if (config.transport === "stdio" && options.allowStdio !== true) {
      // Running a command is remote code execution for whoever holds the master key: the config file's owner decides.
      throw new GatewayError({
        status: 403,
        code: "stdio_not_allowed",
        message:
          "transport stdio: servers that run a command can be defined only in the config file; to allow them here, set general_settings.mcp_allow_stdio_servers_from_api: true (whoever holds the master key can then run any command on the gateway's host)",
        extra: { field: "transport" },
      });
    }
    if (typeof config.spec_path === "string" && !isSpecUrl(config.spec_path)) {
      // The gateway would read a file of its own host for whoever holds the master key: the config file's owner decides.
      throw new GatewayError({
        status: 403,
        code: "spec_file_not_allowed",
        message: "spec_path: the API takes an OpenAPI document's http(s) URL; a file on the gateway's host can be named only in the config file",
        extra: { field: "spec_path" },
      });
    }
    const reference = findEnvReference(config);
    if (reference !== undefined) {
      // The API must not become a way to read the gateway's environment (GATEHOUSE_SALT_KEY, DATABASE_URL...).
      throw badRequest(`${reference}: os.environ/ references are resolved only in the config file; send the value itself (secrets are stored encrypted)`, { field: reference });
    }
    try {
      return parseServerInput(config, env, "body");
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const first = error.problems[0] ?? "invalid server config";
      throw badRequest(first.replace(/^body: /, ""), { problems: error.problems.map((line) => line.replace(/^body: /, "")) });
    }
  }

  /** An OpenAPI server's spec must load before the server is stored: its problem is the client's to fix. */
  async function checkSpec(name: string, config: ServerConfig): Promise<void> {
    if (config.spec_path === undefined || options.checkSpec === undefined) return;
    try {
      await options.checkSpec(name, config);
    } catch (error) {
      throw badRequest(error instanceof Error ? error.message : String(error), { field: "spec_path" });
    }
  }

  /**
   * Names are unique ignoring case (issue 15 item 10): `x-mcp-{server}-*` header names ignore
   * case. Aliases are names too (issue 17), so a name or alias may be no other server's name or
   * alias; nor another server's id: routes look a server up by id first, then by name.
   */
  function assertNameFree(name: string, config: Record<string, unknown>, exceptId?: string): void {
    const labelsOf = (holder: { name: string; alias?: string | undefined }) => [holder.name, ...(holder.alias === undefined ? [] : [holder.alias])];
    const holders: { id: string; name: string; alias?: string | undefined }[] = [...registry.current().servers.values(), ...registry.problems()];
    const alias = typeof config.alias === "string" ? config.alias : undefined;
    for (const [wanted, field] of [[name, "server_name"], ...(alias === undefined ? [] : [[alias, "alias"]])] as const) {
      const idHolder = holders.find((holder) => holder.id !== exceptId && holder.id.toLowerCase() === wanted.toLowerCase() && !labelsOf(holder).some((label) => label.toLowerCase() === wanted.toLowerCase()));
      if (idHolder !== undefined) {
        throw new GatewayError({ status: 409, code: "server_name_taken", message: `'${wanted}' is the server_id of MCP server '${idHolder.name}'; choose another ${field === "alias" ? "alias" : "name"}`, extra: { field } });
      }
      const taken = holders.find((holder) => holder.id !== exceptId && labelsOf(holder).some((label) => label.toLowerCase() === wanted.toLowerCase()));
      if (taken !== undefined) {
        const same = taken.name === wanted ? "" : ` ('${taken.name}'; names and aliases are unique ignoring case)`;
        throw new GatewayError({ status: 409, code: "server_name_taken", message: `an MCP server named '${wanted}' exists already${same}`, extra: { field } });
      }
    }
  }

  /**
   * A server_id chosen by the client (as LiteLLM's API allows; the LiteLLM importer keeps
   * LiteLLM's ids so that keys naming them still match). Routes take an id or a name and
   * try the id first, so an id may not be another server's name either.
   */
  async function assertIdFree(serverId: string): Promise<void> {
    if (!SERVER_ID_PATTERN.test(serverId) || RESERVED_SERVER_IDS.has(serverId)) {
      throw badRequest(
        `server_id: letters, digits, '.', '_', '~' and '-' only, at most 64 characters, not ${[...RESERVED_SERVER_IDS].join(" or ")} (leave it out to get a UUID)`,
        { field: "server_id" },
      );
    }
    const wanted = serverId.toLowerCase();
    const holders: { id: string; name: string; alias?: string | undefined }[] = [...registry.current().servers.values(), ...registry.problems()];
    const clash = holders.find((holder) => holder.id.toLowerCase() === wanted || holder.name.toLowerCase() === wanted || holder.alias?.toLowerCase() === wanted);
    if (clash !== undefined || (await servers.get(serverId)) !== undefined) {
      throw new GatewayError({ status: 409, code: "server_id_taken", message: `server_id '${serverId}' is taken by MCP server '${clash?.name ?? serverId}' (as its id, name or alias)`, extra: { field: "server_id" } });
    }
  }

  return {
    /** Every server, as LiteLLM lists them: an array. */
    list(): ServerView[] {
      return [...registry.current().servers.values()].map(view);
    },

    /** Database servers this instance could not load, with the reason (GET /v1/mcp/server/health shows them). */
    problems(): ReturnType<DatabaseRegistry["problems"]> {
      return registry.problems();
    },

    get(idOrName: string): ServerView {
      return view(find(idOrName));
    },

    async create(body: unknown): Promise<ServerView> {
      const { name, serverId, config } = parseBody(body);
      assertNoMaskedPlaceholder(config);
      const parsed = validate(config);
      assertNameFree(name, config);
      if (serverId !== undefined) await assertIdFree(serverId);
      await checkSpec(name, parsed);
      const stored = await servers.insert(name, config, serverId);
      await registry.reload();
      return view(find(stored.id));
    },

    async update(idOrName: string, body: unknown): Promise<ServerView> {
      const entry = writable(idOrName);
      const { name, serverId, config } = parseBody(body, entry.name);
      if (serverId !== undefined && serverId !== entry.id) throw badRequest(`server_id in the body (${serverId}) differs from the one in the path (${entry.id})`, { field: "server_id" });
      keepUnsentSecrets(config, registry.stored(entry.id)?.config ?? {});
      assertNoMaskedPlaceholder(config);
      const parsed = validate(config);
      assertNameFree(name, config, entry.id);
      await checkSpec(name, parsed);
      const updated = await servers.update(entry.id, name, config);
      if (updated === undefined) throw new GatewayError({ status: 404, code: "unknown_server", message: `MCP server '${entry.name}' was deleted meanwhile` });
      await registry.reload();
      return view(find(entry.id));
    },

    async delete(idOrName: string): Promise<{ server_id: string; server_name: string; deleted: true }> {
      const entry = writable(idOrName);
      await servers.delete(entry.id);
      await registry.reload();
      return { server_id: entry.id, server_name: entry.name, deleted: true };
    },
  };
}

export type ServerAdmin = ReturnType<typeof createServerAdmin>;
