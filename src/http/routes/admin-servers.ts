/** `/v1/mcp/server`: the server registry's management API (master key; README, "Managing servers and keys"). */
import { Hono } from "hono";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import type { ServerAdmin } from "../../registry/server-admin.js";
import type { AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";
import { readJson } from "../read-body.js";

export function adminServerRoutes(deps: { keys: KeyResolver; admin: ServerAdmin; maxBodyBytes: number }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Per route, not `use("/v1/mcp/server/*")`: the Connect routes under /v1/mcp/server/oauth/ are for every user.
  const admin = [authenticate(deps.keys), requireMaster] as const;

  app.get("/v1/mcp/server", ...admin, (c) => c.json(deps.admin.list()));
  app.post("/v1/mcp/server", ...admin, async (c) => c.json(await deps.admin.create(await readJson(c.req.raw, deps.maxBodyBytes)), 201));
  app.get("/v1/mcp/server/:id", ...admin, (c) => c.json(deps.admin.get(c.req.param("id"))));
  app.put("/v1/mcp/server/:id", ...admin, async (c) => c.json(await deps.admin.update(c.req.param("id"), await readJson(c.req.raw, deps.maxBodyBytes))));
  app.delete("/v1/mcp/server/:id", ...admin, async (c) => c.json(await deps.admin.delete(c.req.param("id"))));
  return app;
}
