/**
 * Prometheus metrics (prom-client), served at `GET /metrics` with the master key (README,
 * "Operating it"). One registry per gateway, so several gateways in one process (the tests)
 * count apart. Label values are bounded: routes are a fixed set, servers are configured
 * names (anything else is ""), statuses are HTTP codes.
 *
 * The request path costs a Map lookup and two increments: each label combination's
 * children are created once and kept.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** How an upstream token was obtained. */
export type TokenFlow = "client_credentials" | "token_exchange" | "refresh" | "authorization_code";

/** What the credential strategies report (they know nothing else of metrics). */
export interface TokenEvents {
  /** A request to an authorization server's token endpoint, and how it ended. */
  tokenRequest(server: string, flow: TokenFlow, outcome: "ok" | "error"): void;
  /** Credentials served from a cache without asking the authorization server. */
  tokenCacheHit(server: string, flow: TokenFlow): void;
}

/** The route families requests are counted under. */
export type RouteLabel = "passthrough" | "aggregate" | "rest" | "oauth" | "admin" | "ui" | "health" | "metrics" | "other";

export interface GatewayMetrics extends TokenEvents {
  /** One answered HTTP request. */
  httpRequest(route: RouteLabel, server: string, status: number, seconds: number): void;
  /** An upstream MCP server failed a call (unreachable, timeout, refused credentials, error). */
  upstreamError(server: string, code: string): void;
  contentType: string;
  text(): Promise<string>;
}

/** Latency buckets, in seconds: a proxied call costs ~0.1-1 ms, slow tools take seconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "gatehouse_" });
  const requests = new Counter({ name: "gatehouse_http_requests_total", help: "HTTP requests answered, by route family, MCP server and status", labelNames: ["route", "server", "status"], registers: [registry] });
  const durations = new Histogram({ name: "gatehouse_http_request_duration_seconds", help: "Time from request to the end of the answer, by route family and MCP server", labelNames: ["route", "server"], buckets: DURATION_BUCKETS, registers: [registry] });
  const upstreamErrors = new Counter({ name: "gatehouse_upstream_errors_total", help: "Failed calls to upstream MCP servers, by server and error code", labelNames: ["server", "code"], registers: [registry] });
  const tokenRequests = new Counter({ name: "gatehouse_token_requests_total", help: "Requests to authorization servers' token endpoints, by MCP server, flow and outcome", labelNames: ["server", "flow", "outcome"], registers: [registry] });
  const tokenCacheHits = new Counter({ name: "gatehouse_token_cache_hits_total", help: "Upstream credentials served from the gateway's cache, by MCP server and flow", labelNames: ["server", "flow"], registers: [registry] });

  const requestChildren = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();

  return {
    httpRequest(route, server, status, seconds) {
      const key = `${route}\0${server}\0${status}`;
      let children = requestChildren.get(key);
      if (children === undefined) {
        children = { count: requests.labels(route, server, String(status)), duration: durations.labels(route, server) };
        requestChildren.set(key, children);
      }
      children.count.inc();
      children.duration.observe(seconds);
    },
    upstreamError: (server, code) => upstreamErrors.labels(server, code).inc(),
    tokenRequest: (server, flow, outcome) => tokenRequests.labels(server, flow, outcome).inc(),
    tokenCacheHit: (server, flow) => tokenCacheHits.labels(server, flow).inc(),
    contentType: registry.contentType,
    text: () => registry.metrics(),
  };
}
