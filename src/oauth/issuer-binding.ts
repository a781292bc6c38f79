/**
 * Credentials bound to the authorization server that issued them (MCP authorization 2026-07-28,
 * "Authorization Server Binding"). The gateway's own upstream registration and every stored
 * refresh token record the `issuer` they came from; when the upstream's authorization server
 * changes (its RFC 9728 document names another), they are never sent to the new one: the
 * gateway registers again there, and the user connects again.
 *
 * Records made before the binding existed carry no issuer. They are trusted only when the
 * operator named the authorization server (`issuer` or `token_url` in the config), as a
 * configured client_secret is (upstream-authorization-server.ts); a discovered one must
 * earn them again.
 */
import type * as oauth from "oauth4webapi";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { StoredClient, StoredUserToken } from "../store/oauth-repository.js";
import { upstreamClientFor, type UpstreamClient } from "./gateway-issuer.js";
import { oauthError } from "./oauth-error.js";

function operatorNamed(server: McpServerEntry): boolean {
  return server.config.issuer !== undefined || server.config.token_url !== undefined;
}

/** Whether something recorded as issued by `recorded` may be sent to the authorization server `as`. */
export function boundTo(server: McpServerEntry, recorded: string | undefined, as: oauth.AuthorizationServer): boolean {
  return recorded === undefined ? operatorNamed(server) : recorded === as.issuer;
}

/** The gateway's own upstream registration for this client, if it is bound to `as` (a shared, configured client always is). */
export function registrationBoundTo(server: McpServerEntry, client: StoredClient, as: oauth.AuthorizationServer): boolean {
  return client.upstreamCredentials === null || boundTo(server, client.upstreamCredentials.issuer, as);
}

/**
 * The client the gateway is at `as`: refused (invalid_grant, so the MCP client authorizes
 * again and the gateway registers there) when its registration came from another issuer.
 */
export function upstreamClientAt(server: McpServerEntry, client: StoredClient, as: oauth.AuthorizationServer): UpstreamClient {
  if (!registrationBoundTo(server, client, as)) {
    throw oauthError(
      "invalid_grant",
      `the authorization server of MCP server '${server.name}' is now ${as.issuer}, not the one the gateway registered with (${client.upstreamCredentials?.issuer ?? "unrecorded"}); authorize again`,
    );
  }
  return upstreamClientFor(server, client, as);
}

/** A stored user token may be refreshed only at the authorization server that issued it. */
export function assertTokenBoundTo(server: McpServerEntry, token: StoredUserToken, as: oauth.AuthorizationServer): void {
  if (!boundTo(server, token.issuer, as)) {
    throw oauthError(
      "invalid_grant",
      `the authorization server of MCP server '${server.name}' is now ${as.issuer}, not the one that issued this user's tokens (${token.issuer ?? "unrecorded"}); connect again`,
    );
  }
}
