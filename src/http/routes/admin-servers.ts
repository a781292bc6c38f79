/**
 * `/v1/mcp/*`: the server registry's management API and LiteLLM's read-only views of it
 * (README, "Managing servers and keys"). Server writes need the master key; the views
 * (`/v1/mcp/tools`, `/v1/mcp/access_groups`, `/v1/mcp/server/health`) answer any key
 * about the servers it may use.
 */
import { Hono } from "hono";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { AUTHORIZATION_REQUIRED } from "../../auth/upstream/oauth2-interactive.js";
import { GatewayError } from "../../errors.js";
import { serversForCaller } from "../../mcp/access.js";
import type { Aggregate } from "../../mcp/aggregate.js";
import { prefixedToolName } from "../../mcp/tool-routing.js";
import type { ServerAdmin } from "../../registry/server-admin.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";
import { readJson } from "../read-body.js";
import { HEALTH_TIMEOUT_MS, ownCall } from "../own-calls.js";


export interface AdminServerRouteDeps {
  keys: KeyResolver;
  admin: ServerAdmin;
  registry: ServerRegistry;
  aggregate: Aggregate;
  network: CallerNetwork;
  maxBodyBytes: number;
}

export function adminServerRoutes(deps: AdminServerRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Per route, not `use("/v1/mcp/server/*")`: the Connect routes under /v1/mcp/server/oauth/ are for every user.
  const anyKey = authenticate(deps.keys, { network: deps.network });
  const admin = [anyKey, requireMaster] as const;


  // Registered before /v1/mcp/server/:id, which would otherwise take "health" as an id.
  app.get("/v1/mcp/server/health", anyKey, async (c) => {
    const caller = c.get("caller");
    const snapshot = deps.registry.current();
    const wanted = c.req.queries("server_ids")?.flatMap((value) => value.split(",")).map((value) => value.trim()).filter((value) => value !== "");
    const servers = serversForCaller(snapshot, caller, wanted);
    const { lists, failures } = await deps.aggregate.listToolsSettled(snapshot, caller, servers, ownCall(caller, AbortSignal.timeout(HEALTH_TIMEOUT_MS)));
    const checked = new Date().toISOString();
    const report: Array<Record<string, unknown>> = [
      ...lists.map(({ server, tools }) => ({ server_id: server.id, server_name: server.name, status: "healthy", loaded: true, tools: tools.length, last_health_check: checked })),
      ...failures.map(({ server, error }) =>
        error.code === AUTHORIZATION_REQUIRED
          ? { server_id: server.id, server_name: server.name, status: "unknown", loaded: true, health_check_error: "needs a user's authorization (interactive OAuth): not checked", last_health_check: checked }
          : { server_id: server.id, server_name: server.name, status: "unhealthy", loaded: true, health_check_error: error.expose ? error.message : "internal error (see the gateway log)", last_health_check: checked },
      ),
    ];
    // Database servers this instance could not load are unhealthy too; only the admin sees them.
    if (caller.kind === "master") {
      for (const problem of deps.admin.problems()) {
        if (wanted === undefined || wanted.includes(problem.id) || wanted.includes(problem.name)) {
          report.push({ server_id: problem.id, server_name: problem.name, status: "unhealthy", loaded: false, health_check_error: problem.problem, last_health_check: checked });
        }
      }
    }
    return c.json(report);
  });

  app.get("/v1/mcp/server", ...admin, (c) => c.json(deps.admin.list()));
  app.post("/v1/mcp/server", ...admin, async (c) => c.json(await deps.admin.create(await readJson(c.req.raw, deps.maxBodyBytes)), 201));
  // LiteLLM's form: the server to change is named by server_id in the body.
  app.put("/v1/mcp/server", ...admin, async (c) => {
    const body = await readJson(c.req.raw, deps.maxBodyBytes);
    const id = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).server_id : undefined;
    if (typeof id !== "string" || id === "") {
      throw new GatewayError({ status: 400, code: "invalid_request", message: "server_id: required in the body (or use PUT /v1/mcp/server/{server_id})", extra: { field: "server_id" } });
    }
    return c.json(await deps.admin.update(id, body), 202);
  });
  app.get("/v1/mcp/server/:id", ...admin, (c) => c.json(deps.admin.get(c.req.param("id"))));
  app.put("/v1/mcp/server/:id", ...admin, async (c) => c.json(await deps.admin.update(c.req.param("id"), await readJson(c.req.raw, deps.maxBodyBytes))));
  app.delete("/v1/mcp/server/:id", ...admin, async (c) => c.json(await deps.admin.delete(c.req.param("id"))));

  // The tools /mcp lists for this key, prefixed the same way.
  app.get("/v1/mcp/tools", anyKey, async (c) => {
    const caller = c.get("caller");
    const snapshot = deps.registry.current();
    const { lists } = await deps.aggregate.listToolsSettled(snapshot, caller, serversForCaller(snapshot, caller), ownCall(caller, AbortSignal.timeout(HEALTH_TIMEOUT_MS)));
    return c.json({
      tools: lists.flatMap(({ server, tools }) => tools.map((tool) => ({ ...tool, name: prefixedToolName(server, tool.name), mcp_info: { ...server.mcpInfo, server_name: server.name } }))),
    });
  });

  // The access groups of the servers this key may use (LiteLLM lists every server's; a limited key learns no more than its own).
  app.get("/v1/mcp/access_groups", anyKey, (c) => {
    const caller = c.get("caller");
    const groups = new Set<string>();
    for (const server of serversForCaller(deps.registry.current(), caller)) for (const group of server.accessGroups) groups.add(group);
    return c.json({ access_groups: [...groups].sort() });
  });
  return app;
}
