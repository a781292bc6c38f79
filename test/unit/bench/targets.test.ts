/**
 * `npm run bench` judges issue 16's targets from one run: the pass-through against the
 * minimal Node proxy, the gateway's RSS, and the routed paths against the pass-through, all
 * at 16 connections.
 */
import { describe, expect, it } from "vitest";
import { markdownReport, type PathResult, type Report } from "../../../bench/report.js";
import { evaluateTargets, markdownTargets, textTargets, type Target } from "../../../bench/targets.js";

function path(name: string, requestsPerSecond: number, cpuMicrosPerRequest: number | undefined, p99: number, options: { connections?: number; errors?: number } = {}): PathResult {
  return {
    path: name,
    description: name,
    connections: options.connections ?? 16,
    load: { requests: requestsPerSecond * 5, seconds: 5, requestsPerSecond, p50: p99 / 2, p99, errors: options.errors ?? 0 },
    ...(cpuMicrosPerRequest === undefined ? {} : { cpuMicrosPerRequest }),
  };
}

function report(results: PathResult[], rssMb = 120): Report {
  return {
    date: "2026-12-07T00:00:00.000Z",
    machine: { cpus: 2, model: "test", node: "v20.20.2" },
    generator: "wrk",
    seconds: 5,
    results,
    gateway: { rssMb, peakRssMb: rssMb + 20, idleRssMb: rssMb - 20, idleSeconds: 10 },
    tokenRequests: 1,
  };
}

const byName = (targets: Target[]) => Object.fromEntries(targets.map((target) => [target.name, target]));

/** A run where every target holds exactly at its bound (floor: 20000 req/s, 100 µs, p99 2.5 ms). */
const atTheBounds = [
  path("direct", 40000, undefined, 1),
  path("node-proxy", 20000, 100, 2.5),
  path("gateway-static", 17000, 130, 3.5),
  path("gateway-m2m", 17000, 130, 3.5),
  path("gateway-aggregate", 9000, 195, 5),
  path("gateway-rest", 9000, 195, 5),
];

describe("the benchmark's targets", () => {
  it("are met at their bounds: 0.85x the floor's req/s, 1.3x its CPU, its p99 + 1 ms, 1.5x the pass-through's CPU", () => {
    const targets = evaluateTargets(report(atTheBounds, 149.9));
    expect(targets.map((target) => [target.name, target.status])).toEqual([
      ["gateway-static req/s >= 0.85x node-proxy's", "met"],
      ["gateway-static CPU/req <= 1.3x node-proxy's", "met"],
      ["gateway-static p99 <= node-proxy's + 1 ms", "met"],
      ["gateway-m2m req/s >= 0.85x node-proxy's", "met"],
      ["gateway-m2m CPU/req <= 1.3x node-proxy's", "met"],
      ["gateway-m2m p99 <= node-proxy's + 1 ms", "met"],
      ["gateway RSS after the run < 150 MiB", "met"],
      ["gateway-aggregate CPU/req <= 1.5x gateway-static's", "met"],
      ["gateway-rest CPU/req <= 1.5x gateway-static's", "met"],
    ]);
    const judged = byName(targets);
    expect(judged["gateway-static req/s >= 0.85x node-proxy's"]).toMatchObject({ value: 17000, limit: 17000, unit: "req/s", note: "node-proxy 20000 req/s" });
    expect(judged["gateway-static CPU/req <= 1.3x node-proxy's"]).toMatchObject({ value: 130, limit: 130, unit: "µs/req" });
    expect(judged["gateway-static p99 <= node-proxy's + 1 ms"]).toMatchObject({ value: 3.5, limit: 3.5, unit: "ms" });
    expect(judged["gateway-aggregate CPU/req <= 1.5x gateway-static's"]).toMatchObject({ value: 195, limit: 195, note: "gateway-static 130.0 µs/req" });
  });

  it("are not met just past their bounds, and the RSS must stay strictly under 150 MiB", () => {
    const past = [
      path("node-proxy", 20000, 100, 2.5),
      path("gateway-static", 16999, 130.1, 3.51),
      path("gateway-m2m", 16999, 130.1, 3.51),
      path("gateway-aggregate", 9000, 195.2, 5),
      path("gateway-rest", 9000, 195.2, 5),
    ];
    const targets = evaluateTargets(report(past, 150));
    expect(targets.every((target) => target.status === "not met")).toBe(true);
    expect(byName(targets)["gateway RSS after the run < 150 MiB"]).toMatchObject({ value: 150, limit: 150, bound: "below" });
  });

  it("are judged at 16 connections only", () => {
    const otherCounts = atTheBounds.flatMap((result) => [
      { ...result, connections: 1, load: { ...result.load, requestsPerSecond: 1 } },
      result,
      { ...result, connections: 64, load: { ...result.load, p99: 1000 } },
    ]);
    expect(evaluateTargets(report(otherCounts)).map((target) => target.status)).toEqual(Array(9).fill("met"));
  });

  it("are not measured when the run left out a path or the reference, and say which", () => {
    const withoutM2m = atTheBounds.filter((result) => result.path !== "gateway-m2m");
    const targets = byName(evaluateTargets(report(withoutM2m)));
    expect(targets["gateway-m2m req/s >= 0.85x node-proxy's"]).toMatchObject({ status: "not measured", value: undefined, note: "gateway-m2m not run at this connection count" });
    expect(targets["gateway-static req/s >= 0.85x node-proxy's"]?.status).toBe("met");

    const withoutFloor = byName(evaluateTargets(report(atTheBounds.filter((result) => result.path !== "node-proxy"))));
    expect(withoutFloor["gateway-static CPU/req <= 1.3x node-proxy's"]).toMatchObject({ status: "not measured", note: "node-proxy not run at this connection count" });
    expect(withoutFloor["gateway-rest CPU/req <= 1.5x gateway-static's"]?.status).toBe("met");

    const only16Missing = evaluateTargets(report(atTheBounds.map((result) => ({ ...result, connections: 64 }))));
    expect(only16Missing.filter((target) => target.status === "not measured")).toHaveLength(8);
  });

  it("are not measured when a path's CPU was not read", () => {
    const noCpu = atTheBounds.map((result) => (result.path === "gateway-rest" ? path("gateway-rest", 9000, undefined, 5) : result));
    expect(byName(evaluateTargets(report(noCpu)))["gateway-rest CPU/req <= 1.5x gateway-static's"]).toMatchObject({ status: "not measured", value: undefined, limit: 195 });
  });

  it("are not met when either side of a comparison had errors: failed requests are cheap and fast", () => {
    const failing = atTheBounds.map((result) => (result.path === "gateway-static" ? path("gateway-static", 50000, 20, 1, { errors: 3 }) : result));
    const targets = byName(evaluateTargets(report(failing)));
    expect(targets["gateway-static req/s >= 0.85x node-proxy's"]).toMatchObject({ status: "not met", note: "errors: gateway-static 3, node-proxy 0" });
    // The routed paths are judged against the failing pass-through too.
    expect(targets["gateway-aggregate CPU/req <= 1.5x gateway-static's"]?.status).toBe("not met");
    expect(targets["gateway-m2m req/s >= 0.85x node-proxy's"]?.status).toBe("met");
  });

  it("appear in the Markdown report and in the run's closing text, with the measured value and each status", () => {
    const run = report(
      atTheBounds.map((result) => (result.path === "gateway-m2m" ? path("gateway-m2m", 8000, 250, 9.75) : result)),
      201,
    );
    const markdown = markdownReport(run);
    expect(markdown).toContain("## Targets, at 16 connections, from this run");
    expect(markdown).toContain("| gateway-m2m req/s >= 0.85x node-proxy's | 8000 req/s | >= 17000 req/s | **not met** | node-proxy 20000 req/s |");
    expect(markdown).toContain("| gateway RSS after the run < 150 MiB | 201 MiB | < 150 MiB | **not met** | peak 221 MiB |");
    expect(markdown).toContain("5 of 9 targets met, 4 not met, 0 not measured.");
    expect(markdownTargets(evaluateTargets(run))).toBe(markdown.slice(markdown.indexOf("## Targets")));

    const text = textTargets(evaluateTargets(run));
    expect(text.split("\n")[0]).toBe("Targets at 16 connections, from this run:");
    expect(text).toMatch(/^ {2}NOT MET\s+gateway-m2m p99 <= node-proxy's \+ 1 ms\s+9\.75 ms\s+\(limit <= 3\.50 ms; node-proxy 2\.50 ms\)/m);
    expect(text).toMatch(/^ {2}MET\s+gateway-static req\/s >= 0\.85x node-proxy's\s+17000 req\/s/m);
    expect(text).toContain("5 of 9 targets met, 4 not met, 0 not measured.");
  });
});
