/** Types shared by the HTTP layer: what middleware puts on the Hono context. */
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import { IncomingRequestHeaders, type RequestHeaders } from "../headers.js";
import type { Caller } from "../auth/inbound/caller.js";
import type { PresentedKey } from "../auth/inbound/gateway-key.js";
import type { DebugRecorder } from "../debug.js";
import { credentialScreen } from "../auth/inbound/credential-screen.js";
import type { KeyResolver } from "../auth/inbound/key-resolver.js";
import type { UpstreamAuthContext } from "../auth/upstream/strategy.js";
import type { RegistrySnapshot } from "../registry/registry.js";

export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    caller: Caller;
    presentedKey: PresentedKey | undefined;
    /** The registry snapshot this request uses throughout. */
    snapshot: RegistrySnapshot;
    /** How errors of this route are answered: JSON-RPC error objects on MCP routes. */
    errorStyle: "jsonrpc" | "rest" | "oauth";
    jsonRpcId: string | number | null;
    /** Set when the request asked for debug headers. */
    debug: DebugRecorder | undefined;
  };
}

/**
 * The request's headers for reading: Node's parsed headers when the server is node:http,
 * which spares building a fetch `Headers` (measured: README, Performance); else the Request's.
 */
export function requestHeaders(c: Context<AppEnv>): RequestHeaders {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  return incoming === undefined ? c.req.raw.headers : new IncomingRequestHeaders(incoming.headers);
}

/** What the upstream calls of an authenticated route need to know about the inbound request. */
export function upstreamAuthContext(c: Context<AppEnv>, keys: KeyResolver): Required<Pick<UpstreamAuthContext, "caller" | "signal">> & UpstreamAuthContext {
  return {
    headers: requestHeaders(c),
    presentedKey: c.get("presentedKey"),
    screen: credentialScreen(keys, c.get("presentedKey")),
    caller: c.get("caller"),
    debug: c.get("debug"),
    signal: c.req.raw.signal,
  };
}
