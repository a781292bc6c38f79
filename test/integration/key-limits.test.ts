/**
 * The keys' rpm_limit and max_parallel_requests on MCP requests (README, "Key limits"):
 * 429 with Retry-After on the pass-through, the aggregate and REST with a real upstream;
 * parallel slots freed on every exit path; counters shared by two gateways on one
 * SQLite file, on one PostgreSQL database, and through Redis; a Redis outage fails open to
 * per-instance counting without crashing.
 *
 * Redis runs at 127.0.0.1:6379 (REDIS_URL overrides); without it the Redis tests are
 * skipped with a message, except under CI=true, where they fail.
 */
import { randomBytes } from "node:crypto";
import { createClient } from "@redis/client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, dialects, type TestDatabase } from "../fixtures/databases.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startHoldingUpstream, type HoldingUpstream } from "../fixtures/holding-upstream.js";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function redisAvailable(): Promise<boolean> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (error) {
    if (process.env.CI === "true") throw new Error(`CI=true and Redis is unreachable at ${REDIS_URL}: ${error instanceof Error ? error.message : String(error)}`);
    console.warn(`Redis tests skipped: no Redis answered at ${REDIS_URL}. Start redis-server (or set REDIS_URL=redis://host:6379) to run them.`);
    return false;
  } finally {
    if (client.isOpen) await client.close();
  }
}

type Route = "passthrough" | "aggregate" | "rest";

/** One tool call of `tool` on alpha through `route`. */
function callTool(gateway: TestGateway, key: string, route: Route, tool = "echo", init: { signal?: AbortSignal; id?: number } = {}): Promise<Response> {
  const args = tool === "echo" ? { message: "hi" } : {};
  const signal = init.signal === undefined ? {} : { signal: init.signal };
  if (route === "rest") {
    return gateway.fetch("/mcp-rest/tools/call", { method: "POST", key, headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "alpha", name: tool, arguments: args }), ...signal });
  }
  const path = route === "passthrough" ? "/alpha/mcp" : "/mcp";
  const name = route === "passthrough" ? tool : `alpha-${tool}`;
  return gateway.fetch(path, { method: "POST", key, headers: MCP_ACCEPT, body: rpc("tools/call", { name, arguments: args }, init.id ?? 1), ...signal });
}

function listTools(gateway: TestGateway, key: string, route: Route): Promise<Response> {
  if (route === "rest") return gateway.fetch("/mcp-rest/tools/list", { key });
  return gateway.fetch(route === "passthrough" ? "/alpha/mcp" : "/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: rpc("tools/list") });
}

async function generate(gateway: TestGateway, body: Record<string, unknown>): Promise<string> {
  return gateway.generateKey(body);
}

/** The body of a 429 and its Retry-After, checked to be the route's error shape. */
async function refusal(response: Response, route: Route, limitType: string): Promise<number> {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get("retry-after"));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
  const body = (await response.json()) as Record<string, unknown>;
  if (route === "rest") expect(body).toMatchObject({ error: "rate_limit_exceeded", limit_type: limitType, detail: expect.stringContaining(limitType) });
  else expect(body).toMatchObject({ jsonrpc: "2.0", error: { code: -32600, data: { code: "rate_limit_exceeded", limit_type: limitType } } });
  return retryAfter;
}

describe("key limits on one gateway", () => {
  let holding: HoldingUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    holding = await startHoldingUpstream("alpha");
    gateway = await startTestGateway({ servers: { alpha: { url: holding.upstream.url, timeout: 1 } } });
  });

  afterEach(() => holding.releaseAll());

  afterAll(async () => {
    await gateway?.close();
    await holding?.upstream.close();
  });

  describe.each<Route>(["passthrough", "aggregate", "rest"])("rpm_limit on %s", (route) => {
    it("counts tool calls only: past the limit 429 with Retry-After, listings still answer", async () => {
      const key = await generate(gateway, { rpm_limit: 2 });
      expect((await callTool(gateway, key, route)).status).toBe(200);
      expect((await callTool(gateway, key, route)).status).toBe(200);
      const retryAfter = await refusal(await callTool(gateway, key, route), route, "rpm_limit");
      expect(retryAfter).toBeLessThanOrEqual(60);
      for (let i = 0; i < 3; i++) expect((await listTools(gateway, key, route)).status).toBe(200);
      // Another key, and the master key, are not affected.
      expect((await callTool(gateway, await generate(gateway, { rpm_limit: 2 }), route)).status).toBe(200);
      expect((await callTool(gateway, gateway.masterKey, route)).status).toBe(200);
    });
  });

  it("a JSON-RPC 429 on the pass-through answers with the request's id, and a batch counts each of its tool calls", async () => {
    const key = await generate(gateway, { rpm_limit: 2 });
    const batch = JSON.stringify([1, 2, 3].map((id) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { message: "x" } } })));
    const refused = await gateway.fetch("/alpha/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: batch });
    await refusal(refused, "passthrough", "rpm_limit");
    const single = await callTool(gateway, key, "passthrough", "echo", { id: 42 });
    expect(single.status).toBe(429);
    expect(await single.json()).toMatchObject({ id: 42 });
  });

  it("an update of rpm_limit applies at once", async () => {
    const key = await generate(gateway, { rpm_limit: 1, key_alias: "rpm-update" });
    expect((await callTool(gateway, key, "rest")).status).toBe(200);
    expect((await callTool(gateway, key, "rest")).status).toBe(429);
    const update = await gateway.fetch("/key/update", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key, rpm_limit: null }) });
    expect(update.status).toBe(200);
    expect((await callTool(gateway, key, "rest")).status).toBe(200);
  });

  describe.each<Route>(["passthrough", "aggregate", "rest"])("max_parallel_requests on %s", (route) => {
    it("refuses a request past the limit while slow tool calls are in flight, and admits again when one ends", async () => {
      const key = await generate(gateway, { max_parallel_requests: 2 });
      const first = callTool(gateway, key, route, "hold");
      const second = callTool(gateway, key, route, "hold");
      await holding.whenHeld(2);
      const retryAfter = await refusal(await listTools(gateway, key, route), route, "max_parallel_requests");
      expect(retryAfter).toBe(1);
      // The master key and other keys are not held back.
      expect((await listTools(gateway, gateway.masterKey, route)).status).toBe(200);
      holding.releaseOne();
      expect((await first).status).toBe(200);
      expect((await listTools(gateway, key, route)).status).toBe(200);
      holding.releaseAll();
      expect((await second).status).toBe(200);
    });
  });

  it("max_parallel_requests does not count the pass-through's GET stream", async () => {
    const key = await generate(gateway, { max_parallel_requests: 1 });
    const held = callTool(gateway, key, "passthrough", "hold");
    await holding.whenHeld(1);
    const stream = await gateway.fetch("/alpha/mcp", { method: "GET", key, headers: { accept: "text/event-stream" } });
    expect(stream.status).not.toBe(429);
    await stream.body?.cancel();
    holding.releaseAll();
    expect((await held).status).toBe(200);
  });

  it("frees the slot on every exit path: a client gone, an upstream timeout, an upstream error, a bad body", async () => {
    const key = await generate(gateway, { max_parallel_requests: 1 });
    // The client goes away while its call is held.
    const controller = new AbortController();
    const abandoned = callTool(gateway, key, "passthrough", "hold", { signal: controller.signal }).catch((error: unknown) => error);
    await holding.whenHeld(1);
    const aborted = holding.upstream.whenAborted();
    controller.abort();
    await abandoned;
    await aborted;
    expect((await listTools(gateway, key, "passthrough")).status).toBe(200);
    // The upstream does not answer within the server's timeout (1 s): 504.
    expect((await callTool(gateway, key, "rest", "hold")).status).toBe(504);
    holding.releaseAll();
    expect((await listTools(gateway, key, "rest")).status).toBe(200);
    // The upstream fails.
    holding.upstream.failNext({ status: 500, body: "boom" });
    expect((await callTool(gateway, key, "passthrough")).status).toBeGreaterThanOrEqual(500);
    expect((await listTools(gateway, key, "passthrough")).status).toBe(200);
    // The body is not JSON-RPC.
    expect((await gateway.fetch("/alpha/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: "{" })).status).toBe(400);
    expect((await callTool(gateway, key, "aggregate")).status).toBe(200);
  });

  it("a key without limits never touches the counters", async () => {
    const key = await generate(gateway, {});
    const calls = await Promise.all(Array.from({ length: 5 }, () => callTool(gateway, key, "rest")));
    expect(calls.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
  });
});

describe("LITELLM_RATE_LIMIT_WINDOW_SIZE", () => {
  it("sets the window: Retry-After never exceeds it", async () => {
    const holding = await startHoldingUpstream("alpha");
    const gateway = await startTestGateway({ servers: { alpha: { url: holding.upstream.url } }, env: { LITELLM_RATE_LIMIT_WINDOW_SIZE: "5" } });
    try {
      const key = await generate(gateway, { rpm_limit: 1 });
      expect((await callTool(gateway, key, "rest")).status).toBe(200);
      const response = await callTool(gateway, key, "rest");
      expect(await refusal(response, "rest", "rpm_limit")).toBeLessThanOrEqual(5);
    } finally {
      await gateway.close();
      await holding.upstream.close();
    }
  });
});

/** Two gateways counting one key's requests together. */
function sharedCounterTests(start: () => Promise<{ a: TestGateway; b: TestGateway; holding: HoldingUpstream; keyFor: (body: Record<string, unknown>) => Promise<string>; close: () => Promise<void> }>) {
  let pair: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    pair = await start();
  });
  afterEach(() => pair?.holding.releaseAll());
  afterAll(async () => {
    await pair?.close();
  });

  it("rpm_limit counts the tool calls made through both instances", async () => {
    const key = await pair.keyFor({ rpm_limit: 3 });
    expect((await callTool(pair.a, key, "rest")).status).toBe(200);
    expect((await callTool(pair.b, key, "passthrough")).status).toBe(200);
    expect((await callTool(pair.a, key, "aggregate")).status).toBe(200);
    await refusal(await callTool(pair.b, key, "rest"), "rest", "rpm_limit");
    await refusal(await callTool(pair.a, key, "passthrough"), "passthrough", "rpm_limit");
  });

  it("max_parallel_requests counts the requests in flight on both instances", async () => {
    const key = await pair.keyFor({ max_parallel_requests: 1 });
    const held = callTool(pair.a, key, "passthrough", "hold");
    await pair.holding.whenHeld(1);
    await refusal(await listTools(pair.b, key, "rest"), "rest", "max_parallel_requests");
    pair.holding.releaseAll();
    expect((await held).status).toBe(200);
    expect((await listTools(pair.b, key, "rest")).status).toBe(200);
  });
}

describe.each(await dialects())("shared counters: two gateways on one %s database", (dialect) => {
  sharedCounterTests(async () => {
    const testDb: TestDatabase = await createTestDatabase(dialect);
    const holding = await startHoldingUpstream("alpha");
    const start = () => startTestGateway({ servers: { alpha: { url: holding.upstream.url } }, env: { DATABASE_URL: testDb.url } });
    const a = await start();
    const b = await start();
    return {
      a,
      b,
      holding,
      keyFor: (body) => generate(a, body),
      async close() {
        await Promise.allSettled([a.close(), b.close()]);
        await holding.upstream.close();
        await testDb.drop();
      },
    };
  });
});

describe.runIf(await redisAvailable())("shared counters through Redis (REDIS_URL)", () => {
  // Each gateway has a database of its own: only Redis can share the counts. The same custom
  // key is made on both, unique to this run so that earlier runs' counters do not matter.
  sharedCounterTests(async () => {
    const holding = await startHoldingUpstream("alpha");
    const start = () => startTestGateway({ servers: { alpha: { url: holding.upstream.url } }, env: { REDIS_URL } });
    const a = await start();
    const b = await start();
    return {
      a,
      b,
      holding,
      async keyFor(body) {
        const key = `sk-redis-test-${randomBytes(12).toString("hex")}`;
        await generate(a, { ...body, key });
        await generate(b, { ...body, key });
        return key;
      },
      async close() {
        await Promise.allSettled([a.close(), b.close()]);
        await holding.upstream.close();
      },
    };
  });
});

describe("a Redis that does not answer", () => {
  it("never crashes the gateway: limits are counted per instance, with one warning", async () => {
    const holding = await startHoldingUpstream("alpha");
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const gateway = await startTestGateway({ servers: { alpha: { url: holding.upstream.url } }, env: { REDIS_URL: "redis://127.0.0.1:1" } });
    try {
      const rpm = await generate(gateway, { rpm_limit: 1 });
      expect((await callTool(gateway, rpm, "rest")).status).toBe(200);
      await refusal(await callTool(gateway, rpm, "rest"), "rest", "rpm_limit");
      const parallel = await generate(gateway, { max_parallel_requests: 1 });
      const held = callTool(gateway, parallel, "passthrough", "hold");
      await holding.whenHeld(1);
      await refusal(await listTools(gateway, parallel, "passthrough"), "passthrough", "max_parallel_requests");
      holding.releaseAll();
      expect((await held).status).toBe(200);
      expect((await listTools(gateway, parallel, "passthrough")).status).toBe(200);
      const warnings = gateway.logs.filter((line) => String(line.msg).includes("shared key-limit counters do not answer"));
      expect(warnings).toHaveLength(1);
    } finally {
      await gateway.close();
      await holding.upstream.close();
    }
  });
});
