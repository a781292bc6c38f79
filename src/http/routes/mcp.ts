/**
 * The MCP routes: the aggregate `/mcp` and the per-server pass-through at
 * `/{server}/mcp` and `/mcp/{server}`. Order of checks: the gateway key (401 before
 * anything is said about a server), then the server (404/403), then the body (413, then
 * -32700/-32600).
 */
import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError } from "../../errors.js";
import { parseServersHeader, serverForCaller } from "../../mcp/access.js";
import type { Aggregate } from "../../mcp/aggregate.js";
import { parseJsonRpcBody, responseId, type ParsedBody } from "../../mcp/jsonrpc.js";
import type { ProxyHandler } from "../../mcp/passthrough.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { AppEnv } from "../env.js";
import { authenticate } from "../middleware/authenticate.js";
import { readBody } from "../read-body.js";

export interface McpRouteDeps {
  registry: ServerRegistry;
  keys: KeyResolver;
  passthrough: ProxyHandler;
  aggregate: Aggregate;
  maxBodyBytes: number;
}

export function mcpRoutes(deps: McpRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const jsonRpcErrors = createMiddleware<AppEnv>(async (c, next) => {
    c.set("errorStyle", "jsonrpc");
    c.set("jsonRpcId", null);
    c.set("snapshot", deps.registry.current());
    await next();
  });
  const auth = authenticate(deps.keys);

  async function readJsonRpc(c: Context<AppEnv>): Promise<{ body: string; parsed: ParsedBody }> {
    const body = await readBody(c.req.raw, deps.maxBodyBytes);
    const parsed = parseJsonRpcBody(body);
    c.set("jsonRpcId", responseId(parsed));
    return { body, parsed };
  }

  app.on(["GET", "POST", "DELETE"], "/mcp", jsonRpcErrors, auth, async (c) => {
    if (c.req.method !== "POST") {
      // The aggregate endpoint is stateless: no standalone SSE stream, no session to delete.
      throw new GatewayError({
        status: 405,
        code: "method_not_allowed",
        message: "the aggregate /mcp endpoint is stateless: send JSON-RPC with POST (GET streams and DELETE are not offered)",
        headers: { allow: "POST" },
      });
    }
    const { parsed } = await readJsonRpc(c);
    return deps.aggregate.handle({
      snapshot: c.get("snapshot"),
      caller: c.get("caller"),
      narrowTo: parseServersHeader(c.req.header("x-mcp-servers") ?? null),
      inbound: { headers: c.req.raw.headers, presentedKey: c.get("presentedKey"), signal: c.req.raw.signal },
      request: withAcceptDefault(c.req.raw),
      parsed,
    });
  });

  const proxy = async (c: Context<AppEnv>, serverName: string) => {
    const snapshot = c.get("snapshot");
    const server = serverForCaller(snapshot, c.get("caller"), serverName);
    const read = c.req.method === "POST" ? await readJsonRpc(c) : undefined;
    return deps.passthrough({
      snapshot,
      server,
      caller: c.get("caller"),
      method: c.req.method,
      headers: c.req.raw.headers,
      presentedKey: c.get("presentedKey"),
      signal: c.req.raw.signal,
      body: read?.body,
      parsed: read?.parsed,
    });
  };
  app.all("/mcp/:server", jsonRpcErrors, auth, (c) => proxy(c, c.req.param("server")));
  app.all("/:server/mcp", jsonRpcErrors, auth, (c) => proxy(c, c.req.param("server")));
  return app;
}

/**
 * MCP requires clients to accept both JSON and SSE; curl users rarely say so. The
 * aggregate endpoint answers JSON unless SSE is needed, so a missing Accept is filled in
 * rather than refused with 406.
 */
function withAcceptDefault(request: Request): Request {
  const accept = request.headers.get("accept") ?? "";
  if (accept.includes("application/json") && accept.includes("text/event-stream")) return request;
  const headers = new Headers(request.headers);
  headers.set("accept", "application/json, text/event-stream");
  return new Request(request.url, { method: request.method, headers, signal: request.signal });
}
