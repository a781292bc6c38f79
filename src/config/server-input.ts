/**
 * One MCP server's config from somewhere other than the config file (the management API,
 * a database row), validated by the same schema and with the same messages as the file.
 */
import type { Environment } from "./env-refs.js";
import { serverConfigSchema, type ServerConfig } from "./schema.js";
import { validateWithEnv } from "./validate.js";

/** `label` starts every problem line, e.g. "body" or "mcp_servers row 42". */
export function parseServerInput(raw: unknown, env: Environment, label: string): ServerConfig {
  return validateWithEnv(serverConfigSchema, raw, env, label);
}

/** Whether a `spec_path` names a URL (http or https) rather than a file. */
export function isSpecUrl(specPath: string): boolean {
  return /^https?:\/\//i.test(specPath);
}
