/**
 * "My connections" (issue 20): the per-user upstream tokens of one user (the caller's
 * user key, `callerUserKey`: a virtual key's own, or its `user_id`'s), listed without the
 * tokens, and disconnected: revoked at the upstream when it offers RFC 7009, then deleted
 * here whatever the upstream answered, so a user can always take back what they granted.
 */
import { callerUserKey, canUseServer, type Caller } from "../auth/inbound/caller.js";
import type { Logger } from "../log.js";
import type { AuditTrail } from "../observability/audit.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { OauthRepository, UserConnection } from "../store/oauth-repository.js";
import { isInteractive } from "./gateway-issuer.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";
import { revokeAtUpstream, type Revocation } from "./upstream-revocation.js";

/** One row of the page: a server the caller may connect, or one it holds tokens for. */
export interface ConnectionRow {
  serverId: string;
  serverName: string;
  /** The caller may use the server (connect, reconnect); false for tokens left from a server since removed or closed to it. */
  available: boolean;
  connection?: UserConnection;
}

export type Disconnection = { status: "not_connected" } | ({ serverId: string; serverName: string } & Revocation);

export function userConnections(deps: { repo: OauthRepository; upstreams: UpstreamAuthorizations; log: Logger; audit?: Pick<AuditTrail, "record"> }) {
  return {
    /** Every interactive server the caller may use, and every server it holds tokens for, by name. */
    async list(snapshot: RegistrySnapshot, caller: Caller): Promise<ConnectionRow[]> {
      const stored = new Map((await deps.repo.listUserConnections(callerUserKey(caller))).map((connection) => [connection.serverId, connection]));
      const rows: ConnectionRow[] = [...snapshot.servers.values()]
        .filter((server) => isInteractive(server) && canUseServer(caller, server))
        .map((server) => ({ serverId: server.id, serverName: server.name, available: true, ...(stored.has(server.id) ? { connection: stored.get(server.id)! } : {}) }));
      const listed = new Set(rows.map((row) => row.serverId));
      for (const [serverId, connection] of stored) {
        if (!listed.has(serverId)) rows.push({ serverId, serverName: snapshot.byIdOrName(serverId)?.name ?? serverId, available: false, connection });
      }
      return rows.sort((a, b) => a.serverName.localeCompare(b.serverName));
    },

    /** Per server, how many users hold tokens (the master key's overview). */
    async counts(snapshot: RegistrySnapshot): Promise<Array<{ serverId: string; serverName: string; users: number }>> {
      return (await deps.repo.countUserConnections()).map((row) => ({ ...row, serverName: snapshot.byIdOrName(row.serverId)?.name ?? row.serverId }));
    },

    /**
     * Revokes (when offered) and deletes the caller's tokens for `server` (an id or name).
     * Only the caller's own row is read or deleted: naming another user's server finds nothing.
     */
    async disconnect(snapshot: RegistrySnapshot, caller: Caller, server: string, requestId?: string): Promise<Disconnection> {
      const user = callerUserKey(caller);
      const entry = snapshot.byIdOrName(server);
      const serverId = entry?.id ?? server;
      const record = await deps.repo.getUserTokenRecord(serverId, user);
      if (record === undefined) return { status: "not_connected" };
      const serverName = entry?.name ?? serverId;
      const revocation: Revocation =
        entry === undefined ? { status: "not_offered", reason: "the server was removed from the gateway" } : await revokeAtUpstream(deps.upstreams, entry, await deps.repo.getClient(record.token.clientId), record.token);
      await deps.repo.deleteUserToken(serverId, user);
      const line = { server: serverName, user, request_id: requestId, revocation: revocation.status, ...(revocation.status === "revoked" ? {} : { reason: revocation.reason }) };
      if (revocation.status === "failed") deps.log.warn(line, "disconnected a per-user upstream connection, but the authorization server did not confirm the revocation: the user may revoke the grant there");
      else deps.log.info(line, "disconnected a per-user upstream connection");
      deps.audit?.record({
        requestId,
        caller,
        route: "connections",
        server: serverName,
        tool: "",
        outcome: "disconnected",
        ...(revocation.status === "revoked" ? {} : { errorCode: `revocation_${revocation.status}` }),
        durationMs: 0,
      });
      return { serverId, serverName, ...revocation };
    },
  };
}

export type UserConnections = ReturnType<typeof userConnections>;
