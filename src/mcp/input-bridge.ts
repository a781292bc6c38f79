/**
 * Multi round-trip requests (MCP 2026-07-28) for a 2026-07-28 client whose call reaches an
 * upstream of an earlier revision (README, "2026-07-28 clients on /mcp"): the upstream asks
 * the client something during the call (sampling, elicitation, roots) as a server-to-client
 * request, which this revision has no place for. So the gateway answers the client
 * `input_required` with that request, and holds the upstream call open; the client's retry
 * (`inputResponses`, and the `requestState` the gateway sealed) has its answers sent to the
 * upstream session, and then gets what the call does next: another `input_required`, or
 * its result.
 *
 * The retry may land on any instance. What the call does next is an event the holding
 * instance appends to the database (sealed), numbered; the instance with the retry waits
 * for the next number (in memory when the call is its own, else by reading the table every
 * `pollMs`), within the server's timeout. The answers go to the upstream session named in
 * the sealed state, from whichever instance has the retry.
 */
import { randomBytes } from "node:crypto";
import { GatewayError, JsonRpcCode, toGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { InputEventsRepository } from "../store/input-events-repository.js";
import { openJson, sealJson } from "./aggregate-session.js";
import type { ServerMessage } from "./upstream-session.js";

/** An upstream request the client is asked to fulfil: its key in `inputRequests`, and the upstream's id. */
type InputEvent =
  | { kind: "input"; requests: Record<string, { method: string; params?: Record<string, unknown> }>; ids: Record<string, string | number>; session?: string }
  | { kind: "done"; result?: Record<string, unknown>; error?: { status: number; code: string; message: string; rpcCode: number } };

export interface InputBridgeDeps {
  repo: InputEventsRepository;
  /** The key the `requestState` is sealed under (derived from the salt key). */
  key: Buffer;
  log: Logger;
  /** How often an instance without the call reads the table for its next event. Default 100 ms. */
  pollMs?: number;
}

/** Sends one answer to a request the upstream sent in its session (`session`: its Mcp-Session-Id). */
export type DeliverAnswer = (server: McpServerEntry, session: string | undefined, id: string | number, answer: { result: unknown } | { error: unknown }) => Promise<void>;

interface HeldCall {
  events: InputEvent[];
  waiters: Array<() => void>;
}

export function createInputBridge(deps: InputBridgeDeps) {
  const pollMs = deps.pollMs ?? 100;
  /** The calls this instance holds, by id. */
  const held = new Map<string, HeldCall>();

  function publish(callId: string, call: HeldCall, event: InputEvent): void {
    call.events.push(event);
    const seq = call.events.length;
    for (const wake of call.waiters.splice(0)) wake();
    // The first event is the answer to the call itself, always read here; later ones answer retries, which may land anywhere.
    if (seq > 1) deps.repo.append(callId, seq, event as unknown as Record<string, unknown>).catch((error: unknown) => deps.log.warn({ err: toGatewayError(error).message }, "could not record an /mcp call's event for another instance"));
    // The call is over once it ended: nothing more will come after a `done`.
    // (A call done at once is forgotten by `run`, which reads that first event here.)
    if (event.kind === "done" && seq > 1) setTimeout(() => held.delete(callId), 60_000).unref();
  }

  /** The event `seq` of a call, from this instance's memory or (another instance holds it) the table, within `timeoutMs`. */
  async function next(callId: string, seq: number, timeoutMs: number): Promise<InputEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // A call held here gets its events here, synchronously: checked and waited for with no await between (no lost wake-up).
      const local = held.get(callId);
      const event = local !== undefined ? local.events[seq - 1] : ((await deps.repo.read(callId, seq)) as InputEvent | undefined);
      if (event !== undefined) return event;
      const left = deadline - Date.now();
      if (left <= 0) throw new GatewayError({ status: 504, code: "upstream_timeout", message: "the upstream did not go on with the call after its input was given", rpcCode: JsonRpcCode.UpstreamTimeout });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, local === undefined ? Math.min(pollMs, left) : left);
        local?.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  function answer(server: McpServerEntry, callId: string, seq: number, event: InputEvent): Record<string, unknown> {
    if (event.kind === "done") {
      if (event.error !== undefined) throw new GatewayError({ ...event.error, extra: { server: server.name } });
      return event.result ?? {};
    }
    return {
      resultType: "input_required",
      inputRequests: event.requests,
      requestState: sealJson(deps.key, { c: callId, q: seq, v: server.name, s: event.session ?? null, i: event.ids }),
    };
  }

  return {
    /**
     * Runs a call for a 2026-07-28 client: `start` is given where the upstream's requests
     * go; the first of them (or the result, or the error) is what the client gets now.
     */
    async run(server: McpServerEntry, start: (forward: (message: ServerMessage) => void) => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
      const callId = randomBytes(16).toString("base64url");
      const call: HeldCall = { events: [], waiters: [] };
      held.set(callId, call);
      let asked = 0;
      const forward = (message: ServerMessage) => {
        // Notifications have no place in this revision outside the call's own stream: dropped.
        if (message.id === undefined) return;
        const key = `r${++asked}`;
        publish(callId, call, { kind: "input", requests: { [key]: { method: message.method, ...(message.params === undefined ? {} : { params: message.params }) } }, ids: { [key]: message.id }, ...(message.session === undefined ? {} : { session: message.session }) });
      };
      start(forward).then(
        (result) => publish(callId, call, { kind: "done", result }),
        (error: unknown) => {
          const failure = toGatewayError(error);
          publish(callId, call, { kind: "done", error: { status: failure.status, code: failure.code, message: failure.message, rpcCode: failure.rpcCode } });
        },
      );
      const first = await next(callId, 1, server.timeoutMs);
      if (first.kind === "done") held.delete(callId);
      return answer(server, callId, 1, first);
    },

    /** Whether `requestState` is one this bridge sealed (else it is an upstream's own, to pass on). */
    owns(requestState: unknown): boolean {
      return typeof requestState === "string" && openJson(deps.key, requestState) !== undefined;
    },

    /** A retry carrying `requestState` and `inputResponses`: the answers go upstream, then the call's next event. */
    async resume(server: McpServerEntry, requestState: unknown, inputResponses: unknown, deliver: DeliverAnswer): Promise<Record<string, unknown>> {
      const state = typeof requestState === "string" ? openJson(deps.key, requestState) : undefined;
      const { c: callId, q: seq, v: serverName, s: session, i: ids } = state ?? {};
      if (typeof callId !== "string" || typeof seq !== "number" || serverName !== server.name || typeof ids !== "object" || ids === null) {
        throw new GatewayError({ status: 400, code: "invalid_request_state", message: "requestState is not one this gateway gave for this tool", rpcCode: JsonRpcCode.InvalidParams });
      }
      const responses = typeof inputResponses === "object" && inputResponses !== null ? (inputResponses as Record<string, unknown>) : {};
      for (const [key, upstreamId] of Object.entries(ids as Record<string, string | number>)) {
        const given = responses[key];
        await deliver(server, typeof session === "string" ? session : undefined, upstreamId, given === undefined ? { error: { code: JsonRpcCode.InvalidRequest, message: "the client gave no answer" } } : { result: given });
      }
      const event = await next(callId, seq + 1, server.timeoutMs);
      if (event.kind === "done") await deps.repo.forget(callId).catch(() => undefined);
      return answer(server, callId, seq + 1, event);
    },
  };
}

export type InputBridge = ReturnType<typeof createInputBridge>;

/**
 * The other way: a 2026-07-28 upstream answers a call of an earlier client (in an `/mcp`
 * session) `input_required`. Each embedded request goes to the client as a server-to-client
 * request on the call's stream, with an id that names this slot (`mrtr.{call}.{key}`); the
 * client's answer, POSTed to whichever instance, is put in the slot (in memory here, else in
 * the database), and once every slot is filled the call is retried upstream with them.
 */
export function createAnswerSlots(deps: { repo: InputEventsRepository; pollMs?: number }) {
  const pollMs = deps.pollMs ?? 100;
  const waiting = new Map<string, (answer: Record<string, unknown>) => void>();
  const early = new Map<string, Record<string, unknown>>();

  return {
    /** A fresh call id for a round of requests. */
    newCall: () => randomBytes(12).toString("base64url"),
    /** The upstream-facing id of one request of a round (what `isSlotId` recognises). */
    slotId: (call: string, key: string) => `mrtr.${call}.${key}`,
    isSlotId: (id: unknown): id is string => typeof id === "string" && id.startsWith("mrtr.") && id.length < 600,

    /** Puts a client's answer in its slot: to the waiting call here, or to the database for the instance that waits. */
    async deliver(slot: string, answer: Record<string, unknown>): Promise<void> {
      const resolve = waiting.get(slot);
      if (resolve !== undefined) {
        waiting.delete(slot);
        resolve(answer);
        return;
      }
      if (early.size < 10_000) early.set(slot, answer);
      await deps.repo.append(slot, 0, answer);
    },

    /** The answer put in `slot`, within `timeoutMs`. */
    async take(slot: string, timeoutMs: number): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = early.get(slot) ?? (await deps.repo.read(slot, 0));
        if (found !== undefined) {
          early.delete(slot);
          await deps.repo.forget(slot).catch(() => undefined);
          return found;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new GatewayError({ status: 504, code: "client_input_timeout", message: "the client did not answer the upstream's request in time", rpcCode: JsonRpcCode.UpstreamTimeout });
        const answer = await new Promise<Record<string, unknown> | undefined>((resolve) => {
          const timer = setTimeout(() => {
            waiting.delete(slot);
            resolve(undefined);
          }, Math.min(pollMs, left));
          waiting.set(slot, (value) => {
            clearTimeout(timer);
            resolve(value);
          });
        });
        if (answer !== undefined) return answer;
      }
    },
  };
}

export type AnswerSlots = ReturnType<typeof createAnswerSlots>;
