/**
 * An attack review of the aggregate `/mcp` endpoint's sessions, tasks, catalog, GET stream
 * and 2026-07-28 handling, played as a limited key, another key holding a stolen id, a
 * caller without a key, a hostile upstream and a crafting client. Each test is named after
 * what broke (and is now held) or what was probed and held already.
 */
import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { resultAnswer, startHostileUpstream, type HostileUpstream } from "../fixtures/hostile-upstream.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { aggregateSessionsRepository } from "../../src/store/aggregate-sessions-repository.js";
import { openDatabase } from "../../src/store/database.js";
import { migrateToLatest } from "../../src/store/migrate.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { createTestDatabase } from "../fixtures/databases.js";
import { serverConfigSchema } from "../../src/config/schema.js";
import { upstreamAuthFactory } from "../../src/auth/upstream/select-strategy.js";
import { createUpstreamHttp } from "../../src/mcp/upstream-http.js";
import { StreamableHttpSession } from "../../src/mcp/upstream-session.js";
import { buildServerEntry } from "../../src/registry/server-entry.js";

const UPSTREAM_SECRET = "upstream-static-secret-0123456789";
const JSON_ONLY = { "content-type": "application/json", accept: "application/json" };
const INITIALIZE = rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "attacker", version: "1" } });

interface Answer {
  status: number;
  sessionId: string | null;
  body: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };
}

async function post(gateway: TestGateway, body: string, headers: Record<string, string> = {}, key: string | null = MASTER_KEY): Promise<Answer> {
  const response = await gateway.fetch("/mcp", { method: "POST", key, headers: { ...JSON_ONLY, ...headers }, body });
  const text = await response.text();
  return { status: response.status, sessionId: response.headers.get("mcp-session-id"), body: text === "" ? {} : (JSON.parse(text) as Answer["body"]) };
}

async function initialize(gateway: TestGateway, headers: Record<string, string> = {}, key: string | null = MASTER_KEY): Promise<string> {
  const answer = await post(gateway, INITIALIZE, headers, key);
  expect(answer.status).toBe(200);
  expect(answer.sessionId).toMatch(/^gh1\./);
  return answer.sessionId!;
}

/** GET /mcp for a session; the first chunk (the stream's opening comment) is read when it is a stream. */
async function openStream(gateway: TestGateway, sessionId: string, key = MASTER_KEY): Promise<{ status: number; reader?: ReadableStreamDefaultReader<Uint8Array>; abort: AbortController; text?: string }> {
  const abort = new AbortController();
  const response = await gateway.fetch("/mcp", { method: "GET", key, headers: { accept: "text/event-stream", "mcp-session-id": sessionId }, signal: abort.signal });
  if (response.status !== 200) return { status: response.status, abort, text: await response.text() };
  const reader = response.body!.getReader();
  await reader.read();
  return { status: 200, reader, abort };
}

async function readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  for (;;) if ((await reader.read()).done) return;
}

const rpcMethods = (upstream: Upstream, method: string) => upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === method).length;

function withResource(name: string) {
  return (server: McpServer) => {
    server.registerResource(`${name}-readme`, `note://${name}/readme`, { mimeType: "text/plain" }, (uri) => ({ contents: [{ uri: uri.href, text: `${name} readme` }] }));
  };
}

describe("sessions: bounds, ownership, ending", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "alpha", stateful: true, mode: "sse", tools: withResource("alpha") });
    gateway = await startTestGateway({ servers: { alpha: { url: upstream.url, max_streams_per_key: 1 } }, general: { mcp_aggregate_sessions_per_key: 3 } });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("DELETE ends the session's GET stream on this instance, and nothing opens an upstream session for the ended session again", async () => {
    const sessionId = await initialize(gateway);
    const stream = await openStream(gateway, sessionId);
    expect(stream.status).toBe(200);
    await upstream.waitUntil(() => upstream.requests.some((request) => request.method === "GET"));
    const deleted = await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
    expect(deleted.status).toBe(200);
    // Before: the stream stayed open and, once the upstream dropped its session, reconnected by opening a new upstream session for the ended one.
    await readToEnd(stream.reader!);
    const initializes = rpcMethods(upstream, "initialize");
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId })).status).toBe(404);
    expect(rpcMethods(upstream, "initialize")).toBe(initializes);
  });

  it("a second GET stream on one session is 409, and a GET stream that could hold no upstream stream is the budget's 429", async () => {
    const first = await initialize(gateway);
    const second = await initialize(gateway);
    const stream = await openStream(gateway, first);
    expect(stream.status).toBe(200);
    try {
      // Before: each GET was 200, and one with every server over its limit was an open socket and timer no limit counted.
      const again = await openStream(gateway, first);
      expect(again.status).toBe(409);
      const other = await openStream(gateway, second);
      expect(other.status).toBe(429);
      expect(other.text).toContain("too_many_streams");
    } finally {
      stream.abort.abort();
      await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": first } });
      await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": second } });
    }
  });

  it("initialize in a loop stops creating sessions at mcp_aggregate_sessions_per_key: past it, initialize is answered statelessly", async () => {
    const ids = [await initialize(gateway), await initialize(gateway), await initialize(gateway)];
    // Before: every initialize wrote a row (and each session, once used, opened an upstream session at every server), without end.
    const past = await post(gateway, INITIALIZE);
    expect(past.status).toBe(200);
    expect(past.body.result?.serverInfo).toBeDefined();
    expect(past.sessionId).toBeNull();
    expect(gateway.logs.some((line) => String(line.msg).includes("mcp_aggregate_sessions_per_key"))).toBe(true);
    // Another key has its own bound; an ended session frees its place.
    const other = await gateway.generateKey({});
    expect(await initialize(gateway, {}, other)).toMatch(/^gh1\./);
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": ids[0]! } });
    const next = await initialize(gateway);
    await Promise.all([ids[1], ids[2], next].map((id) => gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": id! } })));
  });

  it("held: another key cannot use or DELETE a session it holds the id of", async () => {
    const sessionId = await initialize(gateway);
    const thief = await gateway.generateKey({});
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId }, thief)).status).toBe(404);
    const deleted = await gateway.fetch("/mcp", { method: "DELETE", key: thief, headers: { "mcp-session-id": sessionId } });
    expect(deleted.status).toBe(404);
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId })).status).toBe(200);
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
  });
});

describe("a session whose only server is a legacy SSE one", () => {
  let legacy: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    legacy = await startUpstream({ name: "legacy", legacySse: true });
    gateway = await startTestGateway({ servers: { legacy: { url: legacy.url, transport: "sse", max_streams_per_key: 1 } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await legacy?.close();
  });

  it("GET is a stream the server's stream limit counts, not an open stream no limit counts", async () => {
    const sessionId = await initialize(gateway);
    const other = await initialize(gateway);
    // Before: 200, a stream with nothing behind it, outside every stream budget. Now it follows the server's list changes, counted.
    const stream = await openStream(gateway, sessionId);
    expect(stream.status).toBe(200);
    const second = await openStream(gateway, other);
    expect(second.status).toBe(429);
    stream.abort.abort();
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": other } });
  });
});

describe("the sessions table", () => {
  it("initialize and DELETE in a loop leave no rows, and a key's bound counts its live sessions only", async () => {
    const file = await createTestDatabase("sqlite");
    const database = await openDatabase(file.url);
    try {
      await migrateToLatest(database);
      const repo = aggregateSessionsRepository(database.db, createSecretBox("test-salt"));
      const owner = { name: "key:a", maxLive: 2, withinMs: 3600_000 };
      for (let index = 0; index < 50; index++) {
        expect(await repo.create(`nonce-${index}`, owner)).toBe(true);
        await repo.recordUpstream(`nonce-${index}`, "server-1", { upstreamSessionId: "up", protocolVersion: "2025-06-18", capabilities: {} });
        await repo.end(`nonce-${index}`);
        expect(await repo.state(`nonce-${index}`)).not.toBe("live");
      }
      // Before: every ended session kept its row until it was older than the maximum age.
      const rows = await database.db.selectFrom("mcp_aggregate_sessions").select("session_id").execute();
      expect(rows).toEqual([]);
      expect(await repo.create("live-1", owner)).toBe(true);
      expect(await repo.create("live-2", owner)).toBe(true);
      expect(await repo.create("live-3", owner)).toBe(false);
      expect(await repo.create("other-1", { ...owner, name: "key:b" })).toBe(true);
    } finally {
      await database.close();
      await file.drop();
    }
  });
});

describe("callers without a key (servers that delegate auth)", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "delegating", stateful: true });
    gateway = await startTestGateway({ servers: { deleg: { url: upstream.url, auth_type: "oauth2", delegate_auth_to_upstream: true } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("one delegated caller cannot continue another's session (every such caller has the same subject)", async () => {
    const opened = await post(gateway, INITIALIZE, { authorization: "Bearer user-a-token", "x-mcp-servers": "deleg" }, null);
    expect(opened.status, JSON.stringify(opened.body)).toBe(200);
    const sessionId = opened.sessionId!;
    // Before: the session was bound to the subject "anonymous" only, which every delegated caller has.
    expect((await post(gateway, rpc("tools/list"), { authorization: "Bearer user-b-token", "x-mcp-servers": "deleg", "mcp-session-id": sessionId }, null)).status).toBe(404);
    expect((await post(gateway, rpc("tools/list"), { authorization: "Bearer user-a-token", "x-mcp-servers": "deleg", "mcp-session-id": sessionId }, null)).status).toBe(200);
  });
});

describe("the catalog: a limited key, crafted cursors and URIs, discovery", () => {
  let alpha: Upstream;
  let beta: Upstream;
  let gateway: TestGateway;
  let alphaKey: string;

  beforeAll(async () => {
    alpha = await startUpstream({ name: "alpha", tools: withResource("alpha") });
    beta = await startUpstream({ name: "beta", tools: withResource("beta") });
    gateway = await startTestGateway({ servers: { alpha: { url: alpha.url }, beta: { url: beta.url } } });
    alphaKey = await gateway.generateKey({ object_permission: { mcp_servers: ["alpha"] } });
  });

  afterAll(async () => {
    await gateway?.close();
    await alpha?.close();
    await beta?.close();
  });

  it("unknown URIs read in a loop list the upstreams once per cooldown, not once per read", async () => {
    const before = rpcMethods(alpha, "resources/list");
    for (let index = 0; index < 5; index++) {
      const answer = await post(gateway, rpc("resources/read", { uri: `note://nowhere/${index}` }), {}, alphaKey);
      expect(answer.body.error?.code).toBe(-32002);
    }
    // Before: each read listed every server's resources and templates (up to 20 pages each).
    expect(rpcMethods(alpha, "resources/list") - before).toBe(1);
    // A URI that is listed still reads.
    expect((await post(gateway, rpc("resources/read", { uri: "note://alpha/readme" }), {}, alphaKey)).body.result).toBeDefined();
  });

  it("held: a key limited to one server reaches no other server through gatehouse:// URIs, crafted cursors or gh: responses", async () => {
    const betaRequests = beta.requests.length;
    const read = await post(gateway, rpc("resources/read", { uri: "gatehouse://beta/note://beta/readme" }), {}, alphaKey);
    expect(read.body.error?.code).toBe(-32002);
    const cursor = Buffer.from(JSON.stringify({ m: "resources/list", s: { beta: "x", alpha: "y" } })).toString("base64url");
    await post(gateway, rpc("resources/list", { cursor }), {}, alphaKey);
    const sessionId = await initialize(gateway, {}, alphaKey);
    const forged = await post(gateway, JSON.stringify({ jsonrpc: "2.0", id: "gh:beta:1", result: { content: { type: "text", text: "x" } } }), { "mcp-session-id": sessionId }, alphaKey);
    expect(forged.status).toBe(202);
    const huge = await post(gateway, rpc("resources/list", { cursor: "A".repeat(40_000) }), {}, alphaKey);
    expect(huge.body.error?.code).toBe(-32602);
    expect(beta.requests.length).toBe(betaRequests);
  });

  it("held: a repeated MCP-Protocol-Version header, and a batch mixing a 2026-07-28 request with a legacy one, are refused", async () => {
    const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28" };
    const headers = new Headers({ ...JSON_ONLY, "x-litellm-api-key": `Bearer ${MASTER_KEY}`, "mcp-method": "tools/list" });
    headers.append("mcp-protocol-version", "2026-07-28");
    headers.append("mcp-protocol-version", "2026-07-28");
    const repeated = await fetch(`${gateway.url}/mcp`, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } }) });
    expect(repeated.status).toBe(400);
    const mixed = await post(
      gateway,
      JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } },
        { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} },
      ]),
      { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list" },
    );
    expect(mixed.status).toBe(400);
    expect(JSON.stringify(mixed.body)).toContain("-32020");
  });

  it("a malformed Base64 sentinel in Mcp-Name matches nothing, not even a missing name", async () => {
    const body = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } };
    const answer = await post(gateway, JSON.stringify(body), { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "=?base64?!!?=" });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe(-32020);
  });
});

describe("a hostile upstream", () => {
  let hostile: HostileUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    hostile = await startHostileUpstream();
    gateway = await startTestGateway({ servers: { hostile: { url: hostile.url, auth_type: "bearer_token", auth_value: UPSTREAM_SECRET } } });
  });

  afterEach(() => {
    hostile.respond = () => undefined;
  });

  afterAll(async () => {
    await gateway?.close();
    await hostile?.close();
  });

  it("a flood on the session's GET stream is dropped once the client stops reading, not queued without end", async () => {
    const note = JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "x".repeat(64 * 1024) } });
    let floods = 0;
    hostile.respond = (request) =>
      request.method === "GET" && floods++ === 0 ? { status: 200, headers: { "content-type": "text/event-stream" }, chunks: Array.from({ length: 400 }, () => `event: message\ndata: ${note}\n\n`) } : undefined;
    const sessionId = await initialize(gateway);
    const stream = await openStream(gateway, sessionId);
    try {
      // Before: every message was enqueued whatever the client read (25 MB here, without bound).
      await gateway.waitForLog((line) => String(line.msg).includes("not being read fast enough"));
    } finally {
      stream.abort.abort();
      await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
    }
  });

  it("pings flooded on the session's GET stream are answered a bounded number of times", async () => {
    const pings = Array.from({ length: 200 }, (_, index) => `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: `ping-${index}`, method: "ping" })}\n\n`).join("");
    let gets = 0;
    hostile.respond = (request) => (request.method === "GET" && gets++ === 0 ? { status: 200, headers: { "content-type": "text/event-stream" }, body: pings } : undefined);
    const getsBefore = hostile.requests.filter((request) => request.method === "GET").length;
    const sessionId = await initialize(gateway);
    const stream = await openStream(gateway, sessionId);
    try {
      // The stream ends; the gateway reconnects (its second GET) after it has read every ping.
      await hostile.waitUntil(() => hostile.requests.filter((request) => request.method === "GET").length >= getsBefore + 2);
      const answered = hostile.requests.filter((request) => request.method === "POST" && String(request.id).startsWith("ping-")).length;
      // Before: each of the 200 was answered with a POST.
      expect(answered).toBeGreaterThan(0);
      expect(answered).toBeLessThanOrEqual(16);
    } finally {
      stream.abort.abort();
      await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
    }
  });

  /** The SSE answer to a tools/call: `events` (JSON-RPC messages), then the result. */
  const callStream = (events: unknown[]) => (request: { rpc: string; id: unknown }) =>
    request.rpc === "tools/call"
      ? {
          status: 200,
          headers: { "content-type": "text/event-stream" },
          chunks: [...events, { jsonrpc: "2.0", id: request.id, result: { content: [{ type: "text", text: "done" }] } }].map((event) => `event: message\ndata: ${JSON.stringify(event)}\n\n`),
        }
      : undefined;

  async function callInSession(sessionId: string, params: Record<string, unknown> = {}): Promise<Response> {
    return gateway.fetch("/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": sessionId },
      body: rpc("tools/call", { name: "hostile-echo", arguments: {}, ...params }),
    });
  }

  it("a flood of notifications on a call's stream is dropped once the client stops reading; the answer still comes", async () => {
    const note = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "x".repeat(64 * 1024) } };
    hostile.respond = callStream(Array.from({ length: 400 }, () => note));
    const sessionId = await initialize(gateway);
    const response = await callInSession(sessionId);
    // Before: all 25 MB were queued for the client, whatever it read.
    await gateway.waitForLog((line) => String(line.msg).includes("answer stream is not being read fast enough"));
    const text = await response.text();
    expect(text).toContain('"text":"done"');
    expect(text.split("notifications/message").length - 1).toBeLessThan(400);
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
  });

  it("an upstream's notifications/cancelled names its own forwarded request, and its progress for other tokens is not relayed", async () => {
    hostile.respond = callStream([
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 5, reason: "stop" } },
      { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "another-call", progress: 99 } },
    ]);
    const sessionId = await initialize(gateway);
    const text = await (await callInSession(sessionId)).text();
    expect(text).toContain('"text":"done"');
    // Before: requestId 5 reached the client as is, where it could cancel another server's request (or its own answers' ids), and the progress was relayed.
    expect(text).toContain('"requestId":"gh:hostile:5"');
    expect(text).not.toContain("another-call");
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
  });

  it("held: the gateway's credential echoed in what an upstream forwards (a call's stream, the session's GET stream) is scrubbed", async () => {
    const echo = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: `I was sent ${UPSTREAM_SECRET}` } };
    const ask = { jsonrpc: "2.0", id: "ask-1", method: "elicitation/create", params: { message: `token ${UPSTREAM_SECRET}`, requestedSchema: { type: "object", properties: {} } } };
    let gets = 0;
    hostile.respond = (request) =>
      request.method === "GET" && gets++ === 0 ? { status: 200, headers: { "content-type": "text/event-stream" }, body: `event: message\ndata: ${JSON.stringify(echo)}\n\n` } : callStream([echo, ask])(request);
    const sessionId = await initialize(gateway);
    const called = await (await callInSession(sessionId)).text();
    expect(called).toContain("I was sent");
    expect(called).toContain("gh:hostile:");
    expect(called).not.toContain(UPSTREAM_SECRET);
    const stream = await openStream(gateway, sessionId);
    try {
      const { value } = await stream.reader!.read();
      const streamed = new TextDecoder().decode(value);
      expect(streamed).toContain("I was sent");
      expect(streamed).not.toContain(UPSTREAM_SECRET);
    } finally {
      stream.abort.abort();
      await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
    }
  });

  it("a session's GET stream ends once its key is deleted, instead of reconnecting upstream with the gateway's credentials", async () => {
    // The upstream's stream fails: the gateway reconnects after 1 s, by which time the key is gone.
    hostile.respond = (request) => (request.method === "GET" ? { status: 500, headers: { "content-type": "text/plain" }, body: "down" } : undefined);
    const gets = () => hostile.requests.filter((request) => request.method === "GET").length;
    const key = await gateway.generateKey({});
    const sessionId = await initialize(gateway, {}, key);
    const getsBefore = gets();
    const stream = await openStream(gateway, sessionId, key);
    expect(stream.status).toBe(200);
    await hostile.waitUntil(() => gets() > getsBefore);
    const deleted = await gateway.fetch("/key/delete", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ keys: [key] }) });
    expect(deleted.status).toBe(200);
    const getsAfterDelete = gets();
    // Before: the stream stayed open, and its upstream streams were reconnected (1 s, doubling to 30 s) for as long as the client held it.
    await readToEnd(stream.reader!);
    expect(gets()).toBe(getsAfterDelete);
  });

  it("held: without a key, a stolen session id opens nothing (POST, GET and DELETE are 401)", async () => {
    const sessionId = await initialize(gateway);
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId }, null)).status).toBe(401);
    expect((await gateway.fetch("/mcp", { method: "GET", key: null, headers: { accept: "text/event-stream", "mcp-session-id": sessionId } })).status).toBe(401);
    expect((await gateway.fetch("/mcp", { method: "DELETE", key: null, headers: { "mcp-session-id": sessionId } })).status).toBe(401);
    expect((await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId })).status).toBe(200);
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
  });

  it("held: task ids an upstream names in notifications/tasks/status are made its own, never another server's", async () => {
    hostile.respond = callStream([{ jsonrpc: "2.0", method: "notifications/tasks/status", params: { taskId: "gh:alpha:stolen", status: "completed" } }]);
    const sessionId = await initialize(gateway);
    const text = await (await callInSession(sessionId)).text();
    expect(text).toMatch(/"taskId":"gh:hostile:/);
    expect(text).not.toContain('"taskId":"gh:alpha:stolen"');
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
  });

  it("a POST of many crafted gh:{server}:{id} answers sends at most 16 of them upstream", async () => {
    const sessionId = await initialize(gateway);
    await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId });
    const answers = Array.from({ length: 40 }, (_, index) => ({ jsonrpc: "2.0", id: `gh:hostile:${JSON.stringify(`crafted-${index}`)}`, result: {} }));
    const batch = await post(gateway, JSON.stringify(answers), { "mcp-session-id": sessionId });
    expect(batch.status).toBe(202);
    const crafted = () => hostile.requests.filter((request) => String(request.id).startsWith("crafted-")).length;
    await hostile.waitUntil(() => crafted() >= 16);
    // One more round trip to the upstream, after which any further answer would have arrived too.
    await post(gateway, rpc("tools/list"), { "mcp-session-id": sessionId });
    // Before: each of the 40 was a POST upstream, counted against no limit of the key.
    expect(crafted()).toBe(16);
    await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
  });

  it("capabilities of megabytes in an upstream's initialize are cut to their flags (kept per pooled session, stored per /mcp session)", async () => {
    hostile.respond = (request) =>
      request.rpc === "initialize"
        ? resultAnswer(request, { protocolVersion: "2025-06-18", capabilities: { tools: { listChanged: true }, resources: { subscribe: true, junk: "x".repeat(2 * 1024 * 1024) } }, serverInfo: { name: "hostile", version: "1" } })
        : undefined;
    const http = createUpstreamHttp();
    try {
      const entry = buildServerEntry("hostile", "hostile", "config", serverConfigSchema.parse({ url: hostile.url }), { authFor: upstreamAuthFactory() });
      const session = await StreamableHttpSession.open(http, entry, {}, () => undefined);
      // Before: all 2 MB were kept in memory for the pooled session, and written to the database for each /mcp session.
      expect(session.capabilities).toEqual({ tools: { listChanged: true }, resources: { subscribe: true } });
    } finally {
      await http.close();
    }
  });

  it("an answer larger than 32 MiB is refused, not buffered on", async () => {
    hostile.respond = (request) => (request.rpc === "tools/call" ? resultAnswer(request, { content: [{ type: "text", text: "x".repeat(33 * 1024 * 1024) }] }) : undefined);
    const answer = await post(gateway, rpc("tools/call", { name: "hostile-echo", arguments: {} }));
    expect(answer.body.error?.message).toContain("larger than 32 MiB");
  });
});

describe("credentials the gateway refreshes during a session", () => {
  let hostile: HostileUpstream;
  let tokens: Server;
  let gateway: TestGateway;
  let issued = 0;

  beforeAll(async () => {
    hostile = await startHostileUpstream();
    tokens = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        issued++;
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify({ access_token: `rotating-secret-${issued}-0123456789abcdef`, token_type: "Bearer", expires_in: 0.002 }));
      });
    });
    const tokenOrigin = await listenOnLoopback(tokens);
    gateway = await startTestGateway({ servers: { m2m: { url: hostile.url, auth_type: "oauth2", client_id: "client", client_secret: "client-secret-value", token_url: `${tokenOrigin}/token` } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await hostile?.close();
    await new Promise<void>((resolve) => tokens?.close(() => resolve()));
  });

  it("a token refreshed during a session is scrubbed from what the upstream echoes, as the first one is", async () => {
    // The upstream echoes the credential it was sent.
    hostile.respond = (request) => (request.rpc === "tools/call" ? resultAnswer(request, { content: [{ type: "text", text: `you sent ${request.headers.authorization}` }] }) : undefined);
    const sessionId = await initialize(gateway);
    const call = () => post(gateway, rpc("tools/call", { name: "m2m-echo", arguments: {} }), { "mcp-session-id": sessionId });
    const first = JSON.stringify((await call()).body);
    expect(first).toContain("you sent");
    expect(first).not.toContain("rotating-secret-1");
    // The token lives 2 ms (cached for half that): the next request carries a new one, on the same upstream session.
    const firstToken = hostile.requests.at(-1)?.headers.authorization;
    const second = JSON.stringify((await call()).body);
    const calls = hostile.requests.filter((request) => request.rpc === "tools/call");
    expect(calls.at(-1)?.headers.authorization).not.toBe(firstToken);
    expect(calls.at(-1)?.headers["mcp-session-id"]).toBe(calls.at(-2)?.headers["mcp-session-id"]);
    // Before: the session kept the scrubber of the token it was opened with.
    expect(second).toContain("you sent");
    expect(second).not.toContain("rotating-secret");
  });
});
