/**
 * One MCP server's config from somewhere other than the config file (the management API,
 * a database row), validated by the same schema and with the same messages as the file.
 */
import type { Environment } from "./env-refs.js";
import { ConfigError, problemLine } from "./errors.js";
import { serverConfigSchema, type ServerConfig } from "./schema.js";
import { validateWithEnv } from "./validate.js";

/** `label` starts every problem line, e.g. "body" or "mcp_servers row 42". */
export function parseServerInput(raw: unknown, env: Environment, label: string): ServerConfig {
  const server = validateWithEnv(serverConfigSchema, raw, env, label);
  // The config file may carry an OpenAPI server (left out with a warning); one added here would be stored and never served.
  if (server.spec_path !== undefined) throw new ConfigError([problemLine(label, ["spec_path"], "OpenAPI servers (spec_path) are not supported yet")]);
  return server;
}
