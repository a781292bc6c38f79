/**
 * Resolves the caller from the gateway key before anything else looks at the request, so
 * an unauthenticated caller learns nothing about which servers exist. Fails closed: no
 * key, an unknown key, or a resolver error all end in 401 / 500, never in an anonymous
 * identity. One function for every route, whatever serves it.
 *
 * The one exception is the seed's delegate bypass: when every server a request targets
 * delegates auth upstream (`delegatedTargets`), a request without `x-litellm-api-key`
 * passes as a `delegated` caller limited to those servers, and its Authorization header
 * belongs to the upstream (unless it is a gateway key, which is then checked as usual).
 */
import type { RequestHeaders } from "../../headers.js";
import { unauthorized } from "../../errors.js";
import { delegatedCaller, seenFrom, type Caller } from "./caller.js";
import type { CallerNetwork } from "./client-address.js";
import { extractGatewayKey, GATEWAY_KEY_HEADER, type PresentedKey } from "./gateway-key.js";
import type { KeyResolver } from "./key-resolver.js";

export interface AuthenticateOptions {
  /** Marks callers outside the internal ranges, from whom internal-only servers are hidden. */
  network?: CallerNetwork;
  /** The ids of the servers the request targets when every one of them delegates auth upstream; else undefined (fail closed). */
  delegatedTargets?: (fromPublicInternet: boolean) => readonly { id: string }[] | undefined;
}

export interface Authenticated {
  caller: Caller;
  /** The gateway key and where it was found; undefined for a delegated caller that presented none. */
  presented: PresentedKey | undefined;
}

/** The caller; without a promise when the key is known without a lookup (the master key, a cached virtual key). */
export function authenticate(
  keys: KeyResolver,
  request: { headers: RequestHeaders; peer: string | undefined },
  options: AuthenticateOptions = {},
): Authenticated | Promise<Authenticated> {
  const fromPublicInternet = options.network?.fromPublicInternet(request.peer, request.headers) ?? false;
  const presented = extractGatewayKey(request.headers);
  const delegated = presented?.source === GATEWAY_KEY_HEADER ? undefined : options.delegatedTargets?.(fromPublicInternet);
  if (delegated !== undefined) return delegatedOrKeyed(keys, presented, delegated, fromPublicInternet);
  if (presented === undefined) throw unauthorized();
  const resolved = keys.resolve(presented.key);
  if (resolved instanceof Promise) return resolved.then((caller) => admitted(caller, presented, fromPublicInternet));
  return admitted(resolved, presented, fromPublicInternet);
}

function admitted(caller: Caller | undefined, presented: PresentedKey, fromPublicInternet: boolean): Authenticated {
  if (caller === undefined) throw unauthorized("invalid gateway key");
  return { caller: seenFrom(caller, fromPublicInternet), presented };
}

/** The delegate bypass: a gateway key in Authorization is still checked; anything else is the upstream's. */
async function delegatedOrKeyed(keys: KeyResolver, presented: PresentedKey | undefined, delegated: readonly { id: string }[], fromPublicInternet: boolean): Promise<Authenticated> {
  const caller = presented === undefined ? undefined : await keys.resolve(presented.key);
  if (caller === undefined) return { caller: seenFrom(delegatedCaller(delegated.map((server) => server.id)), fromPublicInternet), presented: undefined };
  return { caller: seenFrom(caller, fromPublicInternet), presented };
}
