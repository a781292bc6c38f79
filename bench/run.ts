/**
 * `npm run bench`: what a proxied MCP `tools/call` costs through Gatehouse, side by side
 * with the floor, on this machine, in one run (issue 9).
 *
 * Starts on loopback, each in its own process: a fast canned upstream (so the proxy is the
 * bottleneck) and an upstream built with the official SDK; nginx as a plain reverse proxy
 * when the binary is present; a minimal Node proxy (node:http in, undici out); and the
 * gateway (built `dist/cli.js`, SQLite). Then drives each path with wrk (else autocannon)
 * at each connection count for a bounded time and reports requests/s, p50/p99 latency,
 * the proxy's CPU time per request (from /proc), its peak RSS, ratios to nginx and to the
 * minimal Node proxy, and how many token requests the M2M authorization server saw; and
 * whether each of issue 16's targets is met (`targets.ts`), in the report and at the end of
 * its output.
 *
 * Environment: BENCH_SECONDS (default 5), BENCH_WARMUP_SECONDS (default 5), BENCH_CONNECTIONS (default 1,16,64),
 * BENCH_PATHS (comma-separated path names, default all; `session-setup` names the new-session measurement), BENCH_AUDIT=false (the gateway
 * without its audit trail), BENCH_GATEWAY_NODE_ARGS (extra
 * node flags for the gateway process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import type { Server } from "node:http";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { availableGenerator, drive, type Generator, type LoadRequest } from "./load.js";
import { childPids, cpuMicros, memoryMb, type Started } from "./processes.js";
import { freePort, MASTER_KEY, startGateway, startListening, startTokenServer } from "./harness.js";
import { markdownReport, type PathResult, type Report } from "./report.js";
import { evaluateTargets, textTargets } from "./targets.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Before each path's runs, at 16 connections: long enough for V8's optimizing compiler to reach the gateway's steady state. */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "1,16,64").split(",").map(Number);
const ONLY = process.env.BENCH_PATHS?.split(",").map((name) => name.trim());
const MESSAGE = "hello from the benchmark";

const callBody = (name: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: { message: MESSAGE } } });
const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const GATEWAY_HEADERS = { ...MCP_HEADERS, "x-litellm-api-key": `Bearer ${MASTER_KEY}` };

interface PathSpec {
  name: string;
  description: string;
  request: LoadRequest;
  /** The process whose CPU and memory are the proxy's cost; none for direct paths. */
  proxy?: () => Promise<number[]>;
  connections: number[];
}

async function main(): Promise<void> {
  const generator = await availableGenerator();
  const nginx = await hasNginx();
  log(`load generator: ${generator}${generator === "autocannon" ? " (runs in Node on the same cores: ratios are compressed; install wrk for sharper numbers)" : ""}; nginx: ${nginx ? "yes" : "absent (apt-get install nginx to compare)"}`);
  const work = await mkdtemp(join(tmpdir(), "gatehouse-bench-"));
  const started: Started[] = [];
  let tokenServer: Server | undefined;
  try {
    const node = process.execPath;
    const fast = await startListening(node, [join(here, "fast-upstream.js"), "0"], "fast upstream", started);
    const sdk = await startListening(node, [join(here, "sdk-upstream.js"), "0"], "SDK upstream", started);
    const bare = await startListening(node, [join(here, "bare-proxy.js"), "0", `http://127.0.0.1:${fast.port}/mcp`], "minimal Node proxy", started);
    const tokens = await startTokenServer();
    tokenServer = tokens.server;
    const gateway = await startGateway(work, { fast: fast.port, sdk: sdk.port, token: tokens.port }, started);
    const nginxPort = nginx ? await startNginx(work, fast.port, started) : undefined;

    const gatewayPid = async () => [gateway.process.pid];
    const wanted = (name: string) => ONLY === undefined || ONLY.includes(name);
    // One session for every connection of the session path: what a request of a live session costs (its state read, its own upstream session).
    const sessionId = wanted("gateway-aggregate-session") ? await openSession(gateway.url) : "";
    const paths: PathSpec[] = [
      { name: "direct", description: "fast upstream, no proxy", request: { url: `http://127.0.0.1:${fast.port}/mcp`, headers: MCP_HEADERS, body: callBody("echo") }, connections: CONNECTIONS },
      ...(nginxPort === undefined
        ? []
        : [{ name: "nginx", description: "nginx reverse proxy (1 worker)", request: { url: `http://127.0.0.1:${nginxPort.port}/mcp`, headers: MCP_HEADERS, body: callBody("echo") }, proxy: async () => [nginxPort.process.pid, ...(await childPids(nginxPort.process.pid))], connections: CONNECTIONS }]),
      { name: "node-proxy", description: "minimal Node proxy (node:http in, undici out)", request: { url: `http://127.0.0.1:${bare.port}/mcp`, headers: MCP_HEADERS, body: callBody("echo") }, proxy: async () => [bare.process.pid], connections: CONNECTIONS },
      { name: "gateway-static", description: "Gatehouse /{server}/mcp, static bearer upstream", request: { url: `${gateway.url}/fast/mcp`, headers: GATEWAY_HEADERS, body: callBody("echo") }, proxy: gatewayPid, connections: CONNECTIONS },
      { name: "gateway-m2m", description: "Gatehouse /{server}/mcp, M2M client_credentials (cached token)", request: { url: `${gateway.url}/fast_m2m/mcp`, headers: GATEWAY_HEADERS, body: callBody("echo") }, proxy: gatewayPid, connections: CONNECTIONS },
      { name: "gateway-aggregate", description: "Gatehouse /mcp aggregate, tool fast-echo", request: { url: `${gateway.url}/mcp`, headers: GATEWAY_HEADERS, body: callBody("fast-echo") }, proxy: gatewayPid, connections: CONNECTIONS },
      { name: "gateway-aggregate-session", description: "Gatehouse /mcp aggregate in one session (Mcp-Session-Id), tool fast-echo", request: { url: `${gateway.url}/mcp`, headers: { ...GATEWAY_HEADERS, "mcp-session-id": sessionId }, body: callBody("fast-echo") }, proxy: gatewayPid, connections: CONNECTIONS },
      { name: "gateway-openapi", description: "Gatehouse /{server}/mcp of an OpenAPI server: the call becomes GET /rest/echo", request: { url: `${gateway.url}/fast_openapi/mcp`, headers: GATEWAY_HEADERS, body: callBody("echo") }, proxy: gatewayPid, connections: CONNECTIONS },
      { name: "gateway-rest", description: "Gatehouse /mcp-rest/tools/call", request: { url: `${gateway.url}/mcp-rest/tools/call`, headers: GATEWAY_HEADERS, body: JSON.stringify({ server_name: "fast", name: "echo", arguments: { message: MESSAGE } }) }, proxy: gatewayPid, connections: CONNECTIONS },
      { name: "sdk-direct", description: "SDK upstream, no proxy", request: { url: `http://127.0.0.1:${sdk.port}/mcp`, headers: MCP_HEADERS, body: callBody("echo") }, connections: [16] },
      { name: "gateway-sdk", description: "Gatehouse /{server}/mcp to the SDK upstream", request: { url: `${gateway.url}/sdk/mcp`, headers: GATEWAY_HEADERS, body: callBody("echo") }, proxy: gatewayPid, connections: [16] },
    ].filter((path) => ONLY === undefined || ONLY.includes(path.name));

    for (const path of paths) await checkPath(path);
    const results: PathResult[] = [];
    for (const path of paths) {
      // Warm-up: JIT, pooled connections, the M2M token.
      await drive(generator, path.request, 16, WARMUP_SECONDS);
      for (const connections of path.connections) {
        results.push(await measure(generator, path, connections));
        const last = results.at(-1)!;
        log(`${path.name.padEnd(18)} c=${String(connections).padStart(2)}  ${last.load.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${last.load.p50.toFixed(2)} ms  p99 ${last.load.p99.toFixed(2)} ms${last.cpuMicrosPerRequest === undefined ? "" : `  ${last.cpuMicrosPerRequest.toFixed(1)} µs CPU/req`}${last.load.errors > 0 ? `  ${last.load.errors} errors` : ""}`);
      }
    }
    const sessionSetup = wanted("session-setup") ? await measureSessionSetup(gateway.url, gateway.process.pid, 200) : undefined;
    if (sessionSetup !== undefined) log(`new /mcp session: ${sessionSetup.msPerSession.toFixed(2)} ms, ${sessionSetup.cpuMicrosPerSession.toFixed(0)} µs gateway CPU each (${sessionSetup.sessions} sessions)`);
    const memory = await memoryMb(gateway.process.pid);
    const idle = await idleMemory(gateway.process.pid, memory.rss);
    log(`gateway RSS ${memory.rss.toFixed(0)} MiB after the run, ${idle.rss.toFixed(0)} MiB after ${idle.seconds.toFixed(0)} s idle`);
    const report: Report = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "?", node: process.version },
      generator,
      seconds: SECONDS,
      results,
      gateway: { rssMb: memory.rss, peakRssMb: memory.peak, idleRssMb: idle.rss, idleSeconds: idle.seconds },
      tokenRequests: tokens.count(),
      ...(sessionSetup === undefined ? {} : { sessionSetup }),
    };
    const directory = join(root, "bench", "results");
    await mkdir(directory, { recursive: true });
    const stamp = report.date.replace(/[:.]/g, "-");
    await writeFile(join(directory, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
    const markdown = markdownReport(report);
    await writeFile(join(directory, `${stamp}.md`), markdown);
    await writeFile(join(directory, "latest.md"), markdown);
    process.stdout.write(`\n${markdown}\nwritten: bench/results/${stamp}.json and .md\n\n${textTargets(evaluateTargets(report))}`);
  } finally {
    await Promise.allSettled(started.reverse().map((process) => process.stop()));
    tokenServer?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** `initialize` on /mcp: the session id it gives. */
async function openSession(url: string): Promise<string> {
  const response = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: GATEWAY_HEADERS,
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } }),
  });
  await response.text();
  const id = response.headers.get("mcp-session-id");
  if (id === null) throw new Error(`initialize on /mcp gave no session (HTTP ${response.status})`);
  return id;
}

/** New sessions one after another (initialize, a call, DELETE): wall time and gateway CPU per session. */
async function measureSessionSetup(url: string, pid: number, sessions: number): Promise<{ sessions: number; msPerSession: number; cpuMicrosPerSession: number }> {
  const one = async () => {
    const id = await openSession(url);
    const headers = { ...GATEWAY_HEADERS, "mcp-session-id": id };
    const called = await fetch(`${url}/mcp`, { method: "POST", headers, body: callBody("fast-echo") });
    const text = await called.text();
    if (!called.ok || !text.includes(MESSAGE)) throw new Error(`a call in a new session failed: HTTP ${called.status} ${text.slice(0, 200)}`);
    await (await fetch(`${url}/mcp`, { method: "DELETE", headers })).text();
  };
  for (let warm = 0; warm < 20; warm++) await one();
  const cpuBefore = await cpuMicros(pid);
  const started = performance.now();
  for (let count = 0; count < sessions; count++) await one();
  const elapsed = performance.now() - started;
  const cpu = (await cpuMicros(pid)) - cpuBefore;
  return { sessions, msPerSession: elapsed / sessions, cpuMicrosPerSession: cpu / sessions };
}

/**
 * The RSS once the gateway has been idle: V8 keeps the heap headroom it grew under load until
 * its memory reducer runs (it starts after ~8 s without much allocation). Polled every 2 s,
 * until it has fallen by a fifth or 60 s have passed.
 */
async function idleMemory(pid: number, afterRun: number): Promise<{ rss: number; seconds: number }> {
  const started = Date.now();
  let rss = afterRun;
  while (Date.now() - started < 60_000 && rss > afterRun * 0.8) {
    await new Promise((done) => setTimeout(done, 2_000));
    rss = (await memoryMb(pid)).rss;
  }
  return { rss, seconds: (Date.now() - started) / 1000 };
}

async function measure(generator: Generator, path: PathSpec, connections: number): Promise<PathResult> {
  const pids = path.proxy === undefined ? [] : await path.proxy();
  const before = await sumCpu(pids);
  const load = await drive(generator, path.request, connections, SECONDS);
  const after = await sumCpu(pids);
  return {
    path: path.name,
    description: path.description,
    connections,
    load,
    ...(pids.length === 0 ? {} : { cpuMicrosPerRequest: (after - before) / Math.max(1, load.requests) }),
  };
}

async function sumCpu(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) total += await cpuMicros(pid);
  return total;
}

/** One request per path before measuring: a path that does not answer 200 with the echo is a broken benchmark. */
async function checkPath(path: PathSpec): Promise<void> {
  const response = await fetch(path.request.url, { method: "POST", headers: path.request.headers, body: path.request.body });
  const text = await response.text();
  if (response.status !== 200 || !text.includes(MESSAGE)) throw new Error(`path ${path.name} does not work (HTTP ${response.status}): ${text.slice(0, 300)}`);
}

async function hasNginx(): Promise<boolean> {
  try {
    await promisify(execFile)("nginx", ["-v"]);
    return true;
  } catch {
    return false;
  }
}

/** nginx with one worker, keep-alive to the upstream, as a plain reverse proxy. */
async function startNginx(work: string, upstreamPort: number, started: Started[]): Promise<{ port: number; process: Started }> {
  const port = await freePort();
  const conf = join(work, "nginx.conf");
  await writeFile(
    conf,
    `worker_processes 1;
daemon off;
error_log ${join(work, "nginx-error.log")} warn;
pid ${join(work, "nginx.pid")};
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${work};
  proxy_temp_path ${work};
  upstream mcp { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  );
  // nginx prints nothing when it is ready: its port is polled instead.
  const child = spawn("nginx", ["-c", conf, "-p", work], { stdio: "ignore" });
  const process_: Started = {
    child,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
  started.push(process_);
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await answers(port)) return { port, process: process_ };
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error("nginx did not start (see its error log)");
}

async function answers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { method: "HEAD" });
    return true;
  } catch {
    return false;
  }
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

await main();
