/**
 * The load generators: wrk (a C program, so it takes little of the two cores) with a Lua
 * script for the POST, when the `wrk` binary is present; else autocannon from npm, which
 * runs in Node and competes with the proxy for the same cores (the report says which ran).
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface LoadRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  /** Socket errors and non-2xx answers. */
  errors: number;
}

export type Generator = "wrk" | "autocannon";

export async function availableGenerator(): Promise<Generator> {
  try {
    await run("wrk", ["--version"]).catch((error: { stdout?: string; code?: number }) => {
      // wrk --version prints its version and exits 1.
      if (typeof error.stdout === "string" && error.stdout.includes("wrk")) return;
      throw error;
    });
    return "wrk";
  } catch {
    return "autocannon";
  }
}

const lua = (value: string) => JSON.stringify(value);

async function withWrk(request: LoadRequest, connections: number, seconds: number): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "gatehouse-bench-"));
  const script = join(dir, "post.lua");
  const headers = Object.entries(request.headers).map(([name, value]) => `wrk.headers[${lua(name)}] = ${lua(value)}`).join("\n");
  await writeFile(
    script,
    `wrk.method = "POST"
wrk.body = ${lua(request.body)}
${headers}
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format("BENCH_RESULT %d %d %d %d %d\\n", summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99)))
end
`,
  );
  const threads = Math.min(2, connections);
  const { stdout } = await run("wrk", [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "-s", script, request.url], { maxBuffer: 1 << 20 });
  const match = /BENCH_RESULT (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(stdout);
  if (match === null) throw new Error(`wrk printed no result:\n${stdout}`);
  const [requests, durationUs, errors, p50Us, p99Us] = match.slice(1).map(Number) as [number, number, number, number, number];
  return { requests, seconds: durationUs / 1e6, requestsPerSecond: requests / (durationUs / 1e6), p50: p50Us / 1000, p99: p99Us / 1000, errors };
}

async function withAutocannon(request: LoadRequest, connections: number, seconds: number): Promise<LoadResult> {
  const { default: autocannon } = (await import("autocannon")) as { default: (options: Record<string, unknown>) => Promise<AutocannonResult> };
  const result = await autocannon({ url: request.url, method: "POST", headers: request.headers, body: request.body, connections, duration: seconds });
  return {
    requests: result.requests.total,
    seconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

interface AutocannonResult {
  requests: { total: number };
  duration: number;
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

export function drive(generator: Generator, request: LoadRequest, connections: number, seconds: number): Promise<LoadResult> {
  return generator === "wrk" ? withWrk(request, connections, seconds) : withAutocannon(request, connections, seconds);
}
