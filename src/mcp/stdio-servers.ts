/**
 * The running stdio servers: one supervised process (stdio-process.ts) per `transport: stdio`
 * entry of the registry, started as soon as the entry appears (at startup for the config
 * file's servers, at the reload for the database's), restarted with the new command when
 * the entry changes, stopped when it goes and when the gateway stops.
 *
 * Started eagerly, not on first use: a command that cannot start is reported in the log at
 * startup, by name, instead of at some user's first call; every client's `initialize` is
 * answered from the process's own; and a tool call does not pay the process's start-up.
 */
import type { CallToolResult, ListToolsResult } from "@modelcontextprotocol/sdk/types.js";
import type { UpstreamCallRecord } from "../debug.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { DEFAULT_BACKOFF, StdioProcess, type Backoff } from "./stdio-process.js";
import { UpstreamProtocolError, type ToolsClient } from "./upstream-session.js";
import { sharedSubscriptions, type SharedSubscriptions } from "./shared-subscriptions.js";
import { GatewayError, JsonRpcCode } from "../errors.js";

/** What the debug headers report for a stdio server: no credentials, and its placeholder URL (the command and args may hold secrets). */
export function stdioDebugCall(server: McpServerEntry): UpstreamCallRecord {
  return { server: server.name, authType: "none", resolution: "stdio-process", url: server.url.href };
}

/** What a stdio server's shared process sends that every caller may be told. */
const RESOURCE_UPDATED = "notifications/resources/updated";
const SHARED_NOTIFICATIONS = new Set(["notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed"]);

export interface StdioServers {
  /** Starts processes for new stdio entries, restarts changed ones, stops those that are gone. */
  sync(snapshot: RegistrySnapshot): void;
  /** The process of this entry (a 503 when there is none, e.g. the gateway is stopping). */
  processFor(server: McpServerEntry): StdioProcess;
  /** The aggregate's and REST API's client for this entry: requests to its shared process. */
  toolsClient(server: McpServerEntry): ToolsClient;
  /** Stops every process (stdin closed, then SIGTERM, then SIGKILL) and waits for them. */
  close(): Promise<void>;
}

export function createStdioServers(options: { log: Logger; backoff?: Backoff }): StdioServers {
  const running = new Map<string, { entry: McpServerEntry; process: StdioProcess }>();
  /** What each process was subscribed to, by its start (its initialize answer, new with each): a restarted process holds none of them. */
  const subscribedSince = new WeakMap<object, SharedSubscriptions>();
  let closed = false;

  function subscriptionsOf(process: StdioProcess): SharedSubscriptions {
    const started = process.initializeResult;
    if (started === undefined) return sharedSubscriptions();
    let shared = subscribedSince.get(started);
    if (shared === undefined) subscribedSince.set(started, (shared = sharedSubscriptions()));
    return shared;
  }

  function stop(id: string): void {
    const current = running.get(id);
    if (current === undefined) return;
    running.delete(id);
    void current.process.stop();
  }

  return {
    sync(snapshot) {
      if (closed) return;
      const wanted = new Set<string>();
      for (const entry of snapshot.servers.values()) {
        if (entry.stdio === undefined) continue;
        wanted.add(entry.id);
        const current = running.get(entry.id);
        // Entries are rebuilt only when their config changed (database-registry.ts): same entry, same process.
        if (current?.entry === entry) continue;
        if (current !== undefined) stop(entry.id);
        const process = new StdioProcess({ id: entry.id, name: entry.name, stdio: entry.stdio, timeoutMs: entry.timeoutMs }, options.log, options.backoff ?? DEFAULT_BACKOFF);
        running.set(entry.id, { entry, process });
        process.start();
      }
      for (const id of [...running.keys()]) if (!wanted.has(id)) stop(id);
    },

    processFor(server) {
      const current = running.get(server.id);
      if (current === undefined) {
        throw new GatewayError({
          status: 503,
          code: "upstream_unavailable",
          message: `MCP server '${server.name}' has no running process (the gateway is stopping, or the server was just changed)`,
          rpcCode: JsonRpcCode.UpstreamError,
          extra: { server: server.name },
        });
      }
      return current.process;
    },

    toolsClient(server) {
      const process = this.processFor(server);
      return {
        async listTools(params, callOptions) {
          const result = await process.call("tools/list", params, callOptions);
          if (!Array.isArray(result.tools) || !result.tools.every((tool) => typeof (tool as { name?: unknown } | null)?.name === "string")) {
            throw new UpstreamProtocolError("the tools/list result has no list of named tools");
          }
          return result as ListToolsResult;
        },
        async callTool(params, callOptions) {
          return (await process.call("tools/call", params, callOptions)) as CallToolResult;
        },
        request: (method, params, callOptions) => process.call(method, params, callOptions),
        get capabilities() {
          return process.initializeResult?.capabilities as Record<string, unknown> | undefined;
        },
        /**
         * The process is shared by every caller: of what it sends outside a call, only its
         * list changes (which carry nothing of anyone's) and the updates of the resources in
         * `filter` (the process is subscribed to those it was not for this listener, and never
         * unsubscribed: another caller may want them) are followed, until `cancel`.
         */
        listen: async (onMessage, listenOptions) => {
          const uris = new Set(listenOptions.filter?.resourceSubscriptions ?? []);
          if ((process.initializeResult?.capabilities as { resources?: { subscribe?: unknown } } | undefined)?.resources?.subscribe === true) {
            await subscriptionsOf(process).subscribe(onMessage, uris, (uri) => process.call("resources/subscribe", { uri }, { timeout: server.timeoutMs, cancel: listenOptions.cancel }), listenOptions.cancel);
          }
          await new Promise<void>((resolve) => {
            const stop = process.onNotification((message) => {
              if (!("method" in message)) return;
              const uri = (message.params as { uri?: unknown } | undefined)?.uri;
              if (SHARED_NOTIFICATIONS.has(message.method)) onMessage({ method: message.method });
              else if (message.method === RESOURCE_UPDATED && typeof uri === "string" && uris.has(uri)) onMessage({ method: RESOURCE_UPDATED, params: { uri } });
            });
            listenOptions.onOpen();
            listenOptions.cancel.once("abort", () => {
              stop();
              resolve();
            });
          });
        },
        // The process is shared: a caller's client closing leaves it running.
        close: async () => undefined,
      };
    },

    async close() {
      closed = true;
      const all = [...running.values()];
      running.clear();
      await Promise.allSettled(all.map(({ process }) => process.stop()));
    },
  };
}
