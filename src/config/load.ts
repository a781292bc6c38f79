/**
 * config.yaml → a validated, deep-frozen Config (README, "config.yaml"), or one ConfigError that
 * lists every problem. Warnings are returned, not logged: the caller owns the logger.
 */
import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument } from "yaml";
import type { YAMLError } from "yaml";
import { isLoopbackHostname } from "../loopback.js";
import type { Environment } from "./env-refs.js";
import { ConfigError, formatPath } from "./errors.js";
import { validateWithEnv } from "./validate.js";
import { IGNORED_LITELLM_SECTIONS, configSchema } from "./schema.js";
import type { Config } from "./schema.js";

export interface ParseConfigOptions {
  /** Name used in every problem and warning line, usually the path given to --config. */
  file: string;
  env: Environment;
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

export async function loadConfigFile(path: string, env: Environment): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ConfigError([`config file not found: ${path} (check the --config path)`], { cause: error });
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`${path}: cannot read the config file: ${reason}`], { cause: error });
  }
  return parseConfig(text, { file: path, env });
}

export function parseConfig(text: string, options: ParseConfigOptions): LoadedConfig {
  const { file, env } = options;
  const { tree, warnings } = parseYaml(text, file);
  const config = deepFreeze(validateWithEnv(configSchema, tree, env, file));
  return { config, warnings: [...warnings, ...ignoredSectionWarnings(tree, file), ...plainHttpWarnings(config, file)] };
}

// --- YAML -------------------------------------------------------------------------------

/** `mcp_servers:` or `general_settings:` with every entry commented out means "none", not null. */
const SECTIONS_THAT_MAY_BE_EMPTY = ["mcp_servers", "general_settings"];

function parseYaml(text: string, file: string): { tree: Record<string, unknown>; warnings: string[] } {
  const lineCounter = new LineCounter();
  // merge: LiteLLM reads its config with PyYAML, where `<<: *defaults` merge keys work.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  const where = (error: YAMLError) => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    return `${file}: line ${line}, column ${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => `${where(error)}: YAML syntax error: ${error.message}`));
  }
  const warnings = doc.warnings.map((warning) => `${where(warning)}: ${warning.message}`);

  let root: unknown;
  try {
    // maxAliasCount bounds alias expansion (a "billion laughs" document).
    root = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // Unresolved or recursive aliases, alias bombs, merges of non-mappings.
    throw new ConfigError([`${file}: YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`]);
  }
  if (root === null || root === undefined) return { tree: {}, warnings };
  const odd = unusualMapping(root, "");
  if (odd !== undefined) throw new ConfigError([`${file}: ${odd}`]);
  if (typeof root !== "object" || Array.isArray(root)) {
    const got = Array.isArray(root) ? "a list" : `${typeof root} ${JSON.stringify(root)}`;
    throw new ConfigError([`${file}: (top level): expected a mapping with mcp_servers: and general_settings:, got ${got}`]);
  }
  const tree = { ...(root as Record<string, unknown>) };
  for (const section of SECTIONS_THAT_MAY_BE_EMPTY) {
    if (tree[section] === null) delete tree[section];
  }
  return { tree, warnings };
}

/** Aliases a config may expand; real configs use a handful (`<<: *defaults`). */
const MAX_ALIAS_COUNT = 1_000;

/**
 * A key that would not survive as a plain object key (`__proto__` sets a prototype when the
 * tree is rebuilt), or a mapping YAML turned into something else (`!!omap`, `!!set`): the
 * server or header would vanish without a word, so it is refused instead.
 */
function unusualMapping(value: unknown, path: string, within: Set<object> = new Set()): string | undefined {
  const where = path || "(top level)";
  if (value instanceof Map || value instanceof Set) return `${where}: a plain mapping is expected here, not a YAML !!omap, !!pairs or !!set`;
  if (typeof value !== "object" || value === null) return undefined;
  // An alias inside its own anchor ("&a [*a]") makes the tree contain itself.
  if (within.has(value)) return `${where}: a YAML alias refers to the node that contains it`;
  within.add(value);
  try {
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) {
        const found = unusualMapping(item, `${path}[${index}]`, within);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(value)) {
      const at = path === "" ? key : `${path}.${key}`;
      if (key === "__proto__") return `${at}: '__proto__' is reserved and cannot be used as a name`;
      const found = unusualMapping((value as Record<string, unknown>)[key], at, within);
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    within.delete(value);
  }
}

// --- warnings ---------------------------------------------------------------------------

function ignoredSectionWarnings(tree: Record<string, unknown>, file: string): string[] {
  const present = IGNORED_LITELLM_SECTIONS.filter((section) => Object.hasOwn(tree, section));
  if (present.length === 0) return [];
  const names = present.join(", ");
  const verb = present.length === 1 ? "is" : "are";
  return [
    `${file}: ${names} ${verb} ignored: Gatehouse is an MCP gateway, not an LLM proxy (the section is accepted so a LiteLLM config.yaml works unchanged; remove it to silence this warning)`,
  ];
}

const OAUTH_ENDPOINT_KEYS = ["token_url", "authorization_url", "registration_url", "issuer", "token_exchange_endpoint"] as const;

/**
 * Plain http:// is allowed for OAuth endpoints (loopback development, internal networks),
 * with one warning each off loopback.
 */
function plainHttpWarnings(config: Config, file: string): string[] {
  const warnings: string[] = [];
  for (const [name, server] of Object.entries(config.mcp_servers)) {
    for (const key of OAUTH_ENDPOINT_KEYS) {
      const value = server[key];
      if (value === undefined) continue;
      const url = new URL(value);
      if (url.protocol !== "http:" || isLoopbackHostname(url.hostname)) continue;
      warnings.push(
        `${file}: ${formatPath(["mcp_servers", name, key])}: ${url.origin}${url.pathname} is plain http:// to a non-loopback host, so client secrets and tokens cross the network unencrypted; use https:// unless this is a trusted internal network`,
      );
    }
  }
  return warnings;
}

// --- helpers for the rest of the gateway ------------------------------------------------

export { inferOauth2Flow, type Oauth2Flow } from "./server-kind.js";

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
