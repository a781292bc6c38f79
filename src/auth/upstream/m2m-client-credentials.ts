/**
 * Machine-to-machine upstream auth: the OAuth 2.0 client_credentials grant
 * (RFC 6749 §4.4), sent and validated by oauth4webapi.
 *
 * The token is cached per server for `expires_in - 60` seconds (the seed's rule; half the
 * lifetime for short-lived tokens; 5 minutes when `expires_in` is missing), fetched
 * single-flight, and refreshed in the background during the last fifth of its life, so
 * in steady state no call waits on the authorization server. An upstream 401 drops the
 * token (`invalidate`), and the proxy retries once with a new one.
 */
import * as oauth from "oauth4webapi";
import type { Logger } from "../../log.js";
import type { TokenEvents } from "../../observability/metrics.js";
import { allowHttp } from "./allow-http.js";
import { refreshingCache, type Expiring } from "./refreshing-cache.js";
import { traced } from "../../observability/tracing.js";
import type { UpstreamAuth, UpstreamCredentials } from "./strategy.js";
import { metadataDiscovery, type MetadataDiscovery } from "./metadata-discovery.js";
import { cacheLifetimeSeconds, DEFAULT_TOKEN_TIMEOUT_MS, targetParameters, tokenEndpointClient, tokenEndpointError, type ClientAuthMethod } from "./token-endpoint.js";

export interface ClientCredentialsOptions {
  serverName: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes?: readonly string[];
  /** RFC 8707 resource indicator. */
  resource?: string;
  audience?: string;
  /** Fixed client authentication; else what the token endpoint's metadata prefers, else client_secret_post. */
  authMethod?: ClientAuthMethod;
  /** Milliseconds the token endpoint has to answer. */
  timeoutMs?: number;
  now?: () => number;
  log?: Logger;
  events?: TokenEvents;
  /** The gateway's metadata lookups (for the token endpoint's preferred client authentication); default: this strategy's own. */
  discovery?: MetadataDiscovery;
}

/** Refresh once this share of the cached lifetime has passed. */
const REFRESH_AFTER = 0.8;

export function clientCredentialsAuth(options: ClientCredentialsOptions): UpstreamAuth {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TOKEN_TIMEOUT_MS;
  const endpoint = tokenEndpointClient({ ...options, authMethod: options.authMethod, timeoutMs, discovery: options.discovery ?? metadataDiscovery({ now }) });

  async function requestToken(): Promise<Expiring<UpstreamCredentials>> {
    try {
      const { method, auth } = await endpoint.authentication();
      const response = await oauth.clientCredentialsGrantRequest(endpoint.as, endpoint.client, auth, targetParameters(options), {
        signal: AbortSignal.timeout(timeoutMs),
        ...allowHttp(options.tokenUrl),
      });
      const token = await oauth.processClientCredentialsResponse(endpoint.as, endpoint.client, response);
      options.events?.tokenRequest(options.serverName, "client_credentials", "ok");
      const fetchedAt = now();
      const lifetimeMs = cacheLifetimeSeconds(token.expires_in) * 1000;
      options.log?.debug({ server: options.serverName, expires_in: token.expires_in, client_auth: method }, "fetched an M2M access token");
      return {
        value: { headers: { authorization: `Bearer ${token.access_token}` }, resolution: "m2m-client-credentials" },
        expiresAt: fetchedAt + lifetimeMs,
        refreshAt: fetchedAt + lifetimeMs * REFRESH_AFTER,
      };
    } catch (error) {
      options.events?.tokenRequest(options.serverName, "client_credentials", "error");
      throw tokenEndpointError(options.serverName, options.tokenUrl, error, timeoutMs, undefined, [options.clientSecret]);
    }
  }

  const cache = refreshingCache({
    fetch: () => traced("upstream token client_credentials", { "gatehouse.server": options.serverName, "oauth.grant_type": "client_credentials" }, requestToken),
    now,
    onHit: () => options.events?.tokenCacheHit(options.serverName, "client_credentials"),
    onBackgroundError: (error) =>
      options.log?.warn(
        { server: options.serverName, detail: error instanceof Error ? ((error as { detail?: string }).detail ?? error.message) : String(error) },
        "background refresh of an M2M access token failed; the current token is used until it expires",
      ),
  });

  return {
    credentials: () => cache.get(),
    invalidate: (credentials) => cache.invalidate(credentials),
    retryOnUnauthorized: true,
  };
}
