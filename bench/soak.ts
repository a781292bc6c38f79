/**
 * `npm run soak`: mixed traffic through the gateway for a long time (10 minutes by
 * default) with faults injected, reporting errors and the gateway's RSS over time
 * (issue 10). Not part of `npm test`.
 *
 * Starts, on loopback: the fast upstream, the SDK upstream, an M2M authorization server
 * issuing short-lived tokens (so refreshes happen during the run), and the gateway as
 * `node dist/cli.js` starts it. Then keeps SOAK_CONCURRENCY requests in flight, drawn from a mix of
 * pass-through (static and M2M), aggregate, REST, tools/list, bad keys and calls the
 * client abandons. Every minute, faults take turns:
 *
 * - the fast upstream is stopped for 5 s (connection refused), then started again on its port;
 * - the authorization server answers 500 for 10 s;
 * - a burst of clients disconnect mid-request.
 *
 * Every 10 s it prints requests, errors by kind and the RSS. Errors during a fault window
 * (and for 2 s after it) are expected; any other 5xx or network error counts as
 * unexpected. It exits non-zero on an unexpected error or when the RSS of the last third
 * of the run averages over 1.5x that of the second third (a leak).
 *
 * Environment: SOAK_SECONDS (default 600), SOAK_CONCURRENCY (default 8).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, fetch } from "undici";
import { MASTER_KEY, startGateway, startListening, startTokenServer } from "./harness.js";
import { memoryMb, type Started } from "./processes.js";

const here = dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
const REPORT_EVERY_MS = 10_000;
const FAULT_EVERY_MS = 60_000;
/** Errors this long after a fault window closes are still the fault's. */
const FAULT_TAIL_MS = 2_000;

const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const KEY = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
const call = (tool: string, message: string) => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: tool, arguments: { message } } });

interface Shot {
  name: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** The status a healthy gateway answers. */
  expect: number;
  /** Abandon the request right after sending it. */
  abandon?: boolean;
}

const MIX: Array<[number, Shot]> = [
  [30, { name: "passthrough", path: "/fast/mcp", headers: { ...MCP_HEADERS, ...KEY }, body: call("echo", "soak"), expect: 200 }],
  [15, { name: "m2m", path: "/fast_m2m/mcp", headers: { ...MCP_HEADERS, ...KEY }, body: call("echo", "soak"), expect: 200 }],
  [15, { name: "aggregate", path: "/mcp", headers: { ...MCP_HEADERS, ...KEY }, body: call("fast-echo", "soak"), expect: 200 }],
  [15, { name: "rest", path: "/mcp-rest/tools/call", headers: { "content-type": "application/json", ...KEY }, body: JSON.stringify({ server_name: "fast", name: "echo", arguments: { message: "soak" } }), expect: 200 }],
  [10, { name: "sdk", path: "/sdk/mcp", headers: { ...MCP_HEADERS, ...KEY }, body: call("echo", "soak"), expect: 200 }],
  [5, { name: "tools-list", path: "/mcp", headers: { ...MCP_HEADERS, ...KEY }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), expect: 200 }],
  [5, { name: "bad-key", path: "/fast/mcp", headers: { ...MCP_HEADERS, "x-litellm-api-key": "Bearer sk-wrong" }, body: call("echo", "soak"), expect: 401 }],
  [5, { name: "abandoned", path: "/fast/mcp", headers: { ...MCP_HEADERS, ...KEY }, body: call("echo", "soak"), expect: 200, abandon: true }],
];
const TOTAL_WEIGHT = MIX.reduce((sum, [weight]) => sum + weight, 0);

function pick(): Shot {
  let roll = Math.random() * TOTAL_WEIGHT;
  for (const [weight, shot] of MIX) {
    roll -= weight;
    if (roll < 0) return shot;
  }
  return MIX[0]![1];
}

interface Window {
  fault: string;
  from: number;
  to: number;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "gatehouse-soak-"));
  const started: Started[] = [];
  let tokenFailing = false;
  const tokens = await startTokenServer({ expiresIn: 90, failing: () => tokenFailing });
  try {
    const node = process.execPath;
    let fast = await startListening(node, [join(here, "fast-upstream.js"), "0"], "fast upstream", started);
    const sdk = await startListening(node, [join(here, "sdk-upstream.js"), "0"], "SDK upstream", started);
    const gateway = await startGateway(work, { fast: fast.port, sdk: sdk.port, token: tokens.port }, started);
    const pid = gateway.process.pid;
    const agent = new Agent({ connections: CONCURRENCY * 2, keepAliveTimeout: 10_000 });
    const windows: Window[] = [];
    const counts = new Map<string, number>();
    const unexpected: string[] = [];
    const rss: Array<{ at: number; mb: number }> = [];
    const startedAt = Date.now();
    const endAt = startedAt + SECONDS * 1000;
    let done = 0;
    const bump = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
    const inFault = (at: number) => windows.some((window) => at >= window.from && at <= window.to + FAULT_TAIL_MS);

    async function shoot(): Promise<void> {
      const shot = pick();
      const controller = new AbortController();
      const sentAt = Date.now();
      try {
        const pending = fetch(`${gateway.url}${shot.path}`, { method: "POST", headers: shot.headers, body: shot.body, signal: controller.signal, dispatcher: agent });
        if (shot.abandon === true) {
          controller.abort();
          await pending.catch(() => undefined);
          bump("abandoned");
          return;
        }
        const response = await pending;
        await response.arrayBuffer();
        if (response.status === shot.expect) bump("ok");
        else if (inFault(sentAt) || inFault(Date.now())) bump(`fault:${response.status}`);
        else {
          bump(`unexpected:${response.status}`);
          if (unexpected.length < 20) unexpected.push(`${new Date().toISOString()} ${shot.name} → HTTP ${response.status}`);
        }
      } catch (error) {
        if (inFault(sentAt) || inFault(Date.now())) bump("fault:network");
        else {
          bump("unexpected:network");
          if (unexpected.length < 20) unexpected.push(`${new Date().toISOString()} ${shot.name} → ${error instanceof Error ? error.message : String(error)}`);
        }
      } finally {
        done++;
      }
    }

    async function worker(): Promise<void> {
      while (Date.now() < endAt) await shoot();
    }

    async function faults(): Promise<void> {
      const kinds = ["upstream-down", "token-server-500", "disconnect-burst"] as const;
      for (let round = 0; ; round++) {
        const next = startedAt + (round + 1) * FAULT_EVERY_MS;
        if (next + 15_000 > endAt) return;
        await new Promise((resolve) => setTimeout(resolve, next - Date.now()));
        const kind = kinds[round % kinds.length]!;
        const window: Window = { fault: kind, from: Date.now(), to: Number.POSITIVE_INFINITY };
        windows.push(window);
        log(`fault: ${kind}`);
        if (kind === "upstream-down") {
          const port = fast.port;
          await fast.process.stop();
          await new Promise((resolve) => setTimeout(resolve, 5_000));
          fast = await startListening(node, [join(here, "fast-upstream.js"), String(port)], "fast upstream", started);
        } else if (kind === "token-server-500") {
          tokenFailing = true;
          await new Promise((resolve) => setTimeout(resolve, 10_000));
          tokenFailing = false;
        } else {
          await Promise.all(Array.from({ length: 50 }, () => {
            const controller = new AbortController();
            const sent = fetch(`${gateway.url}/mcp`, { method: "POST", headers: { ...MCP_HEADERS, ...KEY }, body: call("fast-echo", "burst"), signal: controller.signal });
            setImmediate(() => controller.abort());
            return sent.catch(() => undefined);
          }));
        }
        window.to = Date.now();
      }
    }

    const reporter = setInterval(() => {
      void memoryMb(pid).then((memory) => {
        rss.push({ at: Date.now(), mb: memory.rss });
        const errors = [...counts].filter(([key]) => key !== "ok" && key !== "abandoned").map(([key, value]) => `${key}=${value}`).join(" ");
        log(`t+${Math.round((Date.now() - startedAt) / 1000)}s  requests ${done}  ok ${counts.get("ok") ?? 0}  ${errors || "no errors"}  RSS ${memory.rss.toFixed(0)} MiB`);
      });
    }, REPORT_EVERY_MS);
    log(`soak: ${SECONDS} s, ${CONCURRENCY} in flight, gateway ${gateway.url} (pid ${pid})`);
    await Promise.all([...Array.from({ length: CONCURRENCY }, worker), faults()]);
    clearInterval(reporter);
    rss.push({ at: Date.now(), mb: (await memoryMb(pid)).rss });

    const third = (index: number) => {
      const span = (Date.now() - startedAt) / 3;
      const samples = rss.filter((sample) => sample.at - startedAt >= span * index && sample.at - startedAt < span * (index + 1)).map((sample) => sample.mb);
      return samples.length === 0 ? Number.NaN : samples.reduce((sum, value) => sum + value, 0) / samples.length;
    };
    const middle = third(1);
    const last = third(2);
    const leak = Number.isFinite(middle) && Number.isFinite(last) && last > middle * 1.5;
    const unexpectedCount = [...counts].filter(([key]) => key.startsWith("unexpected")).reduce((sum, [, value]) => sum + value, 0);
    log("");
    log(`requests: ${done} in ${SECONDS} s (${(done / SECONDS).toFixed(0)}/s); ${[...counts].map(([key, value]) => `${key}=${value}`).join(" ")}`);
    log(`faults: ${windows.map((window) => window.fault).join(", ") || "none (run longer than a minute)"}; token requests: ${tokens.count()}`);
    log(`RSS MiB: start ${rss[0]?.mb.toFixed(0) ?? "?"}, max ${Math.max(...rss.map((sample) => sample.mb)).toFixed(0)}, end ${rss.at(-1)?.mb.toFixed(0)}; middle third ${middle.toFixed(0)}, last third ${last.toFixed(0)}`);
    for (const line of unexpected) log(`unexpected: ${line}`);
    if (unexpectedCount > 0 || leak) {
      log(`FAILED: ${unexpectedCount} unexpected errors${leak ? "; RSS grew by more than half between the second and last thirds" : ""}`);
      process.exitCode = 1;
    } else {
      log("passed: no unexpected errors, RSS stable");
    }
    await agent.close();
  } finally {
    await Promise.allSettled(started.reverse().map((child) => child.stop()));
    tokens.server.close();
    await rm(work, { recursive: true, force: true });
  }
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

await main();
