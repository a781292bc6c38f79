/**
 * One `LiteLLM_MCPServerTable` row as a Gatehouse server config (the body
 * `POST /v1/mcp/server` takes), with a note for every field that cannot be carried.
 * Secrets are decrypted here (litellm-secrets.ts) and never appear in a note.
 */
import { SERVER_NAME_PATTERN } from "../config/schema.js";
import type { Row } from "./litellm-database.js";
import type { LiteLLMScheme, OpenedSecret } from "./litellm-secrets.js";
import { flag, isObject, object, text, texts } from "./row-values.js";

/** How a credential value fared (never the value); the importer counts these to recognise a wrong salt key. */
export interface SecretOutcome {
  kind: OpenedSecret["kind"];
  scheme?: LiteLLMScheme;
}

export type MappedServer =
  | { ok: true; name: string; config: Record<string, unknown>; notes: string[]; secrets: SecretOutcome[] }
  /** `skipped`: not imported by design (waiting for approval, stdio...); otherwise it could not be carried. */
  | { ok: false; skipped: boolean; reason: string; secrets: SecretOutcome[] };

/** Rows LiteLLM itself loads (`reload_servers_from_database`): approval_status NULL, active or approved. */
export function isLoadedByLiteLLM(row: Row): boolean {
  const status = row.approval_status;
  return status === null || status === undefined || status === "active" || status === "approved";
}

const STATIC_AUTH_TYPES = new Set(["api_key", "bearer_token", "basic", "authorization", "token"]);
/** LiteLLM credential fields the mapping reads; any other key is reported. */
const KNOWN_CREDENTIALS = new Set(["auth_value", "client_id", "client_secret", "scopes"]);
const AWS_CREDENTIALS = /^aws_/;

const REFUSED_AUTH_TYPES: Record<string, string> = {
  aws_sigv4: "auth_type aws_sigv4: Gatehouse cannot sign upstream requests with AWS SigV4, and the server would be reached without credentials",
  oauth2_id_jag: "auth_type oauth2_id_jag: Gatehouse has no identity-assertion grant, and the server would be reached without credentials",
  true_passthrough: "auth_type true_passthrough: LiteLLM skips its own key check for such a server; Gatehouse has no such mode (delegate_auth_to_upstream with auth_type oauth2 is the nearest, narrower one)",
  oauth_delegate: "auth_type oauth_delegate: not a mode Gatehouse has; set the server up with auth_type oauth2 and delegate_auth_to_upstream if that is what it does",
};

export interface MapServerOptions {
  /** Opens one stored credential value. */
  open(stored: string): OpenedSecret;
}

export function mapServer(row: Row, options: MapServerOptions): MappedServer {
  const secrets: SecretOutcome[] = [];
  const notes: string[] = [];
  const fail = (reason: string, skipped = false): MappedServer => ({ ok: false, skipped, reason, secrets });

  if (!isLoadedByLiteLLM(row)) return fail(`approval_status is '${String(row.approval_status)}': LiteLLM does not serve it either`, true);
  const transport = text(row, "transport") ?? "sse";
  if (transport === "stdio") {
    return fail("a stdio server defined in the database: Gatehouse runs stdio servers only from the config file; add it to config.yaml (transport: stdio, command, args, env)", true);
  }
  if (transport !== "http" && transport !== "sse") return fail(`transport '${transport}' is not one Gatehouse speaks (http, sse)`);
  const url = text(row, "url");
  // An OpenAPI server: `url` is the API's base URL (optional: the spec's servers), and the gateway calls it over HTTP.
  const specPath = text(row, "spec_path");
  if (url === undefined && specPath === undefined) return fail("no url");

  const config: Record<string, unknown> = specPath === undefined ? { url, transport } : { ...(url === undefined ? {} : { url }), spec_path: specPath, transport: "http" };
  const description = text(row, "description");
  if (description !== undefined) config.description = description;

  // Credentials: each value decrypted on its own; a value that is not ciphertext is used as stored (as LiteLLM does).
  const credentials = object(row, "credentials") ?? {};
  const credential = (field: string): string | undefined => {
    const value = credentials[field];
    if (typeof value !== "string" || value === "") return undefined;
    const opened = options.open(value);
    secrets.push(opened.kind === "plain" ? { kind: "plain" } : { kind: opened.kind, scheme: opened.scheme });
    if (opened.kind === "undecryptable") {
      throw new UndecryptableCredential(`credentials.${field} (${opened.scheme}) does not open with the LiteLLM salt key: it was sealed under another key`);
    }
    return opened.value;
  };

  try {
    const authType = text(row, "auth_type") ?? "none";
    const refused = REFUSED_AUTH_TYPES[authType];
    if (refused !== undefined) return fail(refused);
    if (authType === "none") {
      config.auth_type = "none";
    } else if (STATIC_AUTH_TYPES.has(authType)) {
      const value = credential("auth_value");
      if (value === undefined) {
        config.auth_type = "none";
        notes.push(`auth_type ${authType} without credentials.auth_value: imported as auth_type none (LiteLLM sent no credential either)`);
      } else {
        const normalised = staticCredential(authType, value);
        if (typeof normalised !== "string") return fail(normalised.problem);
        config.auth_type = authType;
        config.auth_value = normalised;
      }
    } else if (authType === "oauth2" || authType === "oauth2_token_exchange") {
      config.auth_type = authType;
      const clientId = credential("client_id") ?? text(row, "client_id");
      const clientSecret = credential("client_secret");
      if (clientId !== undefined) config.client_id = clientId;
      if (clientSecret !== undefined) config.client_secret = clientSecret;
      const scopes = credentials.scopes;
      if (Array.isArray(scopes) && scopes.length > 0) config.scopes = scopes.filter((scope) => typeof scope === "string");
      for (const column of ["token_url", "authorization_url", "registration_url", "oauth2_flow", "token_exchange_endpoint", "audience", "subject_token_type"]) {
        const value = text(row, column);
        if (value !== undefined) config[column] = value;
      }
      if (flag(row, "delegate_auth_to_upstream") === true) config.delegate_auth_to_upstream = true;
      if (text(row, "token_exchange_profile") !== undefined) notes.push("token_exchange_profile not carried: Gatehouse sends the standard RFC 8693 request");
    } else {
      return fail(`auth_type '${authType}' is not one Gatehouse knows`);
    }
    if (authType !== "oauth2" && flag(row, "delegate_auth_to_upstream") === true) {
      notes.push("delegate_auth_to_upstream not carried: it applies only to auth_type oauth2 (LiteLLM ignores it here too)");
    }
    for (const field of Object.keys(credentials)) {
      if (KNOWN_CREDENTIALS.has(field) || (AWS_CREDENTIALS.test(field) && authType !== "aws_sigv4")) continue;
      if (credentials[field] !== null && credentials[field] !== undefined) notes.push(`credentials.${field} not carried: Gatehouse has no such credential field`);
    }
  } catch (error) {
    if (error instanceof UndecryptableCredential) return fail(error.message);
    throw error;
  }

  const staticHeaders = object(row, "static_headers");
  if (staticHeaders !== undefined && Object.keys(staticHeaders).length > 0) {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(staticHeaders)) {
      if (typeof value === "string") headers[name] = value;
      else if (value !== null && value !== undefined) headers[name] = String(value);
    }
    config.static_headers = headers;
  }
  const extraHeaders = texts(row, "extra_headers");
  if (extraHeaders !== undefined && extraHeaders.length > 0) config.extra_headers = extraHeaders;

  const name = text(row, "server_name") ?? text(row, "alias") ?? (row.server_id as string);
  const allowedTools = texts(row, "allowed_tools");
  // LiteLLM: an empty list is no restriction (in Gatehouse it would allow nothing). A call is
  // allowed when the list has the tool's name or `{server}-{name}`, so both forms are kept.
  if (allowedTools !== undefined && allowedTools.length > 0) config.allowed_tools = unprefixedTools(allowedTools, [name, text(row, "alias")]);
  if (flag(row, "available_on_public_internet") === false) config.available_on_public_internet = false;

  const alias = text(row, "alias");
  if (alias !== undefined && alias !== name) {
    if (SERVER_NAME_PATTERN.test(alias)) config.alias = alias;
    else notes.push(`alias '${alias}' not carried: not a name Gatehouse accepts (letters, digits, '_' and '-'), so /mcp prefixes its tools '${name}-'`);
  }
  // Carried on the server (keys created later in Gatehouse get it the LiteLLM way), and granted explicitly to imported keys too.
  if (flag(row, "allow_all_keys") === true) config.allow_all_keys = true;
  const groups = texts(row, "mcp_access_groups");
  if (groups !== undefined && groups.length > 0) config.access_groups = groups;
  const info = object(row, "mcp_info");
  if (info !== undefined && Object.keys(info).length > 0) config.mcp_info = info;
  for (const column of ["tool_name_to_display_name", "tool_name_to_description"]) {
    const map = object(row, column);
    if (map !== undefined && Object.keys(map).length > 0) notes.push(`${column} not carried: Gatehouse shows the upstream's tool names and descriptions`);
  }
  if (text(row, "instructions") !== undefined) notes.push("instructions not carried: Gatehouse has no server instructions");
  if (flag(row, "is_byok") === true) {
    notes.push("is_byok: users' own credentials (LiteLLM_MCPUserCredentials) are not imported; the server is reached with its configured credentials only");
  }
  const headerVariables = row.header_variables;
  if (headerVariables !== undefined && headerVariables !== null && !(isObject(headerVariables) && Object.keys(headerVariables).length === 0)) {
    notes.push("header_variables not carried: Gatehouse has no header variables");
  }
  if (text(row, "team_id") !== undefined) notes.push("team_id (owning team) not carried: Gatehouse servers belong to no team");
  return { ok: true, name, config, notes, secrets };
}

class UndecryptableCredential extends Error {}

/**
 * A static credential as Gatehouse's auth_type expects it: `basic` wants `user:password`
 * (LiteLLM also accepts it pre-encoded, with or without `Basic `); `bearer_token` wants the
 * token without its `Bearer ` prefix (LiteLLM stores either).
 */
function staticCredential(authType: string, value: string): string | { problem: string } {
  if (authType === "bearer_token") return value.replace(/^Bearer\s+/i, "");
  if (authType !== "basic" || value.includes(":")) return value;
  const encoded = value.replace(/^Basic\s+/i, "");
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  if (Buffer.from(decoded, "utf8").toString("base64").replace(/=+$/, "") === encoded.replace(/=+$/, "") && decoded.includes(":")) return decoded;
  return { problem: "auth_type basic: credentials.auth_value is neither user:password nor its base64 form" };
}

function unprefixedTools(tools: readonly string[], names: readonly (string | undefined)[]): string[] {
  const result = new Set<string>();
  for (const tool of tools) {
    result.add(tool);
    for (const name of names) if (name !== undefined && tool.startsWith(`${name}-`) && tool.length > name.length + 1) result.add(tool.slice(name.length + 1));
  }
  return [...result];
}
