/** `/mcp-rest/tools/list` and `/mcp-rest/tools/call` (CONTRACT §4). */
import { Hono } from "hono";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { parseCallToolBody, type RestContext, type RestTools } from "../../mcp/rest-tools.js";
import type { ServerRegistry } from "../../registry/registry.js";
import { upstreamAuthContext, type AppEnv } from "../env.js";
import { authenticate } from "../middleware/authenticate.js";
import { readNodeBody } from "../read-body.js";
import { requestIdOf } from "../../observability/request-id.js";
import type { Context } from "hono";

export interface RestRouteDeps {
  registry: ServerRegistry;
  keys: KeyResolver;
  network: CallerNetwork;
  rest: RestTools;
  maxBodyBytes: number;
}

export function mcpRestRoutes(deps: RestRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/mcp-rest/*", authenticate(deps.keys, { network: deps.network }));

  const context = (c: Context<AppEnv>): RestContext => ({
    snapshot: deps.registry.current(),
    caller: c.get("caller"),
    requestId: requestIdOf(c.env?.incoming),
    inbound: upstreamAuthContext(c, deps.keys),
  });

  app.get("/mcp-rest/tools/list", async (c) => c.json(await deps.rest.list(context(c), c.req.query("server_name") ?? c.req.query("server_id"))));

  app.post("/mcp-rest/tools/call", async (c) => {
    const body = parseCallToolBody(await readNodeBody(c.req.raw, c.env?.incoming, deps.maxBodyBytes));
    return c.json(await deps.rest.call(context(c), body));
  });
  return app;
}
