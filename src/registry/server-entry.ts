/**
 * An upstream MCP server as the proxy uses it: the validated config plus everything that
 * can be computed once (parsed URL, auth strategy, tool filter, header sets), so the hot
 * path does no parsing.
 */
import type { ServerConfig } from "../config/schema.js";
import type { UpstreamAuth } from "../auth/upstream/strategy.js";
import { selectUpstreamAuth, type StrategyContext } from "../auth/upstream/select-strategy.js";
import { delegatesAuthToUpstream } from "../auth/upstream/delegate.js";
import { serverWarnings } from "./server-warnings.js";
import { toolFilter, type ToolFilter } from "./tool-filter.js";

export type ServerSource = "config" | "database";

export interface McpServerEntry {
  /** Config servers: the name. Database servers: a stable id that survives edits. */
  readonly id: string;
  readonly name: string;
  readonly source: ServerSource;
  readonly config: ServerConfig;
  readonly url: URL;
  readonly auth: UpstreamAuth;
  readonly allowsTool: ToolFilter;
  readonly timeoutMs: number;
  /** Client headers forwarded as they are (lowercase names). */
  readonly extraHeaders: readonly string[];
  /** Sent on every upstream request (lowercase names). */
  readonly staticHeaders: Readonly<Record<string, string>>;
  /** `available_on_public_internet: false`: hidden from callers outside the internal ranges. */
  readonly internalOnly: boolean;
  /** The gateway skips its own key check for requests that target only such servers. */
  readonly delegatesAuth: boolean;
  /** Settings that do not do what they seem to (logged when loaded). */
  readonly warnings: readonly string[];
}

export function buildServerEntry(id: string, name: string, source: ServerSource, config: ServerConfig, context: StrategyContext = {}): McpServerEntry {
  const warnings = serverWarnings(config);
  for (const warning of warnings) context.log?.warn({ server: name, server_id: id }, warning);
  return Object.freeze({
    id,
    name,
    source,
    config,
    url: new URL(config.url),
    auth: selectUpstreamAuth(id, name, config, context),
    allowsTool: toolFilter(config.allowed_tools, config.disallowed_tools),
    timeoutMs: config.timeout * 1000,
    extraHeaders: Object.freeze(config.extra_headers.map((header) => header.toLowerCase())),
    staticHeaders: Object.freeze(
      Object.fromEntries(Object.entries(config.static_headers).map(([header, value]) => [header.toLowerCase(), value])),
    ),
    internalOnly: !config.available_on_public_internet,
    delegatesAuth: delegatesAuthToUpstream(config),
    warnings: Object.freeze(warnings),
  });
}
