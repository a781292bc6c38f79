/**
 * Tool pins (migration 014): one row per server and tool. Writes that decide between
 * instances are conditional (an insert that does nothing on conflict, an update guarded by
 * the hash the instance saw), so exactly one instance records a change and reports it.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "./schema.js";

export interface ToolPin {
  serverId: string;
  tool: string;
  pinnedHash: string;
  pinnedDefinition: string;
  firstSeenAt: number;
  pinnedAt: number;
  pending?: { hash: string; definition: string; seenAt: number; rejected: boolean };
}

export interface ToolPinDecision {
  id: string;
  at: number;
  actor: string;
  serverId: string;
  serverName: string;
  tool: string;
  decision: "approved" | "rejected";
  oldHash: string;
  newHash: string;
}

export interface ToolPinsRepository {
  /** Every pin of one server. */
  forServer(serverId: string): Promise<ToolPin[]>;
  /** Every pin with a changed definition waiting (or rejected). */
  changed(): Promise<ToolPin[]>;
  get(serverId: string, tool: string): Promise<ToolPin | undefined>;
  /** Pins a tool seen for the first time; false when another instance pinned it first. */
  pinNew(serverId: string, tool: string, hash: string, definition: string): Promise<boolean>;
  /** Pins tools seen for the first time, in few statements (a first listing may hold thousands); those pinned already are left as they are. */
  pinNewMany(serverId: string, tools: ReadonlyArray<{ tool: string; hash: string; definition: string }>): Promise<void>;
  /** Records a changed definition unless this one is already recorded; true when this call recorded it. */
  recordChange(serverId: string, tool: string, hash: string, definition: string): Promise<boolean>;
  /** The upstream lists the pinned definition again: the change is gone. */
  clearChange(serverId: string, tool: string): Promise<void>;
  /** Pins `hash` (the pending definition, or one seen under `allow`) if the pin is still `fromHash`; true when it did. */
  repin(serverId: string, tool: string, fromHash: string, hash: string, definition: string): Promise<boolean>;
  /** Marks the pending definition `hash` rejected; true when it was pending. */
  reject(serverId: string, tool: string, hash: string): Promise<boolean>;
  recordDecision(decision: Omit<ToolPinDecision, "id" | "at">): Promise<ToolPinDecision>;
  decisions(limit: number): Promise<ToolPinDecision[]>;
}

type Row = {
  server_id: string;
  tool_name: string;
  pinned_hash: string;
  pinned_definition: string;
  first_seen_at: number | string;
  pinned_at: number | string;
  pending_hash: string | null;
  pending_definition: string | null;
  pending_seen_at: number | string | null;
  pending_rejected: number;
};

function pinOf(row: Row): ToolPin {
  return {
    serverId: row.server_id,
    tool: row.tool_name,
    pinnedHash: row.pinned_hash,
    pinnedDefinition: row.pinned_definition,
    firstSeenAt: Number(row.first_seen_at),
    pinnedAt: Number(row.pinned_at),
    ...(row.pending_hash === null || row.pending_definition === null
      ? {}
      : { pending: { hash: row.pending_hash, definition: row.pending_definition, seenAt: Number(row.pending_seen_at ?? 0), rejected: Number(row.pending_rejected) !== 0 } }),
  };
}

/** Rows per INSERT: 10 parameters each, well under SQLite's and PostgreSQL's bounds. */
const INSERT_CHUNK = 500;

export function toolPinsRepository(db: Db, now: () => number = Date.now): ToolPinsRepository {
  const rows = () => db.selectFrom("tool_pins").selectAll();
  const changedRows = (result: { numUpdatedRows: bigint }) => Number(result.numUpdatedRows) > 0;
  return {
    async forServer(serverId) {
      return (await rows().where("server_id", "=", serverId).execute()).map(pinOf);
    },
    async changed() {
      return (await rows().where("pending_hash", "is not", null).orderBy("pending_seen_at", "desc").execute()).map(pinOf);
    },
    async get(serverId, tool) {
      const row = await rows().where("server_id", "=", serverId).where("tool_name", "=", tool).executeTakeFirst();
      return row === undefined ? undefined : pinOf(row);
    },
    async pinNew(serverId, tool, hash, definition) {
      const at = now();
      const result = await db
        .insertInto("tool_pins")
        .values({ server_id: serverId, tool_name: tool, pinned_hash: hash, pinned_definition: definition, first_seen_at: at, pinned_at: at, pending_hash: null, pending_definition: null, pending_seen_at: null, pending_rejected: 0 })
        .onConflict((conflict) => conflict.columns(["server_id", "tool_name"]).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },
    async pinNewMany(serverId, tools) {
      const at = now();
      for (let start = 0; start < tools.length; start += INSERT_CHUNK) {
        const rows = tools.slice(start, start + INSERT_CHUNK).map(({ tool, hash, definition }) => ({ server_id: serverId, tool_name: tool, pinned_hash: hash, pinned_definition: definition, first_seen_at: at, pinned_at: at, pending_hash: null, pending_definition: null, pending_seen_at: null, pending_rejected: 0 }));
        await db
          .insertInto("tool_pins")
          .values(rows)
          .onConflict((conflict) => conflict.columns(["server_id", "tool_name"]).doNothing())
          .execute();
      }
    },
    async recordChange(serverId, tool, hash, definition) {
      const result = await db
        .updateTable("tool_pins")
        .set({ pending_hash: hash, pending_definition: definition, pending_seen_at: now(), pending_rejected: 0 })
        .where("server_id", "=", serverId)
        .where("tool_name", "=", tool)
        .where("pinned_hash", "!=", hash)
        .where((where) => where.or([where("pending_hash", "is", null), where("pending_hash", "!=", hash)]))
        .executeTakeFirst();
      return changedRows(result);
    },
    async clearChange(serverId, tool) {
      await db
        .updateTable("tool_pins")
        .set({ pending_hash: null, pending_definition: null, pending_seen_at: null, pending_rejected: 0 })
        .where("server_id", "=", serverId)
        .where("tool_name", "=", tool)
        .where("pending_hash", "is not", null)
        .execute();
    },
    async repin(serverId, tool, fromHash, hash, definition) {
      const result = await db
        .updateTable("tool_pins")
        .set({ pinned_hash: hash, pinned_definition: definition, pinned_at: now(), pending_hash: null, pending_definition: null, pending_seen_at: null, pending_rejected: 0 })
        .where("server_id", "=", serverId)
        .where("tool_name", "=", tool)
        .where("pinned_hash", "=", fromHash)
        .executeTakeFirst();
      return changedRows(result);
    },
    async reject(serverId, tool, hash) {
      const result = await db.updateTable("tool_pins").set({ pending_rejected: 1 }).where("server_id", "=", serverId).where("tool_name", "=", tool).where("pending_hash", "=", hash).executeTakeFirst();
      return changedRows(result);
    },
    async recordDecision(decision) {
      const row = { id: randomUUID(), at: now(), actor: decision.actor, server_id: decision.serverId, server_name: decision.serverName, tool_name: decision.tool, decision: decision.decision, old_hash: decision.oldHash, new_hash: decision.newHash };
      await db.insertInto("tool_pin_decisions").values(row).execute();
      return { ...decision, id: row.id, at: row.at };
    },
    async decisions(limit) {
      const found = await db.selectFrom("tool_pin_decisions").selectAll().orderBy("at", "desc").limit(limit).execute();
      return found.map((row) => ({ id: row.id, at: Number(row.at), actor: row.actor, serverId: row.server_id, serverName: row.server_name, tool: row.tool_name, decision: row.decision === "approved" ? "approved" : "rejected", oldHash: row.old_hash, newHash: row.new_hash }));
    },
  };
}
