/** The benchmark's results as JSON (kept for comparison over time) and as a Markdown table. */
import type { Generator, LoadResult } from "./load.js";
import { evaluateTargets, markdownTargets } from "./targets.js";

export interface PathResult {
  path: string;
  description: string;
  connections: number;
  load: LoadResult;
  /** CPU time (user + system) of the proxy process(es) per request, in µs. */
  cpuMicrosPerRequest?: number;
}

export interface Report {
  date: string;
  machine: { cpus: number; model: string; node: string };
  generator: Generator;
  seconds: number;
  results: PathResult[];
  /** In MiB. `idleRssMb`: once V8's memory reducer has returned the load's headroom (it starts after ~8 s of quiet), within `idleSeconds`. */
  gateway: { rssMb: number; peakRssMb: number; idleRssMb: number; idleSeconds: number };
  tokenRequests: number;
  /** What a new `/mcp` session costs, measured one after another: initialize, one call (the upstream session opens), DELETE. */
  sessionSetup?: { sessions: number; msPerSession: number; cpuMicrosPerSession: number };
}

const fixed = (value: number | undefined, digits: number) => (value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits));

export function markdownReport(report: Report): string {
  const find = (path: string, connections: number) => report.results.find((result) => result.path === path && result.connections === connections);
  const lines = [
    `# Gatehouse benchmark, ${report.date}`,
    "",
    `${report.machine.cpus} CPUs (${report.machine.model}), Node ${report.machine.node}, load generator ${report.generator}, ${report.seconds} s per run, everything on loopback.`,
    "",
    "| path | conns | req/s | p50 ms | p99 ms | added p99 ms | proxy CPU µs/req | x nginx req/s | x nginx CPU | x node-proxy req/s | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const result of report.results) {
    const nginx = find("nginx", result.connections);
    const node = find("node-proxy", result.connections);
    const direct = find(result.path.includes("sdk") ? "sdk-direct" : "direct", result.connections);
    const ratio = (other: PathResult | undefined) => (other === undefined || other === result ? "—" : fixed(result.load.requestsPerSecond / other.load.requestsPerSecond, 2));
    const cpuRatio = nginx?.cpuMicrosPerRequest === undefined || result.cpuMicrosPerRequest === undefined || nginx === result ? "—" : fixed(result.cpuMicrosPerRequest / nginx.cpuMicrosPerRequest, 2);
    const added = direct === undefined || direct === result ? "—" : fixed(result.load.p99 - direct.load.p99, 2);
    lines.push(
      `| ${result.path} | ${result.connections} | ${fixed(result.load.requestsPerSecond, 0)} | ${fixed(result.load.p50, 2)} | ${fixed(result.load.p99, 2)} | ${added} | ${fixed(result.cpuMicrosPerRequest, 1)} | ${ratio(nginx)} | ${cpuRatio} | ${ratio(node)} | ${result.load.errors} |`,
    );
  }
  lines.push(
    "",
    `Gateway RSS after the run: ${fixed(report.gateway.rssMb, 0)} MiB (peak ${fixed(report.gateway.peakRssMb, 0)} MiB); ${fixed(report.gateway.idleRssMb, 0)} MiB after ${fixed(report.gateway.idleSeconds, 0)} s idle. Token requests seen by the M2M authorization server: ${report.tokenRequests}.`,
    ...(report.sessionSetup === undefined
      ? []
      : ["", `A new /mcp session (initialize, one tools/call that opens its upstream session, DELETE; ${report.sessionSetup.sessions} one after another): ${fixed(report.sessionSetup.msPerSession, 2)} ms and ${fixed(report.sessionSetup.cpuMicrosPerSession, 0)} µs of gateway CPU each.`]),
    "",
    markdownTargets(evaluateTargets(report)),
  );
  return lines.join("\n");
}
