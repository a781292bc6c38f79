/**
 * Builds a running gateway from a validated config and resolved settings: the registry,
 * the key resolvers, the proxy and aggregate, the database, the HTTP server. Used by the
 * CLI and by the integration tests, so both run exactly the same wiring.
 */
import { hkdfSync } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Server } from "node:http";
import { callerNetwork, DEFAULT_INTERNAL_RANGES, parseRanges } from "./auth/inbound/client-address.js";
import { createKeyAdmin } from "./auth/inbound/key-admin.js";
import { createKeyLimiter } from "./auth/inbound/key-limits.js";
import { chainResolvers, masterKeyResolver } from "./auth/inbound/key-resolver.js";
import { virtualKeyResolver } from "./auth/inbound/virtual-keys.js";
import type { Environment } from "./config/env-refs.js";
import type { RuntimeSettings } from "./config/settings.js";
import type { Config } from "./config/schema.js";
import { createApp } from "./http/app.js";
import { dnsRebindingGuard } from "./http/dns-rebinding-guard.js";
import { honoAdapter } from "./http/hono-adapter.js";
import { router } from "./http/router.js";
import { mcpRoutes } from "./http/routes/mcp.js";
import { serveNode } from "./http/node-server.js";
import type { NodeExchange } from "./http/exchange.js";
import type { Logger } from "./log.js";
import { createAggregate } from "./mcp/aggregate.js";
import { createLegacySseBridge } from "./mcp/legacy-sse-bridge.js";
import { createPassthrough } from "./mcp/passthrough.js";
import { scopeChallenges } from "./auth/upstream/scope-challenges.js";
import { createRestTools } from "./mcp/rest-tools.js";
import { sessionBinding } from "./mcp/session-binding.js";
import { createStdioBridge } from "./mcp/stdio-bridge.js";
import { createStdioServers, type StdioServers } from "./mcp/stdio-servers.js";
import { createStreamBudget } from "./mcp/stream-budget.js";
import { createUpstreamClients } from "./mcp/upstream-clients.js";
import { createUpstreamHttp } from "./mcp/upstream-http.js";
import { createAuthorize } from "./oauth/authorize.js";
import { createClientMetadataDocuments } from "./oauth/client-metadata-document.js";
import { createConnect } from "./oauth/connect.js";
import { userConnections } from "./oauth/connections.js";
import { delegatedResourceMetadata } from "./oauth/delegated-resource-metadata.js";
import { cimdOriginWarning } from "./oauth/gateway-client-metadata.js";
import { originSettings } from "./oauth/public-origin.js";
import { parseTrustedRedirectOrigins } from "./oauth/redirect-policy.js";
import { addressRateLimit } from "./oauth/address-rate-limit.js";
import { createTokenEndpoint } from "./oauth/token.js";
import { upstreamAuthorizations } from "./oauth/upstream-authorization-server.js";
import { userTokenStore } from "./oauth/user-tokens.js";
import { databaseRegistry, type DatabaseRegistry } from "./registry/database-registry.js";
import type { RegistrySnapshot } from "./registry/registry.js";
import { upstreamAuthFactory } from "./auth/upstream/select-strategy.js";
import { metadataDiscovery } from "./auth/upstream/metadata-discovery.js";
import { createServerAdmin } from "./registry/server-admin.js";
import { specSource } from "./registry/server-entry.js";
import { createOpenApiSpecs, type OpenApiSpecs } from "./mcp/openapi-specs.js";
import { SpecError } from "./openapi/types.js";
import { ConfigError } from "./config/errors.js";
import { openDatabase } from "./store/database.js";
import { databaseCounters, type KeyCounters } from "./store/key-counters.js";
import { keysRepository } from "./store/keys-repository.js";
import { oauthRepository } from "./store/oauth-repository.js";
import { migrateToLatest } from "./store/migrate.js";
import { watchRevisions } from "./store/revisions.js";
import { createSecretBox } from "./store/secret-box.js";
import { aggregateSessionsRepository } from "./store/aggregate-sessions-repository.js";
import { inputEventsRepository } from "./store/input-events-repository.js";
import { toolPinsRepository } from "./store/tool-pins-repository.js";
import { createToolPins } from "./mcp/tool-pins.js";
import { createToolChangeAdmin } from "./mcp/tool-changes.js";
import { createAnswerSlots, createInputBridge } from "./mcp/input-bridge.js";
import { sessionSeal } from "./mcp/aggregate-session.js";
import { taskIds } from "./mcp/aggregate-tasks.js";
import { serversRepository } from "./store/servers-repository.js";
import { uiSessionsRepository } from "./store/ui-sessions-repository.js";
import { uiSessions } from "./ui/session.js";
import { createAuditTrail } from "./observability/audit.js";
import { createMetrics, type GatewayMetrics } from "./observability/metrics.js";
import { routeLabel } from "./observability/route-label.js";
import { startRequestSpan, startTracing } from "./observability/tracing.js";
import { auditRepository } from "./store/audit-repository.js";

export const VERSION = "0.1.0";

export interface GatewayOptions {
  config: Config;
  settings: RuntimeSettings;
  /** For os.environ/ references in servers stored in the database. */
  env: Environment;
  log: Logger;
  port: number;
  host: string;
  /** Extra CA (PEM) trusted for Client ID Metadata Document hosts (tests' self-signed servers). */
  clientMetadataDocumentCa?: string;
}

export interface RunningGateway {
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  server: Server;
  /** Check the store for changes made by other instances now, instead of at the next poll. */
  syncWithStore(): Promise<void>;
  /** Stop accepting, let in-flight requests finish (bounded), close everything. */
  close(): Promise<void>;
}

/** Database, migrations, secrets at rest, and what is built on them. */
async function openStore(options: GatewayOptions, metrics: GatewayMetrics, stdio: StdioServers, specs: OpenApiSpecs) {
  const { config, settings, env, log } = options;
  const database = await openDatabase(settings.databaseUrl, {
    onConnectionError: (error) => log.warn({ err: error.message }, "an idle database connection failed; it is replaced at the next query"),
  });
  try {
    const applied = await migrateToLatest(database);
    if (applied.length > 0) log.info({ migrations: applied, db: database.dialect }, "database migrated");
    const box = createSecretBox(settings.saltKey, settings.previousSaltKeys);
    const servers = serversRepository(database.db, box);
    const rewrapped = await servers.rewrapSecrets();
    if (rewrapped > 0) log.info({ rows: rewrapped, key_id: box.currentKeyId }, "re-encrypted stored secrets with the current GATEHOUSE_SALT_KEY");
    const oauthRepo = oauthRepository(database.db, box, undefined, { incompleteClientTtlMs: config.general_settings.oauth_incomplete_client_ttl_seconds * 1000 });
    // One metadata discovery for every upstream lookup: token endpoints, authorization servers, protected resources.
    const discovery = metadataDiscovery();
    const upstreams = upstreamAuthorizations(discovery);
    // The token store needs the registry to find a server, and the registry's strategies need the store.
    const late: { registry?: DatabaseRegistry } = {};
    const userTokens = userTokenStore({ repo: oauthRepo, upstreams, snapshot: () => late.registry!.current(), log, events: metrics });
    const registry = await databaseRegistry({
      config,
      servers,
      env,
      log,
      authFor: upstreamAuthFactory({ log, userTokens, tokenEvents: metrics, discovery }),
      toolSeparator: settings.toolPrefixSeparator,
      clientAuthHeader: settings.clientAuthHeader,
      allowStdio: config.general_settings.mcp_allow_stdio_servers_from_api,
      // Every snapshot starts the processes of new stdio servers and stops those of removed ones, and loads new OpenAPI servers' specs.
      onSnapshot: (snapshot) => {
        stdio.sync(snapshot);
        specs.sync(snapshot);
      },
    });
    late.registry = registry;
    const keysRepo = keysRepository(database.db);
    const aggregateSessions = aggregateSessionsRepository(database.db, box);
    const inputEvents = inputEventsRepository(database.db, box);
    const toolPinsRepo = toolPinsRepository(database.db);
    return { database, servers, registry, keysRepo, oauthRepo, upstreams, userTokens, discovery, aggregateSessions, inputEvents, toolPinsRepo };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

/** HTTP route templates (OpenTelemetry's `http.route`), by the router's route family. */
const ROUTE_TEMPLATES: Readonly<Record<string, string>> = { aggregate: "/mcp", passthrough: "/{server}/mcp", rest: "/mcp-rest/{endpoint}" };

/** The router with a server span around every request (tracing on), ended with the exchange. */
function tracedRoute(route: (exchange: NodeExchange) => void, registry: { current(): RegistrySnapshot }): (exchange: NodeExchange) => void {
  return (exchange) => {
    const span = startRequestSpan(exchange.method, loggedPath(exchange.path), (name) => exchange.headers.get(name), exchange.requestId);
    if (span === undefined) return route(exchange);
    exchange.whenEnded(() => {
      const label = exchange.route === undefined ? routeLabel(exchange.path, registry.current()) : { route: exchange.route, server: exchange.serverLabel };
      span.end(exchange.response.statusCode, ROUTE_TEMPLATES[label.route], label.server);
    });
    span.run(() => route(exchange));
  };
}

/** A path as the access log shows it: `POST /key/{key}/regenerate` carries a key in its path (LiteLLM's route), which is masked. */
function loggedPath(path: string): string {
  return path.startsWith("/key/") && path.endsWith("/regenerate") && path !== "/key/regenerate" ? "/key/****/regenerate" : path;
}

/** Where the keys' rpm_limit and max_parallel_requests are counted: Redis when REDIS_URL is set, else the database. */
async function keyCounters(options: GatewayOptions, database: { db: Parameters<typeof databaseCounters>[0]; dialect: Parameters<typeof databaseCounters>[1] }): Promise<KeyCounters> {
  const url = options.settings.redisUrl;
  if (url === undefined) return databaseCounters(database.db, database.dialect);
  const { redisCounters } = await import("./store/redis-counters.js");
  let reported = false;
  return redisCounters({
    url,
    onError: (error) => {
      // The client retries on its own; one line per outage, not one per retry.
      if (reported) return;
      reported = true;
      options.log.warn({ err: error.message }, "cannot reach Redis (REDIS_URL); key limits are counted per instance until it answers");
    },
  });
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, settings, log } = options;
  const general = config.general_settings;
  const metrics = createMetrics();
  const stdio = createStdioServers({ log });
  const specs = createOpenApiSpecs({ log });
  let store: Awaited<ReturnType<typeof openStore>> | undefined;
  try {
    store = await openStore(options, metrics, stdio, specs);
    // The config file's OpenAPI specs must load before the gateway serves, as the file itself must.
    await specs.preload([...store.registry.current().servers.values()].filter((server) => server.source === "config")).catch((error: unknown) => {
      throw error instanceof SpecError ? new ConfigError([error.message], { cause: error }) : error;
    });
  } catch (error) {
    await stdio.close();
    await store?.database.close().catch(() => undefined);
    throw error;
  }
  const { database, servers, registry, keysRepo, oauthRepo, upstreams, discovery, aggregateSessions, inputEvents, toolPinsRepo } = store;
  const pins = createToolPins({ repo: toolPinsRepo, log, metrics });
  const sessionMaxAgeMs = general.mcp_aggregate_session_max_age_hours * 3600_000;
  const audit = createAuditTrail({ repository: auditRepository(database.db, database.sqlite), log, enabled: general.audit_log });
  const toolChanges = createToolChangeAdmin({ repo: toolPinsRepo, pins, log, audit });
  const origin = originSettings({
    proxyBaseUrl: settings.proxyBaseUrl,
    useXForwardedFor: general.use_x_forwarded_for,
    trustedProxyRanges: general.mcp_trusted_proxy_ranges,
  });
  for (const warning of origin.warnings) log.warn(warning);
  const cimdServers = [...registry.current().servers.values()].filter((server) => server.config.registration === "cimd").map((server) => server.name);
  const cimdWarning = cimdOriginWarning(cimdServers, origin);
  if (cimdWarning !== undefined) log.warn(cimdWarning);
  const csrfKey = Buffer.from(hkdfSync("sha256", settings.saltKey, "gatehouse", "consent form csrf v1", 32));
  const trustedRedirects = parseTrustedRedirectOrigins(settings.trustedRedirectOrigins);
  for (const warning of trustedRedirects.warnings) log.warn(warning);
  const registration = { repo: oauthRepo };
  const registrationLimit = addressRateLimit({ limit: general.oauth_registration_rate_limit_per_minute });
  const documents = createClientMetadataDocuments({
    trustedHosts: general.oauth_client_metadata_document_hosts,
    internalHosts: general.oauth_client_metadata_document_internal_hosts,
    fetchLimit: addressRateLimit({ limit: general.oauth_client_metadata_document_fetch_rate_limit_per_minute }),
    ...(options.clientMetadataDocumentCa === undefined ? {} : { ca: options.clientMetadataDocumentCa }),
  });
  // Upstream scope challenges, shared by the proxy (step-up) and /authorize (scope selection).
  const challenges = scopeChallenges();
  const authorize = createAuthorize({ repo: oauthRepo, upstreams, csrfKey, log, documents, scopeChallenges: challenges });
  const token = createTokenEndpoint({ repo: oauthRepo, upstreams, log, events: metrics, audit, documents });
  const limits = createKeyLimiter({ counters: await keyCounters(options, database), windowSeconds: settings.rateLimitWindowSeconds, log });
  const virtualKeys = virtualKeyResolver(keysRepo);
  const keys = chainResolvers([masterKeyResolver(settings.masterKey), virtualKeys]);
  const sessionsRepo = uiSessionsRepository(database.db);
  const sessions = uiSessions({
    repo: sessionsRepo,
    keys,
    keysRepo,
    csrfKey: Buffer.from(hkdfSync("sha256", settings.saltKey, "gatehouse", "ui session csrf v1", 32)),
    masterKey: settings.masterKey,
  });
  const watcher = watchRevisions({
    db: database.db,
    intervalMs: general.store_poll_interval_seconds * 1000,
    onChange: { servers: () => registry.reload(), keys: () => virtualKeys.invalidate() },
    onError: (error, first) => {
      if (first) log.warn({ err: error instanceof Error ? error.message : String(error) }, "cannot read the store's revisions; changes made by other instances are not picked up until it answers");
    },
  });
  // Pending authorizations, codes and never-completed clients are refused once expired; this only keeps the tables small.
  const purge = setInterval(
    () =>
      void Promise.allSettled([oauthRepo.purgeExpired(), sessionsRepo.purgeExpired(), audit.purgeOlderThan(general.audit_retention_days), aggregateSessions.purgeOlderThan(sessionMaxAgeMs), inputEvents.purgeOlderThan(3600_000)]),
    10 * 60_000,
  );
  purge.unref();
  const http = createUpstreamHttp({ connectionsPerOrigin: general.max_connections_per_upstream });
  const clients = createUpstreamClients({ log, http, stdio, sessions: aggregateSessions, openapi: { specs, maxResponseBytes: general.openapi_max_response_bytes } });
  const streams = createStreamBudget({ perKey: general.max_streams_per_key, perServer: general.max_streams_per_server });
  const legacySse = createLegacySseBridge({ log, streams, pins });
  const stdioBridge = createStdioBridge({ log, stdio, streams, pins });
  const delegated = delegatedResourceMetadata({ discovery });
  // Pass-through session ids are bound to their key with a key every instance derives alike (no sticky sessions).
  const sessionIds = sessionBinding(Buffer.from(hkdfSync("sha256", settings.saltKey, "gatehouse", "mcp session binding v1", 32)));
  const passthrough = createPassthrough({ http, sessions: sessionIds, streams, legacySse, stdio: stdioBridge, log, delegated, audit, metrics, scopeChallenges: challenges, pins });
  // A 2026-07-28 client's retry may land on any instance: the requestState is sealed under a key every instance derives alike.
  const inputBridge = createInputBridge({ repo: inputEvents, key: Buffer.from(hkdfSync("sha256", settings.saltKey, "gatehouse", "mcp request state v1", 32)), log, heldPerKey: general.mcp_held_calls_per_key });
  const aggregate = createAggregate({
    clients,
    log,
    listTimeoutMs: 10_000,
    listLimits: { maxPages: general.tools_list_max_pages, maxTools: general.tools_list_max_tools },
    unprefixedSingleServer: general.mcp_unprefixed_single_server,
    streams,
    streamRecheckMs: general.mcp_stream_recheck_seconds * 1000,
    delegated,
    audit,
    metrics,
    pins,
    inputBridge,
    // The ids of the requests asked of an earlier client are signed for its session and the server alike (any instance checks an answer).
    answerSlots: createAnswerSlots({ repo: inputEvents, key: Buffer.from(hkdfSync("sha256", settings.saltKey, "gatehouse", "mcp answer slots v1", 32)), log }),
    // Task ids given to /mcp clients are bound to their key like pass-through session ids (any instance checks them).
    taskIds: taskIds(Buffer.from(hkdfSync("sha256", settings.saltKey, "gatehouse", "aggregate task ids v1", 32))),
    ...(general.mcp_aggregate_sessions ? { sessions: { seal: sessionSeal(settings.saltKey, { maxAgeMs: sessionMaxAgeMs }), repo: aggregateSessions, streams, maxPerKey: general.mcp_aggregate_sessions_per_key, maxAgeMs: sessionMaxAgeMs } } : {}),
  });
  const rest = createRestTools(aggregate);
  const internalRanges = parseRanges(general.mcp_internal_ip_ranges ?? DEFAULT_INTERNAL_RANGES);
  for (const range of internalRanges.invalid) log.warn(`mcp_internal_ip_ranges: '${range}' is not an IPv4 or IPv6 CIDR; it is ignored`);
  let draining = false;
  const serverAdmin = createServerAdmin({
    registry,
    servers,
    env: options.env,
    allowStdio: general.mcp_allow_stdio_servers_from_api,
    checkSpec: async (name, config) => {
      await specs.check(specSource(name, config));
    },
  });
  const keyAdmin = createKeyAdmin({ keys: keysRepo, masterKey: settings.masterKey });

  const network = callerNetwork(origin, internalRanges, () => registry.current().hasInternalOnly);
  const app = createApp({
    log,
    registry,
    keys,
    aggregate,
    health: {
      database,
      serverCount: () => registry.current().servers.size,
      isDraining: () => draining,
      version: VERSION,
    },
    origin,
    network,
    oauth: { delegated, upstreams, registration, registrationLimit, authorize, token, callback: { repo: oauthRepo, upstreams, log }, clientMetadataDocuments: documents.enabled },
    connect: createConnect({ registration, authorize, token, trustedOrigins: trustedRedirects.origins, log }),
    serverAdmin,
    observability: { metrics, audit },
    toolChanges,
    keyAdmin,
    ui: {
      sessions,
      audit,
      registry,
      serverAdmin,
      keyAdmin,
      aggregate,
      limits,
      toolChanges,
      connections: {
        async expiresAt(serverId, user) {
          const token = await oauthRepo.getUserToken(serverId, user);
          return token === undefined ? { connected: false } : { connected: true, ...(token.expiresAt === undefined ? {} : { expiresAt: token.expiresAt }) };
        },
        ...userConnections({ repo: oauthRepo, upstreams, log, audit }),
      },
    },
    maxBodyBytes: general.max_request_body_bytes,
  });

  const debugLogging = log.isLevelEnabled("debug");
  const route = router({
    guard: dnsRebindingGuard({ listenHost: options.host, origin, allowedOrigins: settings.allowedOrigins, log }),
    mcp: mcpRoutes({ origin, network, registry, keys, limits, passthrough, aggregate, rest, maxBodyBytes: general.max_request_body_bytes, streamRecheckMs: general.mcp_stream_recheck_seconds * 1000 }),
    other: honoAdapter(app),
    registry,
  });
  // Off unless OTEL_TRACES_EXPORTER names an exporter: then the router is used as it is, and no request pays for tracing.
  const tracing = await startTracing(options.env, VERSION).catch(async (error: unknown) => {
    await stdio.close();
    throw error;
  });
  if (tracing !== undefined) log.info({ exporter: "otlp", protocol: "http/json" }, "tracing is on: spans are exported over OTLP/HTTP (OTEL_* variables)");
  const serving = serveNode({
    port: options.port,
    host: options.host,
    log,
    handle: tracing === undefined ? route : tracedRoute(route, registry),
    ended: (exchange) => {
      const seconds = (performance.now() - exchange.started) / 1000;
      const status = exchange.response.statusCode;
      const { route, server } = exchange.route === undefined ? routeLabel(exchange.path, registry.current()) : { route: exchange.route, server: exchange.serverLabel };
      metrics.httpRequest(route, server, status, seconds);
      // The access log, at debug level only (nothing per request at info). The path without its query: a query may hold a code or a key.
      if (debugLogging) {
        log.debug({ request_id: exchange.requestId, method: exchange.method, path: loggedPath(exchange.path), status, duration_ms: Math.round(seconds * 1000), route, server }, "request");
      }
    },
  });
  // A gateway that cannot listen leaves no stdio process behind.
  const listening = await serving.catch(async (error: unknown) => {
    await stdio.close();
    await tracing?.shutdown();
    throw error;
  });
  const url = listening.url;
  log.info({ url, db: database.dialect, database: database.description, mcp_servers: [...registry.current().servers.keys()] }, "gatehouse is listening");

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    draining = true;
    watcher.stop();
    clearInterval(purge);
    // The listener closes at once (shutdown's synchronous start); then long-lived streams
    // (legacy SSE bridges), which would hold their requests open, are ended.
    const stopped = listening.shutdown(general.shutdown_timeout_seconds * 1000);
    aggregate.close();
    await Promise.all([legacySse.close(), stdioBridge.close()]);
    await stopped;
    // Calls held for a client's input are no request of the listener's: they end here, not at their timeout.
    inputBridge.close();
    // stdio servers: stdin closed, then SIGTERM, then SIGKILL (about 2 s apart), so none outlives the gateway.
    await Promise.allSettled([clients.close(), http.close(), documents.close(), audit.close(), limits.close(), stdio.close()]);
    await database.close();
    // Last: the spans of the requests that finished while draining are exported too.
    await tracing?.shutdown().catch((error: unknown) => log.warn({ err: (error as Error).message }, "could not export the last spans"));
    log.info("gatehouse stopped");
  }

  return {
    url,
    server: listening.server,
    syncWithStore: () => watcher.check(),
    close: () => (closing ??= shutdown()),
  };
}
