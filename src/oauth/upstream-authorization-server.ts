/**
 * The upstream authorization server of an interactive `oauth2` server: configured
 * (`authorization_url`, `token_url`, `registration_url`), discovered from the configured
 * `issuer` (RFC 8414 / OpenID discovery), or discovered from the upstream's own metadata,
 * RFC 9728 (protected resource) then RFC 8414, all through oauth4webapi. Cached per server
 * for an hour, fetched single-flight.
 *
 * A configured client_secret goes only to a token endpoint the operator named: `token_url`,
 * or the one in the metadata of the configured `issuer` (issue 15 item 8: an upstream's
 * RFC 9728 document named another internal host, which then received the secret). The
 * config schema refuses a secret without either; this file refuses it again, in case a
 * server reached here some other way.
 */
import * as oauth from "oauth4webapi";
import { allowHttp } from "../auth/upstream/allow-http.js";
import { refreshingCache, type RefreshingCache } from "../auth/upstream/refreshing-cache.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { SECRET_NEEDS_NAMED_ENDPOINT } from "../config/schema.js";
import { oauthError } from "./oauth-error.js";

export interface UpstreamAuthorization {
  as: oauth.AuthorizationServer;
  /** RFC 8707 resource of the upstream MCP server: the audience its tokens must carry. */
  resource: string;
  scopes: string[];
}

const CACHE_MS = 60 * 60_000;
const DISCOVERY_TIMEOUT_MS = 10_000;

export async function discoverResource(upstream: URL): Promise<oauth.ResourceServer | undefined> {
  // The resource identifier is the MCP endpoint; some servers publish their origin instead.
  for (const candidate of [upstream, new URL(upstream.origin)]) {
    try {
      const response = await oauth.resourceDiscoveryRequest(candidate, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), ...allowHttp(candidate) });
      return await oauth.processResourceDiscoveryResponse(candidate, response);
    } catch {
      // try the next form
    }
  }
  return undefined;
}

/** RFC 8414 (then OpenID) metadata of `issuer`; oauth4webapi refuses a document naming another issuer (RFC 8414 §3.3). */
async function discoverAuthorizationServer(issuer: URL): Promise<oauth.AuthorizationServer | undefined> {
  for (const algorithm of ["oauth2", "oidc"] as const) {
    try {
      const response = await oauth.discoveryRequest(issuer, { algorithm, signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS), ...allowHttp(issuer) });
      return await oauth.processDiscoveryResponse(issuer, response);
    } catch {
      // try OpenID discovery next
    }
  }
  return undefined;
}

function notFound(server: McpServerEntry): never {
  const how =
    server.config.issuer === undefined
      ? "set authorization_url and token_url (or issuer), or make the upstream publish RFC 9728 / RFC 8414 metadata"
      : `check that issuer ${server.config.issuer} serves RFC 8414 or OpenID metadata naming exactly that issuer, or set authorization_url and token_url`;
  throw oauthError("server_error", `cannot find the authorization server of MCP server '${server.name}': ${how}`, 502);
}

export async function resolveUpstreamAuthorization(server: McpServerEntry): Promise<UpstreamAuthorization> {
  const config = server.config;
  if (config.client_secret !== undefined && config.token_url === undefined && config.issuer === undefined) {
    throw oauthError("server_error", `MCP server '${server.name}': ${SECRET_NEEDS_NAMED_ENDPOINT}`, 500);
  }
  const resourceMetadata = await discoverResource(server.url);
  const resource = config.resource ?? resourceMetadata?.resource ?? server.url.href;
  let as: oauth.AuthorizationServer | undefined;
  if (config.authorization_url !== undefined && config.token_url !== undefined) {
    as = {
      issuer: config.issuer ?? new URL(config.authorization_url).origin,
      authorization_endpoint: config.authorization_url,
      token_endpoint: config.token_url,
      ...(config.registration_url === undefined ? {} : { registration_endpoint: config.registration_url }),
    };
  } else {
    // A configured issuer pins discovery; the upstream's RFC 9728 list is only a fallback for servers without one.
    const issuer = config.issuer ?? resourceMetadata?.authorization_servers?.[0];
    const discovered = issuer === undefined ? undefined : await discoverAuthorizationServer(new URL(issuer));
    if (discovered === undefined) notFound(server);
    as = {
      ...discovered,
      ...(config.authorization_url === undefined ? {} : { authorization_endpoint: config.authorization_url }),
      ...(config.token_url === undefined ? {} : { token_endpoint: config.token_url }),
      ...(config.registration_url === undefined ? {} : { registration_endpoint: config.registration_url }),
    };
  }
  const scopes = config.scopes ?? resourceMetadata?.scopes_supported ?? [];
  return { as, resource, scopes: [...scopes] };
}

/** One cache per server id; a server edit (new entry object) starts a new cache. */
export function upstreamAuthorizations(now: () => number = Date.now) {
  const caches = new WeakMap<McpServerEntry, RefreshingCache<UpstreamAuthorization>>();
  return {
    get(server: McpServerEntry): Promise<UpstreamAuthorization> {
      let cache = caches.get(server);
      if (cache === undefined) {
        cache = refreshingCache({
          fetch: async () => {
            const value = await resolveUpstreamAuthorization(server);
            const at = now();
            return { value, expiresAt: at + CACHE_MS, refreshAt: at + CACHE_MS * 0.8 };
          },
          now,
        });
        caches.set(server, cache);
      }
      return cache.get();
    },
  };
}

export type UpstreamAuthorizations = ReturnType<typeof upstreamAuthorizations>;
