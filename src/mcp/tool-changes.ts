/**
 * The admin's side of tool pinning (README, "Tool pinning"): the changed definitions
 * waiting for a decision, and approve (pin the new definition) or reject (keep the old
 * pin; the change stays blocked or flagged). A decision names the hash the admin was
 * shown, so a definition that changed again meanwhile is never approved unseen; every
 * decision is recorded with who took it.
 */
import { GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AuditedCaller, AuditTrail } from "../observability/audit.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { ToolPin, ToolPinDecision, ToolPinsRepository } from "../store/tool-pins-repository.js";
import { toolChangePolicy, type ToolPins } from "./tool-pins.js";

export interface ToolChange {
  serverId: string;
  /** The server's name, or its id when it is no longer configured. */
  serverName: string;
  tool: string;
  policy: string;
  status: "pending" | "rejected";
  pinned: { hash: string; definition: unknown; pinnedAt: number; firstSeenAt: number };
  changed: { hash: string; definition: unknown; seenAt: number };
}

export interface ToolChangeAdmin {
  list(snapshot: RegistrySnapshot): Promise<ToolChange[]>;
  get(snapshot: RegistrySnapshot, server: string, tool: string): Promise<ToolChange>;
  decide(snapshot: RegistrySnapshot, decision: { server: string; tool: string; hash: string; decision: "approved" | "rejected"; actor: string; caller: AuditedCaller; requestId?: string | undefined }): Promise<ToolPinDecision>;
  decisions(limit: number): Promise<ToolPinDecision[]>;
}

export function createToolChangeAdmin(deps: { repo: ToolPinsRepository; pins: ToolPins; log: Logger; audit?: AuditTrail }): ToolChangeAdmin {
  function changeOf(snapshot: RegistrySnapshot, pin: ToolPin): ToolChange | undefined {
    if (pin.pending === undefined) return undefined;
    const server = snapshot.byIdOrName(pin.serverId);
    return {
      serverId: pin.serverId,
      serverName: server?.name ?? pin.serverId,
      tool: pin.tool,
      policy: server === undefined ? "warn" : toolChangePolicy(server),
      status: pin.pending.rejected ? "rejected" : "pending",
      pinned: { hash: pin.pinnedHash, definition: JSON.parse(pin.pinnedDefinition), pinnedAt: pin.pinnedAt, firstSeenAt: pin.firstSeenAt },
      changed: { hash: pin.pending.hash, definition: JSON.parse(pin.pending.definition), seenAt: pin.pending.seenAt },
    };
  }

  async function pinOf(snapshot: RegistrySnapshot, serverRef: string, tool: string): Promise<{ server: McpServerEntry | undefined; serverId: string; pin: ToolPin }> {
    const server = snapshot.byIdOrName(serverRef);
    const serverId = server?.id ?? serverRef;
    const pin = await deps.repo.get(serverId, tool);
    if (pin?.pending === undefined) throw noChange(serverRef, tool);
    return { server, serverId, pin };
  }

  return {
    async list(snapshot) {
      return (await deps.repo.changed()).flatMap((pin) => changeOf(snapshot, pin) ?? []);
    },
    async get(snapshot, serverRef, tool) {
      const { pin } = await pinOf(snapshot, serverRef, tool);
      return changeOf(snapshot, pin)!;
    },
    async decide(snapshot, asked) {
      const { server, serverId, pin } = await pinOf(snapshot, asked.server, asked.tool);
      const pending = pin.pending!;
      if (pending.hash !== asked.hash) throw staleDecision(asked.server, asked.tool, pending.hash);
      const done =
        asked.decision === "approved"
          ? await deps.repo.repin(serverId, asked.tool, pin.pinnedHash, pending.hash, pending.definition)
          : await deps.repo.reject(serverId, asked.tool, pending.hash);
      if (!done) throw staleDecision(asked.server, asked.tool, undefined);
      deps.pins.invalidate(serverId);
      const decision = await deps.repo.recordDecision({ actor: asked.actor, serverId, serverName: server?.name ?? serverId, tool: asked.tool, decision: asked.decision, oldHash: pin.pinnedHash, newHash: pending.hash });
      // The audit trail too (route `admin`): who decided what, beside the tool calls it concerns.
      deps.audit?.record({ requestId: asked.requestId, caller: asked.caller, route: "admin", server: decision.serverName, tool: asked.tool, outcome: asked.decision === "approved" ? "tool_change_approved" : "tool_change_rejected", durationMs: 0 });
      deps.log.info({ server: decision.serverName, tool: asked.tool, decision: asked.decision, actor: asked.actor, old_hash: pin.pinnedHash, new_hash: pending.hash }, `a changed tool definition was ${asked.decision} by an admin`);
      return decision;
    },
    decisions: (limit) => deps.repo.decisions(limit),
  };
}

function noChange(server: string, tool: string): GatewayError {
  return new GatewayError({ status: 404, code: "not_found", message: `no changed definition of tool '${tool}' of MCP server '${server}' is waiting for a decision` });
}

function staleDecision(server: string, tool: string, current: string | undefined): GatewayError {
  return new GatewayError({
    status: 409,
    code: "conflict",
    message: `the definition of tool '${tool}' of MCP server '${server}' changed again since it was shown (or another admin decided first): look at it again${current === undefined ? "" : ` (now ${current})`} and decide on that one`,
  });
}
