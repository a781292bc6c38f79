/**
 * Issue 15, items 3, 5 and 6: what one key, or one upstream, can take from everyone else.
 *
 * - Item 3, shared sessions: pooled upstream sessions are per caller on every route that
 *   pools them (/mcp, /mcp-rest/tools/list, /mcp-rest/tools/call, the UI's tool call), and
 *   on the pass-through an upstream session id only works for the key it was issued to.
 *   The upstream is a real SDK server with per-session state (`remember` / `recall`).
 * - Item 5, starved connections: GET streams have their own connections and a budget per
 *   key and per server (429 + Retry-After), SSE answers count against it, and `timeout`
 *   covers the wait for a pooled connection.
 * - Item 6, unbounded listings: a hand-written upstream whose `nextCursor` never ends (or
 *   repeats, or carries thousands of tools, or is slow) costs a bounded number of requests
 *   on every route that lists (aggregate, REST list and call, UI health and tools pages).
 *
 * Every attack on a route the node:http fast lane takes runs twice: as is (fast lane) and
 * with `x-litellm-mcp-debug: true` (the Hono route).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LATEST_PROTOCOL_VERSION, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startPagingUpstream, toolsNamed, type PagingUpstream } from "../fixtures/paging-upstream.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";
import { signInToUi } from "../fixtures/ui-session.js";

/** The two request paths of the MCP routes: the fast lane, and the Hono route a debug request takes. */
const LANES = [
  { lane: "fast lane", headers: {} as Record<string, string> },
  { lane: "Hono route", headers: { "x-litellm-mcp-debug": "true" } as Record<string, string> },
];

const INITIALIZE = rpc("initialize", { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } });

interface JsonRpcAnswer {
  id?: unknown;
  result?: { tools?: Array<{ name: string; description?: string }> } & Partial<CallToolResult>;
  error?: { code: number; message: string; data?: { code?: string } };
}

/** A JSON-RPC answer from a JSON or single-event SSE body. */
async function answerOf(response: Response): Promise<JsonRpcAnswer> {
  const body = await response.text();
  const data = body.split("\n").find((line) => line.startsWith("data:"));
  return JSON.parse(data === undefined ? body : data.slice(5)) as JsonRpcAnswer;
}

function textOf(result: Partial<CallToolResult> | undefined): string {
  return (result?.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? "";
}

let secrets = 0;
/** A value no other test stores. */
const secret = (label: string) => `${label}-secret-${++secrets}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * Per-session state, as stateful MCP servers keep it: `remember` stores a value in this
 * session, `recall` returns it, and `recall`'s description names it (so tools/list shows it).
 */
function memoryTools(server: McpServer): void {
  let stored = "(nothing)";
  const recall = server.registerTool("recall", { description: "recalls: (nothing)" }, () => ({ content: [{ type: "text", text: stored }] }));
  server.registerTool("remember", { description: "remembers a value in this session", inputSchema: { value: z.string() } }, ({ value }) => {
    stored = value;
    recall.update({ description: `recalls: ${value}` });
    return { content: [{ type: "text", text: "remembered" }] };
  });
}

// ---------------------------------------------------------------------------------------
// Item 3: sessions are never shared between keys
// ---------------------------------------------------------------------------------------

describe("item 3: an upstream session is never shared between two keys", () => {
  let gateway: TestGateway;
  let memory: Upstream;

  beforeAll(async () => {
    memory = await startUpstream({ name: "mem", stateful: true, defaultTools: false, tools: memoryTools });
    gateway = await startTestGateway({ servers: { mem: { url: memory.url } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await memory?.close();
  });

  /** Two fresh virtual keys for `mem` (fresh keys: pooled sessions outlive a test). */
  async function twoKeys(): Promise<[string, string]> {
    const permission = { object_permission: { mcp_servers: ["mem"] } };
    return [await gateway.generateKey({ key_alias: `x-${secrets}`, ...permission }), await gateway.generateKey({ key_alias: `y-${secrets}`, ...permission })];
  }

  async function aggregate(key: string, headers: Record<string, string>, method: string, params: Record<string, unknown>): Promise<JsonRpcAnswer> {
    const response = await gateway.fetch("/mcp", { method: "POST", key, headers: { ...MCP_ACCEPT, ...headers }, body: rpc(method, params) });
    expect(response.status).toBe(200);
    return answerOf(response);
  }

  async function restCall(key: string, headers: Record<string, string>, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
    const response = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", key, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ name, server_name: "mem", arguments: args }) });
    expect(response.status).toBe(200);
    return (await response.json()) as CallToolResult;
  }

  it.each(LANES)("/mcp: key Y's tools/call and tools/list never see what key X stored in its upstream session ($lane)", async ({ headers }) => {
    const [x, y] = await twoKeys();
    const value = secret("aggregate");
    expect(textOf((await aggregate(x, headers, "tools/call", { name: "mem-remember", arguments: { value } })).result)).toBe("remembered");

    expect(textOf((await aggregate(y, headers, "tools/call", { name: "mem-recall" })).result)).toBe("(nothing)");
    const listedForY = (await aggregate(y, headers, "tools/list", {})).result?.tools ?? [];
    expect(listedForY.find((tool) => tool.name === "mem-recall")?.description).toBe("recalls: (nothing)");
    expect(JSON.stringify(listedForY)).not.toContain(value);

    // X's own session kept its state: the pool still serves X the session X opened.
    expect(textOf((await aggregate(x, headers, "tools/call", { name: "mem-recall" })).result)).toBe(value);
  });

  it.each(LANES)("/mcp-rest/tools/call: key Y never recalls what key X remembered ($lane)", async ({ headers }) => {
    const [x, y] = await twoKeys();
    const value = secret("rest-call");
    expect(textOf(await restCall(x, headers, "remember", { value }))).toBe("remembered");
    expect(textOf(await restCall(y, headers, "recall"))).toBe("(nothing)");
    expect(textOf(await restCall(x, headers, "recall"))).toBe(value);
  });

  it("/mcp-rest/tools/list: key Y's list never shows the state of key X's upstream session (GET: the Hono route only)", async () => {
    const [x, y] = await twoKeys();
    const value = secret("rest-list");
    expect(textOf(await restCall(x, {}, "remember", { value }))).toBe("remembered");
    const list = async (key: string) => {
      const response = await gateway.fetch("/mcp-rest/tools/list?server_name=mem", { key });
      expect(response.status).toBe(200);
      return ((await response.json()) as { tools: Array<{ name: string; description?: string }> }).tools;
    };
    expect((await list(y)).find((tool) => tool.name === "recall")?.description).toBe("recalls: (nothing)");
    expect((await list(x)).find((tool) => tool.name === "recall")?.description).toBe(`recalls: ${value}`);
  });

  it("the UI's tool call: key Y, signed in, never recalls what key X remembered, nor sees it on the tools page", async () => {
    const [x, y] = await twoKeys();
    const value = secret("ui");
    const asX = await signInToUi(gateway.url, x);
    const asY = await signInToUi(gateway.url, y);
    expect(await uiCall(gateway, asX, "remember", { value })).toContain("remembered");

    const recalledByY = await uiCall(gateway, asY, "recall", {});
    expect(recalledByY).toContain("(nothing)");
    expect(recalledByY).not.toContain(value);
    const page = await fetch(new URL("/ui/mcp/servers/mem/tools", gateway.url), { headers: { cookie: asY } });
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain(value);

    expect(await uiCall(gateway, asX, "recall", {})).toContain(value);
  });

  describe("the pass-through: an upstream session id works only for the key it was issued to", () => {
    /** Opens an upstream session through /mem/mcp as `key`; returns the id the gateway gave the client. */
    async function openSession(key: string, headers: Record<string, string>): Promise<string> {
      const init = await gateway.fetch("/mem/mcp", { method: "POST", key, headers: { ...MCP_ACCEPT, ...headers }, body: INITIALIZE });
      expect(init.status).toBe(200);
      await init.body?.cancel();
      const id = init.headers.get("mcp-session-id");
      expect(id).toEqual(expect.any(String));
      return id!;
    }

    const sessionHeaders = (id: string) => ({ ...MCP_ACCEPT, "mcp-session-id": id, "mcp-protocol-version": LATEST_PROTOCOL_VERSION });

    it.each(LANES)("key Y presenting key X's Mcp-Session-Id gets 404 and nothing reaches X's session ($lane)", async ({ headers }) => {
      const [x, y] = await twoKeys();
      const value = secret("passthrough");
      const id = await openSession(x, headers);
      const remembered = await gateway.fetch("/mem/mcp", { method: "POST", key: x, headers: { ...sessionHeaders(id), ...headers }, body: rpc("tools/call", { name: "remember", arguments: { value } }, 2) });
      expect(textOf((await answerOf(remembered)).result)).toBe("remembered");

      const seen = memory.requests.length;
      const stolen = await gateway.fetch("/mem/mcp", { method: "POST", key: y, headers: { ...sessionHeaders(id), ...headers }, body: rpc("tools/call", { name: "recall" }, 3) });
      expect(stolen.status).toBe(404);
      const refused = await answerOf(stolen);
      expect(refused).toMatchObject({ id: 3, error: { data: { code: "session_not_found" } } });
      expect(JSON.stringify(refused)).not.toContain(value);
      // The upstream id alone (the tag cut off) is no better: the gateway never forwards an id it did not bind.
      const bare = await gateway.fetch("/mem/mcp", { method: "POST", key: y, headers: { ...sessionHeaders(id.slice(0, id.lastIndexOf("."))), ...headers }, body: rpc("tools/call", { name: "recall" }, 4) });
      expect(bare.status).toBe(404);
      await bare.body?.cancel();
      expect(memory.requests.length).toBe(seen);

      const own = await gateway.fetch("/mem/mcp", { method: "POST", key: x, headers: { ...sessionHeaders(id), ...headers }, body: rpc("tools/call", { name: "recall" }, 5) });
      expect(textOf((await answerOf(own)).result)).toBe(value);
    });

    it("key Y cannot open X's GET stream or DELETE X's session with X's Mcp-Session-Id (404; the session lives on)", async () => {
      const [x, y] = await twoKeys();
      const id = await openSession(x, {});
      const seen = memory.requests.length;
      const sessions = memory.sessionCount();
      const stream = await gateway.fetch("/mem/mcp", { method: "GET", key: y, headers: { accept: "text/event-stream", "mcp-session-id": id, "mcp-protocol-version": LATEST_PROTOCOL_VERSION } });
      expect(stream.status).toBe(404);
      await stream.body?.cancel();
      const deleted = await gateway.fetch("/mem/mcp", { method: "DELETE", key: y, headers: sessionHeaders(id) });
      expect(deleted.status).toBe(404);
      await deleted.body?.cancel();
      expect(memory.requests.length).toBe(seen);
      expect(memory.sessionCount()).toBe(sessions);

      const own = await gateway.fetch("/mem/mcp", { method: "DELETE", key: x, headers: sessionHeaders(id) });
      expect(own.status).toBe(200);
      await own.body?.cancel();
      await memory.waitUntil(() => memory.sessionCount() === sessions - 1);
    });
  });
});

// ---------------------------------------------------------------------------------------
// Item 5: long-lived streams have their own connections and budget
// ---------------------------------------------------------------------------------------

describe("item 5: one key's streams cannot starve an upstream for everyone", () => {
  let gateway: TestGateway;
  let streamy: Upstream;
  let plain: Upstream;

  beforeAll(async () => {
    streamy = await startUpstream({ name: "streamy", mode: "sse", stateful: true });
    plain = await startUpstream({ name: "plain" });
    gateway = await startTestGateway({
      servers: {
        streamy: { url: streamy.url, timeout: 5 },
        // Two servers on one upstream share its connection pool; `quick` has a short timeout.
        patient: { url: plain.url, timeout: 60 },
        quick: { url: plain.url, timeout: 1 },
      },
      // One pooled connection per upstream: anything that took it from the POSTs would show at once.
      general: { max_connections_per_upstream: 1, max_streams_per_key: 3, max_streams_per_server: 5 },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await streamy?.close();
    await plain?.close();
  });

  const keyFor = (alias: string) => gateway.generateKey({ key_alias: `${alias}-${++secrets}` });

  async function initialize(key: string, headers: Record<string, string> = {}): Promise<string> {
    const init = await gateway.fetch("/streamy/mcp", { method: "POST", key, headers: { ...MCP_ACCEPT, ...headers }, body: INITIALIZE });
    expect(init.status).toBe(200);
    await init.body?.cancel();
    return init.headers.get("mcp-session-id")!;
  }

  /** The standalone GET stream of session `id` (the SDK upstream allows one per session), held open. */
  function openStream(key: string, id: string): Promise<Response> {
    return gateway.fetch("/streamy/mcp", { method: "GET", key, headers: { accept: "text/event-stream", "mcp-session-id": id, "mcp-protocol-version": LATEST_PROTOCOL_VERSION } });
  }

  /** A new session's GET stream. */
  async function getStream(key: string): Promise<Response> {
    return openStream(key, await initialize(key));
  }

  async function closeAll(streams: Response[]): Promise<void> {
    const aborted = streamy.abortedRequests;
    const open = streams.filter((stream) => stream.status === 200);
    await Promise.all(open.map((stream) => stream.body?.cancel()));
    await streamy.whenAborted(aborted + open.length);
  }

  const getsSeen = () => streamy.requests.filter((request) => request.method === "GET").length;

  it.each(LANES)(
    "held-open GET streams of one key take none of the connections other keys' tool calls need, and past max_streams_per_key they are 429 with Retry-After ($lane)",
    async ({ headers }) => {
      const [a, b] = [await keyFor("a"), await keyFor("b")];
      const sessions = [await initialize(a), await initialize(a), await initialize(a), await initialize(a)];
      const streams = [await openStream(a, sessions[0]!), await openStream(a, sessions[1]!), await openStream(a, sessions[2]!)];
      try {
        expect(streams.map((stream) => stream.status)).toEqual([200, 200, 200]);
        const gets = getsSeen();

        // More streams than the pool has connections, and B's tool call still answers at once.
        const session = await initialize(b, headers);
        const call = await gateway.fetch("/streamy/mcp", {
          method: "POST",
          key: b,
          headers: { ...MCP_ACCEPT, "mcp-session-id": session, "mcp-protocol-version": LATEST_PROTOCOL_VERSION, ...headers },
          body: rpc("tools/call", { name: "echo", arguments: { message: "not starved" } }, 2),
        });
        expect(call.status).toBe(200);
        expect(textOf((await answerOf(call)).result)).toBe("not starved");

        const fourth = await openStream(a, sessions[3]!);
        streams.push(fourth);
        expect(fourth.status).toBe(429);
        expect(fourth.headers.get("retry-after")).toBe("10");
        const refused = (await fourth.json()) as { error: { message: string } };
        expect(refused.error.message).toContain("max_streams_per_key");
        expect(getsSeen()).toBe(gets);
        // A key at its budget is refused POSTs to that server too (they may become SSE answers); B was not.
        const post = await gateway.fetch("/streamy/mcp", {
          method: "POST",
          key: a,
          headers: { ...MCP_ACCEPT, "mcp-session-id": sessions[3]!, "mcp-protocol-version": LATEST_PROTOCOL_VERSION, ...headers },
          body: rpc("tools/call", { name: "echo", arguments: { message: "a" } }, 3),
        });
        expect(post.status).toBe(429);
        expect(await answerOf(post)).toMatchObject({ id: 3, error: { data: { code: "too_many_streams", server: "streamy" } } });

        // Closing one frees its slot.
        const aborted = streamy.abortedRequests;
        await streams[0]!.body?.cancel();
        await streamy.whenAborted(aborted + 1);
        streams[0] = await openStream(a, sessions[3]!);
        expect(streams[0].status).toBe(200);
      } finally {
        await closeAll(streams);
      }
    },
  );

  it("past max_streams_per_server every key's next GET stream is 429, and a closed stream frees its slot", async () => {
    const [a, b, c] = [await keyFor("a"), await keyFor("b"), await keyFor("c")];
    const streams = [await getStream(a), await getStream(a), await getStream(a), await getStream(b), await getStream(b)];
    try {
      expect(streams.map((stream) => stream.status)).toEqual([200, 200, 200, 200, 200]);
      const refused = await getStream(c);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("10");
      expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("max_streams");

      // B closes one: its slot is freed as the upstream stream closes, and C gets in.
      const aborted = streamy.abortedRequests;
      await streams[4]!.body?.cancel();
      await streamy.whenAborted(aborted + 1);
      streams.splice(4, 1);
      const admitted = await getStream(c);
      streams.push(admitted);
      expect(admitted.status).toBe(200);
    } finally {
      await closeAll(streams);
    }
  });

  it.each(LANES)("a tool call queued behind a full connection pool gets 504 within its server's timeout, not after the pool frees ($lane)", async ({ headers }) => {
    // `patient`'s call holds the only connection to the upstream, never answered.
    plain.hangNext(1);
    const holder = new AbortController();
    const held = gateway
      .fetch("/patient/mcp", { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "echo", arguments: { message: "held" } }), signal: holder.signal })
      .catch(() => undefined);
    await plain.waitUntil(() => plain.hangingRequests() === 1);
    const seen = plain.requests.length;
    try {
      const queued = await gateway.fetch("/quick/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "queued" } }, 7) });
      expect(queued.status).toBe(504);
      expect(await answerOf(queued)).toMatchObject({ id: 7, error: { data: { code: "upstream_timeout", server: "quick" } } });
      // It never got a connection: the upstream never saw it.
      expect(plain.requests.length).toBe(seen);
    } finally {
      holder.abort();
      await held;
      await plain.waitUntil(() => plain.hangingRequests() === 0);
    }
  });
});

describe("item 5: SSE answers to POSTs and legacy SSE sessions count as streams", () => {
  let gateway: TestGateway;
  let sse: Upstream;
  let legacy: Upstream;

  beforeAll(async () => {
    sse = await startUpstream({ name: "sse", mode: "sse" });
    legacy = await startUpstream({ name: "legacy", legacySse: true });
    gateway = await startTestGateway({ servers: { sse: { url: sse.url }, legacy: { url: legacy.url, transport: "sse" } }, general: { max_streams_per_key: 2 } });
  });

  afterAll(async () => {
    await gateway?.close();
    await sse?.close();
    await legacy?.close();
  });

  it("a key holding max_streams_per_key legacy SSE bridge sessions (each an upstream SSE stream) gets 429 for another, until it ends one", async () => {
    const key = await gateway.generateKey({ key_alias: `legacy-${++secrets}` });
    const open = async () => {
      const init = await gateway.fetch("/legacy/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: INITIALIZE });
      await init.body?.cancel();
      return init;
    };
    const sessions = [await open(), await open()];
    expect(sessions.map((init) => init.status)).toEqual([200, 200]);
    const streamsBefore = legacy.requests.filter((request) => request.method === "GET").length;
    const third = await gateway.fetch("/legacy/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: INITIALIZE });
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("10");
    expect(await answerOf(third)).toMatchObject({ error: { data: { code: "too_many_streams", server: "legacy" } } });
    // Refused before the gateway opened an upstream stream for it.
    expect(legacy.requests.filter((request) => request.method === "GET").length).toBe(streamsBefore);

    const ended = await gateway.fetch("/legacy/mcp", { method: "DELETE", key, headers: { ...MCP_ACCEPT, "mcp-session-id": sessions[0]!.headers.get("mcp-session-id")! } });
    expect(ended.status).toBe(200);
    await ended.body?.cancel();
    const again = await open();
    expect(again.status).toBe(200);
    for (const init of [sessions[1]!, again]) {
      const closed = await gateway.fetch("/legacy/mcp", { method: "DELETE", key, headers: { ...MCP_ACCEPT, "mcp-session-id": init.headers.get("mcp-session-id")! } });
      await closed.body?.cancel();
    }
  });

  it.each(LANES)("a key holding max_streams_per_key open SSE answers gets 429 for its next POST, other keys do not ($lane)", async ({ headers }) => {
    const [a, b] = [await gateway.generateKey({ key_alias: `sse-a-${++secrets}` }), await gateway.generateKey({ key_alias: `sse-b-${++secrets}` })];
    const holder = new AbortController();
    const slow = () =>
      gateway.fetch("/sse/mcp", { method: "POST", key: a, signal: holder.signal, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "slow", arguments: { ms: 120_000 } }) });
    const open = [await slow(), await slow()];
    try {
      expect(open.map((response) => [response.status, response.headers.get("content-type")])).toEqual([
        [200, "text/event-stream"],
        [200, "text/event-stream"],
      ]);
      const third = await gateway.fetch("/sse/mcp", { method: "POST", key: a, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "x" } }, 3) });
      expect(third.status).toBe(429);
      expect(third.headers.get("retry-after")).toBe("10");
      expect(await answerOf(third)).toMatchObject({ id: 3, error: { data: { code: "too_many_streams", server: "sse" } } });

      const other = await gateway.fetch("/sse/mcp", { method: "POST", key: b, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "b" } }, 4) });
      expect(textOf((await answerOf(other)).result)).toBe("b");
    } finally {
      const cancelled = sse.cancelledToolCalls;
      holder.abort();
      await sse.waitUntil(() => sse.cancelledToolCalls >= cancelled + 2);
    }
    // The closed answers freed their slots.
    const again = await gateway.fetch("/sse/mcp", { method: "POST", key: a, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "again" } }, 5) });
    expect(textOf((await answerOf(again)).result)).toBe("again");
  });
});

// ---------------------------------------------------------------------------------------
// Item 6: every listing is bounded
// ---------------------------------------------------------------------------------------

describe("item 6: an upstream's endless tools/list costs a bounded number of requests", () => {
  let gateway: TestGateway;
  let endless: PagingUpstream;
  let looping: PagingUpstream;
  let wide: PagingUpstream;
  let slow: PagingUpstream;

  /** Pages `c0`, `c1`, ... forever, one tool each. */
  const forever = (cursor: string | undefined) => {
    const index = cursor === undefined ? 0 : Number(cursor.slice(1));
    return { tools: toolsNamed("tool", index, 1), nextCursor: `c${index + 1}` };
  };

  beforeAll(async () => {
    endless = await startPagingUpstream({ page: forever });
    looping = await startPagingUpstream({ page: (cursor) => ({ tools: toolsNamed(cursor === undefined ? "first" : "again", 0, 1), nextCursor: "same-cursor" }) });
    let wideIndex = 0;
    wide = await startPagingUpstream({ page: () => ({ tools: toolsNamed("w", (wideIndex += 3000) - 3000, 3000), nextCursor: `w${wideIndex}` }) });
    slow = await startPagingUpstream({ page: forever, delayMs: 150 });
    gateway = await startTestGateway({
      servers: { endless: { url: endless.url }, looping: { url: looping.url }, wide: { url: wide.url }, slow: { url: slow.url, timeout: 1 } },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([endless?.close(), looping?.close(), wide?.close(), slow?.close()]);
  });

  /** The warning the gateway logs when it cuts a listing short, for this server and reason. */
  const cutShort = (server: string, reason: string) =>
    gateway.logs.filter((line) => line.server === server && line.reason === reason && String(line.msg).includes("cut short")).length;

  async function aggregateList(server: string, headers: Record<string, string>): Promise<string[]> {
    const response = await gateway.fetch("/mcp", { method: "POST", headers: { ...MCP_ACCEPT, "x-mcp-servers": server, ...headers }, body: rpc("tools/list") });
    expect(response.status).toBe(200);
    return ((await answerOf(response)).result?.tools ?? []).map((tool) => tool.name);
  }

  it.each(LANES)("/mcp tools/list: nextCursor forever stops after tools_list_max_pages (100) pages, and the tools listed so far are served ($lane)", async ({ headers }) => {
    const before = endless.listRequests();
    const warned = cutShort("endless", "max_pages");
    const tools = await aggregateList("endless", headers);
    expect(endless.listRequests() - before).toBe(100);
    expect(tools).toHaveLength(100);
    expect(tools[0]).toBe("endless-tool0");
    expect(tools[99]).toBe("endless-tool99");
    expect(cutShort("endless", "max_pages")).toBe(warned + 1);
  });

  it.each(LANES)("/mcp tools/list: a repeated cursor ends the listing at once ($lane)", async ({ headers }) => {
    const before = looping.listRequests();
    const tools = await aggregateList("looping", headers);
    expect(looping.listRequests() - before).toBe(2);
    expect(tools).toEqual(["looping-first0", "looping-again0"]);
    expect(cutShort("looping", "repeated_cursor")).toBeGreaterThan(0);
  });

  it.each(LANES)("/mcp tools/list: pages of thousands of tools stop at tools_list_max_tools (10,000) ($lane)", async ({ headers }) => {
    const before = wide.listRequests();
    const tools = await aggregateList("wide", headers);
    expect(wide.listRequests() - before).toBe(4);
    expect(tools).toHaveLength(10_000);
    expect(cutShort("wide", "max_tools")).toBeGreaterThan(0);
  });

  it("/mcp tools/list: a listing stops at its server's timeout in total, not per page", async () => {
    const before = slow.listRequests();
    const started = performance.now();
    const tools = await aggregateList("slow", {});
    // 1 s of 150 ms pages: a handful, nowhere near the page bound (the machine may be slow: an upper bound only).
    expect(slow.listRequests() - before).toBeLessThan(12);
    expect(tools.length).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(cutShort("slow", "deadline")).toBeGreaterThan(0);
  });

  it("/mcp-rest/tools/list (GET: the Hono route only): nextCursor forever costs at most 100 pages and answers", async () => {
    const before = endless.listRequests();
    const response = await gateway.fetch("/mcp-rest/tools/list?server_name=endless");
    expect(response.status).toBe(200);
    expect(((await response.json()) as { tools: unknown[] }).tools).toHaveLength(100);
    expect(endless.listRequests() - before).toBe(100);
  });

  it.each(LANES)("/mcp-rest/tools/call with a bare tool name (resolved by listing): the listing is bounded and the call goes through ($lane)", async ({ headers }) => {
    const key = await gateway.generateKey({ key_alias: `rest-${++secrets}`, object_permission: { mcp_servers: ["endless"] } });
    const before = endless.listRequests();
    const response = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", key, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ name: "tool42" }) });
    expect(response.status).toBe(200);
    expect(textOf((await response.json()) as CallToolResult)).toBe("called tool42");
    expect(endless.listRequests() - before).toBe(100);
  });

  it("the UI's server health and tools pages: every listing is bounded, and the pages answer", async () => {
    const cookie = await signInToUi(gateway.url, gateway.masterKey);
    const before = { endless: endless.listRequests(), looping: looping.listRequests(), wide: wide.listRequests() };
    const health = await fetch(new URL("/ui/mcp/servers", gateway.url), { headers: { cookie } });
    expect(health.status).toBe(200);
    expect(await health.text()).toContain("100 tools");
    expect(endless.listRequests() - before.endless).toBe(100);
    expect(looping.listRequests() - before.looping).toBe(2);
    expect(wide.listRequests() - before.wide).toBe(4);

    const page = await fetch(new URL("/ui/mcp/servers/endless/tools", gateway.url), { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("tool99");
    expect(endless.listRequests() - before.endless).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------
// The UI, over plain HTTP
// ---------------------------------------------------------------------------------------

/** Calls a tool of `mem` from the UI's tools page; returns the page's HTML. */
async function uiCall(gateway: TestGateway, cookie: string, tool: string, args: Record<string, unknown>): Promise<string> {
  const page = await fetch(new URL(`/ui/mcp/servers/mem/tools?tool=${tool}`, gateway.url), { headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const answer = await fetch(new URL("/ui/mcp/servers/mem/tools/call", gateway.url), {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, tool, raw_arguments: JSON.stringify(args) }).toString(),
  });
  expect(answer.status).toBe(200);
  return answer.text();
}
