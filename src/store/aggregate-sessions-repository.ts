/**
 * The aggregate `/mcp` sessions in the database (README, "Sessions on /mcp"): whether a
 * gateway session was ended, and the upstream sessions opened under it, so that a request
 * of the session that lands on another instance continues the same upstream sessions.
 *
 * Upstream session ids are sealed with the SecretBox, bound to their row. The first upstream
 * session recorded for a (gateway session, server) wins: an instance that opened one in the
 * same moment finds the other and closes its own.
 */
import { createHash } from "node:crypto";
import type { Db } from "./schema.js";
import type { SecretBox } from "./secret-box.js";

export interface StoredUpstreamSession {
  /** The upstream's Mcp-Session-Id; undefined when the upstream keeps no session. */
  upstreamSessionId: string | undefined;
  protocolVersion: string;
  capabilities: Record<string, unknown>;
}

export interface AggregateSessionsRepository {
  /**
   * Records a new gateway session (its nonce, never stored as such) for `owner`, unless the
   * owner already has `maxLive` live sessions created in the last `withinMs`: then false.
   */
  create(nonce: string, owner: { name: string; maxLive: number; withinMs: number }): Promise<boolean>;
  /** `live`, or `unknown` (never recorded, ended, or purged); `ended` only for rows of an earlier version that kept them. */
  state(nonce: string): Promise<"live" | "ended" | "unknown">;
  /** A live session's log level (what its client set with logging/setLevel), read with its state: undefined when it is not live. */
  live(nonce: string): Promise<{ logLevel?: string } | undefined>;
  /** Records the level the session's client set (logging/setLevel). */
  setLogLevel(nonce: string, level: string): Promise<void>;
  /**
   * Records (or, `subscribed` false, forgets) a resource the session subscribed to where the
   * gateway keeps its subscriptions: `changed`, or `unchanged` (already held, or not held);
   * `full` when the session already holds `max` and this one is new; `ended` when the
   * session is no longer live (nothing is kept for it).
   */
  setSubscription(nonce: string, serverId: string, uri: string, subscribed: boolean, max: number): Promise<"changed" | "unchanged" | "full" | "ended">;
  /** The resources the session subscribed to at a server, oldest first (in one order every time). */
  subscriptions(nonce: string, serverId: string): Promise<string[]>;
  /**
   * Ends the session: its rows are deleted (an ended session is as unknown as a forged one,
   * and initialize + DELETE in a loop must not leave a row each); answers the upstream
   * sessions it held (to be closed upstream).
   */
  end(nonce: string): Promise<Array<{ serverId: string; session: StoredUpstreamSession }>>;
  upstream(nonce: string, serverId: string): Promise<StoredUpstreamSession | undefined>;
  /** Records an upstream session unless one is recorded already; answers the one that is. */
  recordUpstream(nonce: string, serverId: string, session: StoredUpstreamSession): Promise<StoredUpstreamSession>;
  /** Forgets the upstream session, if it is still `upstreamSessionId` (the upstream lost it). */
  forgetUpstream(nonce: string, serverId: string, upstreamSessionId: string | undefined): Promise<void>;
  /** Deletes sessions created before `olderThanMs` ago. */
  purgeOlderThan(olderThanMs: number): Promise<void>;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export function aggregateSessionsRepository(db: Db, box: SecretBox, now: () => number = Date.now): AggregateSessionsRepository {
  const context = (sessionId: string, serverId: string) => `mcp_aggregate_sessions/${sessionId}/${serverId}`;

  function read(sessionId: string, row: { server_id: string; upstream_session_id: string | null; protocol_version: string | null; capabilities: string | null }): StoredUpstreamSession {
    let capabilities: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(row.capabilities ?? "{}");
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) capabilities = parsed as Record<string, unknown>;
    } catch {
      // A row this code did not write: no capabilities known.
    }
    return {
      upstreamSessionId: row.upstream_session_id === null ? undefined : box.open(row.upstream_session_id, context(sessionId, row.server_id)),
      protocolVersion: row.protocol_version ?? "",
      capabilities,
    };
  }

  async function state(sessionId: string): Promise<"live" | "ended" | "unknown"> {
    const row = await db.selectFrom("mcp_aggregate_sessions").select("ended_at").where("session_id", "=", sessionId).where("server_id", "=", "").executeTakeFirst();
    if (row === undefined) return "unknown";
    return row.ended_at === null ? "live" : "ended";
  }

  return {
    async create(nonce, owner) {
      const { live } = await db
        .selectFrom("mcp_aggregate_sessions")
        .select((eb) => eb.fn.countAll<number | string>().as("live"))
        .where("owner", "=", owner.name)
        .where("server_id", "=", "")
        .where("ended_at", "is", null)
        .where("created_at", ">=", now() - owner.withinMs)
        .executeTakeFirstOrThrow();
      if (Number(live) >= owner.maxLive) return false;
      await db
        .insertInto("mcp_aggregate_sessions")
        .values({ session_id: sha256(nonce), server_id: "", upstream_session_id: null, protocol_version: null, capabilities: null, created_at: now(), ended_at: null, owner: owner.name })
        .onConflict((conflict) => conflict.columns(["session_id", "server_id"]).doNothing())
        .execute();
      return true;
    },
    state: (nonce) => state(sha256(nonce)),
    async live(nonce) {
      const row = await db.selectFrom("mcp_aggregate_sessions").select(["ended_at", "log_level"]).where("session_id", "=", sha256(nonce)).where("server_id", "=", "").executeTakeFirst();
      if (row === undefined || row.ended_at !== null) return undefined;
      return typeof row.log_level === "string" ? { logLevel: row.log_level } : {};
    },
    async setLogLevel(nonce, level) {
      await db.updateTable("mcp_aggregate_sessions").set({ log_level: level }).where("session_id", "=", sha256(nonce)).where("server_id", "=", "").execute();
    },
    async setSubscription(nonce, serverId, uri, subscribed, max) {
      const sessionId = sha256(nonce);
      const key = { session_id: sessionId, server_id: serverId, uri_hash: sha256(uri) };
      const mine = db.deleteFrom("mcp_aggregate_subscriptions").where("session_id", "=", key.session_id).where("server_id", "=", key.server_id).where("uri_hash", "=", key.uri_hash);
      if (!subscribed) return Number((await mine.executeTakeFirst()).numDeletedRows) > 0 ? "changed" : "unchanged";
      const inserted = await db
        .insertInto("mcp_aggregate_subscriptions")
        .values({ ...key, uri, created_at: now() })
        .onConflict((conflict) => conflict.columns(["session_id", "server_id", "uri_hash"]).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return "unchanged";
      // Inserted, then counted: concurrent subscribes each count the others' rows, so together they stay within `max`
      // (counted first, they all fitted). Then the session: one that ended meanwhile (end() deletes its row before
      // its subscriptions) either sees this row deleted or is seen ended here.
      const { held } = await db.selectFrom("mcp_aggregate_subscriptions").select((eb) => eb.fn.countAll<number | string>().as("held")).where("session_id", "=", sessionId).executeTakeFirstOrThrow();
      const outcome = Number(held) > max ? "full" : (await state(sessionId)) !== "live" ? "ended" : "changed";
      if (outcome !== "changed") await mine.execute();
      return outcome;
    },
    async subscriptions(nonce, serverId) {
      const rows = await db
        .selectFrom("mcp_aggregate_subscriptions")
        .select("uri")
        .where("session_id", "=", sha256(nonce))
        .where("server_id", "=", serverId)
        .orderBy("created_at")
        .orderBy("uri_hash")
        .execute();
      return rows.map((row) => row.uri);
    },
    async end(nonce) {
      const sessionId = sha256(nonce);
      const rows = await db.selectFrom("mcp_aggregate_sessions").selectAll().where("session_id", "=", sessionId).where("server_id", "!=", "").execute();
      // The session's row first: a subscription recorded meanwhile sees the session ended, or is deleted next (setSubscription).
      await db.deleteFrom("mcp_aggregate_sessions").where("session_id", "=", sessionId).execute();
      await db.deleteFrom("mcp_aggregate_subscriptions").where("session_id", "=", sessionId).execute();
      return rows.map((row) => ({ serverId: row.server_id, session: read(sessionId, row) }));
    },
    async upstream(nonce, serverId) {
      const sessionId = sha256(nonce);
      const row = await db.selectFrom("mcp_aggregate_sessions").selectAll().where("session_id", "=", sessionId).where("server_id", "=", serverId).executeTakeFirst();
      return row === undefined ? undefined : read(sessionId, row);
    },
    async recordUpstream(nonce, serverId, session) {
      const sessionId = sha256(nonce);
      await db
        .insertInto("mcp_aggregate_sessions")
        .values({
          owner: null,
          session_id: sessionId,
          server_id: serverId,
          upstream_session_id: session.upstreamSessionId === undefined ? null : box.seal(session.upstreamSessionId, context(sessionId, serverId)),
          protocol_version: session.protocolVersion,
          capabilities: JSON.stringify(session.capabilities),
          created_at: now(),
          ended_at: null,
        })
        .onConflict((conflict) => conflict.columns(["session_id", "server_id"]).doNothing())
        .execute();
      const row = await db.selectFrom("mcp_aggregate_sessions").selectAll().where("session_id", "=", sessionId).where("server_id", "=", serverId).executeTakeFirstOrThrow();
      return read(sessionId, row);
    },
    async forgetUpstream(nonce, serverId, upstreamSessionId) {
      const sessionId = sha256(nonce);
      const row = await db.selectFrom("mcp_aggregate_sessions").selectAll().where("session_id", "=", sessionId).where("server_id", "=", serverId).executeTakeFirst();
      if (row === undefined || read(sessionId, row).upstreamSessionId !== upstreamSessionId) return;
      await db.deleteFrom("mcp_aggregate_sessions").where("session_id", "=", sessionId).where("server_id", "=", serverId).execute();
    },
    async purgeOlderThan(olderThanMs) {
      await db.deleteFrom("mcp_aggregate_sessions").where("created_at", "<", now() - olderThanMs).execute();
      await db.deleteFrom("mcp_aggregate_subscriptions").where("created_at", "<", now() - olderThanMs).execute();
    },
  };
}
