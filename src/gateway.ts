/**
 * Builds a running gateway from a validated config and resolved settings: the registry,
 * the key resolvers, the proxy and aggregate, the database, the HTTP server. Used by the
 * CLI and by the integration tests, so both run exactly the same wiring.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { chainResolvers, masterKeyResolver } from "./auth/inbound/key-resolver.js";
import type { RuntimeSettings } from "./config/settings.js";
import type { Config } from "./config/schema.js";
import { createApp } from "./http/app.js";
import type { Logger } from "./log.js";
import { createAggregate } from "./mcp/aggregate.js";
import { createLegacySseBridge } from "./mcp/legacy-sse-bridge.js";
import { createPassthrough } from "./mcp/passthrough.js";
import { createRestTools } from "./mcp/rest-tools.js";
import { createUpstreamClients } from "./mcp/upstream-clients.js";
import { createUpstreamHttp } from "./mcp/upstream-http.js";
import { staticRegistry } from "./registry/registry.js";
import { openDatabase } from "./store/database.js";

export const VERSION = "0.1.0";

export interface GatewayOptions {
  config: Config;
  settings: RuntimeSettings;
  log: Logger;
  port: number;
  host: string;
}

export interface RunningGateway {
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  server: Server;
  /** Stop accepting, let in-flight requests finish (bounded), close everything. */
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, settings, log } = options;
  const general = config.general_settings;
  const database = await openDatabase(settings.databaseUrl);
  const registry = staticRegistry(config);
  const keys = chainResolvers([masterKeyResolver(settings.masterKey)]);
  const http = createUpstreamHttp();
  const clients = createUpstreamClients({ log });
  const legacySse = createLegacySseBridge({ log });
  const aggregate = createAggregate({ clients, log, listTimeoutMs: 10_000 });
  let draining = false;

  const app = createApp({
    log,
    registry,
    keys,
    passthrough: createPassthrough({ http, legacySse, log }),
    aggregate,
    rest: createRestTools(aggregate),
    health: {
      database,
      serverCount: () => registry.current().servers.size,
      isDraining: () => draining,
      version: VERSION,
    },
    maxBodyBytes: general.max_request_body_bytes,
  });

  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });
  const inFlight = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    inFlight.add(response);
    response.once("close", () => inFlight.delete(response));
    if (draining) response.shouldKeepAlive = false;
    // A keep-alive connection that goes idle after shutdown began would hold server.close()
    // until the deadline: close it as soon as its response is done.
    response.once("finish", () => {
      if (draining) setImmediate(() => server.closeIdleConnections());
    });
    void listener(request, response);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${hostForUrl}:${address.port}`;
  log.info({ url, db: database.dialect, database: database.description, mcp_servers: [...registry.current().servers.keys()] }, "gatehouse is listening");

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    draining = true;
    // Responses still to be written say `Connection: close` and end their connection.
    for (const response of inFlight) if (!response.headersSent) response.shouldKeepAlive = false;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const deadline = setTimeout(() => {
      log.warn("in-flight requests did not finish within shutdown_timeout_seconds; closing their connections");
      server.closeAllConnections();
    }, general.shutdown_timeout_seconds * 1000);
    deadline.unref();
    // Long-lived streams (legacy SSE bridges) would hold the server open: end them first.
    await legacySse.close();
    await stopped;
    clearTimeout(deadline);
    await Promise.allSettled([clients.close(), http.close(), database.close()]);
    log.info("gatehouse stopped");
  }

  return {
    url,
    server,
    close: () => (closing ??= shutdown()),
  };
}
