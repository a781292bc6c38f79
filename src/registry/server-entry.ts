/**
 * An upstream MCP server as the proxy uses it: the validated config plus everything that
 * can be computed once (parsed URL, kind, auth strategy, tool filter, header sets), so the
 * hot path does no parsing.
 */
import type { ServerConfig } from "../config/schema.js";
import { serverKind, type ServerKind } from "../config/server-kind.js";
import type { Logger } from "../log.js";
import type { UpstreamAuth } from "../auth/upstream/strategy.js";
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
  /** Told of settings that do not do what they seem to. */
  log?: Logger;
}

export interface McpServerEntry {
  /** Config servers: the name. Database servers: a stable id that survives edits. */
  readonly id: string;
  readonly name: string;
  readonly source: ServerSource;
  readonly config: ServerConfig;
  /** How the gateway authenticates upstream, decided once from the config. */
  readonly kind: ServerKind;
  /** Where requests go; for a stdio server a placeholder naming it (`stdio://{name}`), never called. */
  readonly url: URL;
  /** stdio servers only: the process to run. */
  readonly stdio: StdioLaunch | undefined;
  /** `url`'s origin and path with query, as strings once (a URL's getters build new strings on every call). */
  readonly target: UpstreamTarget;
  readonly auth: UpstreamAuth;
  readonly allowsTool: ToolFilter;
  readonly timeoutMs: number;
  /** Client headers forwarded as they are (lowercase names). */
  readonly extraHeaders: readonly string[];
  /** Sent on every upstream request (lowercase names). */
  readonly staticHeaders: Readonly<Record<string, string>>;
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
  // A stdio server's configured url is ignored (warned above), so nothing can send HTTP to it.
  const url = new URL(stdio === undefined ? config.url! : `stdio://${name}`);
  return Object.freeze({
    id,
    name,
    source,
    config,
    kind,
    url,
    stdio,
    target: Object.freeze({ url, origin: url.origin, path: url.pathname + url.search }),
    auth: options.authFor({ id, name, kind, config }),
    allowsTool: toolFilter(config.allowed_tools, config.disallowed_tools),
    timeoutMs: config.timeout * 1000,
    extraHeaders: Object.freeze(config.extra_headers.map((header) => header.toLowerCase())),
    staticHeaders: Object.freeze(
      Object.fromEntries(Object.entries(config.static_headers).map(([header, value]) => [header.toLowerCase(), value])),
    ),
    internalOnly: !config.available_on_public_internet,
    warnings: Object.freeze(warnings),
  });
}

function stdioLaunch(config: ServerConfig): StdioLaunch {
  return Object.freeze({ command: config.command!, args: Object.freeze([...(config.args ?? [])]), env: Object.freeze({ ...config.env }) });
}
