/**
 * Multi round-trip requests (src/mcp/input-bridge.ts), on a real SQLite store: the calls an
 * instance holds for a 2026-07-28 client's input are bounded per key
 * (`mcp_held_calls_per_key`), and the answer slots of the other direction take only answers
 * whose slot ids were signed for the presenting session and server.
 *
 * The upstream call is a function the test drives: it asks through `forward`, and ends
 * when the test finishes it or when the bridge cancels it.
 */
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { GatewayError } from "../../../src/errors.js";
import type { Cancellation } from "../../../src/exchange.js";
import { createLogger } from "../../../src/log.js";
import { upstreamAuthFactory } from "../../../src/auth/upstream/select-strategy.js";
import { createAnswerSlots, createInputBridge, type CallHolder } from "../../../src/mcp/input-bridge.js";
import type { ServerMessage } from "../../../src/mcp/upstream-session.js";
import { configServerEntries } from "../../../src/registry/registry.js";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { inputEventsRepository, type InputEventsRepository } from "../../../src/store/input-events-repository.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { createSecretBox } from "../../../src/store/secret-box.js";

const { config } = parseConfig(
  `
mcp_servers:
  alpha: {url: "http://127.0.0.1:1/mcp", timeout: 30}
  quick: {url: "http://127.0.0.1:2/mcp", timeout: 0.05}
`,
  { file: "t.yaml", env: {} },
);
const [alpha, quick] = configServerEntries(config, { authFor: upstreamAuthFactory() });

function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: createLogger({ level: "debug", destination }), lines };
}

/** An upstream tool call the test drives: `ask` sends a request to the client; it ends by `finish`, `fail`, or being cancelled. */
interface DrivenCall {
  start: (forward: (message: ServerMessage) => void, cancel: Cancellation) => Promise<Record<string, unknown>>;
  finish(result: Record<string, unknown>): void;
  fail(error: Error): void;
  cancelled: () => boolean;
  ended: Promise<unknown>;
  answers: unknown[];
}

/** A call whose upstream asks for an elicitation at once. */
function askingCall(): DrivenCall {
  let finish!: (result: Record<string, unknown>) => void;
  let fail!: (error: Error) => void;
  let cancelled = false;
  let ended!: Promise<unknown>;
  const call: DrivenCall = {
    start(forward, cancel) {
      const running = new Promise<Record<string, unknown>>((resolve, reject) => {
        finish = resolve;
        fail = reject;
        cancel.once("abort", () => {
          cancelled = true;
          reject(new GatewayError({ status: 499, code: "cancelled", message: "cancelled" }));
        });
      });
      ended = running.catch(() => undefined);
      forward({ method: "elicitation/create", id: 1, params: { mode: "form", message: "Your name?" }, session: "upstream-session" });
      return running;
    },
    finish: (result) => finish(result),
    fail: (error) => fail(error),
    cancelled: () => cancelled,
    get ended() {
      return ended;
    },
    answers: [],
  };
  return call;
}

async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error("the call was not refused");
}

let database: Database;
let repo: InputEventsRepository;
/** Rows in the events table: of answer slots (`mrtr.` ids), or of held calls' events. */
const rows = async (of: "slots" | "calls" = "slots") =>
  Number(
    (
      await database.db
        .selectFrom("mcp_input_events")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("call_id", of === "slots" ? "like" : "not like", "mrtr.%")
        .executeTakeFirstOrThrow()
    ).n,
  );

beforeAll(async () => {
  database = await openDatabase("sqlite::memory:");
  await migrateToLatest(database);
  repo = inputEventsRepository(database.db, createSecretBox("input-bridge-salt"));
});

afterAll(async () => {
  await database?.close();
});

describe("held calls are bounded per key (mcp_held_calls_per_key)", () => {
  const ada: CallHolder = { owner: "key:ada", keyId: "sk-...adaA" };
  const bob: CallHolder = { owner: "key:bob", keyId: "sk-...bobB" };

  it("past the bound, a call that asks the client is cancelled upstream and refused with 429 naming the setting, logged once with the key id; a call that ends frees its place", async () => {
    const { log, lines } = capturedLog();
    const bridge = createInputBridge({ repo, key: Buffer.alloc(32, 1), log, heldPerKey: 2 });
    const first = askingCall();
    const second = askingCall();
    expect(await bridge.run(alpha!, ada, first.start)).toMatchObject({ resultType: "input_required", inputRequests: { r1: { method: "elicitation/create" } } });
    expect(await bridge.run(alpha!, ada, second.start)).toMatchObject({ resultType: "input_required" });
    expect(bridge.heldBy(ada.owner)).toBe(2);

    const third = askingCall();
    const refused = await refusal(bridge.run(alpha!, ada, third.start));
    expect(refused).toMatchObject({ status: 429, code: "mcp_held_calls_per_key_exceeded", extra: { server: "alpha", limit: 2 } });
    expect(refused.message).toContain("mcp_held_calls_per_key");
    await third.ended;
    expect(third.cancelled()).toBe(true);
    // A refused call writes nothing for other instances.
    expect(await rows("calls")).toBe(0);

    const fourth = askingCall();
    expect((await refusal(bridge.run(alpha!, ada, fourth.start))).code).toBe("mcp_held_calls_per_key_exceeded");
    const warnings = lines.filter((line) => String(line.msg).includes("mcp_held_calls_per_key"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ key: "sk-...adaA", server: "alpha", limit: 2 });
    expect(JSON.stringify(warnings[0])).not.toContain("key:ada");

    // Another key has places of its own.
    expect(await bridge.run(alpha!, bob, askingCall().start)).toMatchObject({ resultType: "input_required" });

    // Done: the first call's place is free again.
    first.finish({ content: [{ type: "text", text: "done" }] });
    await first.ended;
    expect(bridge.heldBy(ada.owner)).toBe(1);
    const fifth = askingCall();
    expect(await bridge.run(alpha!, ada, fifth.start)).toMatchObject({ resultType: "input_required" });
    expect(fifth.cancelled()).toBe(false);

    // Failed (its server's timeout, say): so is the second's; and the bound is logged again when reached again.
    second.fail(new GatewayError({ status: 504, code: "upstream_timeout", message: "timed out" }));
    await second.ended;
    expect(bridge.heldBy(ada.owner)).toBe(1);
    expect(await bridge.run(alpha!, ada, askingCall().start)).toMatchObject({ resultType: "input_required" });
    await refusal(bridge.run(alpha!, ada, askingCall().start));
    expect(lines.filter((line) => String(line.msg).includes("mcp_held_calls_per_key"))).toHaveLength(2);
  });

  it("a held call answered through a retry frees its place once it is done", async () => {
    const { log } = capturedLog();
    const bridge = createInputBridge({ repo, key: Buffer.alloc(32, 2), log, heldPerKey: 1 });
    const call = askingCall();
    const asked = await bridge.run(alpha!, ada, call.start);
    const delivered: unknown[] = [];
    const resumed = bridge.resume(alpha!, asked.requestState, { r1: { action: "accept", content: { name: "Ada" } } }, async (_server, session, id, answer) => {
      delivered.push({ session, id, answer });
      call.finish({ content: [{ type: "text", text: "Ada" }] });
    });
    expect(await resumed).toEqual({ content: [{ type: "text", text: "Ada" }] });
    expect(delivered).toEqual([{ session: "upstream-session", id: 1, answer: { result: { action: "accept", content: { name: "Ada" } } } }]);
    expect(bridge.heldBy(ada.owner)).toBe(0);
    expect(await bridge.run(alpha!, ada, askingCall().start)).toMatchObject({ resultType: "input_required" });
  });

  it("a call that answers at once is never held, whatever the bound", async () => {
    const { log } = capturedLog();
    const bridge = createInputBridge({ repo, key: Buffer.alloc(32, 3), log, heldPerKey: 1 });
    await bridge.run(alpha!, ada, askingCall().start);
    expect(await bridge.run(alpha!, ada, async () => ({ content: [] }))).toEqual({ content: [] });
  });

  it("a call whose first answer does not come within its server's timeout is cancelled upstream (no client can reach it again)", async () => {
    const { log } = capturedLog();
    const bridge = createInputBridge({ repo, key: Buffer.alloc(32, 4), log, heldPerKey: 1 });
    let cancelled = false;
    const silent = (_forward: (message: ServerMessage) => void, cancel: Cancellation) =>
      new Promise<Record<string, unknown>>((_resolve, reject) => {
        cancel.once("abort", () => {
          cancelled = true;
          reject(new Error("cancelled"));
        });
      });
    expect((await refusal(bridge.run(quick!, ada, silent))).code).toBe("upstream_timeout");
    expect(cancelled).toBe(true);
    expect(bridge.heldBy(ada.owner)).toBe(0);
  });
});

describe("answer slots take only answers to slot ids signed for the session and server", () => {
  const key = Buffer.alloc(32, 9);

  it("made-up answers write no rows: an unsigned id, another session's, another server's or a tampered tag is dropped with a debug line", async () => {
    const { log, lines } = capturedLog();
    const slots = createAnswerSlots({ repo, key, log });
    const round = slots.newCall("nonce-of-session-a", "alpha");
    const genuine = slots.slotId(round, "r1");
    expect(slots.isSlotId(genuine)).toBe(true);
    const tag = genuine.slice(genuine.lastIndexOf(".") + 1);
    const tampered = `${genuine.slice(0, -1)}${genuine.endsWith("A") ? "B" : "A"}`;
    const attempts: Array<[string, { session: string; server: string }]> = [
      [`mrtr.${round.id}.r1`, { session: "nonce-of-session-a", server: "alpha" }],
      [`mrtr.made-up.r1.${tag}`, { session: "nonce-of-session-a", server: "alpha" }],
      [genuine, { session: "nonce-of-session-b", server: "alpha" }],
      [genuine, { session: "nonce-of-session-a", server: "beta" }],
      [tampered, { session: "nonce-of-session-a", server: "alpha" }],
      [`${genuine}=`, { session: "nonce-of-session-a", server: "alpha" }],
    ];
    for (const [slot, presenter] of attempts) await slots.deliver(slot, { action: "accept" }, presenter);
    expect(await rows()).toBe(0);
    expect(lines.filter((line) => line.level === 20 && String(line.msg).includes("input slot this session was not given"))).toHaveLength(attempts.length);

    // The genuine id from its own session and server is put in its slot (the database, since no call waits here).
    await slots.deliver(genuine, { action: "accept", content: { name: "Ada" } }, { session: "nonce-of-session-a", server: "alpha" });
    expect(await rows()).toBe(1);
    expect(await slots.take(genuine, 1_000)).toEqual({ action: "accept", content: { name: "Ada" } });
    expect(await rows()).toBe(0);
  });

  it("an answer for a call waiting on this instance reaches it from memory, writing nothing", async () => {
    const { log } = capturedLog();
    const slots = createAnswerSlots({ repo, key, log, pollMs: 60_000 });
    const round = slots.newCall("nonce-of-session-a", "alpha");
    const slot = slots.slotId(round, "r1");
    const taken = slots.take(slot, 30_000);
    await slots.deliver(slot, { action: "decline" }, { session: "nonce-of-session-a", server: "alpha" });
    expect(await taken).toEqual({ action: "decline" });
    expect(await rows()).toBe(0);
  });

  it("an answer another instance wrote is found by the instance whose call waits", async () => {
    const waiter = createAnswerSlots({ repo, key, log: capturedLog().log, pollMs: 10 });
    const other = createAnswerSlots({ repo, key, log: capturedLog().log });
    const slot = waiter.slotId(waiter.newCall("nonce-of-session-a", "alpha"), "r.with.dots");
    const taken = waiter.take(slot, 30_000);
    await other.deliver(slot, { action: "cancel" }, { session: "nonce-of-session-a", server: "alpha" });
    expect(await taken).toEqual({ action: "cancel" });
  });
});
