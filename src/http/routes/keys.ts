/**
 * LiteLLM's key API (master key only): `/key/generate`, `/key/info`, `/key/update`,
 * `/key/regenerate` and `/key/{key}/regenerate`, `/key/block`, `/key/unblock`,
 * `/key/list`, `/key/delete`.
 */
import { Hono } from "hono";
import type { KeyAdmin } from "../../auth/inbound/key-admin.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";
import { readJson } from "../read-body.js";

export function keyRoutes(deps: { keys: KeyResolver; admin: KeyAdmin; registry: ServerRegistry; maxBodyBytes: number }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const body = (request: Request) => readJson(request, deps.maxBodyBytes);
  app.use("/key/*", authenticate(deps.keys), requireMaster);
  app.post("/key/generate", async (c) => c.json(await deps.admin.generate(await body(c.req.raw), deps.registry.current())));
  app.get("/key/info", async (c) => c.json(await deps.admin.info(c.req.query("key"))));
  app.post("/key/update", async (c) => c.json(await deps.admin.update(await body(c.req.raw), deps.registry.current())));
  app.post("/key/regenerate", async (c) => c.json(await deps.admin.regenerate(undefined, await body(c.req.raw), deps.registry.current())));
  app.post("/key/:key/regenerate", async (c) => c.json(await deps.admin.regenerate(c.req.param("key"), await body(c.req.raw), deps.registry.current())));
  app.post("/key/block", async (c) => c.json(await deps.admin.setBlocked(await body(c.req.raw), true)));
  app.post("/key/unblock", async (c) => c.json(await deps.admin.setBlocked(await body(c.req.raw), false)));
  app.get("/key/list", async (c) => c.json(await deps.admin.list(c.req.query())));
  app.post("/key/delete", async (c) => c.json(await deps.admin.delete(await body(c.req.raw))));
  return app;
}
