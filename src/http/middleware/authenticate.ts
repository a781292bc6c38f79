/**
 * Resolves the caller from the gateway key (CONTRACT §3) before anything else looks at
 * the request, so an unauthenticated caller learns nothing about which servers exist.
 * Fails closed: no key, an unknown key, or a resolver error all end in 401 / 500,
 * never in an anonymous identity.
 *
 * The one exception is the seed's delegate bypass: when every server a request targets
 * delegates auth upstream (`delegatedTargets`), a request without `x-litellm-api-key`
 * passes as a `delegated` caller limited to those servers, and its Authorization header
 * belongs to the upstream (unless it is a gateway key, which is then checked as usual).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { delegatedCaller, seenFrom, type Caller } from "../../auth/inbound/caller.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import { extractGatewayKey, GATEWAY_KEY_HEADER, type PresentedKey } from "../../auth/inbound/gateway-key.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError, unauthorized } from "../../errors.js";
import type { McpServerEntry } from "../../registry/server-entry.js";
import { requestHeaders, type AppEnv } from "../env.js";

export interface AuthenticateOptions {
  /** Marks callers outside the internal ranges, from whom internal-only servers are hidden. */
  network?: CallerNetwork;
  /** The servers the request targets when every one of them delegates auth upstream; else undefined (fail closed). */
  delegatedTargets?: (c: Context<AppEnv>, fromPublicInternet: boolean) => readonly McpServerEntry[] | undefined;
}

/** The TCP peer of the request (undefined in-process). */
export function peerAddress(c: Context<AppEnv>): string | undefined {
  return c.env?.incoming?.socket?.remoteAddress;
}

export function authenticate(keys: KeyResolver, options: AuthenticateOptions = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const fromPublicInternet = options.network?.fromPublicInternet(peerAddress(c), c.req.raw.headers) ?? false;
    const admit = (caller: Caller, presented: PresentedKey | undefined) => {
      c.set("caller", seenFrom(caller, fromPublicInternet));
      c.set("presentedKey", presented);
    };
    const presented = extractGatewayKey(requestHeaders(c));
    const delegated = presented?.source === GATEWAY_KEY_HEADER ? undefined : options.delegatedTargets?.(c, fromPublicInternet);
    if (delegated !== undefined) {
      const caller = presented === undefined ? undefined : await keys.resolve(presented.key);
      if (caller === undefined) admit(delegatedCaller(delegated.map((server) => server.id)), undefined);
      else admit(caller, presented);
      return next();
    }
    if (presented === undefined) throw unauthorized();
    const caller = await keys.resolve(presented.key);
    if (caller === undefined) throw unauthorized("invalid gateway key");
    admit(caller, presented);
    await next();
  });
}

/** Requires the master key (admin routes). */
export const requireMaster = createMiddleware<AppEnv>(async (c, next) => {
  if (c.get("caller").kind !== "master") {
    throw new GatewayError({ status: 403, code: "forbidden", message: "this route needs the master key" });
  }
  await next();
});
