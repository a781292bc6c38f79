/**
 * Prometheus metrics (prom-client), served at `GET /metrics` with the master key (README,
 * "Operating Gatehouse"). One registry per gateway, so several gateways in one process (the tests)
 * count apart. Label values are bounded: routes are a fixed set, servers are configured
 * names (anything else is ""), statuses are HTTP codes.
 *
 * Counting is plain arithmetic on numbers kept here; prom-client reads them only when
 * `/metrics` is scraped. A request costs a few array reads and increments: no label
 * hashing, no string building, no prom-client call (those cost 5-9 µs a request).
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

/** The route families requests are counted under, in the order of their ids. */
export const ROUTE_LABELS = ["passthrough", "aggregate", "rest", "oauth", "admin", "ui", "health", "metrics", "other"] as const;
export type RouteLabel = (typeof ROUTE_LABELS)[number];

/** A route family's id, for the request path: `RouteId.passthrough` is 0, and so on. */
export const RouteId = Object.freeze(Object.fromEntries(ROUTE_LABELS.map((label, index) => [label, index]))) as { readonly [L in RouteLabel]: number };

/** The server slot of requests that name no configured server. */
export const NO_SERVER = 0;

export interface GatewayMetrics extends TokenEvents {
  /**
   * One answered HTTP request, for callers that know their route and server already:
   * `route` from `RouteId`, `server` from `serverSlot` (looked up once, kept with the
   * server's entry), or `NO_SERVER`.
   */
  countRequest(route: number, server: number, status: number, seconds: number): void;
  /** The slot of a configured server's name, the same for the life of these metrics; "" is `NO_SERVER`. */
  serverSlot(name: string): number;
  /** One answered HTTP request, by labels (`routeLabel` gives them from a URL). */
  httpRequest(route: RouteLabel, server: string, status: number, seconds: number): void;
  /** An upstream MCP server failed a call (unreachable, timeout, refused credentials, error). */
  upstreamError(server: string, code: string): void;
  /** An MCP server changed a pinned tool's definition (README, "Tool pinning"), counted once per change under the server's `tool_changes` policy. */
  toolDefinitionChanged(server: string, policy: string): void;
  contentType: string;
  text(): Promise<string>;
}

/** Latency buckets, in seconds: a proxied call costs ~0.1-1 ms, slow tools take seconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/*
 * A cell holds one (route, server)'s counts in one Float64Array: the latency buckets (not
 * cumulative; the last one is +Inf), the sum of latencies, then a count per status code
 * 0-999 (Node refuses others). 8 KiB each, for the pairs that occur.
 */
const SUM = DURATION_BUCKETS.length + 1;
const STATUSES = SUM + 1;
const CELL_LENGTH = STATUSES + 1000;

const TOKEN_FLOWS: readonly TokenFlow[] = ["client_credentials", "token_exchange", "refresh", "authorization_code"];
const FLOW_INDEX: Readonly<Record<TokenFlow, number>> = { client_credentials: 0, token_exchange: 1, refresh: 2, authorization_code: 3 };

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "gatehouse_" });

  const servers: string[] = [""];
  const slots = new Map<string, number>([["", NO_SERVER]]);
  const cells: Array<Array<Float64Array | undefined>> = ROUTE_LABELS.map(() => []);
  const tokenRequests = new Map<string, Float64Array>();
  const tokenCacheHits = new Map<string, Float64Array>();
  const upstreamErrors = new Map<string, Map<string, number>>();
  const toolChanges = new Map<string, Map<string, number>>();

  function serverSlot(name: string): number {
    let slot = slots.get(name);
    if (slot === undefined) {
      slot = servers.push(name) - 1;
      slots.set(name, slot);
    }
    return slot;
  }

  function countRequest(route: number, server: number, status: number, seconds: number): void {
    const row = cells[route];
    if (row === undefined) return;
    let cell = row[server];
    if (cell === undefined) cell = row[server] = new Float64Array(CELL_LENGTH);
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    cell[bucket]!++;
    cell[SUM]! += seconds;
    cell[STATUSES + (status >= 0 && status < 1000 ? status : 0)]!++;
  }

  new Counter({
    name: "gatehouse_http_requests_total",
    help: "HTTP requests answered, by route family, MCP server and status",
    labelNames: ["route", "server", "status"],
    registers: [registry],
    collect() {
      this.reset();
      eachCell((route, server, cell) => {
        for (let status = 0; status < 1000; status++) {
          const count = cell[STATUSES + status]!;
          if (count > 0) this.inc({ route, server, status: String(status) }, count);
        }
      });
    },
  });
  registry.registerMetric(
    new ScrapedHistogram({
      name: "gatehouse_http_request_duration_seconds",
      help: "Time from request to the end of the answer, by route family and MCP server",
      labelNames: ["route", "server"],
      buckets: DURATION_BUCKETS,
      cells: eachCell,
    }),
  );
  new Counter({
    name: "gatehouse_upstream_errors_total",
    help: "Failed calls to upstream MCP servers, by server and error code",
    labelNames: ["server", "code"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [server, codes] of upstreamErrors) for (const [code, count] of codes) this.inc({ server, code }, count);
    },
  });
  new Counter({
    name: "gatehouse_tool_definition_changes_total",
    help: "Changed tool definitions seen (tool pinning), by MCP server and its tool_changes policy",
    labelNames: ["server", "policy"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [server, policies] of toolChanges) for (const [policy, count] of policies) this.inc({ server, policy }, count);
    },
  });
  new Counter({
    name: "gatehouse_token_requests_total",
    help: "Requests to authorization servers' token endpoints, by MCP server, flow and outcome",
    labelNames: ["server", "flow", "outcome"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [server, counts] of tokenRequests) {
        TOKEN_FLOWS.forEach((flow, index) => {
          if (counts[index * 2]! > 0) this.inc({ server, flow, outcome: "ok" }, counts[index * 2]);
          if (counts[index * 2 + 1]! > 0) this.inc({ server, flow, outcome: "error" }, counts[index * 2 + 1]);
        });
      }
    },
  });
  new Counter({
    name: "gatehouse_token_cache_hits_total",
    help: "Upstream credentials served from the gateway's cache, by MCP server and flow",
    labelNames: ["server", "flow"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [server, counts] of tokenCacheHits) TOKEN_FLOWS.forEach((flow, index) => counts[index]! > 0 && this.inc({ server, flow }, counts[index]));
    },
  });

  function eachCell(visit: (route: RouteLabel, server: string, cell: Float64Array) => void): void {
    cells.forEach((row, route) => row.forEach((cell, server) => cell !== undefined && visit(ROUTE_LABELS[route]!, servers[server]!, cell)));
  }

  return {
    countRequest,
    serverSlot,
    httpRequest: (route, server, status, seconds) => countRequest(RouteId[route], serverSlot(server), status, seconds),
    upstreamError(server, code) {
      let codes = upstreamErrors.get(server);
      if (codes === undefined) upstreamErrors.set(server, (codes = new Map()));
      codes.set(code, (codes.get(code) ?? 0) + 1);
    },
    toolDefinitionChanged(server, policy) {
      let policies = toolChanges.get(server);
      if (policies === undefined) toolChanges.set(server, (policies = new Map()));
      policies.set(policy, (policies.get(policy) ?? 0) + 1);
    },
    tokenRequest(server, flow, outcome) {
      let counts = tokenRequests.get(server);
      if (counts === undefined) tokenRequests.set(server, (counts = new Float64Array(TOKEN_FLOWS.length * 2)));
      counts[FLOW_INDEX[flow] * 2 + (outcome === "ok" ? 0 : 1)]!++;
    },
    tokenCacheHit(server, flow) {
      let counts = tokenCacheHits.get(server);
      if (counts === undefined) tokenCacheHits.set(server, (counts = new Float64Array(TOKEN_FLOWS.length)));
      counts[FLOW_INDEX[flow]]!++;
    },
    contentType: registry.contentType,
    text: () => registry.metrics(),
  };
}

type CellVisitor = (visit: (route: RouteLabel, server: string, cell: Float64Array) => void) => void;

/**
 * The request-duration histogram, read from the cells at scrape time. prom-client's
 * Histogram has no way to set a bucket's count, so this one answers `get` itself, in the
 * shape prom-client's own histograms give the registry.
 */
class ScrapedHistogram extends Histogram<"route" | "server"> {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #cells: CellVisitor;

  constructor(config: { name: string; help: string; labelNames: Array<"route" | "server">; buckets: number[]; cells: CellVisitor }) {
    const { cells, ...histogram } = config;
    super({ ...histogram, registers: [] });
    this.#name = config.name;
    this.#help = config.help;
    this.#bounds = config.buckets;
    this.#cells = cells;
  }

  override get(): ReturnType<Histogram["get"]> {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    const [bucket, sum, count] = [`${this.#name}_bucket`, `${this.#name}_sum`, `${this.#name}_count`];
    this.#cells((route, server, cell) => {
      let cumulative = 0;
      this.#bounds.forEach((le, index) => {
        cumulative += cell[index]!;
        values.push({ value: cumulative, labels: { le, route, server }, metricName: bucket });
      });
      cumulative += cell[this.#bounds.length]!;
      values.push({ value: cumulative, labels: { le: "+Inf", route, server }, metricName: bucket });
      values.push({ value: cell[SUM]!, labels: { route, server }, metricName: sum });
      values.push({ value: cumulative, labels: { route, server }, metricName: count });
    });
    // prom-client's typings call `type` an enum; at run time (and in the text format) it is the string.
    const metric = { name: this.#name, help: this.#help, type: "histogram", values, aggregator: "sum" };
    return Promise.resolve(metric as unknown as Awaited<ReturnType<Histogram["get"]>>);
  }

  /** The registry prefers this to `get` when a metric has it (prom-client's Histogram does). */
  getForPromString(): ReturnType<Histogram["get"]> {
    return this.get();
  }
}
