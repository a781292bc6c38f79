/**
 * The config.yaml schema (README, "config.yaml"). The `Config` type is inferred from it, so the
 * schema is the single source of truth for option names, types and defaults.
 *
 * Every object is strict: an unknown key is a startup error, never silently ignored.
 * `os.environ/NAME` references are resolved before this schema runs (env-refs.ts).
 */
import { z } from "zod";
import { basicCredentials } from "./basic-credentials.js";

export const SERVER_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });
const stringList = z.array(z.string());

/** `http(s)://host[:port]` exactly, as browsers send `Origin` (RFC 6454 §7): no path, no trailing slash. */
export function isOrigin(value: string): boolean {
  return /^https?:\/\/[^/?#\\@%\s]+$/i.test(value) && URL.canParse(value);
}
const origin = z.string().refine(isOrigin, "must be an origin: http(s)://host[:port], no path or trailing slash, e.g. https://app.example.com");
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be a valid HTTP header name");

export const STATIC_AUTH_TYPES = ["none", "api_key", "bearer_token", "basic", "authorization", "token"] as const;
export const AUTH_TYPES = [...STATIC_AUTH_TYPES, "oauth2", "oauth2_token_exchange"] as const;
export type AuthType = (typeof AUTH_TYPES)[number];
export type StaticAuthType = (typeof STATIC_AUTH_TYPES)[number];

export const TRANSPORTS = ["http", "sse", "stdio"] as const;
/** How the gateway becomes a client of an upstream authorization server (per-server `registration`). */
export const UPSTREAM_REGISTRATION_MODES = ["auto", "cimd", "dcr", "pre-registered"] as const;
export type UpstreamRegistrationMode = (typeof UPSTREAM_REGISTRATION_MODES)[number];

export const TOOL_CHANGE_POLICIES = ["block", "warn", "allow"] as const;
export type ToolChangePolicy = (typeof TOOL_CHANGE_POLICIES)[number];

export const serverConfigSchema = z
  .strictObject({
    /** Required for http and sse; LiteLLM ignores it for stdio (so does Gatehouse, with a warning). */
    url: httpUrl.optional(),
    description: z.string().optional(),
    transport: z.enum(TRANSPORTS).default("http"),
    // stdio: the gateway runs `command args...` and speaks MCP over its stdin/stdout (README, "stdio servers").
    command: z.string().min(1).optional(),
    args: stringList.optional(),
    /** Added to a minimal default environment (the SDK's getDefaultEnvironment); the gateway's own variables are never passed. */
    env: z.record(z.string(), z.string()).optional(),
    auth_type: z.enum(AUTH_TYPES).default("none"),
    auth_value: z.string().min(1).optional(),
    /** LiteLLM's older name for auth_value. */
    authentication_token: z.string().min(1).optional(),
    static_headers: z.record(headerName, z.string()).default({}),
    extra_headers: z.array(headerName).default([]),
    allowed_tools: stringList.optional(),
    disallowed_tools: stringList.optional(),
    /** What the gateway does when the server changes a pinned tool's definition (README, "Tool pinning"); absent means `warn`. */
    tool_changes: z.enum(TOOL_CHANGE_POLICIES).optional(),
    /** Seconds the upstream has to start answering. */
    timeout: z.number().positive().max(3600).default(60),
    /** Long-lived streams (GET streams, SSE answers) one key may hold open to this server; default general_settings.max_streams_per_key. */
    max_streams_per_key: z.number().int().positive().optional(),
    /** Long-lived streams all keys together may hold open to this server; default general_settings.max_streams_per_server. */
    max_streams: z.number().int().positive().optional(),

    // oauth2
    oauth2_flow: z.enum(["client_credentials", "authorization_code"]).optional(),
    client_id: z.string().min(1).optional(),
    client_secret: z.string().min(1).optional(),
    token_url: httpUrl.optional(),
    authorization_url: httpUrl.optional(),
    registration_url: httpUrl.optional(),
    /**
     * The upstream authorization server's RFC 7009 revocation endpoint, for servers whose
     * metadata names none (configured `authorization_url` and `token_url`): Disconnect revokes there.
     */
    revocation_url: httpUrl.optional(),
    /**
     * The upstream authorization server's issuer identifier: its RFC 8414 metadata gives the
     * endpoints, and must name exactly this issuer (RFC 8414 §3.3). Pins discovery: the
     * upstream's own RFC 9728 metadata no longer chooses where the gateway's client goes.
     */
    issuer: httpUrl.optional(),
    scopes: stringList.optional(),
    /** How the gateway authenticates to token_url; default: what its metadata prefers, else client_secret_post. */
    token_endpoint_auth_method: z.enum(["client_secret_post", "client_secret_basic"]).optional(),
    /**
     * How the gateway becomes a client of the upstream's authorization server (README,
     * "The gateway's client at upstream authorization servers"). Absent means `auto`.
     */
    registration: z.enum(UPSTREAM_REGISTRATION_MODES).optional(),
    /** RFC 8707 resource indicator sent with token requests. */
    resource: z.string().min(1).optional(),
    token_validation: z.record(z.string(), z.unknown()).optional(),
    token_storage_ttl_seconds: z.number().int().positive().optional(),
    delegate_auth_to_upstream: z.boolean().default(false),
    available_on_public_internet: z.boolean().default(true),

    // LiteLLM's naming and permission fields (README, "Switching from LiteLLM")
    /** Another name for the server: its tool prefix on /mcp and REST, and a name it answers to in URLs and headers. */
    alias: z.string().regex(SERVER_NAME_PATTERN, "an alias may contain only letters, digits, '_' and '-'").optional(),
    /** Per tool (raw or prefixed name), the argument names a call may carry; tools not listed are unrestricted. */
    allowed_params: z.record(z.string().min(1), stringList).optional(),
    /** Carried on the server entry; not enforced yet (keys see servers by their own lists only, which is narrower). */
    access_groups: stringList.optional(),
    /** Carried on the server entry; not enforced yet (keys see servers by their own lists only, which is narrower). */
    allow_all_keys: z.boolean().default(false),
    /**
     * Real LiteLLM configs carry it, and LiteLLM reads it nowhere. Gatehouse honours what its
     * author meant, which is narrower: only these gateway keys (and the master key) may use
     * the server. Config file only (the API refuses it: the values are keys).
     */
    api_keys: z.array(z.string().min(1)).min(1).optional(),
    /** Free-form metadata, kept as given; `description` is copied into it when it has none (as LiteLLM does). */
    mcp_info: z.record(z.string(), z.unknown()).optional(),
    /**
     * An OpenAPI document (a file, relative to the working directory, or an http(s) URL):
     * each operation becomes a tool the gateway serves itself, calling the REST API at `url`
     * (or the spec's `servers`) with the server's credentials (README, "OpenAPI servers").
     */
    spec_path: z.string().min(1).optional(),
    /** OpenAPI servers: only these operations become tools (operationId, or `METHOD /path`). */
    operations: z.array(z.string().min(1)).min(1).optional(),
    /** OpenAPI servers: the spec's `servers` may name another host than `url` (or the spec's own); default false. */
    openapi_allow_other_hosts: z.boolean().optional(),

    // oauth2_token_exchange (RFC 8693)
    token_exchange_endpoint: httpUrl.optional(),
    audience: z.string().min(1).optional(),
    subject_token_type: z.string().min(1).default("urn:ietf:params:oauth:token-type:access_token"),
  })
  .superRefine((server, ctx) => {
    checkTransportFields(server, ctx);
    if (server.auth_value !== undefined && server.authentication_token !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["authentication_token"],
        message: "set either auth_value or its alias authentication_token, not both",
      });
    }
    const value = server.auth_value ?? server.authentication_token;
    const isStatic = (STATIC_AUTH_TYPES as readonly string[]).includes(server.auth_type);
    if (isStatic && server.auth_type !== "none" && value === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["auth_value"],
        message: `auth_type ${server.auth_type} needs auth_value (the credential sent upstream)`,
      });
    }
    if (server.auth_type === "none" && value !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["auth_type"],
        message: "auth_value is set but auth_type is none; set auth_type to api_key, bearer_token, basic, authorization or token",
      });
    }
    if (server.auth_type === "basic" && value !== undefined && basicCredentials(value) === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["auth_value"],
        message: "auth_type basic needs auth_value in the form user:password (or its base64, with or without 'Basic ')",
      });
    }
    if (server.oauth2_flow === "client_credentials" && server.auth_type === "oauth2") {
      for (const key of ["client_id", "client_secret", "token_url"] as const) {
        if (server[key] === undefined) {
          ctx.addIssue({ code: "custom", path: [key], message: `oauth2_flow client_credentials needs ${key}` });
        }
      }
    }
    if (secretGoesToDiscoveredEndpoint(server)) {
      ctx.addIssue({ code: "custom", path: ["client_secret"], message: SECRET_NEEDS_NAMED_ENDPOINT });
    }
    if (server.auth_type === "oauth2_token_exchange" && server.token_exchange_endpoint === undefined && server.token_url === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["token_exchange_endpoint"],
        message: "auth_type oauth2_token_exchange needs token_exchange_endpoint (or token_url)",
      });
    }
    checkRegistrationMode(server, ctx);
    if (server.auth_type === "oauth2_token_exchange" && server.client_id === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["client_id"],
        message: "auth_type oauth2_token_exchange needs client_id (and client_secret unless the authorization server accepts a public client): the gateway authenticates as this client when it exchanges tokens",
      });
    }
  });

export type ServerConfig = z.output<typeof serverConfigSchema>;

/** `registration`: pre-registered needs client_id; cimd and dcr make the gateway's own client, so a client_id would be ignored. */
function checkRegistrationMode(server: { registration?: UpstreamRegistrationMode | undefined; client_id?: string | undefined }, ctx: z.RefinementCtx): void {
  if (server.registration === "pre-registered" && server.client_id === undefined) {
    ctx.addIssue({ code: "custom", path: ["client_id"], message: "registration pre-registered needs client_id (the gateway's client registered at the upstream's authorization server)" });
  }
  if ((server.registration === "cimd" || server.registration === "dcr") && server.client_id !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["registration"],
      message: `registration ${server.registration} makes the gateway its own client at the upstream, so client_id would be ignored; remove client_id, or set registration to pre-registered (or auto)`,
    });
  }
}

/** stdio servers need a command; http and sse servers need a url; the stdio fields belong to stdio only. */
function checkTransportFields(
  server: { transport: string; url?: string | undefined; command?: string | undefined; args?: unknown; env?: unknown; spec_path?: string | undefined; operations?: unknown; openapi_allow_other_hosts?: unknown },
  ctx: z.RefinementCtx,
): void {
  if (server.spec_path === undefined) {
    for (const field of ["operations", "openapi_allow_other_hosts"] as const) {
      if (server[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `${field} applies only to OpenAPI servers (spec_path)` });
    }
  } else if (server.transport !== "http") {
    ctx.addIssue({ code: "custom", path: ["transport"], message: `an OpenAPI server (spec_path) is called over HTTP: remove transport ${server.transport}` });
  }
  if (server.transport === "stdio") {
    if (server.command === undefined) {
      ctx.addIssue({ code: "custom", path: ["command"], message: "transport stdio needs command (the executable to run, e.g. npx), with its arguments in args" });
    }
    return;
  }
  // An OpenAPI server's base URL may come from its spec's `servers`.
  if (server.url === undefined && server.spec_path === undefined) {
    ctx.addIssue({ code: "custom", path: ["url"], message: `transport ${server.transport} needs url (the upstream MCP endpoint); for a local process set transport: stdio with command and args` });
  }
  for (const field of ["command", "args", "env"] as const) {
    if (server[field] !== undefined) {
      ctx.addIssue({ code: "custom", path: [field], message: `${field} applies only to transport stdio; set transport: stdio to run a local process, or remove ${field}` });
    }
  }
}

export const SECRET_NEEDS_NAMED_ENDPOINT =
  "a configured client_secret is sent only to a token endpoint you name: add token_url (the upstream's token endpoint), " +
  "or issuer (its authorization server, whose RFC 8414 metadata gives the token endpoint); " +
  "without either the token endpoint would come from the upstream's own metadata, which may name any host";

/**
 * Issue 15 item 8: the interactive flow discovers its authorization server from the
 * upstream's RFC 9728 metadata unless told otherwise, and an upstream that names another
 * (internal) host would receive the operator's client secret. client_credentials and
 * token exchange always name their endpoint (checked above).
 */
function secretGoesToDiscoveredEndpoint(server: {
  auth_type: string;
  oauth2_flow?: string | undefined;
  client_secret?: string | undefined;
  token_url?: string | undefined;
  issuer?: string | undefined;
}): boolean {
  // Without token_url the flow is the interactive one (client_credentials needs token_url, reported above).
  return server.auth_type === "oauth2" && server.oauth2_flow !== "client_credentials" && server.client_secret !== undefined && server.token_url === undefined && server.issuer === undefined;
}

export const generalSettingsSchema = z.strictObject({
  master_key: z.string().min(1).optional(),
  database_url: z.string().min(1).optional(),
  use_x_forwarded_for: z.boolean().default(false),
  mcp_trusted_proxy_ranges: stringList.default([]),
  mcp_internal_ip_ranges: stringList.optional(),
  /** The header holding LiteLLM's deprecated client-side credential (default x-mcp-auth); LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME wins. */
  mcp_client_side_auth_header_name: headerName.optional(),
  // Gatehouse extensions (documented in the README).
  /** Largest request body accepted on MCP and REST routes, in bytes (413 above it). */
  max_request_body_bytes: z.number().int().positive().default(4 * 1024 * 1024),
  /** Seconds SIGTERM waits for in-flight requests before closing them. */
  shutdown_timeout_seconds: z.number().positive().default(10),
  /** Seconds between checks for servers and keys written by other instances (changes show within about this long). */
  store_poll_interval_seconds: z.number().positive().max(60).default(1),
  /** Record every tool call in the audit trail (GET /v1/mcp/audit). */
  audit_log: z.boolean().default(true),
  /** Days audit events are kept. */
  audit_retention_days: z.number().positive().default(30),
  /** Give /mcp clients a session on initialize (server-to-client requests, their own upstream sessions); false: /mcp is stateless only. */
  mcp_aggregate_sessions: z.boolean().default(true),
  /** Hours an /mcp session lasts from its initialize; the client then starts a new one (404). */
  mcp_aggregate_session_max_age_hours: z.number().positive().max(24 * 30).default(24),
  /** Live /mcp sessions one key may hold at once; past it, initialize is answered without a session (stateless). */
  mcp_aggregate_sessions_per_key: z.number().int().positive().default(1000),
  /** /mcp calls of one key an instance holds open for a 2026-07-28 client's input (multi round-trip requests); past it, 429. */
  mcp_held_calls_per_key: z.number().int().positive().default(32),
  /**
   * Browser origins, besides the public origin and loopback, that may call the MCP and
   * OAuth facade routes (Origin check against DNS rebinding); LITELLM_CORS_ORIGINS wins.
   */
  mcp_allowed_origins: z.array(origin).default([]),
  /** Dynamic client registrations (POST /{server}/register) accepted per client address per minute, per instance; 0: no limit. */
  oauth_registration_rate_limit_per_minute: z.number().int().nonnegative().default(10),
  /** Seconds a registered MCP client is kept while it has never redeemed an authorization code. */
  oauth_incomplete_client_ttl_seconds: z.number().int().positive().default(24 * 3600),
  /**
   * Trust policy for Client ID Metadata Documents (URL client_ids): host patterns whose
   * documents are accepted (`*` any public host, `example.com`, `*.example.com`); [] refuses them all.
   */
  oauth_client_metadata_document_hosts: stringList.default(["*"]),
  /**
   * Hosts whose client metadata documents may be fetched although they resolve to loopback,
   * private or link-local addresses (and over http on loopback). For local development and
   * tests only; empty by default, so an attacker's URL never reaches an internal address.
   */
  oauth_client_metadata_document_internal_hosts: stringList.default([]),
  /**
   * Client metadata document fetches that miss the cache, per client address (IPv6: per /64)
   * per minute, per instance; 0: no limit. Anyone can send a URL client_id, and each new one
   * makes the gateway fetch it.
   */
  oauth_client_metadata_document_fetch_rate_limit_per_minute: z.number().int().nonnegative().default(30),
  /** Connections kept to one upstream origin for requests (long-lived GET streams have their own, bounded by the stream limits). */
  max_connections_per_upstream: z.number().int().positive().max(65_536).default(256),
  /** Long-lived streams (pass-through GET streams and SSE answers) one key may hold open to one server (429 past it). */
  max_streams_per_key: z.number().int().positive().default(64),
  /** Long-lived streams all keys together may hold open to one server (further GET streams get 429). */
  max_streams_per_server: z.number().int().positive().default(256),
  /**
   * Seconds between the checks that a long-lived stream (GET streams, `subscriptions/listen`,
   * on the pass-through and `/mcp`) may go on: its key still authenticates and may still use
   * its servers; when not, it ends. Also how often `/mcp` streams send a keep-alive comment.
   */
  mcp_stream_recheck_seconds: z.number().positive().max(3600).default(25),
  /** Pages the gateway reads from one server for one tools/list (it stops earlier on a repeated cursor). */
  tools_list_max_pages: z.number().int().positive().max(10_000).default(100),
  /** Tools the gateway keeps from one server for one tools/list. */
  tools_list_max_tools: z.number().int().positive().max(1_000_000).default(10_000),
  /**
   * On the aggregate, a request that names its servers (`/{a},{b}/mcp`, `/{group}/mcp`,
   * `x-mcp-servers`) and comes to exactly one is served that server's own tool and prompt
   * names, unprefixed, and every name it sends goes to that server. Off: always prefixed.
   */
  mcp_unprefixed_single_server: z.boolean().default(false),
  /**
   * Whether the management API (/v1/mcp/server) and the UI may create stdio servers. Off: only
   * the config file defines them. A stdio server is a command the gateway runs, so allowing it
   * lets whoever holds the master key run any program as the gateway's user (README, "stdio servers").
   */
  mcp_allow_stdio_servers_from_api: z.boolean().default(false),
  /** Bytes an OpenAPI server's API may answer a tool call with; a larger answer is an error result, never cut (README, "OpenAPI servers"). */
  openapi_max_response_bytes: z.number().int().positive().max(64 * 1024 * 1024).default(1024 * 1024),
});

export type GeneralSettings = z.output<typeof generalSettingsSchema>;

/**
 * Server names are unique ignoring case (issue 15 item 10): an `x-mcp-{server}-*` header
 * names its server in an HTTP header name, which is case-insensitive, so `A` beside `a`
 * would receive each other's per-request credentials.
 */
function uniqueIgnoringCase(servers: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const seen = new Map<string, string>();
  for (const name of Object.keys(servers)) {
    const first = seen.get(name.toLowerCase());
    if (first === undefined) seen.set(name.toLowerCase(), name);
    else {
      ctx.addIssue({
        code: "custom",
        path: [name],
        message: `differs from server '${first}' only in case; server names must be unique ignoring case (x-mcp-{server}-* header names ignore case): rename one`,
      });
    }
  }
}

export const configSchema = z.strictObject({
  mcp_servers: z
    .record(
      z.string().regex(SERVER_NAME_PATTERN, "server names may contain only letters, digits, '_' and '-'"),
      serverConfigSchema,
    )
    .superRefine(uniqueIgnoringCase)
    .default({}),
  general_settings: generalSettingsSchema.default(() => generalSettingsSchema.parse({})),
  /** LiteLLM's other settings are screened out before the schema runs (litellm-compat.ts). */
  litellm_settings: z
    .strictObject({
      /** `{alias: server name}`: a server without its own alias takes the first unused alias that names it. */
      mcp_aliases: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  /** Variables os.environ/ references may name besides the process environment (which wins); README. */
  environment_variables: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

export type Config = Readonly<z.output<typeof configSchema>>;
