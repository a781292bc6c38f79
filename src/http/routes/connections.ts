/**
 * "My connections" for gateway keys (issue 20): `GET /v1/mcp/connections` lists the
 * caller's own upstream OAuth connections (never a token), `DELETE
 * /v1/mcp/connections/{server}` revokes (RFC 7009, when offered) and deletes one, and
 * `GET /v1/mcp/connections/counts` gives the master key the number of users per server.
 * Every answer is about the caller's user key alone: another key's connections are never
 * read, so naming them finds nothing (404).
 */
import { Hono } from "hono";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import { GatewayError } from "../../errors.js";
import type { ConnectionRow, UserConnections } from "../../oauth/connections.js";
import type { ServerRegistry } from "../../registry/registry.js";
import { exchangeOf, type AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";

export interface ConnectionRouteDeps {
  keys: KeyResolver;
  network: CallerNetwork;
  registry: ServerRegistry;
  connections: Pick<UserConnections, "list" | "counts" | "disconnect">;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function connectionJson(row: ConnectionRow) {
  const connection = row.connection;
  return {
    server_id: row.serverId,
    server_name: row.serverName,
    available: row.available,
    connected: connection !== undefined,
    scopes: connection?.scope === undefined ? [] : connection.scope.split(" ").filter((scope) => scope !== ""),
    expires_at: iso(connection?.expiresAt),
    refreshable: connection?.hasRefreshToken ?? false,
    connected_at: iso(connection?.connectedAt),
    last_refreshed_at: iso(connection?.refreshedAt),
  };
}

export function connectionRoutes(deps: ConnectionRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const byKey = authenticate(deps.keys, { network: deps.network });
  const noStore = { "cache-control": "no-store" };

  app.get("/v1/mcp/connections/counts", byKey, requireMaster, async (c) => {
    const counts = await deps.connections.counts(deps.registry.current());
    return c.json({ servers: counts.map((row) => ({ server_id: row.serverId, server_name: row.serverName, users: row.users })) }, 200, noStore);
  });

  app.get("/v1/mcp/connections", byKey, async (c) => {
    const rows = await deps.connections.list(deps.registry.current(), c.get("caller"));
    return c.json({ connections: rows.map(connectionJson) }, 200, noStore);
  });

  app.delete("/v1/mcp/connections/:server", byKey, async (c) => {
    const server = c.req.param("server");
    const done = await deps.connections.disconnect(deps.registry.current(), c.get("caller"), server, exchangeOf(c)?.requestId);
    if (done.status === "not_connected") throw new GatewayError({ status: 404, code: "not_connected", message: `you have no connection to an MCP server named '${server}' (GET /v1/mcp/connections lists yours)` });
    return c.json(
      {
        disconnected: true,
        server_id: done.serverId,
        server_name: done.serverName,
        revocation: done.status,
        ...(done.status === "revoked" ? {} : { revocation_detail: done.reason }),
        ...(done.status === "failed" ? { hint: `the tokens were deleted here; revoke the gateway's access in your account at ${done.serverName}'s authorization server to be sure` } : {}),
      },
      200,
      noStore,
    );
  });
  return app;
}
