/**
 * The OAuth facade toward MCP clients: discovery documents, dynamic
 * registration, authorize (+ consent), token, and the upstream's `/callback`. Anyone may
 * call these; a gateway key is only read at /token, to store the tokens for its user.
 */
import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import { clientAddress, type CallerNetwork } from "../../auth/inbound/client-address.js";
import { extractGatewayKey } from "../../auth/inbound/gateway-key.js";
import { GatewayError } from "../../errors.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import type { Authorize } from "../../oauth/authorize.js";
import { handleCallback, type CallbackDeps } from "../../oauth/callback.js";
import { GATEWAY_CLIENT_METADATA_PATH, gatewayClientMetadata } from "../../oauth/gateway-client-metadata.js";
import { isInteractive } from "../../oauth/gateway-issuer.js";
import type { DelegatedResourceMetadata } from "../../oauth/delegated-resource-metadata.js";
import { authorizationServerMetadata, gatewayResourceUrl, protectedResourceMetadata, type McpPathForm } from "../../oauth/metadata.js";
import { oauthError } from "../../oauth/oauth-error.js";
import { publicOrigin, type OriginSettings } from "../../oauth/public-origin.js";
import { registerClient, REGISTRATION_BODY_LIMIT_BYTES, type RegistrationDeps } from "../../oauth/register.js";
import type { AddressRateLimit } from "../../oauth/address-rate-limit.js";
import { NO_STORE, type TokenEndpoint } from "../../oauth/token.js";
import type { UpstreamAuthorizations } from "../../oauth/upstream-authorization-server.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { McpServerEntry } from "../../registry/server-entry.js";
import { exchangeOf, type AppEnv } from "../env.js";
import { peerAddress } from "../middleware/authenticate.js";
import { readBody, readJson } from "../read-body.js";

export interface OauthRouteDeps {
  registry: ServerRegistry;
  keys: KeyResolver;
  origin: OriginSettings;
  network: CallerNetwork;
  delegated: DelegatedResourceMetadata;
  upstreams: UpstreamAuthorizations;
  registration: RegistrationDeps;
  /** Per client address, for the anonymous POST /{server}/register. */
  registrationLimit: AddressRateLimit;
  authorize: Authorize;
  token: TokenEndpoint;
  callback: CallbackDeps;
  maxBodyBytes: number;
  /** Client ID Metadata Documents are accepted (advertised in RFC 8414 metadata). */
  clientMetadataDocuments?: boolean;
}

/** A registration body: at most REGISTRATION_BODY_LIMIT_BYTES (or max_request_body_bytes when that is less). */
export async function readRegistration(request: Request, maxBodyBytes: number): Promise<unknown> {
  if (maxBodyBytes <= REGISTRATION_BODY_LIMIT_BYTES) return readJson(request, maxBodyBytes);
  try {
    return await readJson(request, REGISTRATION_BODY_LIMIT_BYTES);
  } catch (error) {
    if (error instanceof GatewayError && error.status === 413) {
      // The gateway's one code for a body over a limit, here with the registration's own limit.
      throw oauthError("request_too_large", `the client metadata is larger than ${REGISTRATION_BODY_LIMIT_BYTES} bytes, the most a registration may send`, 413);
    }
    throw error;
  }
}

/** The caller's address for the per-address limits: trusted X-Forwarded-For only, else the peer ("unknown" when neither is known). */
export function callerAddress(origin: OriginSettings, c: Context<AppEnv>): string {
  return clientAddress(origin, peerAddress(c), c.req.raw.headers) ?? "unknown";
}

/** Counts a registration from the client's address (trusted X-Forwarded-For only), or refuses it 429 past the limit. */
export function admitRegistration(limit: AddressRateLimit, origin: OriginSettings, c: Context<AppEnv>): void {
  const verdict = limit.take(callerAddress(origin, c));
  if (verdict.allowed) return;
  throw new GatewayError({
    status: 429,
    // RFC 6749 §4.1.2.1's code for a server that cannot take the request now; the body is RFC 7591 §3.2.2 shaped.
    code: "temporarily_unavailable",
    message: `too many client registrations from this address; try again in ${verdict.retryAfterSeconds} s (general_settings.oauth_registration_rate_limit_per_minute)`,
    headers: { "retry-after": String(verdict.retryAfterSeconds) },
  });
}

/** The origin the client used, by the seed's rules (PROXY_BASE_URL, trusted X-Forwarded-*, the request). */
export function requestOrigin(settings: OriginSettings, c: Context<AppEnv>): string {
  return publicOrigin(settings, { url: c.req.url, headers: c.req.raw.headers, peer: peerAddress(c) });
}

export function oauthRoutes(deps: OauthRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const oauthErrors = createMiddleware<AppEnv>(async (c, next) => {
    c.set("errorStyle", "oauth");
    await next();
  });

  /** An interactive server this caller may see: internal-only servers do not exist for callers outside the internal ranges. */
  function server(c: Context<AppEnv>, name: string): McpServerEntry {
    const entry = deps.registry.current().servers.get(name);
    const hidden = entry?.internalOnly === true && deps.network.fromPublicInternet(peerAddress(c), c.req.raw.headers);
    if (entry === undefined || hidden || !isInteractive(entry)) throw oauthError("invalid_request", `no MCP server named '${name}' uses interactive OAuth at this gateway`, 404);
    return entry;
  }

  const prm = (form: McpPathForm) => async (c: Context<AppEnv>) => {
    const entry = server(c, c.req.param("server")!);
    const origin = requestOrigin(deps.origin, c);
    const document = entry.kind === "delegated"
      ? await deps.delegated.document(entry, gatewayResourceUrl(origin, entry, form))
      : await protectedResourceMetadata(origin, entry, form, deps.upstreams);
    return c.json(document, 200, { "access-control-allow-origin": "*" });
  };
  app.get("/.well-known/oauth-protected-resource/:server/mcp", oauthErrors, prm("server-first"));
  app.get("/.well-known/oauth-protected-resource/mcp/:server", oauthErrors, prm("mcp-first"));
  // The aggregate /mcp relays a delegating server's challenge pointing here (aggregateResourceMetadataUrl).
  app.get("/.well-known/oauth-protected-resource/mcp", oauthErrors, async (c) => {
    const name = c.req.query("server") ?? "";
    const entry = server(c, name);
    if (entry.kind !== "delegated") throw oauthError("invalid_request", `MCP server '${name}' does not delegate auth upstream; its metadata is at /.well-known/oauth-protected-resource/${name}/mcp`, 404);
    const document = await deps.delegated.document(entry, `${requestOrigin(deps.origin, c)}/mcp`);
    return c.json(document, 200, { "access-control-allow-origin": "*" });
  });

  const asMetadata = async (c: Context<AppEnv>) => {
    const entry = server(c, c.req.param("server")!);
    return c.json(await authorizationServerMetadata(requestOrigin(deps.origin, c), entry, deps.upstreams, deps.clientMetadataDocuments === true), 200, { "access-control-allow-origin": "*" });
  };
  // RFC 8414 §3.1 path insertion, the OpenID alias, and OpenID's path appending.
  app.get("/.well-known/oauth-authorization-server/:server", oauthErrors, asMetadata);
  app.get("/.well-known/openid-configuration/:server", oauthErrors, asMetadata);
  app.get("/:server/.well-known/openid-configuration", oauthErrors, asMetadata);
  app.get("/:server/.well-known/oauth-authorization-server", oauthErrors, asMetadata);

  // The gateway's own Client ID Metadata Document, fetched by upstream authorization servers (gateway-client-metadata.ts).
  app.get(GATEWAY_CLIENT_METADATA_PATH, (c) => c.json(gatewayClientMetadata(requestOrigin(deps.origin, c)), 200, { "cache-control": "public, max-age=300" }));

  app.post("/:server/register", oauthErrors, async (c) => {
    const entry = server(c, c.req.param("server"));
    admitRegistration(deps.registrationLimit, deps.origin, c);
    const registered = await registerClient(deps.registration, entry, await readRegistration(c.req.raw, deps.maxBodyBytes));
    return c.json(registered, 201, NO_STORE);
  });

  app.get("/:server/authorize", oauthErrors, async (c) => {
    const origin = requestOrigin(deps.origin, c);
    return deps.authorize.request(server(c, c.req.param("server")), origin, new URL(c.req.url).searchParams, origin.startsWith("https:"), callerAddress(deps.origin, c), undefined, exchangeOf(c)?.requestId);
  });
  app.post("/:server/authorize", oauthErrors, async (c) => {
    const form = new URLSearchParams(await readBody(c.req.raw, deps.maxBodyBytes));
    return deps.authorize.consent(server(c, c.req.param("server")), requestOrigin(deps.origin, c), form, c.req.raw.headers, callerAddress(deps.origin, c), undefined, exchangeOf(c)?.requestId);
  });

  app.post("/:server/token", oauthErrors, async (c) => {
    const entry = server(c, c.req.param("server"));
    const type = c.req.header("content-type") ?? "";
    if (!type.includes("application/x-www-form-urlencoded")) throw oauthError("invalid_request", "the token request must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)");
    const form = new URLSearchParams(await readBody(c.req.raw, deps.maxBodyBytes));
    // A gateway key is optional here; when present it must be valid, and the tokens are stored for its user.
    const presented = extractGatewayKey(c.req.raw.headers);
    const caller = presented === undefined ? undefined : await deps.keys.resolve(presented.key);
    if (presented !== undefined && caller === undefined) throw oauthError("invalid_client", "the gateway key sent with this token request is invalid", 401);
    return c.json(await deps.token.exchange(entry, form, caller, { origin: requestOrigin(deps.origin, c), address: callerAddress(deps.origin, c) }), 200, NO_STORE);
  });

  app.get("/callback", async (c) => handleCallback(deps.callback, deps.registry.current(), new URL(c.req.url).searchParams, c.req.raw.headers, exchangeOf(c)?.requestId));
  return app;
}
