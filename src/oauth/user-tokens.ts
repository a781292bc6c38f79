/**
 * Per-user upstream tokens: stored sealed for (server, user) when a user connects, used
 * for that user's calls that carry no upstream bearer, and refreshed with the refresh
 * token before they expire, single-flight per (server, user) within an instance and, by a
 * lease on the row, across instances, so a rotating refresh token is never spent twice
 * (Obot #7501). A refresh token the upstream refuses (`invalid_grant`)
 * deletes the stored tokens: the user has to connect again, and is told so.
 */
import { setTimeout as delay } from "node:timers/promises";
import * as oauth from "oauth4webapi";
import type { UserTokenSource } from "../auth/upstream/oauth2-interactive.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { OauthRepository, StoredUserToken } from "../store/oauth-repository.js";
import { toStoredToken } from "./token.js";
import { refreshAtUpstream } from "./upstream-refresh.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";
import type { TokenEvents } from "../observability/metrics.js";
import { AUTHORIZATION_REQUIRED } from "../auth/upstream/oauth2-interactive.js";
import { GatewayError, isGatewayError } from "../errors.js";
import { upstreamClientSecrets as clientSecrets, upstreamReason } from "./upstream-reason.js";

/** The 401 that makes the MCP client sign in again (the MCP route adds the RFC 9728 challenge): never a 500, never a loop. */
function refreshRefused(server: McpServerEntry, code: string): GatewayError {
  return new GatewayError({
    status: 401,
    code: AUTHORIZATION_REQUIRED,
    message:
      `the authorization server of MCP server '${server.name}' refused to refresh your stored token (${code}: it expired or was revoked); it was dropped: ` +
      `sign in again (an MCP client connected to /${server.name}/mcp starts it from the 401 challenge there). ` +
      "Nothing needs changing at the gateway unless this happens at every refresh (then check the refresh token lifetime at that authorization server)",
    extra: { server: server.name },
  });
}



/** Refresh this long before expiry, so no call is sent with a token about to lapse. */
const REFRESH_MARGIN_MS = 60_000;
/** A refresh lease lasts the server's timeout plus this; an instance that died holding one is waited out. */
const LEASE_MARGIN_MS = 5_000;
/** How often an instance waiting for another's refresh reads the row. */
const LEASE_POLL_MS = 50;

export function userTokenStore(deps: {
  repo: OauthRepository;
  upstreams: UpstreamAuthorizations;
  snapshot: () => RegistrySnapshot;
  log: Logger;
  now?: () => number;
  /** Token requests to upstream authorization servers (metrics). */
  events?: TokenEvents;
}): UserTokenSource {
  const now = deps.now ?? Date.now;
  const refreshing = new Map<string, Promise<string | undefined>>();

  const isFresh = (token: StoredUserToken) => token.expiresAt === undefined || token.expiresAt - REFRESH_MARGIN_MS > now();

  /**
   * One refresh across every instance: the one that takes the row's lease asks the
   * upstream; the others wait for the row to change (or the lease to lapse) and use what
   * it saved. A rotating refresh token is never spent twice (Obot #7501), which an
   * authorization server with reuse detection would answer by revoking the grant.
   */
  async function refresh(serverId: string, user: string, seen: StoredUserToken, requestId: string | undefined): Promise<string | undefined> {
    const server = deps.snapshot().byIdOrName(serverId);
    if (server === undefined) return undefined;
    const leaseMs = server.timeoutMs + LEASE_MARGIN_MS;
    const giveUpAt = now() + leaseMs;
    for (;;) {
      // Read again: a caller that read before the last refresh was saved must not spend the old refresh token again.
      const record = await deps.repo.getUserTokenRecord(serverId, user);
      if (record === undefined) return undefined;
      const stored = record.token;
      if (stored.access_token !== seen.access_token && isFresh(stored)) return stored.access_token;
      if (stored.refresh_token === undefined) return stored.expiresAt !== undefined && stored.expiresAt > now() ? stored.access_token : undefined;
      if (await deps.repo.claimRefresh(serverId, user, record.version, new Date(now() + leaseMs))) return refreshHeld(server, serverId, user, record.version, stored, requestId);
      // Another instance is refreshing: its result shows as a new version of the row.
      if (now() >= giveUpAt) return stored.expiresAt !== undefined && stored.expiresAt > now() ? stored.access_token : undefined;
      await delay(LEASE_POLL_MS);
    }
  }

  /** The refresh itself, by the lease holder. */
  async function refreshHeld(server: McpServerEntry, serverId: string, user: string, version: number, stored: StoredUserToken, requestId: string | undefined): Promise<string | undefined> {
    const client = await deps.repo.getClient(stored.clientId);
    if (client === undefined || stored.refresh_token === undefined) {
      await deps.repo.releaseRefresh(serverId, user, version);
      return undefined;
    }
    try {
      const { token, issuer } = await refreshAtUpstream(deps.upstreams, server, client, stored.refresh_token, deps.events, stored);
      const refreshed = toStoredToken(token, stored.clientId, issuer, now(), server.config.token_storage_ttl_seconds, stored.refresh_token);
      const saved = await deps.repo.saveRefreshedUserToken(serverId, user, version, refreshed);
      deps.log.debug({ server: server.name, user, saved }, "refreshed a per-user upstream token");
      return token.access_token;
    } catch (error) {
      // A refused refresh token, a new token that no longer passes token_validation, or one
      // from another authorization server than the upstream's now: the user must connect again.
      if ((error instanceof oauth.ResponseBodyError && error.error === "invalid_grant") || (isGatewayError(error) && (error.code === "token_validation_failed" || error.code === "invalid_grant"))) {
        const reason = error instanceof oauth.ResponseBodyError ? upstreamReason(error, clientSecrets(server, client)) : isGatewayError(error) && error.code === "invalid_grant" ? error.message : "token_validation_failed";
        deps.log.info({ server: server.name, user, request_id: requestId, step: "refresh", reason }, "the authorization server refused to refresh a per-user token; it is dropped and the user must sign in again");
        // Only the version that was refused: a token saved since (the user connected again) stays.
        await deps.repo.deleteUserToken(serverId, user, version);
        throw refreshRefused(server, error instanceof oauth.ResponseBodyError ? "invalid_grant" : isGatewayError(error) ? error.code : "refused");
      }
      await deps.repo.releaseRefresh(serverId, user, version).catch(() => undefined);
      deps.log.warn({ server: server.name, user, request_id: requestId, step: "refresh", err: upstreamReason(error, clientSecrets(server, client)) }, "refreshing a per-user upstream token failed; the current token is used while it lasts");
      // Still valid for a moment: better the current token than none.
      return stored.expiresAt !== undefined && stored.expiresAt > now() ? stored.access_token : undefined;
    }
  }

  return {
    async accessToken(serverId, user, requestId) {
      const stored = await deps.repo.getUserToken(serverId, user);
      if (stored === undefined) return undefined;
      if (stored.expiresAt === undefined || isFresh(stored)) return stored.access_token;
      if (stored.refresh_token === undefined) return stored.expiresAt > now() ? stored.access_token : undefined;
      const key = `${serverId}\n${user}`;
      let pending = refreshing.get(key);
      if (pending === undefined) {
        pending = refresh(serverId, user, stored, requestId).finally(() => refreshing.delete(key));
        refreshing.set(key, pending);
      }
      return pending;
    },
    forget: (serverId, user) => deps.repo.deleteUserToken(serverId, user),
  };
}
