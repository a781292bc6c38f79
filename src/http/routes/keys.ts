/** `/key/generate`, `/key/list`, `/key/delete`: virtual keys (master key). */
import { Hono } from "hono";
import type { KeyAdmin } from "../../auth/inbound/key-admin.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";
import { readJson } from "../read-body.js";

export function keyRoutes(deps: { keys: KeyResolver; admin: KeyAdmin; registry: ServerRegistry; maxBodyBytes: number }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/key/*", authenticate(deps.keys), requireMaster);
  app.post("/key/generate", async (c) => c.json(await deps.admin.generate(await readJson(c.req.raw, deps.maxBodyBytes), deps.registry.current())));
  app.get("/key/list", async (c) => c.json(await deps.admin.list(c.req.query())));
  app.post("/key/delete", async (c) => c.json(await deps.admin.delete(await readJson(c.req.raw, deps.maxBodyBytes))));
  return app;
}
