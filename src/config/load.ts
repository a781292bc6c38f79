/**
 * config.yaml → a validated, deep-frozen Config (README, "config.yaml"), or one ConfigError that
 * lists every problem. Warnings are returned, not logged: the caller owns the logger.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import type { YAMLError } from "yaml";
import { isLoopbackHostname } from "../loopback.js";
import { applyAliases } from "./aliases.js";
import { substituteEnvRefs, type Environment } from "./env-refs.js";
import { ConfigError, formatPath } from "./errors.js";
import { liteLlmKeysAt, screenLiteLlmKeys } from "./litellm-compat.js";
import { validateWithEnv } from "./validate.js";
import { configSchema } from "./schema.js";
import type { Config } from "./schema.js";
import { SETTINGS_VARIABLES } from "./settings.js";

export interface ParseConfigOptions {
  /** Name used in every problem and warning line, usually the path given to --config; `include:` paths are relative to its directory. */
  file: string;
  env: Environment;
  /** Reads a file named by `include:` (default: the file system, UTF-8). */
  readFile?: (path: string) => string;
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
  const main = parseYaml(text, file);
  const included = withIncludes(main.tree, file, options.readFile ?? ((path) => readFileSync(path, "utf8")));
  const screened = screenLiteLlmKeys(included.tree, file);
  const fileEnv = environmentVariables(screened.tree, env, file);
  const validated = validateWithEnv(configSchema, screened.tree, fileEnv.env, file, {
    earlier: { problems: screened.problems, paths: screened.reported },
    moreKeysAt: liteLlmKeysAt,
  });
  const aliases = applyAliases(validated.mcp_servers, validated.litellm_settings?.mcp_aliases, file);
  if (aliases.problems.length > 0) throw new ConfigError(aliases.problems);
  const config = deepFreeze({ ...validated, mcp_servers: aliases.servers });
  return {
    config,
    warnings: [
      ...main.warnings,
      ...included.warnings,
      ...screened.warnings,
      ...fileEnv.warnings,
      ...aliases.warnings,
      ...plainHttpWarnings(config, file),
    ],
  };
}

// --- include: --------------------------------------------------------------------------

/**
 * LiteLLM's top-level `include: [file, ...]`: each file is read relative to the config
 * file's directory and merged in order; a list extends the list already there, any other
 * value replaces it (with a warning, since a replaced mcp_servers loses servers).
 */
function withIncludes(tree: Record<string, unknown>, file: string, read: (path: string) => string): { tree: Record<string, unknown>; warnings: string[] } {
  if (!Object.hasOwn(tree, "include")) return { tree, warnings: [] };
  const { include, ...merged } = tree;
  if (!Array.isArray(include) || include.some((item) => typeof item !== "string" || item === "")) {
    throw new ConfigError([`${file}: include: expected a list of file paths (relative to this file's directory)`]);
  }
  const warnings: string[] = [];
  const problems: string[] = [];
  for (const [index, name] of (include as string[]).entries()) {
    const path = resolve(dirname(file), name);
    let text: string;
    try {
      text = read(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push(`${file}: include[${index}]: ${code === "ENOENT" ? `file not found: ${path}` : `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`}`);
      continue;
    }
    const part = parseYaml(text, path);
    warnings.push(...part.warnings);
    if (Object.hasOwn(part.tree, "include")) {
      problems.push(`${path}: include: an included file cannot include others (LiteLLM reads include: in the main config file only)`);
      continue;
    }
    for (const [key, value] of Object.entries(part.tree)) {
      const current = merged[key];
      if (Array.isArray(current) && Array.isArray(value)) merged[key] = [...(current as unknown[]), ...(value as unknown[])];
      else {
        if (current !== undefined) warnings.push(`${path}: ${key}: replaces the ${key} of ${file} (as LiteLLM does: included lists extend, other values replace); merge them into one file to combine them`);
        merged[key] = value;
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { tree: merged, warnings };
}

// --- environment_variables --------------------------------------------------------------

/**
 * LiteLLM writes `environment_variables` into its process environment. Gatehouse lets
 * os.environ/ references elsewhere in the file name them (the process environment wins
 * where both set a name), and does not export them: they reach no stdio server's
 * environment and set none of Gatehouse's own settings variables.
 */
function environmentVariables(tree: Record<string, unknown>, env: Environment, file: string): { env: Environment; warnings: string[] } {
  const section = tree.environment_variables;
  if (section === null || typeof section !== "object" || Array.isArray(section)) return { env, warnings: [] };
  const substitution = substituteEnvRefs({ environment_variables: section }, env, file);
  if (substitution.problems.length > 0) throw new ConfigError(substitution.problems);
  const resolved = (substitution.value as { environment_variables: Record<string, unknown> }).environment_variables;
  tree.environment_variables = resolved;
  const fromFile: Record<string, string> = {};
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") fromFile[name] = String(value);
    if ((SETTINGS_VARIABLES as readonly string[]).includes(name)) {
      warnings.push(
        `${file}: environment_variables.${name}: Gatehouse reads ${name} from its process environment only; set it there (here it serves os.environ/${name} references in this file only)`,
      );
    }
  }
  return { env: { ...fromFile, ...env }, warnings };
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

const OAUTH_ENDPOINT_KEYS = ["token_url", "authorization_url", "registration_url", "revocation_url", "issuer", "token_exchange_endpoint"] as const;

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
