/**
 * Per-user upstream tokens: stored sealed for (server, user) when a user connects, used
 * for that user's calls that carry no upstream bearer, and refreshed with the refresh
 * token before they expire, single-flight per (server, user) so a rotating refresh token
 * is never spent twice (Obot #7501). A refresh token the upstream refuses (`invalid_grant`)
 * deletes the stored tokens: the user has to connect again, and is told so.
 */
import * as oauth from "oauth4webapi";
import type { UserTokenSource } from "../auth/upstream/oauth2-interactive.js";
import { isGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { OauthRepository, StoredUserToken } from "../store/oauth-repository.js";
import { toStoredToken } from "./token.js";
import { refreshAtUpstream } from "./upstream-refresh.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";
import type { TokenEvents } from "../observability/metrics.js";

/** Refresh this long before expiry, so no call is sent with a token about to lapse. */
const REFRESH_MARGIN_MS = 60_000;

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

  async function refresh(serverId: string, user: string, seen: StoredUserToken): Promise<string | undefined> {
    // Read again: a caller that read before the last refresh was saved must not spend the old refresh token again.
    const stored = await deps.repo.getUserToken(serverId, user);
    if (stored === undefined) return undefined;
    if (stored.access_token !== seen.access_token && isFresh(stored)) return stored.access_token;
    const server = deps.snapshot().byIdOrName(serverId);
    const client = await deps.repo.getClient(stored.clientId);
    if (server === undefined || client === undefined || stored.refresh_token === undefined) return undefined;
    try {
      const token = await refreshAtUpstream(deps.upstreams, server, client, stored.refresh_token, deps.events);
      await deps.repo.saveUserToken(serverId, user, toStoredToken(token, stored.clientId, now(), server.config.token_storage_ttl_seconds, stored.refresh_token));
      deps.log.debug({ server: server.name, user }, "refreshed a per-user upstream token");
      return token.access_token;
    } catch (error) {
      // A refused refresh token, or a new token that no longer passes token_validation: the user must connect again.
      if ((error instanceof oauth.ResponseBodyError && error.error === "invalid_grant") || (isGatewayError(error) && error.code === "token_validation_failed")) {
        deps.log.info({ server: server.name, user, reason: error instanceof oauth.ResponseBodyError ? error.error : "token_validation_failed" }, "a per-user token cannot be refreshed; the user must connect again");
        await deps.repo.deleteUserToken(serverId, user);
        return undefined;
      }
      deps.log.warn({ server: server.name, user, err: error instanceof Error ? error.message : String(error) }, "refreshing a per-user upstream token failed");
      // Still valid for a moment: better the current token than none.
      return stored.expiresAt !== undefined && stored.expiresAt > now() ? stored.access_token : undefined;
    }
  }

  return {
    async accessToken(serverId, user) {
      const stored = await deps.repo.getUserToken(serverId, user);
      if (stored === undefined) return undefined;
      if (stored.expiresAt === undefined || isFresh(stored)) return stored.access_token;
      if (stored.refresh_token === undefined) return stored.expiresAt > now() ? stored.access_token : undefined;
      const key = `${serverId}\n${user}`;
      let pending = refreshing.get(key);
      if (pending === undefined) {
        pending = refresh(serverId, user, stored).finally(() => refreshing.delete(key));
        refreshing.set(key, pending);
      }
      return pending;
    },
    forget: (serverId, user) => deps.repo.deleteUserToken(serverId, user),
  };
}
