/**
 * State of the interactive OAuth flow, shared by every gateway instance: registered MCP
 * clients, pending authorizations (keyed by the state sent upstream), the gateway's
 * authorization codes, and per-user upstream tokens. Secrets inside are sealed with the
 * SecretBox; states and codes are stored as SHA-256 hashes. Pending records are
 * single-use: `consume` marks one used atomically, so a replay finds it used.
 *
 * A client that never redeemed an authorization code expires `incompleteClientTtlMs` after
 * its registration (issue 15 item 7: anonymous registrations must not pile up): it is
 * unknown from then on, and `purgeExpired` deletes it.
 *
 * The jti of each accepted `private_key_jwt` client assertion is recorded until the
 * assertion expires: `claimAssertionJti` inserts it, and the primary key makes that insert
 * the replay check for every instance at once.
 */
import { createHash } from "node:crypto";
import type { Db } from "./schema.js";
import type { SecretBox } from "./secret-box.js";

export interface StoredClient {
  clientId: string;
  serverId: string;
  metadata: Record<string, unknown>;
  /** The upstream's own client credentials, when the upstream registered this client (RFC 7591 forwarding). */
  upstreamCredentials: UpstreamCredentials | null;
  /** Registered by the gateway's own Connect flow, whose redirect_uri passed the same-origin policy. */
  firstParty?: boolean;
  /** Epoch ms of the first authorization code it redeemed; undefined: never (RFC 9700 §4.11.2: not trusted yet). */
  completedAt?: number;
}

export interface UpstreamCredentials {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method?: string;
  /**
   * The issuer of the authorization server that registered this client (MCP authorization,
   * "Authorization Server Binding"): the credentials go to no other. Absent in records made
   * before the binding existed.
   */
  issuer?: string;
}

export interface OauthRepositoryOptions {
  /** How long a client that never redeemed an authorization code is kept. Default 24 h. */
  incompleteClientTtlMs?: number;
}

export const DEFAULT_INCOMPLETE_CLIENT_TTL_MS = 24 * 3600_000;

export interface StoredUserToken {
  /** The gateway client whose upstream credentials refresh this token. */
  clientId: string;
  access_token: string;
  refresh_token?: string;
  token_type?: string;
  scope?: string;
  /** The issuer of the authorization server that issued these tokens: the refresh token goes to no other. */
  issuer?: string;
  /** Epoch ms, or undefined when the token did not say. */
  expiresAt?: number;
}

export interface UserTokenRecord {
  token: StoredUserToken;
  version: number;
  /** ISO time until which an instance is refreshing this token. */
  leaseUntil: string | undefined;
}

/** What the "My connections" page shows of a stored token: never the tokens themselves. */
export interface UserConnection {
  serverId: string;
  scope?: string;
  /** Epoch ms the access token expires, when the token said. */
  expiresAt?: number;
  hasRefreshToken: boolean;
  /** Epoch ms of the connection (undefined in rows older than migration 016). */
  connectedAt?: number;
  /** Epoch ms of the last refresh, undefined until one. */
  refreshedAt?: number;
}

export type SingleUseKind = "flow" | "code";

export type ConsumeResult<T> = { status: "ok"; serverId: string; payload: T } | { status: "expired"; serverId: string } | { status: "unknown" } | { status: "used" };

const sha256 = (value: string) => createHash("sha256").update(value, "utf8").digest("hex");
/** How often one instance deletes expired jtis while it records new ones. */
const JTI_PRUNE_INTERVAL_MS = 60_000;

export function oauthRepository(db: Db, box: SecretBox, now: () => Date = () => new Date(), options: OauthRepositoryOptions = {}) {
  const incompleteTtlMs = options.incompleteClientTtlMs ?? DEFAULT_INCOMPLETE_CLIENT_TTL_MS;
  /** Clients that never completed a flow and were registered before this are expired. */
  const incompleteCutoff = () => new Date(now().getTime() - incompleteTtlMs).toISOString();
  const sealCredentials = (clientId: string, credentials: UpstreamCredentials) => box.seal(JSON.stringify(credentials), `oauth_clients/${clientId}`);
  const userTokenValues = (serverId: string, userId: string, token: StoredUserToken) => ({
    sealed: box.seal(JSON.stringify(token), `user_tokens/${serverId}/${userId}`),
    expires_at: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
    updated_at: now().toISOString(),
  });
  const table = (kind: SingleUseKind) => (kind === "flow" ? "oauth_flows" : "oauth_codes") as "oauth_flows";
  const keyColumn = (kind: SingleUseKind) => (kind === "flow" ? "state_hash" : "code_hash") as "state_hash";
  let lastJtiPrune = Number.NEGATIVE_INFINITY;

  return {
    async saveClient(client: StoredClient): Promise<void> {
      await db
        .insertInto("oauth_clients")
        .values({
          client_id: client.clientId,
          server_id: client.serverId,
          metadata: JSON.stringify(client.metadata),
          upstream_credentials: client.upstreamCredentials === null ? null : sealCredentials(client.clientId, client.upstreamCredentials),
          created_at: now().toISOString(),
          first_party: client.firstParty === true ? 1 : 0,
        })
        .execute();
    },

    /**
     * A client known by its Client ID Metadata Document: stored on first use (its upstream
     * registration and completion are kept here), its metadata and age refreshed on every use,
     * so a document client in use never expires as an incomplete one.
     */
    async upsertDocumentClient(clientId: string, serverId: string, metadata: Record<string, unknown>): Promise<StoredClient | undefined> {
      const values = { metadata: JSON.stringify(metadata), created_at: now().toISOString() };
      await db
        .insertInto("oauth_clients")
        .values({ client_id: clientId, server_id: serverId, upstream_credentials: null, first_party: 0, ...values })
        .onConflict((conflict) => conflict.column("client_id").doUpdateSet(values))
        .execute();
      return this.getClient(clientId);
    },

    /** The client, unless unknown or expired (registered longer ago than the TTL and never completed a flow). */
    async getClient(clientId: string): Promise<StoredClient | undefined> {
      const row = await db.selectFrom("oauth_clients").selectAll().where("client_id", "=", clientId).executeTakeFirst();
      if (row === undefined) return undefined;
      if (row.completed_at === null && row.created_at < incompleteCutoff()) return undefined;
      return {
        clientId: row.client_id,
        serverId: row.server_id,
        metadata: JSON.parse(row.metadata) as Record<string, unknown>,
        upstreamCredentials:
          row.upstream_credentials === null ? null : (JSON.parse(box.open(row.upstream_credentials, `oauth_clients/${row.client_id}`)) as UpstreamCredentials),
        ...(Number(row.first_party) === 1 ? { firstParty: true } : {}),
        ...(row.completed_at === null ? {} : { completedAt: Date.parse(row.completed_at) }),
      };
    },

    /**
     * Stores the gateway's own upstream registration for this client, unless one is stored
     * already (two first authorizations at once): answers the credentials that are kept.
     */
    async setUpstreamCredentials(clientId: string, credentials: UpstreamCredentials): Promise<UpstreamCredentials | undefined> {
      await db
        .updateTable("oauth_clients")
        .set({ upstream_credentials: sealCredentials(clientId, credentials) })
        .where("client_id", "=", clientId)
        .where("upstream_credentials", "is", null)
        .execute();
      return (await this.getClient(clientId))?.upstreamCredentials ?? undefined;
    },

    /**
     * Replaces credentials that are not bound to `issuer` (the authorization server changed)
     * with `credentials`, registered there; compare-and-set on the stored value, so of two
     * re-registrations at once the first one stored wins and is answered.
     */
    async replaceUnboundUpstreamCredentials(clientId: string, issuer: string, credentials: UpstreamCredentials): Promise<UpstreamCredentials | undefined> {
      const row = await db.selectFrom("oauth_clients").select(["upstream_credentials"]).where("client_id", "=", clientId).executeTakeFirst();
      if (row === undefined) return undefined;
      const stored = row.upstream_credentials === null ? null : (JSON.parse(box.open(row.upstream_credentials, `oauth_clients/${clientId}`)) as UpstreamCredentials);
      if (stored?.issuer === issuer) return stored;
      const update = db.updateTable("oauth_clients").set({ upstream_credentials: sealCredentials(clientId, credentials) }).where("client_id", "=", clientId);
      await (row.upstream_credentials === null ? update.where("upstream_credentials", "is", null) : update.where("upstream_credentials", "=", row.upstream_credentials)).execute();
      return (await this.getClient(clientId))?.upstreamCredentials ?? undefined;
    },

    /** The client redeemed an authorization code: it is trusted with redirects from now on, and kept. */
    async markCompleted(clientId: string): Promise<void> {
      await db.updateTable("oauth_clients").set({ completed_at: now().toISOString() }).where("client_id", "=", clientId).where("completed_at", "is", null).execute();
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
      if (row.expires_at <= at) return { status: "expired", serverId: row.server_id };
      return { status: "ok", serverId: row.server_id, payload: JSON.parse(box.open(row.sealed, `${table(kind)}/${hash}`)) as T };
    },

    /**
     * Records a client assertion's jti until `expiresAtMs`: true the first time, false while
     * any instance has it recorded (a replay). One statement: the primary key decides, and a
     * row left over from an expired assertion is taken over rather than refusing forever.
     */
    async claimAssertionJti(clientId: string, jti: string, expiresAtMs: number): Promise<boolean> {
      const at = now().getTime();
      const result = await db
        .insertInto("oauth_assertion_jtis")
        .values({ jti_hash: sha256(`${clientId}\n${jti}`), expires_at: expiresAtMs })
        .onConflict((conflict) => conflict.column("jti_hash").doUpdateSet({ expires_at: expiresAtMs }).where("oauth_assertion_jtis.expires_at", "<=", at))
        .executeTakeFirst();
      // Expired jtis go now and then, by whichever instance sees a claim first (purgeExpired does it too).
      if (at - lastJtiPrune >= JTI_PRUNE_INTERVAL_MS) {
        lastJtiPrune = at;
        await db.deleteFrom("oauth_assertion_jtis").where("expires_at", "<=", at).execute();
      }
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    /** A new connection's token: replaces whatever was stored (and any refresh in progress). */
    async saveUserToken(serverId: string, userId: string, token: StoredUserToken): Promise<void> {
      const values = { ...userTokenValues(serverId, userId, token), connected_at: now().toISOString(), refreshed_at: null };
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
        .set({ ...userTokenValues(serverId, userId, token), version: version + 1, refresh_lease_until: null, refreshed_at: now().toISOString() })
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

    /** The user's connections, one per server, without their tokens. */
    async listUserConnections(userId: string): Promise<UserConnection[]> {
      const rows = await db
        .selectFrom("user_tokens")
        .select(["server_id", "sealed", "connected_at", "refreshed_at"])
        .where("user_id", "=", userId)
        .orderBy("server_id")
        .execute();
      return rows.map((row) => {
        const token = JSON.parse(box.open(row.sealed, `user_tokens/${row.server_id}/${userId}`)) as StoredUserToken;
        return {
          serverId: row.server_id,
          ...(token.scope === undefined ? {} : { scope: token.scope }),
          ...(token.expiresAt === undefined ? {} : { expiresAt: token.expiresAt }),
          hasRefreshToken: token.refresh_token !== undefined,
          ...(row.connected_at === null ? {} : { connectedAt: Date.parse(row.connected_at) }),
          ...(row.refreshed_at === null ? {} : { refreshedAt: Date.parse(row.refreshed_at) }),
        };
      });
    },

    /** How many users have connected each server (the master key's overview: counts, never tokens). */
    async countUserConnections(): Promise<Array<{ serverId: string; users: number }>> {
      const rows = await db.selectFrom("user_tokens").select(["server_id", (eb) => eb.fn.countAll<number | string>().as("users")]).groupBy("server_id").orderBy("server_id").execute();
      return rows.map((row) => ({ serverId: row.server_id, users: Number(row.users) }));
    },

    /** Deletes the token, or only `version` of it (a refused refresh must not delete a token saved since). */
    async deleteUserToken(serverId: string, userId: string, version?: number): Promise<void> {
      let remove = db.deleteFrom("user_tokens").where("server_id", "=", serverId).where("user_id", "=", userId);
      if (version !== undefined) remove = remove.where("version", "=", version);
      await remove.execute();
    },

    /** Drops pending records and never-completed clients past their expiry (run now and then; expiry is also checked on use). */
    async purgeExpired(): Promise<void> {
      const at = now().toISOString();
      await db.deleteFrom("oauth_flows").where("expires_at", "<", at).execute();
      await db.deleteFrom("oauth_codes").where("expires_at", "<", at).execute();
      await db.deleteFrom("oauth_assertion_jtis").where("expires_at", "<=", now().getTime()).execute();
      await db.deleteFrom("oauth_clients").where("completed_at", "is", null).where("created_at", "<", incompleteCutoff()).execute();
    },
  };
}

export type OauthRepository = ReturnType<typeof oauthRepository>;
