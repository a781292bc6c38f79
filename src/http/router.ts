/**
 * Which route serves a request, decided once from its path: the MCP and REST routes are
 * served from node:http (routes/mcp.ts), everything else by the Hono app through its
 * adapter. No route has a second implementation. Before any route, the DNS-rebinding
 * guard answers the requests it refuses.
 *
 * Paths are matched as Hono matches them: percent-escapes decoded except those of
 * reserved characters, then the server name decoded whole.
 */
import type { McpPathForm } from "../oauth/metadata.js";
import type { ServerRegistry } from "../registry/registry.js";
import type { NodeExchange } from "./exchange.js";
import type { McpRoutes } from "./routes/mcp.js";

export interface RouterDeps {
  /** Answers a request it refuses and returns true (dns-rebinding-guard.ts). */
  guard: (exchange: NodeExchange) => boolean;
  mcp: McpRoutes;
  /** Everything else (hono-adapter.ts). */
  other: (exchange: NodeExchange) => void;
  registry: ServerRegistry;
}

const REST_PREFIX = "/mcp-rest/";
/** The methods `/mcp` answers (405 for GET, HEAD and DELETE); any other is no route there (404). */
const AGGREGATE_METHODS: ReadonlySet<string> = new Set(["POST", "GET", "HEAD", "DELETE"]);

export function router(deps: RouterDeps): (exchange: NodeExchange) => void {
  return (exchange) => {
    if (deps.guard(exchange)) return;
    const path = exchange.path.includes("%") ? decodePath(exchange.path) : exchange.path;
    // `/mcp/` too: LiteLLM's documented form of the aggregate URL.
    if ((path === "/mcp" || path === "/mcp/") && AGGREGATE_METHODS.has(exchange.method)) {
      exchange.route = "aggregate";
      void deps.mcp.aggregate(exchange);
      return;
    }
    // `/mcp-rest` itself too: every path under it is behind the key check, then 404 if it is no endpoint.
    if (path.startsWith(REST_PREFIX) || path === "/mcp-rest") {
      exchange.route = "rest";
      void deps.mcp.rest(exchange, path.slice(REST_PREFIX.length));
      return;
    }
    const server = serverPath(path);
    if (server !== undefined) {
      exchange.route = "passthrough";
      // Only configured names become label values: made-up paths must not grow the metrics.
      exchange.serverLabel = deps.registry.current().byIdOrName(server.name)?.name ?? "";
      void deps.mcp.passthrough(exchange, server.name, server.form);
      return;
    }
    deps.other(exchange);
  };
}

/** The OAuth facade's endpoints of a server named `mcp` (`/mcp/token` ...), which the Hono app serves. */
const FACADE_ENDPOINTS: ReadonlySet<string> = new Set(["register", "authorize", "token"]);

/** `/mcp/{server}` or `/{server}/mcp`, the first when both match (as `/mcp/mcp`). */
export function serverPath(path: string): { name: string; form: McpPathForm } | undefined {
  const second = path.indexOf("/", 1);
  if (second === -1 || path.indexOf("/", second + 1) !== -1) return undefined;
  const first = path.slice(1, second);
  const last = path.slice(second + 1);
  if (first === "" || last === "") return undefined;
  if (first === "mcp" && !FACADE_ENDPOINTS.has(last)) return { name: decodeSegment(last), form: "mcp-first" };
  if (last === "mcp") return { name: decodeSegment(first), form: "server-first" };
  return undefined;
}

/**
 * The path with its escapes decoded except those of reserved characters, and `%25` kept as
 * it is so that the server name is decoded once only (`/%2541/mcp` names `%41`, not `A`).
 * Dot segments are not resolved: `/x/../mcp` is no MCP route (the Origin check reads the
 * path as sent, so a route reached through dot segments would escape it).
 */
function decodePath(path: string): string {
  try {
    return decodeURI(path.replace(/%25/g, "%2525"));
  } catch {
    return path;
  }
}

function decodeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
