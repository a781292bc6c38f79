/**
 * Machine-to-machine upstream auth: the OAuth 2.0 client_credentials grant
 * (RFC 6749 §4.4), sent and validated by oauth4webapi. The token is cached per server for
 * `expires_in - 60` seconds and fetched single-flight, so concurrent first calls share one
 * token request. An upstream 401 drops the cached token (`invalidate`).
 *
 * Issue 4 completes this strategy (refresh ahead of expiry, one retry on 401,
 * token_endpoint_auth_method, audience/resource, error mapping); the cache shape is final.
 */
import * as oauth from "oauth4webapi";
import { GatewayError } from "../../errors.js";
import type { UpstreamAuth, UpstreamCredentials } from "./strategy.js";

export interface ClientCredentialsOptions {
  serverName: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes?: readonly string[];
  /** Milliseconds the token endpoint has to answer. */
  timeoutMs?: number;
  now?: () => number;
}

/** RFC 6749 §5.1 makes expires_in optional; without it the token is reused this long. */
const DEFAULT_LIFETIME_SECONDS = 300;
const EXPIRY_MARGIN_SECONDS = 60;

export function cacheLifetimeSeconds(expiresIn: number | undefined): number {
  if (expiresIn === undefined || !Number.isFinite(expiresIn) || expiresIn <= 0) return DEFAULT_LIFETIME_SECONDS;
  // For short-lived tokens a 60 s margin would leave nothing: keep half the lifetime instead.
  return expiresIn > 2 * EXPIRY_MARGIN_SECONDS ? expiresIn - EXPIRY_MARGIN_SECONDS : expiresIn / 2;
}

interface CachedToken {
  credentials: UpstreamCredentials;
  expiresAt: number;
}

export function clientCredentialsAuth(options: ClientCredentialsOptions): UpstreamAuth {
  const now = options.now ?? Date.now;
  const as: oauth.AuthorizationServer = { issuer: new URL(options.tokenUrl).origin, token_endpoint: options.tokenUrl };
  const client: oauth.Client = { client_id: options.clientId };
  const clientAuth = oauth.ClientSecretPost(options.clientSecret);
  const insecure = new URL(options.tokenUrl).protocol === "http:";
  let cached: CachedToken | undefined;
  let pending: Promise<CachedToken> | undefined;

  async function fetchToken(): Promise<CachedToken> {
    const parameters = new URLSearchParams();
    if (options.scopes !== undefined && options.scopes.length > 0) parameters.set("scope", options.scopes.join(" "));
    try {
      const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, parameters, {
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        [oauth.allowInsecureRequests]: insecure,
      });
      const token = await oauth.processClientCredentialsResponse(as, client, response);
      const credentials: UpstreamCredentials = {
        headers: { authorization: `Bearer ${token.access_token}` },
        resolution: "m2m-client-credentials",
      };
      return { credentials, expiresAt: now() + cacheLifetimeSeconds(token.expires_in) * 1000 };
    } catch (error) {
      throw tokenEndpointError(options.serverName, error);
    }
  }

  return {
    async credentials() {
      if (cached !== undefined && cached.expiresAt > now()) return cached.credentials;
      pending ??= fetchToken().finally(() => {
        pending = undefined;
      });
      const fresh = await pending;
      cached = fresh;
      return fresh.credentials;
    },
    invalidate(credentials) {
      if (cached?.credentials === credentials) cached = undefined;
    },
  };
}

/** The client learns the server and the OAuth `error` code; the log gets the rest. */
function tokenEndpointError(serverName: string, error: unknown): GatewayError {
  const oauthCode = error instanceof oauth.ResponseBodyError ? error.error : undefined;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new GatewayError({
    status: 502,
    code: "upstream_token_error",
    message:
      oauthCode === undefined
        ? `could not get an access token for server '${serverName}' from its token_url`
        : `the token endpoint of server '${serverName}' refused the client_credentials request: ${oauthCode}`,
    detail,
    extra: { server: serverName, ...(oauthCode === undefined ? {} : { oauth_error: oauthCode }) },
    cause: error,
  });
}
