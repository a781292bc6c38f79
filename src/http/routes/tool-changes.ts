/**
 * `/v1/mcp/tool-changes`: tool pinning's admin API (README, "Tool pinning"), master key
 * only. The changed tool definitions waiting for a decision, one with its old and new
 * definition, approve or reject (naming the hash that was shown), and the decisions taken.
 */
import { Hono } from "hono";
import { z } from "zod";
import type { Caller } from "../../auth/inbound/caller.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError } from "../../errors.js";
import type { ToolChange, ToolChangeAdmin } from "../../mcp/tool-changes.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { ToolPinDecision } from "../../store/tool-pins-repository.js";
import { exchangeOf, type AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";
import { readJson } from "../read-body.js";

export interface ToolChangeRouteDeps {
  keys: KeyResolver;
  registry: ServerRegistry;
  changes: ToolChangeAdmin;
  network: CallerNetwork;
  maxBodyBytes: number;
}

const decisionBody = z.strictObject({ server: z.string().min(1), tool: z.string().min(1), hash: z.string().regex(/^[0-9a-f]{64}$/) });

export function toolChangeRoutes(deps: ToolChangeRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const admin = [authenticate(deps.keys, { network: deps.network }), requireMaster] as const;

  app.get("/v1/mcp/tool-changes", ...admin, async (c) => c.json({ changes: (await deps.changes.list(deps.registry.current())).map(changeJson) }));
  app.get("/v1/mcp/tool-changes/decisions", ...admin, async (c) => c.json({ decisions: (await deps.changes.decisions(200)).map(decisionJson) }));
  app.get("/v1/mcp/tool-changes/:server/:tool", ...admin, async (c) => c.json(changeJson(await deps.changes.get(deps.registry.current(), c.req.param("server"), c.req.param("tool")))));
  for (const [path, decision] of [
    ["/v1/mcp/tool-changes/approve", "approved"],
    ["/v1/mcp/tool-changes/reject", "rejected"],
  ] as const) {
    app.post(path, ...admin, async (c) => {
      const parsed = decisionBody.safeParse(await readJson(c.req.raw, deps.maxBodyBytes));
      if (!parsed.success) throw new GatewayError({ status: 400, code: "invalid_request", message: "expected {server, tool, hash}: the server's id or name, the tool's name, and the changed definition's hash (64 hex digits) as listed" });
      const caller = c.get("caller");
      const taken = await deps.changes.decide(deps.registry.current(), { ...parsed.data, decision, actor: actorOf(caller), caller, requestId: exchangeOf(c)?.requestId });
      return c.json(decisionJson(taken));
    });
  }
  return app;
}

/** Who decided, as the decision records it: the key's label and the identity, never the key. */
export function actorOf(caller: Caller): string {
  return caller.subject === caller.keyId ? caller.keyId : `${caller.keyId} (${caller.subject})`;
}

export function changeJson(change: ToolChange): Record<string, unknown> {
  return {
    server_id: change.serverId,
    server_name: change.serverName,
    tool: change.tool,
    policy: change.policy,
    status: change.status,
    pinned: { hash: change.pinned.hash, definition: change.pinned.definition, pinned_at: new Date(change.pinned.pinnedAt).toISOString(), first_seen_at: new Date(change.pinned.firstSeenAt).toISOString() },
    changed: { hash: change.changed.hash, definition: change.changed.definition, seen_at: new Date(change.changed.seenAt).toISOString() },
  };
}

function decisionJson(decision: ToolPinDecision): Record<string, unknown> {
  return {
    id: decision.id,
    at: new Date(decision.at).toISOString(),
    actor: decision.actor,
    server_id: decision.serverId,
    server_name: decision.serverName,
    tool: decision.tool,
    decision: decision.decision,
    old_hash: decision.oldHash,
    new_hash: decision.newHash,
  };
}
