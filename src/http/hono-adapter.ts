/**
 * The routes where Hono's cost does not matter (UI, admin API, OAuth endpoints, health,
 * metrics) are a Hono app; this hands it the requests the router does not serve itself.
 * The request's exchange goes along (env.ts `exchangeOf`), so the Hono routes share its
 * request id, debug recorder and end-of-request accounting, and their answers get the
 * same own headers as every other answer.
 */
import { getRequestListener, type HttpBindings } from "@hono/node-server";
import type { Hono } from "hono";
import { REQUEST_ID_HEADER } from "../observability/request-id.js";
import { attachExchange, exchangeOfIncoming, type AppEnv } from "./env.js";
import type { NodeExchange } from "./exchange.js";

export function honoAdapter(app: Hono<AppEnv>): (exchange: NodeExchange) => void {
  const listener = getRequestListener(async (request, env) => {
    const response = await app.fetch(request, env);
    // Set on the Node response, which the adapter then writes with the Response's own headers.
    exchangeOfIncoming(env.incoming as HttpBindings["incoming"])?.applyOwnHeaders();
    return response;
  });
  return (exchange) => {
    attachExchange(exchange.incoming, exchange);
    // Also on answers the adapter writes without the app (a request it cannot turn into a fetch Request).
    exchange.response.setHeader(REQUEST_ID_HEADER, exchange.requestId);
    void listener(exchange.incoming, exchange.response);
  };
}
