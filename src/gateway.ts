/**
 * Builds a running gateway from a validated config and resolved settings: the registry,
 * the key resolvers, the proxy and aggregate, the database, the HTTP server. Used by the
 * CLI and by the integration tests, so both run exactly the same wiring.
 */
import type { Server } from "node:http";
import { chainResolvers, masterKeyResolver } from "./auth/inbound/key-resolver.js";
import type { RuntimeSettings } from "./config/settings.js";
import type { Config } from "./config/schema.js";
import { createApp } from "./http/app.js";
import { serveNode } from "./http/node-server.js";
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

  const listening = await serveNode(app.fetch, { port: options.port, host: options.host, log });
  const url = listening.url;
  log.info({ url, db: database.dialect, database: database.description, mcp_servers: [...registry.current().servers.keys()] }, "gatehouse is listening");

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    draining = true;
    // Long-lived streams (legacy SSE bridges) would hold their requests open: end them first.
    await legacySse.close();
    await listening.shutdown(general.shutdown_timeout_seconds * 1000);
    await Promise.allSettled([clients.close(), http.close(), database.close()]);
    log.info("gatehouse stopped");
  }

  return {
    url,
    server: listening.server,
    close: () => (closing ??= shutdown()),
  };
}
