/**
 * State of the interactive OAuth flow, shared by every gateway instance: registered MCP
 * clients, pending authorizations (keyed by the state sent upstream), the gateway's
 * authorization codes, and per-user upstream tokens. Secrets inside are sealed with the
 * SecretBox; states and codes are stored as SHA-256 hashes. Pending records are
 * single-use: `consume` marks one used atomically, so a replay finds it used.
 */
import { createHash } from "node:crypto";
import type { Db } from "./schema.js";
import type { SecretBox } from "./secret-box.js";

export interface StoredClient {
  clientId: string;
  serverId: string;
  metadata: Record<string, unknown>;
  /** The upstream's own client credentials, when the upstream registered this client (RFC 7591 forwarding). */
  upstreamCredentials: { client_id: string; client_secret?: string; token_endpoint_auth_method?: string } | null;
}

export interface StoredUserToken {
  /** The gateway client whose upstream credentials refresh this token. */
  clientId: string;
  access_token: string;
  refresh_token?: string;
  token_type?: string;
  scope?: string;
  /** Epoch ms, or undefined when the token did not say. */
  expiresAt?: number;
}

export interface UserTokenRecord {
  token: StoredUserToken;
  version: number;
  /** ISO time until which an instance is refreshing this token. */
  leaseUntil: string | undefined;
}

export type SingleUseKind = "flow" | "code";

export type ConsumeResult<T> = { status: "ok"; serverId: string; payload: T } | { status: "unknown" | "expired" | "used" };

const sha256 = (value: string) => createHash("sha256").update(value, "utf8").digest("hex");

export function oauthRepository(db: Db, box: SecretBox, now: () => Date = () => new Date()) {
  const userTokenValues = (serverId: string, userId: string, token: StoredUserToken) => ({
    sealed: box.seal(JSON.stringify(token), `user_tokens/${serverId}/${userId}`),
    expires_at: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
    updated_at: now().toISOString(),
  });
  const table = (kind: SingleUseKind) => (kind === "flow" ? "oauth_flows" : "oauth_codes") as "oauth_flows";
  const keyColumn = (kind: SingleUseKind) => (kind === "flow" ? "state_hash" : "code_hash") as "state_hash";

  return {
    async saveClient(client: StoredClient): Promise<void> {
      await db
        .insertInto("oauth_clients")
        .values({
          client_id: client.clientId,
          server_id: client.serverId,
          metadata: JSON.stringify(client.metadata),
          upstream_credentials:
            client.upstreamCredentials === null ? null : box.seal(JSON.stringify(client.upstreamCredentials), `oauth_clients/${client.clientId}`),
          created_at: now().toISOString(),
        })
        .execute();
    },

    async getClient(clientId: string): Promise<StoredClient | undefined> {
      const row = await db.selectFrom("oauth_clients").selectAll().where("client_id", "=", clientId).executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        clientId: row.client_id,
        serverId: row.server_id,
        metadata: JSON.parse(row.metadata) as Record<string, unknown>,
        upstreamCredentials:
          row.upstream_credentials === null ? null : (JSON.parse(box.open(row.upstream_credentials, `oauth_clients/${row.client_id}`)) as StoredClient["upstreamCredentials"]),
      };
    },

    /** Stores a single-use record under the hash of `key` (a state or a code), sealed and bound to it. */
    async putSingleUse(kind: SingleUseKind, key: string, serverId: string, payload: unknown, ttlMs: number): Promise<void> {
      const hash = sha256(key);
      await db
        .insertInto(table(kind))
        .values({
          [keyColumn(kind)]: hash,
          server_id: serverId,
          sealed: box.seal(JSON.stringify(payload), `${table(kind)}/${hash}`),
          expires_at: new Date(now().getTime() + ttlMs).toISOString(),
          consumed_at: null,
        } as never)
        .execute();
    },

    /** Marks the record used and returns it, once; later calls see "used". */
    async consume<T>(kind: SingleUseKind, key: string): Promise<ConsumeResult<T>> {
      const hash = sha256(key);
      const at = now().toISOString();
      const claimed = await db
        .updateTable(table(kind))
        .set({ consumed_at: at })
        .where(keyColumn(kind), "=", hash)
        .where("consumed_at", "is", null)
        .executeTakeFirst();
      const row = await db.selectFrom(table(kind)).selectAll().where(keyColumn(kind), "=", hash).executeTakeFirst();
      if (row === undefined) return { status: "unknown" };
      if (Number(claimed.numUpdatedRows) === 0) return { status: "used" };
      if (row.expires_at <= at) return { status: "expired" };
      return { status: "ok", serverId: row.server_id, payload: JSON.parse(box.open(row.sealed, `${table(kind)}/${hash}`)) as T };
    },

    /** A new connection's token: replaces whatever was stored (and any refresh in progress). */
    async saveUserToken(serverId: string, userId: string, token: StoredUserToken): Promise<void> {
      const values = userTokenValues(serverId, userId, token);
      await db
        .insertInto("user_tokens")
        .values({ server_id: serverId, user_id: userId, ...values })
        .onConflict((conflict) => conflict.columns(["server_id", "user_id"]).doUpdateSet({ ...values, version: (eb) => eb("user_tokens.version", "+", 1), refresh_lease_until: null }))
        .execute();
    },

    async getUserToken(serverId: string, userId: string): Promise<StoredUserToken | undefined> {
      return (await this.getUserTokenRecord(serverId, userId))?.token;
    },

    /** The token with its version (for the compare-and-set writes below) and refresh lease. */
    async getUserTokenRecord(serverId: string, userId: string): Promise<UserTokenRecord | undefined> {
      const row = await db
        .selectFrom("user_tokens")
        .select(["sealed", "version", "refresh_lease_until"])
        .where("server_id", "=", serverId)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return { token: JSON.parse(box.open(row.sealed, `user_tokens/${serverId}/${userId}`)) as StoredUserToken, version: Number(row.version), leaseUntil: row.refresh_lease_until ?? undefined };
    },

    /** Takes the refresh lease of this version until `until`, unless another instance holds it: true when taken. */
    async claimRefresh(serverId: string, userId: string, version: number, until: Date): Promise<boolean> {
      const result = await db
        .updateTable("user_tokens")
        .set({ refresh_lease_until: until.toISOString() })
        .where("server_id", "=", serverId)
        .where("user_id", "=", userId)
        .where("version", "=", version)
        .where((eb) => eb.or([eb("refresh_lease_until", "is", null), eb("refresh_lease_until", "<", now().toISOString())]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /** Stores the refreshed token over `version` and ends the lease: false when the row changed meanwhile (a new connection). */
    async saveRefreshedUserToken(serverId: string, userId: string, version: number, token: StoredUserToken): Promise<boolean> {
      const result = await db
        .updateTable("user_tokens")
        .set({ ...userTokenValues(serverId, userId, token), version: version + 1, refresh_lease_until: null })
        .where("server_id", "=", serverId)
        .where("user_id", "=", userId)
        .where("version", "=", version)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    },

    /** Ends a lease without a new token (the refresh failed for a passing reason). */
    async releaseRefresh(serverId: string, userId: string, version: number): Promise<void> {
      await db.updateTable("user_tokens").set({ refresh_lease_until: null }).where("server_id", "=", serverId).where("user_id", "=", userId).where("version", "=", version).execute();
    },

    /** Deletes the token, or only `version` of it (a refused refresh must not delete a token saved since). */
    async deleteUserToken(serverId: string, userId: string, version?: number): Promise<void> {
      let remove = db.deleteFrom("user_tokens").where("server_id", "=", serverId).where("user_id", "=", userId);
      if (version !== undefined) remove = remove.where("version", "=", version);
      await remove.execute();
    },

    /** Drops pending records past their expiry (run now and then; expiry is also checked on use). */
    async purgeExpired(): Promise<void> {
      const at = now().toISOString();
      await db.deleteFrom("oauth_flows").where("expires_at", "<", at).execute();
      await db.deleteFrom("oauth_codes").where("expires_at", "<", at).execute();
    },
  };
}

export type OauthRepository = ReturnType<typeof oauthRepository>;
