/**
 * The events of `/mcp` calls held for multi round-trip requests (migration 011): appended
 * by the instance that holds the call, read by the instance a client's retry lands on.
 * Events are sealed with the SecretBox (they may carry what a user answered).
 */
import type { Db } from "./schema.js";
import type { SecretBox } from "./secret-box.js";

export interface InputEventsRepository {
  append(callId: string, seq: number, event: Record<string, unknown>): Promise<void>;
  /** The event `seq` of the call, if it was appended. */
  read(callId: string, seq: number): Promise<Record<string, unknown> | undefined>;
  forget(callId: string): Promise<void>;
  purgeOlderThan(olderThanMs: number): Promise<void>;
}

export function inputEventsRepository(db: Db, box: SecretBox, now: () => number = Date.now): InputEventsRepository {
  const context = (callId: string, seq: number) => `mcp_input_events/${callId}/${seq}`;
  return {
    async append(callId, seq, event) {
      await db
        .insertInto("mcp_input_events")
        .values({ call_id: callId, seq, event: box.seal(JSON.stringify(event), context(callId, seq)), created_at: now() })
        .onConflict((conflict) => conflict.columns(["call_id", "seq"]).doNothing())
        .execute();
    },
    async read(callId, seq) {
      const row = await db.selectFrom("mcp_input_events").select("event").where("call_id", "=", callId).where("seq", "=", seq).executeTakeFirst();
      return row === undefined ? undefined : (JSON.parse(box.open(row.event, context(callId, seq))) as Record<string, unknown>);
    },
    async forget(callId) {
      await db.deleteFrom("mcp_input_events").where("call_id", "=", callId).execute();
    },
    async purgeOlderThan(olderThanMs) {
      await db.deleteFrom("mcp_input_events").where("created_at", "<", now() - olderThanMs).execute();
    },
  };
}
