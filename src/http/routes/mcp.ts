/**
 * The MCP routes: the aggregate `/mcp` and the per-server pass-through at
 * `/{server}/mcp` and `/mcp/{server}`. Order of checks: the gateway key (401 before
 * anything is said about a server), then the server (404/403), then the body (413, then
 * -32700/-32600).
 */
import { Hono, type Context } from "hono";
import { createMiddleware } from "hono/factory";
import { credentialScreen } from "../../auth/inbound/credential-screen.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError } from "../../errors.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import { delegatedTargets, parseServersHeader, serverForCaller } from "../../mcp/access.js";
import type { Aggregate } from "../../mcp/aggregate.js";
import { parseJsonRpcBody, responseId, type ParsedBody } from "../../mcp/jsonrpc.js";
import type { ProxyHandler } from "../../mcp/passthrough.js";
import type { ServerRegistry } from "../../registry/registry.js";
import type { McpServerEntry } from "../../registry/server-entry.js";
import { AUTHORIZATION_REQUIRED } from "../../auth/upstream/oauth2-interactive.js";
import { aggregateResourceMetadataUrl, protectedResourceMetadataUrl, type McpPathForm } from "../../oauth/metadata.js";
import type { OriginSettings } from "../../oauth/public-origin.js";
import { requestOrigin } from "./oauth.js";
import { upstreamAuthContext, type AppEnv } from "../env.js";
import { toResponse } from "../answer.js";
import { requestIdOf } from "../../observability/request-id.js";
import { authenticate } from "../middleware/authenticate.js";
import { readNodeBody } from "../read-body.js";

export interface McpRouteDeps {
  origin: OriginSettings;
  network: CallerNetwork;
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
  const serversHeader = (c: Context<AppEnv>) => parseServersHeader(c.req.header("x-mcp-servers") ?? null);
  // The seed's delegate bypass: targets from x-mcp-servers on /mcp, from the path (and x-mcp-servers) on pass-through.
  const aggregateAuth = authenticate(deps.keys, {
    network: deps.network,
    delegatedTargets: (c, fromPublicInternet) => delegatedTargets(c.get("snapshot"), serversHeader(c), fromPublicInternet),
  });
  const passthroughAuth = authenticate(deps.keys, {
    network: deps.network,
    delegatedTargets: (c, fromPublicInternet) =>
      delegatedTargets(c.get("snapshot"), [c.req.param("server")!, ...(serversHeader(c) ?? [])], fromPublicInternet),
  });

  async function readJsonRpc(c: Context<AppEnv>): Promise<{ body: string; parsed: ParsedBody }> {
    const body = await readNodeBody(c.req.raw, c.env?.incoming, deps.maxBodyBytes);
    const parsed = parseJsonRpcBody(body);
    c.set("jsonRpcId", responseId(parsed));
    return { body, parsed };
  }

  app.on(["GET", "POST", "DELETE"], "/mcp", jsonRpcErrors, aggregateAuth, async (c) => {
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
    return toResponse(await deps.aggregate.handle({
      snapshot: c.get("snapshot"),
      caller: c.get("caller"),
      narrowTo: serversHeader(c),
      resourceMetadataUrl: (server) => aggregateResourceMetadataUrl(requestOrigin(deps.origin, c), server),
      inbound: upstreamAuthContext(c, deps.keys),
      parsed,
      requestId: requestIdOf(c.env?.incoming),
    }));
  });

  const proxy = async (c: Context<AppEnv>, serverName: string, form: McpPathForm) => {
    const snapshot = c.get("snapshot");
    const server = serverForCaller(snapshot, c.get("caller"), serverName);
    const read = c.req.method === "POST" ? await readJsonRpc(c) : undefined;
    return challengeOnMissingToken(c, server, form, () => deps.passthrough({
      snapshot,
      server,
      caller: c.get("caller"),
      method: c.req.method,
      headers: c.req.raw.headers,
      presentedKey: c.get("presentedKey"),
      screen: credentialScreen(deps.keys, c.get("presentedKey")),
      signal: c.req.raw.signal,
      debug: c.get("debug"),
      body: read?.body,
      parsed: read?.parsed,
      resourceMetadataUrl: () => protectedResourceMetadataUrl(requestOrigin(deps.origin, c), server, form),
      requestId: requestIdOf(c.env?.incoming),
      ...(c.env?.outgoing === undefined ? {} : { cutClient: () => c.env.outgoing.destroy() }),
    }));
  };

  /**
   * An interactive server without an upstream token for this caller: 401 with the
   * RFC 9728 challenge that makes MCP clients start OAuth (LiteLLM #29261 answered 500).
   */
  async function challengeOnMissingToken(c: Context<AppEnv>, server: McpServerEntry, form: McpPathForm, run: () => Promise<Response>): Promise<Response> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof GatewayError) || error.code !== AUTHORIZATION_REQUIRED) throw error;
      const metadata = protectedResourceMetadataUrl(requestOrigin(deps.origin, c), server, form);
      const scope = server.config.scopes === undefined ? "" : `, scope="${server.config.scopes.join(" ")}"`;
      throw new GatewayError({
        status: 401,
        code: error.code,
        message: error.message,
        extra: error.extra,
        headers: { ...error.headers, "www-authenticate": `Bearer resource_metadata="${metadata}"${scope}` },
      });
    }
  }
  app.all("/mcp/:server", jsonRpcErrors, passthroughAuth, (c) => proxy(c, c.req.param("server"), "mcp-first"));
  app.all("/:server/mcp", jsonRpcErrors, passthroughAuth, (c) => proxy(c, c.req.param("server"), "server-first"));
  return app;
}
