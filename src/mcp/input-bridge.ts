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
 *
 * A held call has an upstream connection open and is outside the key's
 * `max_parallel_requests` once its first answer is sent, and the client may never retry: an
 * instance holds at most `mcp_held_calls_per_key` of them per key. A call that would be held
 * past that is cancelled upstream and refused (429); a call frees its place when it ends.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { GatewayError, JsonRpcCode, toGatewayError } from "../errors.js";
import { Cancellation } from "../exchange.js";
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
  /** Calls one key may have held on this instance at once (general_settings.mcp_held_calls_per_key). */
  heldPerKey: number;
  /** How often an instance without the call reads the table for its next event. Default 100 ms. */
  pollMs?: number;
}

/** Whose a call is: the stream budget's owner (`streamOwner`), and the key's label for logs. */
export interface CallHolder {
  owner: string;
  keyId: string;
}

/** Sends one answer to a request the upstream sent in its session (`session`: its Mcp-Session-Id). */
export type DeliverAnswer = (server: McpServerEntry, session: string | undefined, id: string | number, answer: { result: unknown } | { error: unknown }) => Promise<void>;

interface HeldCall {
  events: InputEvent[];
  waiters: Array<() => void>;
  /** Stops the upstream call. */
  cancel: Cancellation;
  /** Frees the call's place in its key's bound (set once the call is held). */
  release?: () => void;
}

/** Where something a waiter needs arrives: this instance's memory, or the database (put there by another instance). */
interface Arrivals<T> {
  /** What is in memory now. */
  here(): T | undefined;
  /** Calls `wake` when it is put in memory; returns what takes `wake` back. */
  listen(wake: () => void): () => void;
  /** What another instance wrote, read every `pollMs`; absent when nothing can come from there (a call held here). */
  fromTable?: () => Promise<T | undefined>;
}

/**
 * What `arrivals` gets within `timeoutMs` (else `late()` is thrown). Memory is listened to
 * before it is looked at: a wake-up lost between a look and a wait hung a retry for its whole
 * timeout when the database answered slowly (PostgreSQL).
 */
async function arrival<T>(arrivals: Arrivals<T>, timeoutMs: number, pollMs: number, late: () => GatewayError): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const stop = arrivals.listen(wake);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const found = arrivals.here() ?? (arrivals.fromTable === undefined ? undefined : await arrivals.fromTable()) ?? arrivals.here();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw late();
      await Promise.race([woken, new Promise<void>((resolve) => (timer = setTimeout(resolve, arrivals.fromTable === undefined ? left : Math.min(pollMs, left))))]);
    } finally {
      clearTimeout(timer);
      stop();
    }
  }
}

function tooManyHeldCalls(server: McpServerEntry, limit: number): GatewayError {
  return new GatewayError({
    status: 429,
    code: "mcp_held_calls_per_key_exceeded",
    message: `your key already has ${limit} calls waiting for your input on this gateway instance (general_settings.mcp_held_calls_per_key); this call to MCP server '${server.name}' asked for input too and was cancelled: answer the waiting calls (retry them with their inputResponses) or let them time out, then call again`,
    rpcCode: JsonRpcCode.InvalidRequest,
    extra: { server: server.name, limit },
  });
}

export function createInputBridge(deps: InputBridgeDeps) {
  const pollMs = deps.pollMs ?? 100;
  /** The calls this instance holds, by id. */
  const held = new Map<string, HeldCall>();
  /** Held calls per owner, and whether the owner's reaching its bound was logged since a place last freed. */
  const holders = new Map<string, { count: number; warned: boolean }>();

  /** A place among the owner's held calls, as the function that frees it; undefined (logged once) when it holds its bound. */
  function place(server: McpServerEntry, holder: CallHolder): (() => void) | undefined {
    const entry = holders.get(holder.owner) ?? { count: 0, warned: false };
    if (entry.count >= deps.heldPerKey) {
      if (!entry.warned) {
        entry.warned = true;
        deps.log.warn(
          { key: holder.keyId, server: server.name, limit: deps.heldPerKey },
          "a key holds its maximum of /mcp calls waiting for a 2026-07-28 client's input on this instance (mcp_held_calls_per_key); its calls that ask the client something are cancelled upstream and refused until one of those ends",
        );
      }
      return undefined;
    }
    entry.count++;
    holders.set(holder.owner, entry);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      entry.count--;
      entry.warned = false;
      if (entry.count === 0) holders.delete(holder.owner);
    };
  }

  function publish(callId: string, call: HeldCall, event: InputEvent): void {
    // A call this instance let go of (refused, or never answered) records nothing more.
    if (held.get(callId) !== call) return;
    call.events.push(event);
    const seq = call.events.length;
    for (const wake of call.waiters.splice(0)) wake();
    // The first event is the answer to the call itself, always read here; later ones answer retries, which may land anywhere.
    if (seq > 1) deps.repo.append(callId, seq, event as unknown as Record<string, unknown>).catch((error: unknown) => deps.log.warn({ err: toGatewayError(error).message }, "could not record an /mcp call's event for another instance"));
    if (event.kind !== "done") return;
    call.release?.();
    // The call is over once it ended: nothing more will come after a `done`.
    // (A call done at once is forgotten by `run`, which reads that first event here.)
    if (seq > 1) setTimeout(() => held.delete(callId), 60_000).unref();
  }

  /** Stops a call no client will be told about again, and forgets it. */
  function letGo(callId: string, call: HeldCall): void {
    held.delete(callId);
    call.cancel.abort();
  }

  /** The event `seq` of a call, from this instance's memory or (another instance holds it) the table, within `timeoutMs`. */
  function next(callId: string, seq: number, timeoutMs: number): Promise<InputEvent> {
    const local = held.get(callId);
    const arrivals: Arrivals<InputEvent> =
      local === undefined
        ? { here: () => undefined, listen: () => () => undefined, fromTable: async () => (await deps.repo.read(callId, seq)) as InputEvent | undefined }
        : {
            here: () => local.events[seq - 1],
            listen: (wake) => {
              local.waiters.push(wake);
              return () => {
                const index = local.waiters.indexOf(wake);
                if (index !== -1) local.waiters.splice(index, 1);
              };
            },
          };
    return arrival(arrivals, timeoutMs, pollMs, () => new GatewayError({ status: 504, code: "upstream_timeout", message: "the upstream did not go on with the call after its input was given", rpcCode: JsonRpcCode.UpstreamTimeout }));
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
     * Runs a call of `holder` for a 2026-07-28 client: `start` is given where the upstream's
     * requests go and what cancels the call; the first of them (or the result, or the error)
     * is what the client gets now.
     */
    async run(
      server: McpServerEntry,
      holder: CallHolder,
      start: (forward: (message: ServerMessage) => void, cancel: Cancellation) => Promise<Record<string, unknown>>,
      /** Where the call's notifications go (log messages the client asked for, on its first request's stream); dropped without. */
      notify?: (message: ServerMessage) => void,
    ): Promise<Record<string, unknown>> {
      const callId = randomBytes(16).toString("base64url");
      const call: HeldCall = { events: [], waiters: [], cancel: new Cancellation() };
      held.set(callId, call);
      let asked = 0;
      const forward = (message: ServerMessage) => {
        // Notifications have no place in this revision outside the call's own stream: that of its first request, while it lasts.
        if (message.id === undefined) {
          notify?.(message);
          return;
        }
        const key = `r${++asked}`;
        publish(callId, call, { kind: "input", requests: { [key]: { method: message.method, ...(message.params === undefined ? {} : { params: message.params }) } }, ids: { [key]: message.id }, ...(message.session === undefined ? {} : { session: message.session }) });
      };
      start(forward, call.cancel).then(
        (result) => publish(callId, call, { kind: "done", result }),
        (error: unknown) => {
          const failure = toGatewayError(error);
          publish(callId, call, { kind: "done", error: { status: failure.status, code: failure.code, message: failure.message, rpcCode: failure.rpcCode } });
        },
      );
      let first: InputEvent;
      try {
        first = await next(callId, 1, server.timeoutMs);
      } catch (error) {
        // The client is told the call timed out: nothing it does can reach the call again.
        letGo(callId, call);
        throw error;
      }
      if (first.kind === "done") {
        held.delete(callId);
        return answer(server, callId, 1, first);
      }
      // Held from now on (unless it has ended meanwhile): within the key's bound, or stopped.
      if (call.events.at(-1)?.kind !== "done") {
        const release = place(server, holder);
        if (release === undefined) {
          letGo(callId, call);
          throw tooManyHeldCalls(server, deps.heldPerKey);
        }
        call.release = release;
      }
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

    /** Calls held on this instance for `owner` (tests). */
    heldBy: (owner: string): number => holders.get(owner)?.count ?? 0,

    /** At shutdown: every call held here is cancelled upstream (its open answer would otherwise hold the shutdown until its timeout). */
    close(): void {
      for (const [callId, call] of [...held]) letGo(callId, call);
    },
  };
}

export type InputBridge = ReturnType<typeof createInputBridge>;

const SLOT_PREFIX = "mrtr.";
const SLOT_TAG_BYTES = 16;

/** One round of requests of a call in an `/mcp` session: its slots' ids are signed for that session and server. */
export interface SlotRound {
  id: string;
  session: string;
  server: string;
}

/** Who presents an answer: the nonce of the session it came in, and the server its id names. */
export interface SlotPresenter {
  session: string;
  server: string;
}

/**
 * The other way: a 2026-07-28 upstream answers a call of an earlier client (in an `/mcp`
 * session) `input_required`. Each embedded request goes to the client as a server-to-client
 * request on the call's stream, with an id that names this slot (`mrtr.{call}.{key}.{tag}`); the
 * client's answer, POSTed to whichever instance, is put in the slot (in memory here, else in
 * the database), and once every slot is filled the call is retried upstream with them.
 *
 * The tag is an HMAC (under a key derived from the salt key, so every instance checks it)
 * over the session's nonce, the server, the call and the request's key: a key in a session
 * could otherwise POST answers naming slots that do not exist, each a database row.
 */
export function createAnswerSlots(deps: { repo: InputEventsRepository; key: Buffer; log: Logger; pollMs?: number }) {
  const pollMs = deps.pollMs ?? 100;
  const waiting = new Map<string, () => void>();
  /** Answers put in slots on this instance, until their call takes them. */
  const answers = new Map<string, Record<string, unknown>>();
  const tag = (session: string, server: string, call: string, key: string) =>
    createHmac("sha256", deps.key).update(JSON.stringify([session, server, call, key])).digest().subarray(0, SLOT_TAG_BYTES).toString("base64url");

  /** Whether `slot` is one this gateway gave in `presenter`'s session for its server. */
  function signedFor(slot: string, presenter: SlotPresenter): boolean {
    const callEnd = slot.indexOf(".", SLOT_PREFIX.length);
    const keyEnd = slot.lastIndexOf(".");
    if (!slot.startsWith(SLOT_PREFIX) || callEnd === -1 || keyEnd <= callEnd) return false;
    // Compared as text: a decoder's leniency must not let two spellings name one slot.
    const given = Buffer.from(slot.slice(keyEnd + 1));
    const expected = Buffer.from(tag(presenter.session, presenter.server, slot.slice(SLOT_PREFIX.length, callEnd), slot.slice(callEnd + 1, keyEnd)));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  return {
    /** A fresh round of requests of a call in `session` (its nonce) to `server` (its name). */
    newCall: (session: string, server: string): SlotRound => ({ id: randomBytes(12).toString("base64url"), session, server }),
    /** The upstream-facing id of one request of a round (what `isSlotId` recognises). */
    slotId: (call: SlotRound, key: string) => `${SLOT_PREFIX}${call.id}.${key}.${tag(call.session, call.server, call.id, key)}`,
    isSlotId: (id: unknown): id is string => typeof id === "string" && id.startsWith(SLOT_PREFIX) && id.length < 600,

    /**
     * Puts a client's answer in its slot: to the call waiting here, or to the database for the
     * instance that waits. A slot not signed for the presenting session and server is dropped.
     */
    async deliver(slot: string, answer: Record<string, unknown>, presenter: SlotPresenter): Promise<void> {
      if (!signedFor(slot, presenter)) {
        deps.log.debug({ server: presenter.server, id: slot.slice(0, 100) }, "an answer on /mcp named an input slot this session was not given; it was dropped");
        return;
      }
      const wake = waiting.get(slot);
      if (wake !== undefined) {
        // The call waits here: it takes the answer from memory, and nothing is written.
        waiting.delete(slot);
        answers.set(slot, answer);
        wake();
        return;
      }
      if (answers.size < 10_000) answers.set(slot, answer);
      await deps.repo.append(slot, 0, answer);
    },

    /** The answer put in `slot`, within `timeoutMs`. */
    async take(slot: string, timeoutMs: number): Promise<Record<string, unknown>> {
      const found = await arrival(
        {
          here: () => answers.get(slot),
          listen: (wake) => {
            waiting.set(slot, wake);
            return () => {
              if (waiting.get(slot) === wake) waiting.delete(slot);
            };
          },
          fromTable: () => deps.repo.read(slot, 0),
        },
        timeoutMs,
        pollMs,
        () => new GatewayError({ status: 504, code: "client_input_timeout", message: "the client did not answer the upstream's request in time", rpcCode: JsonRpcCode.UpstreamTimeout }),
      );
      answers.delete(slot);
      await deps.repo.forget(slot).catch(() => undefined);
      return found;
    },
  };
}

export type AnswerSlots = ReturnType<typeof createAnswerSlots>;
