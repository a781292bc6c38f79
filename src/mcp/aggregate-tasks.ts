/**
 * Tasks on the aggregate `/mcp` (MCP 2025-11-25, "Tasks"): a task-augmented `tools/call`
 * goes to the tool's server with its `task`, and the task it creates is named to the client
 * `gh:{server}:{upstream task id}.{tag}`, the tag an HMAC of (server, caller, task id) under
 * a key derived from the salt key. `tasks/get`, `tasks/result` and `tasks/cancel` go to the
 * server the id names, and only for the caller it was given to (another key's id is an
 * unknown task, as a task id it guessed would be); `tasks/list` merges the servers' lists.
 * Every task id an upstream sends (results, `notifications/tasks/status`, the related-task
 * `_meta`) is rewritten on the way out.
 */
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { sessionBinding } from "./session-binding.js";
import { gatewayIdParts } from "./aggregate-stream.js";

const RELATED_TASK = "io.modelcontextprotocol/related-task";
const PREFIX = "gh:";

export interface TaskIds {
  /** The id the client is given for an upstream task of `server`. */
  outward(server: McpServerEntry, caller: string, taskId: string): string;
  /** The server name and upstream task id behind a client's id, or undefined when it was not given to this caller. */
  inward(caller: string, clientId: string, serverByName: (name: string) => McpServerEntry | undefined): { server: McpServerEntry; taskId: string } | undefined;
  /** `value` with every task id in it rewritten outward (a Task, a CreateTaskResult, a result or message with the related-task `_meta`, a task list). */
  rewrite<T>(server: McpServerEntry, caller: string, value: T): T;
}

export function taskIds(key: Buffer): TaskIds {
  const binding = sessionBinding(key);
  const outward = (server: McpServerEntry, caller: string, taskId: string) => `${PREFIX}${server.name}:${binding.wrap(server.id, caller, taskId)}`;

  function rewriteTask(server: McpServerEntry, caller: string, task: unknown): unknown {
    if (typeof task !== "object" || task === null || typeof (task as { taskId?: unknown }).taskId !== "string") return task;
    return { ...task, taskId: outward(server, caller, (task as { taskId: string }).taskId) };
  }

  function rewriteMeta(server: McpServerEntry, caller: string, meta: unknown): unknown {
    if (typeof meta !== "object" || meta === null) return meta;
    const related = (meta as Record<string, unknown>)[RELATED_TASK];
    return related === undefined ? meta : { ...meta, [RELATED_TASK]: rewriteTask(server, caller, related) };
  }

  function rewrite<T>(server: McpServerEntry, caller: string, value: T): T {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
    let result: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    if (typeof result.taskId === "string") result = rewriteTask(server, caller, result) as Record<string, unknown>;
    if (result.task !== undefined) result.task = rewriteTask(server, caller, result.task);
    if (Array.isArray(result.tasks)) result.tasks = result.tasks.map((task) => rewriteTask(server, caller, task));
    if (result._meta !== undefined) result._meta = rewriteMeta(server, caller, result._meta);
    if (typeof result.params === "object" && result.params !== null) result.params = rewrite(server, caller, result.params);
    return result as T;
  }

  return {
    outward,
    rewrite,
    inward(caller, clientId, serverByName) {
      const parts = gatewayIdParts(clientId, 2048);
      const server = parts === undefined ? undefined : serverByName(parts.server);
      if (parts === undefined || server === undefined) return undefined;
      const taskId = binding.unwrap(server.id, caller, parts.rest);
      return taskId === undefined ? undefined : { server, taskId };
    },
  };
}

export function unknownTask(taskId: unknown): GatewayError {
  return new GatewayError({
    status: 404,
    code: "unknown_task",
    message: `unknown task '${String(taskId).slice(0, 200)}': task ids on /mcp are the ones this gateway gave your key (gh:{server}:...)`,
    rpcCode: JsonRpcCode.InvalidParams,
  });
}
