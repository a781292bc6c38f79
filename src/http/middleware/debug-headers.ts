/** Adds the debug headers to every response of a request that asked for them (errors included). */
import { createMiddleware } from "hono/factory";
import { extractGatewayKey } from "../../auth/inbound/gateway-key.js";
import { DEBUG_REQUEST_HEADER, DebugRecorder, debugHeaders } from "../../debug.js";
import { requestHeaders, type AppEnv } from "../env.js";

export const debugHeadersMiddleware = createMiddleware<AppEnv>(async (c, next) => {
  if ((requestHeaders(c).get(DEBUG_REQUEST_HEADER) ?? "").toLowerCase() !== "true") return next();
  const recorder = new DebugRecorder();
  c.set("debug", recorder);
  await next();
  // A request admitted by the delegate bypass presented no key: its Authorization is the upstream's, not a leaked key.
  const gatewayKey = c.get("caller")?.kind === "delegated" ? undefined : extractGatewayKey(c.req.raw.headers)?.key;
  const headers = debugHeaders(c.req.raw.headers, recorder, gatewayKey);
  for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
});
