/**
 * The metrics are plain counters read at scrape time; what `/metrics` shows must be what
 * prom-client's own Counter and Histogram would show for the same observations.
 */
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics, NO_SERVER, RouteId, type RouteLabel } from "../../../src/observability/metrics.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The text prom-client itself gives for these requests, with the metrics' names and help. */
async function reference(requests: Array<[RouteLabel, string, number, number]>): Promise<string> {
  const registry = new Registry();
  const counter = new Counter({ name: "gatehouse_http_requests_total", help: "HTTP requests answered, by route family, MCP server and status", labelNames: ["route", "server", "status"], registers: [registry] });
  const histogram = new Histogram({ name: "gatehouse_http_request_duration_seconds", help: "Time from request to the end of the answer, by route family and MCP server", labelNames: ["route", "server"], buckets: BUCKETS, registers: [registry] });
  for (const [route, server, status, seconds] of requests) {
    counter.labels(route, server, String(status)).inc();
    histogram.labels(route, server).observe(seconds);
  }
  return registry.metrics();
}

/** The lines of one metric family, sorted (prom-client orders children by first use). */
function family(text: string, name: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name}_`) || line.includes(` ${name} `)).sort();
}

describe("request metrics", () => {
  const requests: Array<[RouteLabel, string, number, number]> = [
    ["passthrough", "alpha", 200, 0.0004],
    ["passthrough", "alpha", 200, 0.0005],
    ["passthrough", "alpha", 200, 0.0031],
    ["passthrough", "alpha", 401, 0.00002],
    ["passthrough", "", 404, 0.0001],
    ["aggregate", "", 200, 0.7],
    ["rest", "", 502, 31],
    ["oauth", "beta", 302, 0.02],
  ];

  it("export the same text as prom-client's Counter and Histogram, by labels or by ids", async () => {
    const byLabels = createMetrics({ defaultMetrics: false });
    for (const [route, server, status, seconds] of requests) byLabels.httpRequest(route, server, status, seconds);
    const byIds = createMetrics({ defaultMetrics: false });
    for (const [route, server, status, seconds] of requests) byIds.countRequest(RouteId[route], server === "" ? NO_SERVER : byIds.serverSlot(server), status, seconds);
    const expected = await reference(requests);
    for (const metrics of [byLabels, byIds]) {
      const text = await metrics.text();
      for (const name of ["gatehouse_http_requests_total", "gatehouse_http_request_duration_seconds"]) expect(family(text, name)).toEqual(family(expected, name));
      expect(text).toContain("# TYPE gatehouse_http_request_duration_seconds histogram");
      expect(text).toContain("# TYPE gatehouse_http_requests_total counter");
    }
  });

  it("keep counting across scrapes (a scrape reads, it does not reset)", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.httpRequest("health", "", 200, 0.001);
    await metrics.text();
    metrics.httpRequest("health", "", 200, 0.001);
    const text = await metrics.text();
    expect(text).toContain('gatehouse_http_requests_total{route="health",server="",status="200"} 2');
    expect(text).toContain('gatehouse_http_request_duration_seconds_count{route="health",server=""} 2');
  });

  it("give a server name one slot for good", () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(metrics.serverSlot("")).toBe(NO_SERVER);
    const alpha = metrics.serverSlot("alpha");
    expect(metrics.serverSlot("beta")).not.toBe(alpha);
    expect(metrics.serverSlot("alpha")).toBe(alpha);
  });
});

describe("token and upstream counters", () => {
  it("export per server, flow, outcome and code", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.tokenRequest("m2m", "client_credentials", "ok");
    metrics.tokenRequest("m2m", "client_credentials", "error");
    metrics.tokenRequest("obo", "token_exchange", "ok");
    for (let index = 0; index < 3; index++) metrics.tokenCacheHit("m2m", "client_credentials");
    metrics.upstreamError("down", "upstream_unreachable");
    metrics.upstreamError("down", "upstream_unreachable");
    metrics.upstreamError("down", "upstream_timeout");
    const text = await metrics.text();
    expect(text).toContain('gatehouse_token_requests_total{server="m2m",flow="client_credentials",outcome="ok"} 1');
    expect(text).toContain('gatehouse_token_requests_total{server="m2m",flow="client_credentials",outcome="error"} 1');
    expect(text).toContain('gatehouse_token_requests_total{server="obo",flow="token_exchange",outcome="ok"} 1');
    expect(text).toContain('gatehouse_token_cache_hits_total{server="m2m",flow="client_credentials"} 3');
    expect(text).toContain('gatehouse_upstream_errors_total{server="down",code="upstream_unreachable"} 2');
    expect(text).toContain('gatehouse_upstream_errors_total{server="down",code="upstream_timeout"} 1');
    expect(text).not.toContain('outcome="error"} 0');
  });
});
