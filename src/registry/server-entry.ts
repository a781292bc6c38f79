/**
 * An upstream MCP server as the proxy uses it: the validated config plus everything that
 * can be computed once (parsed URL, kind, auth strategy, tool filter, header sets), so the
 * hot path does no parsing.
 */
import { createHash } from "node:crypto";
import type { ServerConfig } from "../config/schema.js";
import { serverKind, type ServerKind } from "../config/server-kind.js";
import type { Logger } from "../log.js";
import type { UpstreamAuth } from "../auth/upstream/strategy.js";
import { sanitizedToolName } from "../openapi/compile.js";
import type { SpecSource } from "../openapi/types.js";
import { serverWarnings } from "./server-warnings.js";
import { toolFilter, type ToolFilter } from "./tool-filter.js";

/** Where upstream requests go (mcp/upstream-http.ts reads the strings, messages the URL). */
export interface UpstreamTarget {
  readonly url: URL;
  readonly origin: string;
  readonly path: string;
}

export type ServerSource = "config" | "database";

/** What the gateway runs for a stdio server (mcp/stdio-process.ts). */
export interface StdioLaunch {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the SDK's minimal default environment (getDefaultEnvironment): never the gateway's own. */
  readonly env: Readonly<Record<string, string>>;
}

/** What a server's credential strategy is built from. */
export interface ServerAuthSpec {
  readonly id: string;
  readonly name: string;
  readonly kind: ServerKind;
  readonly config: ServerConfig;
}

/**
 * Builds a server's upstream credential strategy. The composition root passes
 * auth/upstream's factory in, so the registry depends on no strategy.
 */
export type UpstreamAuthFactory = (server: ServerAuthSpec) => UpstreamAuth;

export interface ServerEntryOptions {
  authFor: UpstreamAuthFactory;
  /** Between a server's alias (or name) and a tool's name on /mcp and REST: MCP_TOOL_PREFIX_SEPARATOR, default `-`. */
  toolSeparator?: string;
  /** Told of settings that do not do what they seem to. */
  log?: Logger;
  /** The header of LiteLLM's client-side credential (`x-mcp-auth` unless configured). */
  clientAuthHeader?: string;
}

export interface McpServerEntry {
  /** Config servers: the name. Database servers: a stable id that survives edits. */
  readonly id: string;
  readonly name: string;
  /** Another name the server answers to (URLs, x-mcp-servers, x-mcp-{alias}-*, REST server_name); its tool prefix. */
  readonly alias: string | undefined;
  /** `{alias or name}{separator}`: what tools on /mcp and REST are prefixed with. */
  readonly toolPrefix: string;
  readonly source: ServerSource;
  readonly config: ServerConfig;
  /** How the gateway authenticates upstream, decided once from the config. */
  readonly kind: ServerKind;
  /**
   * Where requests go; for a stdio server a placeholder naming it (`stdio://{name}`), never
   * called; for an OpenAPI server its `url` (the API's base URL), or, when the spec's
   * `servers` give that, `openapi://{name}`, never called either (each operation's own URL is).
   */
  readonly url: URL;
  /** stdio servers only: the process to run. */
  readonly stdio: StdioLaunch | undefined;
  /** OpenAPI servers only (`spec_path`): the document the gateway serves as tools, calling the API itself (mcp/openapi-specs.ts). */
  readonly openapi: SpecSource | undefined;
  /** `url`'s origin and path with query, as strings once (a URL's getters build new strings on every call). */
  readonly target: UpstreamTarget;
  readonly auth: UpstreamAuth;
  readonly allowsTool: ToolFilter;
  /** Per tool, the argument names a call may carry (`allowed_params`, prefixes removed); tools not in it are unrestricted. */
  readonly allowedParams: ReadonlyMap<string, ReadonlySet<string>> | undefined;
  /** `access_groups`, carried for the key permissions that will read them; not enforced yet. */
  readonly accessGroups: readonly string[];
  /** `allow_all_keys`, carried; not enforced yet (keys see the servers their own lists name, which is narrower). */
  readonly allowAllKeys: boolean;
  /** `mcp_info` as given, with `description` copied in when it has none (as LiteLLM does). */
  readonly mcpInfo: Readonly<Record<string, unknown>>;
  readonly timeoutMs: number;
  /** Client headers forwarded as they are (lowercase names). */
  readonly extraHeaders: readonly string[];
  /** Sent on every upstream request (lowercase names). */
  readonly staticHeaders: Readonly<Record<string, string>>;
  /**
   * Static-credential servers only (api_key, bearer_token, basic, authorization, token): the
   * header in which a client may send LiteLLM's deprecated client-side credential
   * (`x-mcp-auth`), used for this server in place of its configured one, formatted by its
   * auth_type, unless an `x-mcp-{server}-*` header names the server.
   */
  readonly clientAuthHeader: string | undefined;
  /** `api_keys`: only the callers with these subjects (`key:<sha256 of the key>`) and the master key may use it. */
  readonly keySubjects: ReadonlySet<string> | undefined;
  /** `available_on_public_internet: false`: hidden from callers outside the internal ranges. */
  readonly internalOnly: boolean;
  /** Settings that do not do what they seem to (logged when loaded). */
  readonly warnings: readonly string[];
}

export function buildServerEntry(id: string, name: string, source: ServerSource, config: ServerConfig, options: ServerEntryOptions): McpServerEntry {
  const kind = serverKind(config);
  const warnings = serverWarnings(config, kind);
  for (const warning of warnings) options.log?.warn({ server: name, server_id: id }, warning);
  const stdio = kind === "stdio" ? stdioLaunch(config) : undefined;
  const openapi = config.spec_path === undefined ? undefined : specSource(name, config);
  // A stdio server's configured url is ignored (warned above), so nothing can send HTTP to it.
  const url = new URL(stdio !== undefined ? `stdio://${name}` : (config.url ?? `openapi://${name}`));
  const prefixes = toolPrefixes(name, config.alias, options.toolSeparator ?? "-");
  return Object.freeze({
    id,
    name,
    alias: config.alias,
    toolPrefix: prefixes[0]!,
    source,
    config,
    kind,
    url,
    stdio,
    openapi,
    target: Object.freeze({ url, origin: url.origin, path: url.pathname + url.search }),
    auth: options.authFor({ id, name, kind, config }),
    allowsTool: openapi === undefined ? toolFilter(config.allowed_tools, config.disallowed_tools, prefixes) : toolFilter(asToolNames(config.allowed_tools, prefixes), asToolNames(config.disallowed_tools, prefixes), prefixes),
    allowedParams: allowedParams(openapi === undefined ? config.allowed_params : asToolNameKeys(config.allowed_params, prefixes), prefixes),
    accessGroups: Object.freeze([...(config.access_groups ?? [])]),
    allowAllKeys: config.allow_all_keys,
    mcpInfo: Object.freeze(
      config.description !== undefined && config.mcp_info?.description === undefined ? { ...config.mcp_info, description: config.description } : { ...config.mcp_info },
    ),
    timeoutMs: config.timeout * 1000,
    extraHeaders: Object.freeze(config.extra_headers.map((header) => header.toLowerCase())),
    staticHeaders: Object.freeze(
      Object.fromEntries(Object.entries(config.static_headers).map(([header, value]) => [header.toLowerCase(), value])),
    ),
    keySubjects: config.api_keys === undefined ? undefined : new Set(config.api_keys.map((key) => `key:${createHash("sha256").update(key, "utf8").digest("hex")}`)),
    clientAuthHeader: kind === "static" && config.auth_type !== "none" ? (options.clientAuthHeader ?? "x-mcp-auth") : undefined,
    internalOnly: !config.available_on_public_internet,
    warnings: Object.freeze(warnings),
  });
}

/**
 * The prefixes a tool name may carry in the server's own lists (allowed_tools, allowed_params):
 * its prefix on /mcp first (`{alias or name}{separator}`), then the other spellings LiteLLM
 * accepts there (the name, and `-`, which LiteLLM's call check hard-codes).
 */
function toolPrefixes(name: string, alias: string | undefined, separator: string): string[] {
  const labels = alias === undefined ? [name] : [alias, name];
  const separators = separator === "-" ? ["-"] : [separator, "-"];
  return [...new Set(separators.flatMap((sep) => labels.map((label) => `${label}${sep}`)))];
}

/**
 * allowed_params keyed by raw tool names; a raw and a prefixed key for one tool are merged.
 * A prefixed key counts for the key as written too (as in allowed_tools): the upstream's own
 * tool may be named `{prefix}{tool}`, and must not be left unrestricted.
 */
function allowedParams(config: Readonly<Record<string, readonly string[]>> | undefined, prefixes: readonly string[]): ReadonlyMap<string, ReadonlySet<string>> | undefined {
  if (config === undefined) return undefined;
  const byTool = new Map<string, Set<string>>();
  for (const [key, params] of Object.entries(config)) {
    const prefix = prefixes.find((candidate) => key.startsWith(candidate) && key.length > candidate.length);
    for (const tool of prefix === undefined ? [key] : [key.slice(prefix.length), key]) {
      const known = byTool.get(tool) ?? new Set<string>();
      for (const param of params) known.add(param);
      byTool.set(tool, known);
    }
  }
  return byTool;
}

/**
 * An OpenAPI server's tool lists may name operations by their operationId as the spec
 * spells it (`getPetById`, LiteLLM's docs do): each entry also counts as the tool it
 * becomes (`getpetbyid`), its prefix kept.
 */
function asToolNames(list: readonly string[] | undefined, prefixes: readonly string[]): string[] | undefined {
  if (list === undefined) return undefined;
  const named = list.map((entry) => {
    const prefix = prefixes.find((candidate) => entry.startsWith(candidate) && entry.length > candidate.length) ?? "";
    return `${prefix}${sanitizedToolName(entry.slice(prefix.length))}`;
  });
  return [...new Set([...list, ...named])];
}

/** allowed_params of an OpenAPI server: a key naming an operation by its operationId counts for its tool too (as in asToolNames). */
function asToolNameKeys(params: Readonly<Record<string, readonly string[]>> | undefined, prefixes: readonly string[]): Record<string, readonly string[]> | undefined {
  if (params === undefined) return undefined;
  const keyed: Record<string, string[]> = {};
  for (const [key, names] of Object.entries(params)) {
    for (const tool of asToolNames([key], prefixes)!) keyed[tool] = [...(keyed[tool] ?? []), ...names];
  }
  return keyed;
}

/** An OpenAPI server's spec, as its config names it. */
export function specSource(name: string, config: ServerConfig): SpecSource {
  return Object.freeze({
    specPath: config.spec_path!,
    ...(config.url === undefined ? {} : { baseUrl: config.url }),
    ...(config.operations === undefined ? {} : { operations: Object.freeze([...config.operations]) }),
    ...(config.openapi_allow_other_hosts === undefined ? {} : { allowOtherHosts: config.openapi_allow_other_hosts }),
    label: `mcp_servers.${name}.spec_path`,
  });
}

function stdioLaunch(config: ServerConfig): StdioLaunch {
  return Object.freeze({ command: config.command!, args: Object.freeze([...(config.args ?? [])]), env: Object.freeze({ ...config.env }) });
}
