/** Types shared by the HTTP layer: what middleware puts on the Hono context. */
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import { IncomingRequestHeaders, type RequestHeaders } from "../headers.js";
import type { Caller } from "../auth/inbound/caller.js";
import type { PresentedKey } from "../auth/inbound/gateway-key.js";
import type { DebugRecorder } from "../debug.js";
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
 * which spares building a fetch `Headers` (../shared/PERFORMANCE.md); else the Request's.
 */
export function requestHeaders(c: Context<AppEnv>): RequestHeaders {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  return incoming === undefined ? c.req.raw.headers : new IncomingRequestHeaders(incoming.headers);
}
