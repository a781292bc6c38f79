/**
 * What the gateway learns about an upstream token endpoint, and how its failures are
 * told: the client hears the server and the OAuth `error` code (RFC 6749 §5.2), never the
 * client secret or the authorization server's body; the log gets the detail.
 */
import * as oauth from "oauth4webapi";
import { clientSecretBasic } from "./client-auth.js";
import { credentialScrubber } from "../../credential-scrubber.js";
import { GatewayError, JsonRpcCode } from "../../errors.js";
import type { MetadataDiscovery } from "./metadata-discovery.js";

export type ClientAuthMethod = "client_secret_post" | "client_secret_basic";

export const DEFAULT_TOKEN_TIMEOUT_MS = 10_000;

/** RFC 6749 §5.1 makes expires_in optional; without it a token is reused this long. */
const DEFAULT_LIFETIME_SECONDS = 300;
const EXPIRY_MARGIN_SECONDS = 60;

/** How long an issued token is used: `expires_in - 60` (the seed's rule), half the lifetime for short-lived tokens. */
export function cacheLifetimeSeconds(expiresIn: number | undefined): number {
  if (expiresIn === undefined || !Number.isFinite(expiresIn) || expiresIn <= 0) return DEFAULT_LIFETIME_SECONDS;
  // For short-lived tokens a 60 s margin would leave nothing: keep half the lifetime instead.
  return expiresIn > 2 * EXPIRY_MARGIN_SECONDS ? expiresIn - EXPIRY_MARGIN_SECONDS : expiresIn / 2;
}

/** What a token request may ask for: scope (joined by single spaces), RFC 8693 audience, RFC 8707 resource. */
export function targetParameters(target: { scopes?: readonly string[] | undefined; audience?: string | undefined; resource?: string | undefined }): URLSearchParams {
  const parameters = new URLSearchParams();
  if (target.scopes !== undefined && target.scopes.length > 0) parameters.set("scope", target.scopes.join(" "));
  if (target.audience !== undefined) parameters.set("audience", target.audience);
  if (target.resource !== undefined) parameters.set("resource", target.resource);
  return parameters;
}

export interface TokenEndpointClientOptions {
  tokenUrl: string;
  clientId: string;
  /** Absent: a public client (`none`), identified by client_id alone. */
  clientSecret: string | undefined;
  /** Fixed client authentication; else what the token endpoint's metadata prefers, else client_secret_post. */
  authMethod: ClientAuthMethod | undefined;
  timeoutMs: number;
  /** Where the token endpoint's metadata is looked up (shared by the gateway's upstream lookups). */
  discovery: MetadataDiscovery;
}

/** The gateway as an OAuth client of one token endpoint (shared by the grants it sends there). */
export interface TokenEndpointClient {
  as: oauth.AuthorizationServer;
  client: oauth.Client;
  /**
   * The configured method, else the endpoint's metadata, else client_secret_post. The
   * metadata comes from the discovery's cache: a lookup that got no answer (down, timed
   * out) or found no metadata is asked again later, so neither an outage at start-up nor
   * a fallback is remembered as the server's choice.
   */
  authentication(): Promise<{ method: ClientAuthMethod | "none"; auth: oauth.ClientAuth }>;
}

export function tokenEndpointClient(options: TokenEndpointClientOptions): TokenEndpointClient {
  const secret = options.clientSecret;
  return {
    as: { issuer: new URL(options.tokenUrl).origin, token_endpoint: options.tokenUrl },
    client: { client_id: options.clientId },
    async authentication() {
      if (secret === undefined) return { method: "none", auth: oauth.None() };
      const chosen = options.authMethod ?? (await preferredClientAuth(options.discovery, options.tokenUrl, discoveryBudgetMs(options.timeoutMs))) ?? "client_secret_post";
      return { method: chosen, auth: chosen === "client_secret_basic" ? clientSecretBasic(secret) : oauth.ClientSecretPost(secret) };
    },
  };
}

/**
 * How long the metadata lookup may take before the token request, which has the whole
 * timeout of its own: half of it, at most 3 s (a server that does not answer at all
 * fails the call in about 1.5 timeouts, not once per metadata URL).
 */
function discoveryBudgetMs(timeoutMs: number): number {
  return Math.min(timeoutMs / 2, 3_000);
}

/**
 * The client authentication the token endpoint's own metadata (RFC 8414 §2, or OIDC
 * discovery) lists first among those we support. The issuer is not configured, so it is
 * guessed from the token URL: its origin, and the path above the token endpoint. Only
 * metadata whose `token_endpoint` is exactly `tokenUrl` counts. Every candidate URL is
 * asked at once, within one `timeoutMs`; the first match in this order wins: RFC 8414 then
 * OIDC, at the parent path then at the origin.
 */
export async function preferredClientAuth(discovery: MetadataDiscovery, tokenUrl: string, timeoutMs: number): Promise<ClientAuthMethod | undefined> {
  const url = new URL(tokenUrl);
  const parent = url.pathname.replace(/\/[^/]*$/, "");
  const issuers = [...new Set([url.origin + parent, url.origin])];
  const lookups = await Promise.all(
    issuers.flatMap((issuer) => (["oauth2", "oidc"] as const).map((algorithm) => discovery.authorizationServer(new URL(issuer), algorithm, { timeoutMs }))),
  );
  const metadata = lookups.find((lookup) => lookup.status === "found" && lookup.metadata.token_endpoint === tokenUrl);
  if (metadata?.status !== "found") return undefined;
  // RFC 8414 §2: when the list is absent, the default is client_secret_basic.
  const supported = metadata.metadata.token_endpoint_auth_methods_supported ?? ["client_secret_basic"];
  return supported.find((method): method is ClientAuthMethod => method === "client_secret_post" || method === "client_secret_basic");
}

/**
 * An OAuth `error` code as RFC 6749 §5.2 registers them (`invalid_client`, ...), or
 * undefined: the field is the authorization server's free text, and one that echoed the
 * client secret in it showed the secret to every caller of the server (issue 15 item 11).
 */
export function standardOAuthErrorCode(code: string | undefined): string | undefined {
  return code !== undefined && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
}

/** The OAuth `error` code of a failed token response, as the authorization server sent it (untrusted text). */
function rawOAuthErrorCode(error: unknown): string | undefined {
  if (error instanceof oauth.ResponseBodyError) return error.error;
  if (error instanceof oauth.WWWAuthenticateChallengeError) return error.cause.find((challenge) => challenge.parameters.error !== undefined)?.parameters.error;
  return undefined;
}

/** The OAuth `error` code of a failed token response, when the authorization server sent a standard one. */
export function oauthErrorCode(error: unknown): string | undefined {
  return standardOAuthErrorCode(rawOAuthErrorCode(error));
}

/**
 * The HTTP status of the token endpoint's answer, when there was one: oauth4webapi keeps
 * it on its OAuth errors, and puts the Response as the cause of a non-conform answer
 * (a 5xx, an HTML page).
 */
function responseStatus(error: unknown): number | undefined {
  if (error instanceof oauth.ResponseBodyError || error instanceof oauth.WWWAuthenticateChallengeError) return error.status;
  if (error instanceof oauth.OperationProcessingError && error.cause instanceof Response) return error.cause.status;
  return undefined;
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || (error.cause instanceof Error && error.cause.name === "TimeoutError"));
}

/**
 * Log-only detail: what happened, without the response body. The authorization server's
 * own text (its error code and description) may echo what it was sent: `secrets` (the
 * client secret) are masked in it.
 */
export function logDetail(tokenUrl: string, error: unknown, secrets: readonly string[] = []): string {
  const httpStatus = responseStatus(error);
  const status = httpStatus === undefined ? "" : ` HTTP ${httpStatus}`;
  const code = rawOAuthErrorCode(error);
  const oauthError = code === undefined ? "" : ` error=${code.slice(0, 200)}`;
  const description = error instanceof oauth.ResponseBodyError && error.error_description !== undefined ? ` (${error.error_description.slice(0, 500)})` : "";
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return credentialScrubber(secrets).text(`token endpoint ${new URL(tokenUrl).origin}${new URL(tokenUrl).pathname}${status}${oauthError}: ${what}${description}`);
}

/** How a failed request to a token endpoint is described: what was asked, what to check, the error code. */
export interface TokenRequestKind {
  request: string;
  hint: string;
  code: string;
}

const CLIENT_CREDENTIALS: TokenRequestKind = { request: "token request", hint: "check client_id, client_secret and token_url", code: "upstream_token_error" };

export function tokenEndpointError(
  serverName: string,
  tokenUrl: string,
  error: unknown,
  timeoutMs: number,
  kind: TokenRequestKind = CLIENT_CREDENTIALS,
  /** What the request sent that must not show in the log (the client secret). */
  secrets: readonly string[] = [],
): GatewayError {
  const code = oauthErrorCode(error);
  const status = responseStatus(error);
  let message: string;
  if (code !== undefined) message = `the token endpoint of MCP server '${serverName}' refused the ${kind.request}: ${code}`;
  else if (isTimeout(error)) message = `the token endpoint of MCP server '${serverName}' did not answer within ${timeoutMs / 1000} s`;
  // An error page (a 5xx, a proxy's HTML) without an OAuth error code: its status is what the operator can act on.
  // An error page (or a non-standard error code) without a standard OAuth code: its status is what the operator can act on.
  else if (status !== undefined && status >= 400) message = `the token endpoint of MCP server '${serverName}' answered HTTP ${status}`;
  else if (error instanceof oauth.OperationProcessingError) message = `the token endpoint of MCP server '${serverName}' sent an invalid token response`;
  else message = `the token endpoint of MCP server '${serverName}' is unreachable`;
  return new GatewayError({
    status: 502,
    code: kind.code,
    message: `${message} (${kind.hint}; the gateway log has the detail)`,
    detail: logDetail(tokenUrl, error, secrets),
    rpcCode: JsonRpcCode.UpstreamError,
    extra: { server: serverName, ...(code === undefined ? {} : { oauth_error: code }) },
    cause: error,
  });
}
