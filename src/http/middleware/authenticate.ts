/**
 * Resolves the caller from the gateway key (CONTRACT §3) before anything else looks at
 * the request, so an unauthenticated caller learns nothing about which servers exist.
 * Fails closed: no key, an unknown key, or a resolver error all end in 401 / 500,
 * never in an anonymous identity.
 */
import { createMiddleware } from "hono/factory";
import { extractGatewayKey } from "../../auth/inbound/gateway-key.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError, unauthorized } from "../../errors.js";
import type { AppEnv } from "../env.js";

export function authenticate(keys: KeyResolver) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const presented = extractGatewayKey(c.req.raw.headers);
    if (presented === undefined) throw unauthorized();
    const caller = await keys.resolve(presented.key);
    if (caller === undefined) throw unauthorized("invalid gateway key");
    c.set("caller", caller);
    c.set("presentedKey", presented);
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
