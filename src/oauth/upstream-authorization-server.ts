/**
 * The upstream authorization server of an interactive `oauth2` server: configured
 * (`authorization_url`, `token_url`, `registration_url`, `revocation_url`), discovered from the configured
 * `issuer` (RFC 8414 / OpenID discovery), or discovered from the upstream's own metadata,
 * RFC 9728 (protected resource, at the URL its 401 names or the well-known ones) then
 * RFC 8414, else the MCP 2025-03-26 way (the MCP origin's RFC 8414 metadata, else its
 * default endpoints), all through oauth4webapi and the gateway's
 * one metadata discovery (single flight, a timeout per request, an hour's cache).
 *
 * A configured client_secret goes only to a token endpoint the operator named: `token_url`,
 * or the one in the metadata of the configured `issuer` (issue 15 item 8: an upstream's
 * RFC 9728 document named another internal host, which then received the secret). The
 * config schema refuses a secret without either; this file refuses it again, in case a
 * server reached here some other way.
 */
import type * as oauth from "oauth4webapi";
import type { MetadataDiscovery } from "../auth/upstream/metadata-discovery.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { SECRET_NEEDS_NAMED_ENDPOINT } from "../config/schema.js";
import { parseBearerChallenge } from "../auth/upstream/scope-challenges.js";
import { challengeMetadataUrl } from "./resource-metadata-challenge.js";
import { oauthError } from "./oauth-error.js";

export interface UpstreamAuthorization {
  as: oauth.AuthorizationServer;
  /** RFC 8707 resource of the upstream MCP server: the audience its tokens must carry. */
  resource: string;
  scopes: string[];
  /** The `scope` of the upstream's 401 challenge to a request without a token (the spec's first choice of scope). */
  challengeScopes: string[];
}

/** RFC 9728 metadata of the upstream MCP server, or undefined when neither form publishes it (or no answer came). */
export async function discoverResource(discovery: MetadataDiscovery, upstream: URL, maxAgeMs?: number): Promise<oauth.ResourceServer | undefined> {
  // The resource identifier is the MCP endpoint; some servers publish their origin instead.
  for (const candidate of [upstream, new URL(upstream.origin)]) {
    const found = await discovery.protectedResource(candidate, maxAgeMs === undefined ? {} : { maxAgeMs });
    if (found.status === "found") return found.metadata;
  }
  return undefined;
}

/**
 * RFC 9728 metadata of the upstream MCP server as an MCP client finds it: at the URL its
 * 401 challenge names (§5.1; issue 18: only the well-known URLs were tried), else at the
 * well-known URLs. The named document must describe the upstream (its `resource`, §3.3).
 */
async function discoverUpstreamResource(discovery: MetadataDiscovery, upstream: URL): Promise<{ metadata: oauth.ResourceServer | undefined; challengeScopes: string[] }> {
  const challenge = await discovery.upstreamChallenge(upstream);
  const challengeScopes = challenge.status === "found" ? (parseBearerChallenge(challenge.metadata)?.scope ?? []) : [];
  const named = challenge.status === "found" ? challengeMetadataUrl(challenge.metadata) : undefined;
  if (named !== undefined && URL.canParse(named)) {
    for (const candidate of [upstream, new URL(upstream.origin)]) {
      const found = await discovery.protectedResourceAt(new URL(named), candidate);
      if (found.status === "found") return { metadata: found.metadata, challengeScopes };
    }
  }
  return { metadata: await discoverResource(discovery, upstream), challengeScopes };
}

/**
 * An upstream without RFC 9728 metadata, the MCP 2025-03-26 way: the authorization server
 * is the MCP server's origin, with the RFC 8414 metadata at its root (whose issuer may have a
 * path on that origin, as servers of that era publish it), or without metadata the default
 * endpoints `/authorize`, `/token` and `/register` there. The defaults apply only when the
 * origin answered without metadata, never when it did not answer.
 */
async function legacyAuthorizationServer(discovery: MetadataDiscovery, upstream: URL): Promise<oauth.AuthorizationServer | undefined> {
  const origin = new URL(upstream.origin);
  const found = await discovery.legacyAuthorizationServer(origin);
  if (found.status === "found") return found.metadata;
  if (found.status === "failed") return undefined;
  return {
    issuer: origin.origin,
    authorization_endpoint: new URL("/authorize", origin).href,
    token_endpoint: new URL("/token", origin).href,
    registration_endpoint: new URL("/register", origin).href,
  };
}

/** RFC 8414 (then OpenID) metadata of `issuer`; oauth4webapi refuses a document naming another issuer (RFC 8414 §3.3). */
async function discoverAuthorizationServer(discovery: MetadataDiscovery, issuer: URL): Promise<oauth.AuthorizationServer | undefined> {
  for (const algorithm of ["oauth2", "oidc"] as const) {
    const found = await discovery.authorizationServer(issuer, algorithm);
    if (found.status === "found") return found.metadata;
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

export async function resolveUpstreamAuthorization(server: McpServerEntry, discovery: MetadataDiscovery): Promise<UpstreamAuthorization> {
  const config = server.config;
  if (config.client_secret !== undefined && config.token_url === undefined && config.issuer === undefined) {
    throw oauthError("server_error", `MCP server '${server.name}': ${SECRET_NEEDS_NAMED_ENDPOINT}`, 500);
  }
  const { metadata: resourceMetadata, challengeScopes } = await discoverUpstreamResource(discovery, server.url);
  const resource = config.resource ?? resourceMetadata?.resource ?? server.url.href;
  let as: oauth.AuthorizationServer | undefined;
  if (config.authorization_url !== undefined && config.token_url !== undefined) {
    as = {
      issuer: config.issuer ?? new URL(config.authorization_url).origin,
      authorization_endpoint: config.authorization_url,
      token_endpoint: config.token_url,
      ...(config.registration_url === undefined ? {} : { registration_endpoint: config.registration_url }),
      ...(config.revocation_url === undefined ? {} : { revocation_endpoint: config.revocation_url }),
    };
  } else {
    // A configured issuer pins discovery; the upstream's RFC 9728 list is only a fallback for servers without one.
    const issuer = config.issuer ?? resourceMetadata?.authorization_servers?.[0];
    const discovered =
      issuer !== undefined
        ? await discoverAuthorizationServer(discovery, new URL(issuer))
        : resourceMetadata === undefined
          ? await legacyAuthorizationServer(discovery, server.url)
          : undefined;
    if (discovered === undefined) notFound(server);
    as = {
      ...discovered,
      ...(config.authorization_url === undefined ? {} : { authorization_endpoint: config.authorization_url }),
      ...(config.token_url === undefined ? {} : { token_endpoint: config.token_url }),
      ...(config.registration_url === undefined ? {} : { registration_endpoint: config.registration_url }),
      ...(config.revocation_url === undefined ? {} : { revocation_endpoint: config.revocation_url }),
    };
  }
  const scopes = config.scopes ?? resourceMetadata?.scopes_supported ?? [];
  return { as, resource, scopes: [...scopes], challengeScopes };
}

/**
 * The upstream authorization of each interactive server, resolved on demand. Nothing is
 * cached here: the metadata behind it is, in the discovery, so a value resolved while a
 * lookup got no answer (its resource and scopes fallbacks) is never kept.
 */
export function upstreamAuthorizations(discovery: MetadataDiscovery) {
  return {
    get(server: McpServerEntry): Promise<UpstreamAuthorization> {
      return resolveUpstreamAuthorization(server, discovery);
    },
  };
}

export type UpstreamAuthorizations = ReturnType<typeof upstreamAuthorizations>;
