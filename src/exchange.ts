/**
 * The framework-neutral request and answer every route's steps work on: the HTTP layer
 * (node:http, src/http/exchange.ts) builds an `InboundRequest` from the socket, the MCP
 * and REST steps read it and produce an `HttpAnswer`, and the HTTP layer writes that.
 * Nothing here knows node:http, Hono or the fetch API's Request.
 */
import type { DebugRecorder } from "./debug.js";
import { GatewayError } from "./errors.js";
import type { RequestHeaders, ResponseHeaders } from "./headers.js";

/** An answer as the HTTP layer writes it: a small body whole, a long one as a stream. */
export interface HttpAnswer {
  status: number;
  headers: ResponseHeaders;
  body: ReadableStream<Uint8Array> | Uint8Array | string | null;
}

/** A JSON answer. */
export function jsonAnswer(value: unknown, status = 200): HttpAnswer {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}

/** What stops a request when the client goes away (or a deadline passes): `Cancellation`. */
export interface CancelSource {
  readonly aborted: boolean;
  readonly reason?: unknown;
  once(event: "abort", listener: () => void): unknown;
  removeListener(event: "abort", listener: () => void): unknown;
}

/**
 * The client's going away, as undici accepts a request's `signal` (it calls `once` and
 * `removeListener` with "abort"), without the EventTarget of an AbortController or an
 * EventEmitter per request (README, Performance). Usually it has one listener or none.
 */
export class Cancellation implements CancelSource {
  aborted = false;
  /** Why, when the cancellation follows an AbortSignal (its reason: a timeout, say). */
  reason: unknown;
  private listeners: Array<() => void> | undefined;

  /** A cancellation that follows an AbortSignal (the Hono routes' request signal, a timeout). */
  static following(signal: AbortSignal): Cancellation {
    const cancellation = new Cancellation();
    if (signal.aborted) cancellation.abort(signal.reason);
    else signal.addEventListener("abort", () => cancellation.abort(signal.reason), { once: true });
    return cancellation;
  }

  once(_event: "abort", listener: () => void): this {
    if (this.aborted) listener();
    else (this.listeners ??= []).push(listener);
    return this;
  }

  on(event: "abort", listener: () => void): this {
    return this.once(event, listener);
  }

  removeListener(_event: "abort", listener: () => void): this {
    const index = this.listeners?.indexOf(listener) ?? -1;
    if (index !== -1) this.listeners!.splice(index, 1);
    return this;
  }

  off(event: "abort", listener: () => void): this {
    return this.removeListener(event, listener);
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}

/** What a route's steps need of the request in front of them. */
export interface InboundRequest {
  readonly method: string;
  /** The path without its query. */
  readonly path: string;
  /** The query string without its `?` ("" when none). */
  readonly query: string;
  readonly headers: RequestHeaders;
  /** The TCP peer's address. */
  readonly peer: string | undefined;
  /** `x-request-id`: the client's when it is a plain token, else generated. */
  readonly requestId: string;
  /** Present when the client asked for debug headers: told what was actually used upstream. */
  readonly debug: DebugRecorder | undefined;
  /** Aborted when the client goes away before its answer is complete (cheap: see Cancellation). */
  readonly cancel: Cancellation;
  /** The same as an AbortSignal, for APIs that need one (made on first use). */
  readonly signal: AbortSignal;
  /** The body, whole, refused (413) past `limitBytes`. */
  readBody(limitBytes: number): Promise<string>;
  /** Cuts the client's connection: an answer the upstream broke off must not pass for complete. */
  cut(): void;
}

/** A body's JSON (undefined when empty), or a 400 that says it is not JSON. */
export function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError({ status: 400, code: "invalid_request", message: "the body is not valid JSON" });
  }
}
