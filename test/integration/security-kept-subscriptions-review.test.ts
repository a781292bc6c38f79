/**
 * An attack review of the subscriptions the gateway keeps for `/mcp` sessions (at 2026-07-28,
 * stdio and legacy SSE servers), the relaying of shared upstream sessions' changes, the
 * per-instance session caches and per-request log levels, played as another key, a second
 * session of one key, a hostile upstream and a crafting client. Each test is named after
 * what broke (and is now held).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { aggregateSessionsRepository } from "../../src/store/aggregate-sessions-repository.js";
import { openDatabase } from "../../src/store/database.js";
import { migrateToLatest } from "../../src/store/migrate.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { createTestDatabase, dialects } from "../fixtures/databases.js";
import { MASTER_KEY, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { fixtureServer } from "../fixtures/stdio.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const JSON_ONLY = { "content-type": "application/json", accept: "application/json" };
const INITIALIZE = rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "attacker", version: "1" } });

interface Answer {
  status: number;
  sessionId: string | null;
  body: { result?: Record<string, unknown>; error?: { code: number; message: string } };
}

async function post(gateway: TestGateway, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await gateway.fetch("/mcp", { method: "POST", key: MASTER_KEY, headers: { ...JSON_ONLY, ...headers }, body });
  const text = await response.text();
  return { status: response.status, sessionId: response.headers.get("mcp-session-id"), body: text === "" ? {} : (JSON.parse(text) as Answer["body"]) };
}

async function initialize(gateway: TestGateway): Promise<string> {
  const answer = await post(gateway, INITIALIZE);
  expect(answer.sessionId).toMatch(/^gh1\./);
  return answer.sessionId!;
}

/** The text of a tool's result, called outside any session. */
async function callTool(gateway: TestGateway, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const answer = await post(gateway, rpc("tools/call", { name, arguments: args }));
  return ((answer.body.result?.content as Array<{ text: string }> | undefined) ?? [])[0]?.text ?? "";
}

/** A session's GET stream: `next` resolves with the first message (past or future) that matches. */
async function sessionStream(gateway: TestGateway, sessionId: string) {
  const abort = new AbortController();
  const response = await gateway.fetch("/mcp", { method: "GET", key: MASTER_KEY, headers: { accept: "text/event-stream", "mcp-session-id": sessionId }, signal: abort.signal });
  expect(response.status).toBe(200);
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<{ test: (message: Record<string, unknown>) => boolean; resolve: (message: Record<string, unknown>) => void }> = [];
  void (async () => {
    let buffer = "";
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const data = buffer.slice(0, end).split("\n").find((line) => line.startsWith("data: "));
        buffer = buffer.slice(end + 2);
        if (data === undefined) continue;
        const message = JSON.parse(data.slice(6)) as Record<string, unknown>;
        messages.push(message);
        for (const waiter of [...waiters]) {
          if (!waiter.test(message)) continue;
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
    }
  })();
  return {
    next: (test: (message: Record<string, unknown>) => boolean) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const seen = messages.find(test);
        if (seen === undefined) waiters.push({ test, resolve });
        else resolve(seen);
      }),
    close: () => abort.abort(),
  };
}

/** Runs `send` now and every 50 ms until `arrived` settles (the update can only come once the stream listens again). */
async function until<T>(arrived: Promise<T>, send: () => void): Promise<T> {
  send();
  const timer = setInterval(send, 50);
  try {
    return await arrived;
  } finally {
    clearInterval(timer);
  }
}

const updateOf = (uri: string) => (message: Record<string, unknown>) => message.method === "notifications/resources/updated" && (message.params as { uri?: unknown } | undefined)?.uri === uri;

describe("kept subscriptions at shared upstream sessions", () => {
  let stdioGateway: TestGateway;
  let sseGateway: TestGateway;
  let sse: Upstream;
  /** resources/subscribe requests the legacy SSE upstream answered. */
  let sseSubscribes = 0;

  beforeAll(async () => {
    sse = await startUpstream({
      name: "old",
      legacySse: true,
      tools: (server: McpServer) => {
        const subscribed = new Set<string>();
        server.server.registerCapabilities({ resources: { subscribe: true } });
        server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
          sseSubscribes++;
          subscribed.add(request.params.uri);
          return {};
        });
        server.server.setRequestHandler(UnsubscribeRequestSchema, () => ({}));
        server.registerTool("touch_resource", { inputSchema: { uri: z.string() } }, async ({ uri }) => {
          if (subscribed.has(uri)) await server.server.sendResourceUpdated({ uri });
          return { content: [{ type: "text", text: "touched" }] };
        });
        server.registerTool("subscribe_requests", {}, () => ({ content: [{ type: "text", text: String(sseSubscribes) }] }));
      },
    });
    stdioGateway = await startTestGateway({ servers: { local: fixtureServer() } });
    sseGateway = await startTestGateway({ servers: { old: { url: sse.url, transport: "sse" } } });
    // A call waits for the process to be ready (what it offers is known from then on).
    await callTool(stdioGateway, "local-subscribe_requests");
  });

  afterAll(async () => {
    await stdioGateway?.close();
    await sseGateway?.close();
    await sse?.close();
  });

  it.each([
    ["a stdio server's shared process", () => stdioGateway, "local", "fixture"],
    ["a legacy SSE server's pooled session", () => sseGateway, "old", "old"],
  ] as const)("a session's resources/subscribe has %s subscribed to the new URI only, not again to every URI the session holds", async (_what, gatewayOf, server, scheme) => {
    const gateway = gatewayOf();
    const sessionId = await initialize(gateway);
    const stream = await sessionStream(gateway, sessionId);
    const subscribe = async (uri: string) => {
      const answer = await post(gateway, rpc("resources/subscribe", { uri: `gatehouse://${server}/${uri}` }), { "mcp-session-id": sessionId });
      expect(answer.body).toMatchObject({ result: {} });
    };
    /** Subscribes, then waits until the session's stream relays the URI's update (it asked for the session's URIs again). */
    const subscribeAndFollow = async (uri: string) => {
      await subscribe(uri);
      await until(stream.next(updateOf(uri)), () => void callTool(gateway, `${server}-touch_resource`, { uri }));
    };
    try {
      for (let index = 0; index < 30; index++) await subscribe(`${scheme}://held-${index}`);
      await subscribeAndFollow(`${scheme}://round-0`);
      const before = Number(await callTool(gateway, `${server}-subscribe_requests`));
      const rounds = 3;
      for (let round = 1; round <= rounds; round++) await subscribeAndFollow(`${scheme}://round-${round}`);
      const asked = Number(await callTool(gateway, `${server}-subscribe_requests`)) - before;
      // Before: every change had the stream subscribe the shared session to all of the session's URIs again (31, 32, 33 here; up to 256 each),
      // and for a stdio server a change mid-way sent the rest of them at once, each with its cancellation.
      expect(asked).toBeLessThanOrEqual(2 * rounds);
    } finally {
      stream.close();
      await gateway.fetch("/mcp", { method: "DELETE", key: MASTER_KEY, headers: { "mcp-session-id": sessionId } });
    }
  });

  it("another key's resources/unsubscribe on the stdio server's own route does not end the updates an /mcp session subscribed to", async () => {
    const sessionId = await initialize(stdioGateway);
    const stream = await sessionStream(stdioGateway, sessionId);
    const other = new Client({ name: "other-key", version: "1.0.0" });
    await other.connect(new StreamableHTTPClientTransport(new URL(`${stdioGateway.url}/local/mcp`), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${await stdioGateway.generateKey({})}` } } }));
    try {
      expect((await post(stdioGateway, rpc("resources/subscribe", { uri: "gatehouse://local/fixture://note" }), { "mcp-session-id": sessionId })).body).toMatchObject({ result: {} });
      await until(stream.next(updateOf("fixture://note")), () => void callTool(stdioGateway, "local-touch_note"));
      // Before: the shared process took it, and stopped telling anyone of the resource; the gateway never subscribes it again.
      await other.unsubscribeResource({ uri: "fixture://note" });
      expect(await callTool(stdioGateway, "local-touch_note")).toBe("touched");
    } finally {
      await other.close();
      stream.close();
      await stdioGateway.fetch("/mcp", { method: "DELETE", key: MASTER_KEY, headers: { "mcp-session-id": sessionId } });
    }
  });

  it("a resources/subscribe URI longer than a listen's (4096 characters) is refused with -32602, before any upstream sees it", async () => {
    const sessionId = await initialize(stdioGateway);
    const before = Number(await callTool(stdioGateway, "local-subscribe_requests"));
    const answer = await post(stdioGateway, rpc("resources/subscribe", { uri: `gatehouse://local/fixture://${"x".repeat(5000)}` }), { "mcp-session-id": sessionId });
    // Before: any URI up to the request body's bound (4 MiB) was subscribed upstream and kept, 256 per session, and sent with every listen.
    expect(answer.body.error).toMatchObject({ code: -32602, message: expect.stringContaining("4096") });
    expect(Number(await callTool(stdioGateway, "local-subscribe_requests"))).toBe(before);
    await stdioGateway.fetch("/mcp", { method: "DELETE", key: MASTER_KEY, headers: { "mcp-session-id": sessionId } });
  });
});

describe.each(await dialects())("the kept subscriptions table on %s", (dialect) => {
  async function withRepo(run: (repo: ReturnType<typeof aggregateSessionsRepository>, count: () => Promise<number>) => Promise<void>, now?: () => number): Promise<void> {
    const file = await createTestDatabase(dialect);
    const database = await openDatabase(file.url);
    try {
      await migrateToLatest(database);
      const repo = aggregateSessionsRepository(database.db, createSecretBox("test-salt"), now);
      const count = async () => (await database.db.selectFrom("mcp_aggregate_subscriptions").select("uri").execute()).length;
      await run(repo, count);
    } finally {
      await database.close();
      await file.drop();
    }
  }

  it("concurrent resources/subscribe never keep more than a session's bound", async () => {
    await withRepo(async (repo, count) => {
      await repo.create("nonce-1", { name: "key:a", maxLive: 10, withinMs: 3600_000 });
      const outcomes = await Promise.all(Array.from({ length: 300 }, (_, index) => repo.setSubscription("nonce-1", "server-1", `note://${index}`, true, 256)));
      // Before: each counted the rows before inserting its own, so on PostgreSQL all 300 were kept.
      expect(await count()).toBeLessThanOrEqual(256);
      expect(outcomes.filter((outcome) => outcome === "changed").length).toBe(await count());
      expect(outcomes.filter((outcome) => outcome === "full").length).toBe(300 - (await count()));
      // One already held is still held at the bound.
      const [held] = await repo.subscriptions("nonce-1", "server-1");
      if ((await count()) === 256) expect(await repo.setSubscription("nonce-1", "server-1", held!, true, 256)).toBe("unchanged");
    });
  });

  it("a subscription that lands after its session ended leaves no row", async () => {
    await withRepo(async (repo, count) => {
      await repo.create("nonce-1", { name: "key:a", maxLive: 10, withinMs: 3600_000 });
      await repo.end("nonce-1");
      // Before: a subscribe still running when DELETE (on any instance) ended the session wrote a row nothing deleted until the maximum age.
      expect(await repo.setSubscription("nonce-1", "server-1", "note://late", true, 256)).toBe("ended");
      expect(await count()).toBe(0);
    });
  });

  it("subscriptions made in one millisecond come back in one order every time", async () => {
    await withRepo(
      async (repo) => {
        await repo.create("nonce-1", { name: "key:a", maxLive: 10, withinMs: 3600_000 });
        for (let index = 0; index < 20; index++) await repo.setSubscription("nonce-1", "server-1", `note://${index}`, true, 256);
        await repo.setSubscription("nonce-1", "server-1", "note://3", false, 256);
        await repo.setSubscription("nonce-1", "server-1", "note://3", true, 256);
        // A stream compares the list with what it asked for at each keep-alive: a tie read in another order was a change, and a restart.
        const first = await repo.subscriptions("nonce-1", "server-1");
        expect(first).toHaveLength(20);
        for (let read = 0; read < 5; read++) expect(await repo.subscriptions("nonce-1", "server-1")).toEqual(first);
      },
      () => 1_700_000_000_000,
    );
  });
});

describe("the opened session ids", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ servers: { local: fixtureServer() } });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("a session id written with characters base64url decoding skips is not the session's id (each spelling was another cached id)", async () => {
    const sessionId = await initialize(gateway);
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId })).status).toBe(200);
    // Node's base64url decoder skips characters outside its alphabet: up to 8 KiB of them per spelling, each kept among 10,000 opened ids.
    const padded = `${sessionId.slice(0, 10)}${"!".repeat(4000)}${sessionId.slice(10)}`;
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": padded })).status).toBe(404);
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": `${sessionId}=` })).status).toBe(404);
  });
});
