/**
 * Issue 16's performance targets, judged from one benchmark run: the gateway side by side with
 * the minimal Node proxy (`node-proxy`), both in front of the fast upstream, at 16 connections.
 */
import type { PathResult, Report } from "./report.js";

/** The connection count the targets are stated at. */
export const TARGET_CONNECTIONS = 16;
/** The gateway's RSS right after the run must stay under this, in MiB. */
export const RSS_LIMIT_MIB = 150;

export type TargetStatus = "met" | "not met" | "not measured";

export interface Target {
  /** What is promised, e.g. "gateway-static req/s >= 0.85x node-proxy's". */
  name: string;
  /** The measured value, in `unit`; undefined when the run did not measure it. */
  value: number | undefined;
  /** The bound the value is held to, in `unit`, from the same run. */
  limit: number | undefined;
  /** "min": value >= limit; "max": value <= limit; "below": value < limit. */
  bound: "min" | "max" | "below";
  unit: "req/s" | "µs/req" | "ms" | "MiB";
  status: TargetStatus;
  /** The reference measurement the limit was derived from, or why nothing was judged. */
  note: string;
}

const PASS_THROUGH = ["gateway-static", "gateway-m2m"] as const;
const ROUTED = ["gateway-aggregate", "gateway-rest"] as const;

/** Every target, in a fixed order, judged from `report`'s results at `connections`. */
export function evaluateTargets(report: Report, connections = TARGET_CONNECTIONS): Target[] {
  const find = (path: string) => report.results.find((result) => result.path === path && result.connections === connections);
  const targets: Target[] = [];
  for (const path of PASS_THROUGH) {
    const compared = { path, result: find(path), referencePath: "node-proxy", reference: find("node-proxy") };
    targets.push(
      relative({ ...compared, name: `${path} req/s >= 0.85x node-proxy's`, bound: "min", unit: "req/s", measure: (r) => r.load.requestsPerSecond, limit: (floor) => 0.85 * floor }),
      relative({ ...compared, name: `${path} CPU/req <= 1.3x node-proxy's`, bound: "max", unit: "µs/req", measure: (r) => r.cpuMicrosPerRequest, limit: (floor) => 1.3 * floor }),
      relative({ ...compared, name: `${path} p99 <= node-proxy's + 1 ms`, bound: "max", unit: "ms", measure: (r) => r.load.p99, limit: (floor) => floor + 1 }),
    );
  }
  targets.push(
    judge({ name: `gateway RSS after the run < ${RSS_LIMIT_MIB} MiB`, bound: "below", unit: "MiB", value: finite(report.gateway.rssMb), limit: RSS_LIMIT_MIB, note: `peak ${format(finite(report.gateway.peakRssMb), "MiB")}` }),
  );
  for (const path of ROUTED) {
    targets.push(
      relative({
        name: `${path} CPU/req <= 1.5x gateway-static's`,
        bound: "max",
        unit: "µs/req",
        path,
        result: find(path),
        referencePath: "gateway-static",
        reference: find("gateway-static"),
        measure: (r) => r.cpuMicrosPerRequest,
        limit: (passThrough) => 1.5 * passThrough,
      }),
    );
  }
  return targets;
}

interface Relative {
  name: string;
  bound: Target["bound"];
  unit: Target["unit"];
  path: string;
  result: PathResult | undefined;
  referencePath: string;
  reference: PathResult | undefined;
  measure: (result: PathResult) => number | undefined;
  /** The limit, from the reference path's measurement. */
  limit: (referenceValue: number) => number;
}

/** A target whose limit is derived from another path's measurement in the same run. */
function relative({ name, bound, unit, path, result, referencePath, reference, measure, limit }: Relative): Target {
  if (result === undefined || reference === undefined) {
    const missing = [result === undefined ? path : undefined, reference === undefined ? referencePath : undefined].filter((name) => name !== undefined);
    return { name, value: undefined, limit: undefined, bound, unit, status: "not measured", note: `${missing.join(" and ")} not run at this connection count` };
  }
  const value = finite(measure(result));
  const referenceValue = finite(measure(reference));
  const limitValue = referenceValue === undefined ? undefined : limit(referenceValue);
  const errors = result.load.errors + reference.load.errors;
  if (errors > 0) {
    // A failed request is cheap and fast: with errors, the numbers do not measure the proxying.
    return { name, value, limit: limitValue, bound, unit, status: "not met", note: `errors: ${path} ${result.load.errors}, ${referencePath} ${reference.load.errors}` };
  }
  return judge({ name, bound, unit, value, limit: limitValue, note: `${referencePath} ${format(referenceValue, unit)}` });
}

function judge(target: Omit<Target, "status">): Target {
  const { value, limit, bound } = target;
  if (value === undefined || limit === undefined) return { ...target, status: "not measured" };
  const met = bound === "min" ? value >= limit : bound === "max" ? value <= limit : value < limit;
  return { ...target, status: met ? "met" : "not met" };
}

const finite = (value: number | undefined) => (value !== undefined && Number.isFinite(value) ? value : undefined);

function format(value: number | undefined, unit: Target["unit"]): string {
  if (value === undefined) return "—";
  const digits = unit === "ms" ? 2 : unit === "µs/req" ? 1 : 0;
  return `${value.toFixed(digits)} ${unit}`;
}

const SYMBOL: Record<Target["bound"], string> = { min: ">=", max: "<=", below: "<" };

/** The targets as a Markdown section of the report. */
export function markdownTargets(targets: Target[], connections = TARGET_CONNECTIONS): string {
  const lines = [
    `## Targets, at ${connections} connections, from this run`,
    "",
    "| target | measured | limit | | reference |",
    "| --- | ---: | ---: | --- | --- |",
    ...targets.map((target) => `| ${target.name} | ${format(target.value, target.unit)} | ${SYMBOL[target.bound]} ${format(target.limit, target.unit)} | **${target.status}** | ${target.note} |`),
    "",
    summary(targets),
    "",
  ];
  return lines.join("\n");
}

/** The targets as plain lines for the end of the run's output. */
export function textTargets(targets: Target[], connections = TARGET_CONNECTIONS): string {
  const width = Math.max(...targets.map((target) => target.name.length));
  const lines = targets.map(
    (target) => `  ${target.status.toUpperCase().padEnd(12)} ${target.name.padEnd(width)}  ${format(target.value, target.unit).padStart(12)}  (limit ${SYMBOL[target.bound]} ${format(target.limit, target.unit)}; ${target.note})`,
  );
  return [`Targets at ${connections} connections, from this run:`, ...lines, summary(targets), ""].join("\n");
}

function summary(targets: Target[]): string {
  const count = (status: TargetStatus) => targets.filter((target) => target.status === status).length;
  return `${count("met")} of ${targets.length} targets met, ${count("not met")} not met, ${count("not measured")} not measured.`;
}
