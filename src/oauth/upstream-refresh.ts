/**
 * The refresh_token grant at the upstream authorization server (RFC 6749 §6), for a
 * client's /token request and for the per-user token store alike: same client
 * credentials, same RFC 8707 resource, same `token_validation` rules.
 */
import * as oauth from "oauth4webapi";
import { allowHttp } from "../auth/upstream/allow-http.js";
import type { TokenEvents } from "../observability/metrics.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { StoredClient } from "../store/oauth-repository.js";
import { upstreamClientFor } from "./gateway-issuer.js";
import { validateTokenResponse } from "./token-validation.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

/** Throws oauth4webapi's errors for the upstream's refusals, and `token_validation_failed`. */
export async function refreshAtUpstream(
  upstreams: UpstreamAuthorizations,
  server: McpServerEntry,
  client: StoredClient,
  refreshToken: string,
  events?: TokenEvents,
): Promise<oauth.TokenEndpointResponse> {
  const upstream = await upstreams.get(server);
  const { client: upstreamClient, auth } = upstreamClientFor(server, client, upstream.as);
  let token: oauth.TokenEndpointResponse;
  try {
    const response = await oauth.refreshTokenGrantRequest(upstream.as, upstreamClient, auth, refreshToken, {
      additionalParameters: { resource: upstream.resource },
      signal: AbortSignal.timeout(server.timeoutMs),
      ...allowHttp(upstream.as.token_endpoint!),
    });
    token = await oauth.processRefreshTokenResponse(upstream.as, upstreamClient, response);
    events?.tokenRequest(server.name, "refresh", "ok");
  } catch (error) {
    events?.tokenRequest(server.name, "refresh", "error");
    throw error;
  }
  validateTokenResponse(server.config.token_validation, token as unknown as Record<string, unknown>);
  return token;
}
