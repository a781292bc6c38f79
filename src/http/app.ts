/**
 * The Hono application: the routes where Hono's cost does not matter (health, metrics and
 * audit, admin API, keys, OAuth endpoints, Connect, UI) and their error mapper. The MCP
 * and REST routes are not here: the router serves them from node:http (routes/mcp.ts).
 * Tests may call `app.request()` in-process.
 */
import { Hono } from "hono";
import type { KeyAdmin } from "../auth/inbound/key-admin.js";
import type { CallerNetwork } from "../auth/inbound/client-address.js";
import type { KeyResolver } from "../auth/inbound/key-resolver.js";
import type { Connect } from "../oauth/connect.js";
import type { OriginSettings } from "../oauth/public-origin.js";
import type { ServerAdmin } from "../registry/server-admin.js";
import type { Logger } from "../log.js";
import type { Aggregate } from "../mcp/aggregate.js";
import type { ServerRegistry } from "../registry/registry.js";
import type { AppEnv } from "./env.js";
import { errorResponse, logFailure, noSuchRoute } from "./error-response.js";
import { exchangeOf } from "./env.js";
import { toGatewayError } from "../errors.js";
import type { Context } from "hono";
import { adminServerRoutes } from "./routes/admin-servers.js";
import { keyRoutes } from "./routes/keys.js";
import { oauthRoutes, type OauthRouteDeps } from "./routes/oauth.js";
import { connectRoutes } from "./routes/connect.js";
import { connectionRoutes } from "./routes/connections.js";
import { healthRoutes, type HealthDeps } from "./routes/health.js";
import { observabilityRoutes, type ObservabilityRouteDeps } from "./routes/observability.js";
import { uiRoutes, type UiRouteDeps } from "./routes/ui.js";
import { toolChangeRoutes } from "./routes/tool-changes.js";
import type { ToolChangeAdmin } from "../mcp/tool-changes.js";

export interface AppDeps {
  log: Logger;
  registry: ServerRegistry;
  keys: KeyResolver;
  aggregate: Aggregate;
  health: HealthDeps;
  origin: OriginSettings;
  network: CallerNetwork;
  oauth: Omit<OauthRouteDeps, "registry" | "keys" | "origin" | "network" | "maxBodyBytes">;
  connect: Connect;
  serverAdmin: ServerAdmin;
  keyAdmin: KeyAdmin;
  ui: Omit<UiRouteDeps, "origin" | "network" | "log" | "maxBodyBytes">;
  observability: Omit<ObservabilityRouteDeps, "keys">;
  /** Tool pinning's admin API (without, its routes are not served). */
  toolChanges?: ToolChangeAdmin;
  maxBodyBytes: number;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(onError(deps.log));
  app.notFound(() => errorResponse(noSuchRoute(), "rest", null));
  app.route("/", healthRoutes(deps.health));
  app.route("/", observabilityRoutes({ ...deps.observability, keys: deps.keys }));
  app.route("/", adminServerRoutes({ keys: deps.keys, admin: deps.serverAdmin, registry: deps.registry, aggregate: deps.aggregate, network: deps.network, maxBodyBytes: deps.maxBodyBytes }));
  if (deps.toolChanges !== undefined) app.route("/", toolChangeRoutes({ keys: deps.keys, registry: deps.registry, changes: deps.toolChanges, network: deps.network, maxBodyBytes: deps.maxBodyBytes }));
  app.route("/", keyRoutes({ keys: deps.keys, admin: deps.keyAdmin, registry: deps.registry, maxBodyBytes: deps.maxBodyBytes }));
  app.route("/", oauthRoutes({ ...deps.oauth, registry: deps.registry, keys: deps.keys, origin: deps.origin, network: deps.network, maxBodyBytes: deps.maxBodyBytes }));
  app.route("/", connectRoutes({ registry: deps.registry, keys: deps.keys, sessions: deps.ui.sessions, origin: deps.origin, network: deps.network, connect: deps.connect, registration: deps.oauth.registration, registrationLimit: deps.oauth.registrationLimit, maxBodyBytes: deps.maxBodyBytes }));
  app.route("/", connectionRoutes({ keys: deps.keys, network: deps.network, registry: deps.registry, connections: deps.ui.connections }));
  app.route("/", uiRoutes({ ...deps.ui, origin: deps.origin, network: deps.network, log: deps.log, maxBodyBytes: deps.maxBodyBytes }));
  return app;
}

/** The Hono routes' error mapper: the same answers as errorAnswer, in the route's style. */
export function onError(log: Logger) {
  return (thrown: unknown, c: Context<AppEnv>): Response => {
    const error = toGatewayError(thrown);
    logFailure(log, error, { method: c.req.method, path: c.req.path, request_id: exchangeOf(c)?.requestId });
    return errorResponse(error, c.get("errorStyle") ?? "rest", c.get("jsonRpcId") ?? null);
  };
}
