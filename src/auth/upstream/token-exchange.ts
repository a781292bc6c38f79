/**
 * On-behalf-of upstream auth: OAuth 2.0 Token Exchange (RFC 8693), `auth_type:
 * oauth2_token_exchange`. The caller sends its own token in `Authorization: Bearer` (its
 * gateway key in `x-litellm-api-key`); the gateway exchanges it at the authorization
 * server (§2.1: `subject_token`, `subject_token_type`, `audience`, `scope`, `resource`,
 * with the gateway's client credentials) and sends the issued token upstream, so the
 * upstream sees the user, with the gateway as the actor (§4.1 `act`).
 *
 * Issued tokens are cached per (server, subject token), keyed by a hash, for
 * `expires_in - 60` seconds but never past the subject token's own `exp` when it is a JWT
 * (the exchange must not outlive what it was granted for); single-flight per subject.
 * Nothing here ever puts the subject token in an error or a log line.
 */
import { metadataDiscovery, type MetadataDiscovery } from "./metadata-discovery.js";
import { createHash } from "node:crypto";
import { decodeJwt } from "jose/jwt/decode";
import * as oauth from "oauth4webapi";
import { GatewayError, JsonRpcCode } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { TokenEvents } from "../../observability/metrics.js";
import { authorizationCarriesGatewayKey, clientBearerToken } from "../inbound/credential-screen.js";
import { allowHttp } from "./allow-http.js";
import { keyedTokenCache } from "./keyed-token-cache.js";
import type { UpstreamAuth, UpstreamCredentials } from "./strategy.js";
import {
  cacheLifetimeSeconds,
  logDetail,
  DEFAULT_TOKEN_TIMEOUT_MS,
  oauthErrorCode,
  targetParameters,
  tokenEndpointClient,
  tokenEndpointError,
  type ClientAuthMethod,
  type TokenRequestKind,
} from "./token-endpoint.js";
import { traced } from "../../observability/tracing.js";

export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";

export interface TokenExchangeOptions {
  serverId: string;
  serverName: string;
  /** `token_exchange_endpoint`, else `token_url`. */
  endpoint: string;
  clientId: string;
  clientSecret: string | undefined;
  authMethod: ClientAuthMethod | undefined;
  subjectTokenType: string;
  audience: string | undefined;
  scopes: readonly string[] | undefined;
  resource: string | undefined;
  timeoutMs?: number;
  /** Most issued tokens kept at once (one per active user). */
  maxEntries?: number;
  now?: () => number;
  log?: Logger;
  events?: TokenEvents;
  /** The gateway's metadata lookups (for the token endpoint's preferred client authentication); default: this strategy's own. */
  discovery?: MetadataDiscovery;
}

const TOKEN_EXCHANGE: TokenRequestKind = {
  request: "token exchange",
  hint: "check client_id, client_secret, token_exchange_endpoint, audience and scopes, and that the authorization server grants this client token exchange",
  code: "upstream_token_exchange_error",
};

/**
 * RFC 8693 §2.2.1 allows `N_A` when the issued token is not an access token; some servers
 * send it for JWTs meant as bearer credentials. Such a token is still sent as a bearer.
 */
const RECOGNIZED_TOKEN_TYPES: oauth.RecognizedTokenTypes = { n_a: () => undefined };

export function tokenExchangeAuth(options: TokenExchangeOptions): UpstreamAuth {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  const endpoint = tokenEndpointClient({
    tokenUrl: options.endpoint,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    authMethod: options.authMethod,
    timeoutMs,
    discovery: options.discovery ?? metadataDiscovery({ now }),
  });
  const cache = keyedTokenCache<UpstreamCredentials>({
    now,
    maxEntries: options.maxEntries ?? 10_000,
    onHit: () => options.events?.tokenCacheHit(options.serverName, "token_exchange"),
  });
  /** Which cache key issued credentials belong to, so an upstream 401 drops exactly that entry. */
  const keys = new WeakMap<UpstreamCredentials, string>();

  const TRACE_ATTRIBUTES = Object.freeze({ "gatehouse.server": options.serverName, "oauth.grant_type": TOKEN_EXCHANGE_GRANT });

  async function exchange(subjectToken: string, subjectExpiresAt: number | undefined): Promise<{ value: UpstreamCredentials; expiresAt: number }> {
    const parameters = targetParameters(options);
    parameters.set("subject_token", subjectToken);
    parameters.set("subject_token_type", options.subjectTokenType);
    let token: oauth.TokenEndpointResponse;
    try {
      const { auth } = await endpoint.authentication();
      const response = await oauth.genericTokenEndpointRequest(endpoint.as, endpoint.client, auth, TOKEN_EXCHANGE_GRANT, parameters, {
        signal: AbortSignal.timeout(timeoutMs),
        ...allowHttp(options.endpoint),
      });
      token = await oauth.processGenericTokenEndpointResponse(endpoint.as, endpoint.client, response, { recognizedTokenTypes: RECOGNIZED_TOKEN_TYPES });
      options.events?.tokenRequest(options.serverName, "token_exchange", "ok");
    } catch (error) {
      options.events?.tokenRequest(options.serverName, "token_exchange", "error");
      throw exchangeError(options, error, timeoutMs);
    }
    const exchangedAt = now();
    const lifetimeEnd = exchangedAt + cacheLifetimeSeconds(token.expires_in) * 1000;
    options.log?.debug({ server: options.serverName, expires_in: token.expires_in, issued_token_type: token.issued_token_type }, "exchanged a subject token (RFC 8693)");
    return {
      value: { headers: { authorization: `Bearer ${token.access_token}` }, resolution: "token-exchange" },
      expiresAt: subjectExpiresAt === undefined ? lifetimeEnd : Math.min(lifetimeEnd, subjectExpiresAt),
    };
  }

  return {
    async credentials(context) {
      const subjectToken = await clientBearerToken(context);
      // A gateway key is never a subject token: the authorization server would receive it.
      if (subjectToken === undefined) throw subjectTokenMissing(options.serverName, await authorizationCarriesGatewayKey(context));
      const subjectExpiresAt = jwtExpiry(subjectToken);
      if (subjectExpiresAt !== undefined && subjectExpiresAt <= now()) throw subjectTokenExpired(options.serverName);
      const key = createHash("sha256").update(options.serverId).update("\0").update(subjectToken).digest("base64url");
      const credentials = await cache.get(key, () => traced("upstream token token_exchange", TRACE_ATTRIBUTES, () => exchange(subjectToken, subjectExpiresAt)));
      keys.set(credentials, key);
      return credentials;
    },
    invalidate(credentials) {
      const key = keys.get(credentials);
      if (key !== undefined) cache.invalidate(key, credentials);
    },
    // The cached exchange may have been revoked upstream: one fresh exchange may succeed.
    retryOnUnauthorized: true,
  };
}

/** The subject token's `exp` in epoch ms when it is a JWT (read, not verified: it only bounds our cache). */
function jwtExpiry(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function subjectTokenMissing(serverName: string, keyInAuthorization: boolean): GatewayError {
  return new GatewayError({
    status: 401,
    code: "subject_token_required",
    message:
      `MCP server '${serverName}' acts on your behalf (RFC 8693 token exchange): send your own access token in 'Authorization: Bearer <token>'` +
      (keyInAuthorization ? " and move the gateway key to 'x-litellm-api-key: Bearer <key>'" : " with the gateway key in 'x-litellm-api-key'"),
    headers: { "www-authenticate": 'Bearer error="invalid_request", error_description="a subject token is required"' },
    extra: { server: serverName },
  });
}

function subjectTokenExpired(serverName: string): GatewayError {
  return new GatewayError({
    status: 401,
    code: "subject_token_expired",
    message: `the access token sent for MCP server '${serverName}' has expired (its 'exp' is past): get a new one from your identity provider`,
    headers: { "www-authenticate": 'Bearer error="invalid_token", error_description="the subject token has expired"' },
    extra: { server: serverName },
  });
}

/**
 * `invalid_grant` means the authorization server refused the caller's own token (RFC 8693
 * §2.2.2): the caller's fault, 401. Anything else is the gateway's setup or the
 * authorization server: 502 with the OAuth error code and what to check.
 */
function exchangeError(options: TokenExchangeOptions, error: unknown, timeoutMs: number): GatewayError {
  const code = oauthErrorCode(error);
  if (code === "invalid_grant") {
    return new GatewayError({
      status: 401,
      code: "subject_token_rejected",
      message: `the authorization server of MCP server '${options.serverName}' refused your access token for exchange (invalid_grant): send a valid, unexpired token issued for this gateway`,
      headers: { "www-authenticate": 'Bearer error="invalid_token", error_description="the subject token was refused"' },
      // The authorization server's reason (error_description) is for the log only.
      detail: logDetail(options.endpoint, error, secretsOf(options)),
      rpcCode: JsonRpcCode.InvalidRequest,
      extra: { server: options.serverName, oauth_error: code },
      cause: error,
    });
  }
  return tokenEndpointError(options.serverName, options.endpoint, error, timeoutMs, TOKEN_EXCHANGE, secretsOf(options));
}

/** What an exchange sent that its error text must not repeat in the log. */
function secretsOf(options: TokenExchangeOptions): string[] {
  return options.clientSecret === undefined ? [] : [options.clientSecret];
}
