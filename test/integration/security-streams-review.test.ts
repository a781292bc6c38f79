/**
 * Issue 15 item 5 (one key must not starve an upstream for everyone), holes an attack
 * review found after the first fix:
 *
 * 1. The per-key budget for POSTs was checked before the request was sent but counted only
 *    once the SSE answer's headers arrived: one key's concurrent POSTs all passed the check,
 *    every one became a held-open SSE answer on the shared pool, and another key's tool
 *    call waited past its `timeout`. A POST now counts from when it is sent.
 * 2. The aggregate `/mcp` opened a pooled SDK session per (caller, outbound headers) to a
 *    legacy SSE server, each holding an upstream SSE stream; a per-request header with a
 *    fresh value made a new one every time. A caller now keeps at most 4 sessions per server.
 *
 * Both run on both request paths.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const LANES = [
  { lane: "fast lane", headers: {} as Record<string, string> },
  { lane: "Hono route", headers: { "x-litellm-mcp-debug": "true" } as Record<string, string> },
];

let gateway: TestGateway;
let sse: Upstream;
let legacy: Upstream;
let keys = 0;

beforeAll(async () => {
  sse = await startUpstream({ name: "sse", mode: "sse" });
  legacy = await startUpstream({ name: "legacy", legacySse: true });
  gateway = await startTestGateway({
    servers: {
      sse: { url: sse.url, timeout: 2 },
      legacy: { url: legacy.url, transport: "sse" },
    },
    general: { max_connections_per_upstream: 4, max_streams_per_key: 2, max_streams_per_server: 3 },
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([sse?.close(), legacy?.close()]);
});

const keyFor = (alias: string) => gateway.generateKey({ key_alias: `${alias}-${++keys}` });
const toolCallsSeen = () => sse.requests.filter((request) => request.method === "POST" && (request.body as { method?: string } | undefined)?.method === "tools/call").length;

describe("review a, item 5: long-lived streams outside the budget", () => {
  it.each(LANES)(
    "$lane: one key's concurrent POSTs answered as held-open SSE all passed max_streams_per_key (2) and filled the pool: now 2 pass, and another key's call is answered",
    async ({ headers }) => {
      const [a, b] = [await keyFor("a"), await keyFor("b")];
      const before = toolCallsSeen();
      const held = Array.from({ length: 6 }, (_, index) =>
        gateway.fetch("/sse/mcp", { method: "POST", key: a, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "slow", arguments: { ms: 3_000 } }, index + 1) }),
      );
      // A's calls admitted within its budget have reached the upstream.
      await sse.waitUntil(() => toolCallsSeen() >= before + 2);

      const started = performance.now();
      const call = await gateway.fetch("/sse/mcp", { method: "POST", key: b, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "b" } }, 99) });
      const waited = performance.now() - started;
      const bText = await call.text();

      const answers = await Promise.all(held);
      const statuses = await Promise.all(answers.map(async (answer) => (await answer.text(), answer.status)));
      const admitted = statuses.filter((status) => status === 200).length;
      // Secure: at most max_streams_per_key of A's POSTs become streams (the rest 429), and B is answered at once.
      expect({ admitted, statuses, bStatus: call.status, bWaitedMs: Math.round(waited), b: bText.slice(0, 200) }).toMatchObject({ bStatus: 200 });
      expect(admitted, `A's statuses: ${statuses.join(", ")}`).toBeLessThanOrEqual(2);
    },
    20_000,
  );

  it.each(LANES)("$lane: /mcp opened a new legacy SSE session (an upstream stream) per per-request header value without bound: one key now keeps at most 4", async ({ headers }) => {
    const a = await keyFor("legacy");
    const before = legacy.sessionCount();
    for (let nonce = 0; nonce < 6; nonce++) {
      const response = await gateway.fetch("/mcp", {
        method: "POST",
        key: a,
        headers: { ...MCP_ACCEPT, "x-mcp-servers": "legacy", [`x-mcp-legacy-x-nonce`]: `n${nonce}-${Math.random()}`, ...headers },
        body: rpc("tools/list"),
      });
      expect(response.status).toBe(200);
      await response.text();
    }
    // The older sessions are closed as newer ones open: their upstream streams end.
    await legacy.waitUntil(() => legacy.sessionCount() - before <= 4);
    expect(legacy.sessionCount() - before).toBeLessThanOrEqual(4);
  });
});
