/** The authentication step (auth/inbound/authenticate.ts) as Hono middleware, for the routes Hono serves. */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { authenticate as authenticateRequest, type AuthenticateOptions } from "../../auth/inbound/authenticate.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError } from "../../errors.js";
import { exchangeOf, requestHeaders, type AppEnv } from "../env.js";

/** The TCP peer of the request (undefined in-process). */
export function peerAddress(c: Context<AppEnv>): string | undefined {
  return c.env?.incoming?.socket?.remoteAddress;
}

export function authenticate(keys: KeyResolver, options: Pick<AuthenticateOptions, "network"> = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const { caller, presented } = await authenticateRequest(keys, { headers: requestHeaders(c), peer: peerAddress(c) }, options);
    c.set("caller", caller);
    c.set("presentedKey", presented);
    const exchange = exchangeOf(c);
    if (exchange !== undefined) exchange.caller = caller;
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
