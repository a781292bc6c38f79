/** `/health/liveliness` (the port is open) and `/health/readiness` (config and database ready). */
import { Hono } from "hono";
import type { AppEnv } from "../env.js";

export interface HealthDeps {
  database: { dialect: "sqlite" | "postgres"; ping(): Promise<void> };
  serverCount: () => number;
  isDraining: () => boolean;
  version: string;
}

export function healthRoutes(deps: HealthDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const alive = () => Response.json({ status: "ok" });
  app.get("/health/liveliness", alive);
  app.get("/health/liveness", alive);
  app.get("/health/readiness", async (c) => {
    if (deps.isDraining()) return c.json({ status: "shutting_down", db: deps.database.dialect }, 503);
    try {
      await deps.database.ping();
    } catch {
      return c.json({ status: "unavailable", db: deps.database.dialect, detail: "the database does not answer" }, 503);
    }
    return c.json({ status: "ok", db: deps.database.dialect, mcp_servers: deps.serverCount(), version: deps.version });
  });
  return app;
}
