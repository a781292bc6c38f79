/**
 * The refresh_token grant at the upstream authorization server (RFC 6749 §6), for a
 * client's /token request and for the per-user token store alike: same client
 * credentials, same RFC 8707 resource, same `token_validation` rules.
 */
import * as oauth from "oauth4webapi";
import { allowHttp } from "../auth/upstream/allow-http.js";
import type { TokenEvents } from "../observability/metrics.js";
import { traced } from "../observability/tracing.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { StoredClient, StoredUserToken } from "../store/oauth-repository.js";
import { assertTokenBoundTo, upstreamClientAt } from "./issuer-binding.js";
import { validateTokenResponse } from "./token-validation.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

/**
 * Throws oauth4webapi's errors for the upstream's refusals, `token_validation_failed`, and
 * `invalid_grant` when the client's registration or the stored token (`stored`, for the
 * per-user store) came from another issuer than the authorization server's now
 * (issuer-binding.ts): the refresh token is then sent nowhere. Answers the issuer too.
 */
export function refreshAtUpstream(
  upstreams: UpstreamAuthorizations,
  server: McpServerEntry,
  client: StoredClient,
  refreshToken: string,
  events?: TokenEvents,
  stored?: StoredUserToken,
): Promise<{ token: oauth.TokenEndpointResponse; issuer: string }> {
  return traced("upstream token refresh_token", { "gatehouse.server": server.name, "oauth.grant_type": "refresh_token" }, () =>
    refresh(upstreams, server, client, refreshToken, events, stored),
  );
}

async function refresh(
  upstreams: UpstreamAuthorizations,
  server: McpServerEntry,
  client: StoredClient,
  refreshToken: string,
  events?: TokenEvents,
  stored?: StoredUserToken,
): Promise<{ token: oauth.TokenEndpointResponse; issuer: string }> {
  const upstream = await upstreams.get(server);
  if (stored !== undefined) assertTokenBoundTo(server, stored, upstream.as);
  const { client: upstreamClient, auth } = upstreamClientAt(server, client, upstream.as);
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
  return { token, issuer: upstream.as.issuer };
}
