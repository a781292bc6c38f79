/**
 * The upstream calls the gateway makes on its own behalf from the UI and the management
 * views (health checks, tool lists): nothing of the client's request goes upstream, and a
 * whole check is bounded in time.
 */
import type { Caller } from "../auth/inbound/caller.js";
import { FORWARD_NOTHING } from "../auth/inbound/credential-screen.js";
import { Cancellation } from "../exchange.js";
import type { InboundRequestInfo } from "../mcp/outbound-headers.js";

/** How long one round of health checks (a tools/list per server, in parallel) may take. */
export const HEALTH_TIMEOUT_MS = 5_000;

/** A call for `caller` that carries no client header upstream, cancelled by `signal`. */
export function ownCall(caller: Caller, signal: AbortSignal): InboundRequestInfo & { signal: AbortSignal } {
  return { headers: new Headers(), presentedKey: undefined, screen: FORWARD_NOTHING, caller, signal, cancel: Cancellation.following(signal) };
}
