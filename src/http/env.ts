/** Types shared by the Hono routes: what middleware puts on the context, and the request's exchange. */
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import type { RequestHeaders } from "../headers.js";
import type { Caller } from "../auth/inbound/caller.js";
import type { PresentedKey } from "../auth/inbound/gateway-key.js";
import { credentialScreen } from "../auth/inbound/credential-screen.js";
import type { KeyResolver } from "../auth/inbound/key-resolver.js";
import type { UpstreamAuthContext } from "../auth/upstream/strategy.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { NodeExchange } from "./exchange.js";

export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    caller: Caller;
    presentedKey: PresentedKey | undefined;
    /** The registry snapshot this request uses throughout. */
    snapshot: RegistrySnapshot;
    /** How errors of this route are answered. */
    errorStyle: "jsonrpc" | "rest" | "oauth";
    jsonRpcId: string | number | null;
  };
}

const EXCHANGE = Symbol("gatehouse.exchange");

/** Hands the request's exchange to the Hono routes (hono-adapter.ts). */
export function attachExchange(incoming: HttpBindings["incoming"], exchange: NodeExchange): void {
  (incoming as unknown as Record<symbol, NodeExchange>)[EXCHANGE] = exchange;
}

/** The exchange a node:http request was handed to the Hono app with. */
export function exchangeOfIncoming(incoming: HttpBindings["incoming"]): NodeExchange | undefined {
  return (incoming as unknown as Record<symbol, NodeExchange | undefined>)[EXCHANGE];
}

/** The exchange of a request served by node:http (undefined in-process, as `app.request()` in tests). */
export function exchangeOf(c: Context<AppEnv>): NodeExchange | undefined {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  return incoming === undefined ? undefined : exchangeOfIncoming(incoming);
}

/**
 * The request's headers for reading: the exchange's view of Node's parsed headers when the
 * server is node:http, which spares building a fetch `Headers`; else the Request's.
 */
export function requestHeaders(c: Context<AppEnv>): RequestHeaders {
  return exchangeOf(c)?.headers ?? c.req.raw.headers;
}

/** What the upstream calls of an authenticated route need to know about the inbound request. */
export function upstreamAuthContext(c: Context<AppEnv>, keys: KeyResolver): Required<Pick<UpstreamAuthContext, "caller" | "signal">> & UpstreamAuthContext {
  return {
    headers: requestHeaders(c),
    presentedKey: c.get("presentedKey"),
    screen: credentialScreen(keys, c.get("presentedKey")),
    caller: c.get("caller"),
    debug: exchangeOf(c)?.debug,
    signal: c.req.raw.signal,
  };
}
