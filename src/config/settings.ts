/**
 * Settings that come from the environment or the config file, resolved once at startup
 * with the precedence of the README's environment variables table (the environment first,
 * then general_settings, then the default). The environment is passed in: only the
 * composition root reads process.env.
 */
import type { Environment } from "./env-refs.js";
import { ConfigError } from "./errors.js";
import { isOrigin, type Config } from "./schema.js";

export interface RuntimeSettings {
  databaseUrl: string;
  masterKey: string;
  /** Key material for secrets at rest. */
  saltKey: string;
  /** Older salt keys, to read rows sealed before a rotation (GATEHOUSE_SALT_KEY_PREVIOUS, comma-separated). */
  previousSaltKeys: string[];
  /** PROXY_BASE_URL as given (validated by the origin module, which warns when it is not an origin). */
  proxyBaseUrl: string | undefined;
  /** MCP_TRUSTED_REDIRECT_ORIGINS as given (parsed by the redirect policy). */
  trustedRedirectOrigins: string | undefined;
  /**
   * Extra browser origins allowed on the MCP and OAuth facade routes, normalised
   * (`scheme://host[:port]`, default port dropped): LITELLM_CORS_ORIGINS when set, else
   * general_settings.mcp_allowed_origins.
   */
  allowedOrigins: string[];
  /** MCP_TOOL_PREFIX_SEPARATOR: between a server's alias (or name) and a tool's name on /mcp and REST; default `-`. */
  toolPrefixSeparator: string;
  /** The header of LiteLLM's client-side credential (lowercase): LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME, else general_settings.mcp_client_side_auth_header_name, else `x-mcp-auth`. */
  clientAuthHeader: string;
  /** REDIS_URL: where the keys' rate-limit counters are shared; undefined: through the database. */
  redisUrl: string | undefined;
  /** LITELLM_RATE_LIMIT_WINDOW_SIZE: the seconds of rpm_limit's fixed window (60). */
  rateLimitWindowSeconds: number;
  warnings: string[];
}

/** The environment variables Gatehouse reads for its own settings (README, "Configuration"). */
export const SETTINGS_VARIABLES = [
  "DATABASE_URL",
  "GATEHOUSE_MASTER_KEY",
  "LITELLM_MASTER_KEY",
  "GATEHOUSE_SALT_KEY",
  "LITELLM_SALT_KEY",
  "GATEHOUSE_SALT_KEY_PREVIOUS",
  "LITELLM_SALT_KEY_PREVIOUS",
  "GATEHOUSE_LOG_LEVEL",
  "PROXY_BASE_URL",
  "MCP_TRUSTED_REDIRECT_ORIGINS",
  "LITELLM_CORS_ORIGINS",
  "MCP_TOOL_PREFIX_SEPARATOR",
] as const;

/** Printable ASCII, not letters, digits, space or ',' (x-mcp-servers lists are comma-separated). */
const TOOL_PREFIX_SEPARATOR = /^[!-+\--/:-@[-`{-~]{1,8}$/;

/** Where the store lives when neither DATABASE_URL nor general_settings.database_url says. */
export const DEFAULT_DATABASE_URL = "sqlite:./gatehouse.db";

export function runtimeSettings(config: Config, env: Environment): RuntimeSettings {
  const general = config.general_settings;
  const warnings: string[] = [];
  const masterKey = env.GATEHOUSE_MASTER_KEY || env.LITELLM_MASTER_KEY || general.master_key;
  if (masterKey === undefined || masterKey === "") {
    throw new ConfigError([
      "no master key: set GATEHOUSE_MASTER_KEY (or LITELLM_MASTER_KEY) in the environment, or general_settings.master_key in the config file",
    ]);
  }
  let saltKey = env.GATEHOUSE_SALT_KEY || env.LITELLM_SALT_KEY;
  if (saltKey === undefined || saltKey === "") {
    saltKey = masterKey;
    warnings.push(
      "GATEHOUSE_SALT_KEY is not set: secrets at rest are encrypted with a key derived from the master key; set GATEHOUSE_SALT_KEY so that rotating the master key does not make stored secrets unreadable",
    );
  }
  const allowedOrigins = browserOrigins(env.LITELLM_CORS_ORIGINS, general.mcp_allowed_origins, warnings);
  const toolPrefixSeparator = env.MCP_TOOL_PREFIX_SEPARATOR || "-";
  if (!TOOL_PREFIX_SEPARATOR.test(toolPrefixSeparator)) {
    throw new ConfigError([
      `MCP_TOOL_PREFIX_SEPARATOR: ${JSON.stringify(toolPrefixSeparator.slice(0, 16))} is not a separator: use 1 to 8 printable ASCII characters that are not letters, digits, spaces or ',' (default '-')`,
    ]);
  }
  const clientAuthHeader = (env.LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME || general.mcp_client_side_auth_header_name || DEFAULT_CLIENT_AUTH_HEADER).toLowerCase();
  if (!HEADER_NAME.test(clientAuthHeader) || RESERVED_CLIENT_AUTH_HEADERS.has(clientAuthHeader)) {
    throw new ConfigError([
      `LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME / general_settings.mcp_client_side_auth_header_name: ${JSON.stringify(clientAuthHeader.slice(0, 64))} cannot hold the client-side credential: use a valid header name other than ${[...RESERVED_CLIENT_AUTH_HEADERS].join(", ")} (default ${DEFAULT_CLIENT_AUTH_HEADER})`,
    ]);
  }
  return {
    toolPrefixSeparator,
    clientAuthHeader,
    databaseUrl: env.DATABASE_URL || general.database_url || DEFAULT_DATABASE_URL,
    masterKey,
    saltKey,
    proxyBaseUrl: env.PROXY_BASE_URL,
    trustedRedirectOrigins: env.MCP_TRUSTED_REDIRECT_ORIGINS,
    allowedOrigins,
    redisUrl: redisUrl(env.REDIS_URL),
    rateLimitWindowSeconds: rateLimitWindow(env.LITELLM_RATE_LIMIT_WINDOW_SIZE),
    previousSaltKeys: (env.GATEHOUSE_SALT_KEY_PREVIOUS ?? env.LITELLM_SALT_KEY_PREVIOUS ?? "")
      .split(",")
      .map((key) => key.trim())
      .filter((key) => key !== ""),
    warnings,
  };
}

const DEFAULT_CLIENT_AUTH_HEADER = "x-mcp-auth";
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** Headers that carry the gateway key, or that the gateway reads for itself: never a client-side upstream credential. */
const RESERVED_CLIENT_AUTH_HEADERS: ReadonlySet<string> = new Set(["authorization", "x-litellm-api-key", "x-mcp-servers", "x-mcp-access-groups", "cookie", "host"]);

/**
 * LITELLM_CORS_ORIGINS (LiteLLM's list of browser origins allowed to call the proxy; its
 * `*` default does not carry over) when set, else the config's list. A bad entry in the
 * variable is ignored with a warning, as for the other origin variables; the config's
 * entries were validated by the schema.
 */
function browserOrigins(fromEnv: string | undefined, fromConfig: readonly string[], warnings: string[]): string[] {
  if (fromEnv === undefined || fromEnv.trim() === "") return fromConfig.map((value) => new URL(value).origin);
  const origins: string[] = [];
  for (const entry of fromEnv.split(",").map((value) => value.trim()).filter((value) => value !== "")) {
    if (entry === "*") {
      warnings.push(
        "LITELLM_CORS_ORIGINS: '*' is ignored: Gatehouse lets only the public origin, loopback and listed origins call its MCP and OAuth routes from a browser (DNS-rebinding protection); list the origins instead",
      );
    } else if (!isOrigin(entry)) {
      warnings.push(`LITELLM_CORS_ORIGINS: '${entry}' is not an origin (http(s)://host[:port], no path or trailing slash); it is ignored`);
    } else origins.push(new URL(entry).origin);
  }
  return origins;
}

function redisUrl(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (!/^rediss?:\/\/[^\s]+$/.test(value.trim())) {
    throw new ConfigError(["REDIS_URL: must be redis://[user:password@]host[:port][/db] or rediss://... (TLS)"]);
  }
  return value.trim();
}

/** LiteLLM's variable for its limiter's window; Gatehouse reads the same one. */
function rateLimitWindow(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 60;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw new ConfigError([`LITELLM_RATE_LIMIT_WINDOW_SIZE: '${value}' is not a whole number of seconds between 1 and 86400`]);
  }
  return seconds;
}
