/**
 * One server's whole tool list, page by page (MCP pagination: `nextCursor`), within bounds
 * the upstream cannot move: pages, tools, and total time.
 *
 * Issue 15 item 6: an upstream answering `nextCursor` forever made one `/mcp tools/list`
 * issue 20,000 page requests and grow the heap to 3 GB. Now the listing stops at the first
 * of: no `nextCursor`; a cursor already seen (a loop); `maxPages` pages; `maxTools` tools;
 * the deadline. Stopped by a bound, it keeps what it gathered (the caller still gets every
 * tool that was listed, and one misbehaving server costs the others nothing) and says why
 * in `truncated`, which the caller logs with the server's name. A first page that fails or
 * times out fails the listing as before.
 */
import { createHash } from "node:crypto";
import { ErrorCode, McpError, type ListToolsResult, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { isGatewayError } from "../errors.js";
import type { CancelSource } from "../exchange.js";
import type { ToolsClient } from "./upstream-session.js";
import { traced } from "../observability/tracing.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export interface ListLimits {
  maxPages: number;
  maxTools: number;
}

export const DEFAULT_LIST_LIMITS: ListLimits = Object.freeze({ maxPages: 100, maxTools: 10_000 });

export interface ToolListing {
  tools: Tool[];
  /** Why the listing stopped before the upstream's last page, if it did. */
  truncated?: "repeated_cursor" | "max_pages" | "max_tools" | "deadline";
  pages: number;
}

export interface ListOptions {
  cancel?: CancelSource;
  /** Milliseconds one page may take. */
  pageTimeoutMs: number;
  /** Milliseconds the whole listing may take (pages after the first are cut to what is left). */
  totalTimeoutMs: number;
  limits: ListLimits;
  now?: () => number;
}

/**
 * A listing across servers, settled per server (one server's failure costs the others
 * nothing): traced as one span for the fan-out with a child per server, under which that
 * server's session, token and list calls nest.
 */
export function fanOut<T>(method: string, servers: readonly McpServerEntry[], list: (server: McpServerEntry) => Promise<T>): Promise<PromiseSettledResult<T>[]> {
  return traced(`fan-out ${method}`, { "mcp.method.name": method, "gatehouse.servers": servers.length }, () =>
    Promise.allSettled(servers.map((server) => traced(`${method} ${server.name}`, { "mcp.method.name": method, "gatehouse.server": server.name }, () => list(server)))),
  );
}

export async function listAllTools(client: ToolsClient, options: ListOptions): Promise<ToolListing> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.totalTimeoutMs;
  const { maxPages, maxTools } = options.limits;
  const tools: Tool[] = [];
  // Digests, not the cursors: an upstream's cursor may be as large as it likes.
  const seen = new Set<string>();
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const left = deadline - now();
    if (pages > 0 && left <= 0) return { tools, truncated: "deadline", pages };
    const timeout = pages === 0 ? options.pageTimeoutMs : Math.min(options.pageTimeoutMs, left);
    let page: ListToolsResult;
    try {
      page = await client.listTools(cursor === undefined ? {} : { cursor }, { ...(options.cancel === undefined ? {} : { cancel: options.cancel }), timeout });
    } catch (error) {
      // A later page cut short by the total time ends the listing with what it has; any other failure fails it.
      if (pages > 0 && timeout < options.pageTimeoutMs && isTimeout(error)) return { tools, truncated: "deadline", pages };
      throw error;
    }
    pages++;
    const room = maxTools - tools.length;
    // A loop, not push(...spread): a page may hold more tools than a call has room for arguments.
    for (let index = 0; index < page.tools.length && index < room; index++) tools.push(page.tools[index]!);
    if (page.tools.length > room) return { tools, truncated: "max_tools", pages };
    const next = page.nextCursor;
    if (typeof next !== "string") return { tools, pages };
    const digest = createHash("sha256").update(next).digest("base64");
    if (seen.has(digest)) return { tools, truncated: "repeated_cursor", pages };
    if (pages >= maxPages) return { tools, truncated: "max_pages", pages };
    seen.add(digest);
    cursor = next;
  }
}

function isTimeout(error: unknown): boolean {
  if (error instanceof McpError) return error.code === ErrorCode.RequestTimeout;
  return isGatewayError(error) && error.code === "upstream_timeout";
}
