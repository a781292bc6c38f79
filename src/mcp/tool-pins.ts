/**
 * Tool pinning (README, "Tool pinning"): the defence against an upstream that rewrites a
 * tool's description or schema after it was approved (a "rug pull"). The first definition
 * of each tool a server lists is pinned in the database; a later, different one is a
 * change, handled by the server's `tool_changes` policy:
 *
 * - `block`: the tool is left out of lists and its calls are refused until an admin approves;
 * - `warn` (the default): served, recorded for the UI, logged and counted once per change;
 * - `allow`: served and pinned again.
 *
 * Every listing on every route passes through `review`, every call of a `block` server
 * through `assertCallable`. Each instance keeps a server's pins for `CACHE_MS` (any
 * instance's decision reaches the others within it); its own writes refresh them at once.
 */
import type { ToolChangePolicy } from "../config/schema.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { Logger } from "../log.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { ToolPin, ToolPinsRepository } from "../store/tool-pins-repository.js";
import { canonicalDefinition, definitionHash } from "./tool-definition.js";

/** How long an instance trusts its copy of a server's pins. */
export const CACHE_MS = 5_000;

export function toolChangePolicy(server: McpServerEntry): ToolChangePolicy {
  return server.config.tool_changes ?? "warn";
}

export interface ToolPins {
  /** The listed tools to serve, after pinning new ones and applying the server's policy to changed ones. */
  review<T extends { name: string }>(server: McpServerEntry, tools: readonly T[]): Promise<T[]>;
  /** Refuses a call to a tool whose change is blocked; synchronous while the server's pins are cached. */
  assertCallable(server: McpServerEntry, tool: string): void | Promise<void>;
  /** Forget this instance's copies (after a decision taken here). */
  invalidate(serverId: string): void;
}

interface Cached {
  at: number;
  pins: Map<string, ToolPin>;
}

export function createToolPins(deps: { repo: ToolPinsRepository; log: Logger; metrics?: Pick<GatewayMetrics, "toolDefinitionChanged">; now?: () => number; cacheMs?: number }): ToolPins {
  const now = deps.now ?? Date.now;
  const cacheMs = deps.cacheMs ?? CACHE_MS;
  const cache = new Map<string, Cached>();
  const loading = new Map<string, Promise<Map<string, ToolPin>>>();

  function load(serverId: string): Promise<Map<string, ToolPin>> {
    const running = loading.get(serverId);
    if (running !== undefined) return running;
    const started = now();
    const loaded = deps.repo
      .forServer(serverId)
      .then((pins) => {
        const byTool = new Map(pins.map((pin) => [pin.tool, pin]));
        // A load that started before a newer one finished never overwrites it.
        const current = cache.get(serverId);
        if (current === undefined || current.at <= started) cache.set(serverId, { at: started, pins: byTool });
        return byTool;
      })
      .finally(() => loading.delete(serverId));
    loading.set(serverId, loaded);
    return loaded;
  }

  function fresh(serverId: string): Map<string, ToolPin> | undefined {
    const cached = cache.get(serverId);
    return cached !== undefined && now() - cached.at < cacheMs ? cached.pins : undefined;
  }

  function pinsOf(serverId: string): Map<string, ToolPin> | Promise<Map<string, ToolPin>> {
    return fresh(serverId) ?? load(serverId);
  }

  /** One listed tool against its pin; whether to serve it. Writes what changed. */
  async function reviewOne(server: McpServerEntry, policy: ToolChangePolicy, pin: ToolPin | undefined, name: string, definition: string): Promise<{ serve: boolean; wrote: boolean }> {
    const hash = definitionHash(definition);
    if (pin === undefined) {
      if (await deps.repo.pinNew(server.id, name, hash, definition)) return { serve: true, wrote: true };
      // Another instance pinned it meanwhile: judge against its pin.
      const theirs = await deps.repo.get(server.id, name);
      return theirs === undefined ? { serve: true, wrote: true } : { ...(await reviewOne(server, policy, theirs, name, definition)), wrote: true };
    }
    if (pin.pinnedHash === hash) {
      // The upstream went back to the pinned definition: nothing is pending any more.
      if (pin.pending === undefined) return { serve: true, wrote: false };
      await deps.repo.clearChange(server.id, name);
      return { serve: true, wrote: true };
    }
    if (policy === "allow") {
      await deps.repo.repin(server.id, name, pin.pinnedHash, hash, definition);
      deps.log.debug({ server: server.name, tool: name, hash }, "an MCP server changed a tool's definition; pinned again (tool_changes: allow)");
      return { serve: true, wrote: true };
    }
    let wrote = false;
    if (pin.pending?.hash !== hash && (await deps.repo.recordChange(server.id, name, hash, definition))) {
      wrote = true;
      deps.metrics?.toolDefinitionChanged(server.name, policy);
      deps.log.warn(
        { server: server.name, tool: name, pinned_hash: pin.pinnedHash, new_hash: hash, policy },
        policy === "block"
          ? "an MCP server changed a pinned tool's definition; the tool is hidden and its calls refused until an admin approves the new definition (tool_changes: block; UI Tool changes, or POST /v1/mcp/tool-changes/approve)"
          : "an MCP server changed a pinned tool's definition; it is still served (tool_changes: warn): review it in the UI's Tool changes or GET /v1/mcp/tool-changes",
      );
    }
    return { serve: policy !== "block", wrote };
  }

  return {
    async review(server, tools) {
      const policy = toolChangePolicy(server);
      const cached = pinsOf(server.id);
      let pins = cached instanceof Map ? cached : await cached;
      // A name listed twice is judged once (the first): an upstream cannot pin one and serve the other.
      const listed = new Map<string, { tool: (typeof tools)[number]; definition: string; hash: string }>();
      for (const tool of tools) {
        if (listed.has(tool.name)) continue;
        const definition = canonicalDefinition(tool as unknown as Record<string, unknown>);
        listed.set(tool.name, { tool, definition, hash: definitionHash(definition) });
      }
      const settled = (name: string, hash: string) => {
        const pin = pins.get(name);
        return pin !== undefined && pin.pinnedHash === hash && pin.pending === undefined;
      };
      // Anything unsettled is judged against the database as it is now, not this instance's copy:
      // another instance may have pinned it, or an admin approved a change, since.
      if (cached instanceof Map && [...listed.values()].some(({ tool, hash }) => !settled(tool.name, hash))) pins = await load(server.id);
      let wrote = false;
      // Tools seen for the first time are pinned together; a race with another instance is judged against what it pinned.
      const unseen = [...listed.values()].filter(({ tool }) => !pins.has(tool.name));
      if (unseen.length > 0) {
        await deps.repo.pinNewMany(server.id, unseen.map(({ tool, definition, hash }) => ({ tool: tool.name, hash, definition })));
        cache.delete(server.id);
        pins = await load(server.id);
        wrote = true;
      }
      const served: (typeof tools)[number][] = [];
      for (const { tool, definition, hash } of listed.values()) {
        if (settled(tool.name, hash)) {
          served.push(tool);
          continue;
        }
        const outcome = await reviewOne(server, policy, pins.get(tool.name), tool.name, definition);
        wrote ||= outcome.wrote;
        if (outcome.serve) served.push(tool);
      }
      if (wrote) {
        cache.delete(server.id);
        await load(server.id);
      }
      return served;
    },
    assertCallable(server, tool) {
      if (toolChangePolicy(server) !== "block") return;
      const cached = pinsOf(server.id);
      if (cached instanceof Map) return refuseBlocked(server, cached.get(tool));
      return cached.then((pins) => refuseBlocked(server, pins.get(tool)));
    },
    invalidate(serverId) {
      cache.delete(serverId);
    },
  };
}

function refuseBlocked(server: McpServerEntry, pin: ToolPin | undefined): void {
  if (pin?.pending === undefined) return;
  throw toolChangeBlocked(server, pin.tool);
}

export function toolChangeBlocked(server: McpServerEntry, tool: string): GatewayError {
  return new GatewayError({
    status: 403,
    code: "tool_change_blocked",
    message: `tool '${tool}' of MCP server '${server.name}' changed its definition since it was pinned, and the server's tool_changes policy is block: an admin must approve the new definition (UI: Tool changes) before it can be called`,
    rpcCode: JsonRpcCode.Forbidden,
    extra: { server: server.name, tool },
  });
}
