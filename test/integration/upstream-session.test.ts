/**
 * `StreamableHttpSession` (src/mcp/upstream-session.ts), the lean MCP client session the
 * aggregate `/mcp` and the REST API use to call streamable-HTTP upstreams, driven directly
 * through a real `createUpstreamHttp()` against servers on 127.0.0.1:
 *
 * - real upstream MCP servers built with the official SDK (test/fixtures/upstream-mcp.ts),
 *   for the lifecycle (initialize, notifications/initialized, session id, protocol version
 *   header), JSON and SSE answers, progress, JSON-RPC errors, lost sessions, 401, server
 *   requests (sampling, ping) and cancellation;
 * - a scripted `node:http` server (`scriptedUpstream` below) for the faults a real SDK
 *   server cannot be made to produce: an unsupported protocol version, a server that never
 *   answers, an SSE stream that ends without the answer, invalid JSON, a batch answer,
 *   a tools/list result without tools.
 *
 * The last block goes end to end: a REST call through a real gateway after the upstream
 * restarted (connections reset, sessions lost) reconnects and succeeds.
 */
import { Cancellation } from "../../src/exchange.js";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CreateMessageResultSchema,
  EmptyResultSchema,
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  McpError,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { serverConfigSchema } from "../../src/config/schema.js";
import { createUpstreamHttp, type UpstreamHttp } from "../../src/mcp/upstream-http.js";
import { GATEWAY_CLIENT_INFO, StreamableHttpSession, UpstreamHttpError, UpstreamProtocolError, type CallOptions } from "../../src/mcp/upstream-session.js";
import { upstreamAuthFactory } from "../../src/auth/upstream/select-strategy.js";
import { buildServerEntry, type McpServerEntry } from "../../src/registry/server-entry.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { startUpstream, type RecordedRequest, type Upstream, type UpstreamOptions } from "../fixtures/upstream-mcp.js";
import { rejectionOf } from "../fixtures/assertions.js";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

interface JsonRpc {
  jsonrpc?: string;
  id?: string | number;
  method?: string;
  params?: Record<string, unknown> & { _meta?: { progressToken?: unknown } };
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** One POST the scripted server received. */
interface Exchange {
  message: JsonRpc;
  headers: IncomingHttpHeaders;
  res: ServerResponse;
  /** Resolves once the client closed the connection before the answer ended. */
  aborted: Promise<void>;
}

interface ScriptedUpstream {
  url: string;
  exchanges: Exchange[];
  /** The first exchange, past or future, that matches. */
  when(match: (exchange: Exchange) => boolean): Promise<Exchange>;
  close(): Promise<void>;
}

interface ScriptOptions {
  /** Sent as `mcp-session-id` on the initialize answer. */
  sessionId?: string;
  /** The protocolVersion the initialize answer names; default: the one the client asked for. */
  protocolVersion?: string;
  /** The whole initialize result, instead of the default one. */
  initializeResult?: Record<string, unknown>;
}

/**
 * A plain node:http "MCP server" on loopback. It answers `initialize` (JSON) and takes
 * notifications and responses with 202 itself; every other request goes to `answer`,
 * which may answer at once, later, or never.
 */
async function scriptedUpstream(answer: (exchange: Exchange) => void, options: ScriptOptions = {}): Promise<ScriptedUpstream> {
  const exchanges: Exchange[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const message = JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonRpc;
      const aborted = new Promise<void>((resolve) => res.on("close", () => (res.writableFinished ? undefined : resolve())));
      const exchange: Exchange = { message, headers: req.headers, res, aborted };
      exchanges.push(exchange);
      for (const waiter of [...waiters]) waiter();
      if (message.method === "initialize") {
        const result = options.initializeResult ?? {
          protocolVersion: options.protocolVersion ?? message.params?.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: "scripted", version: "1.0.0" },
        };
        return sendJson(res, { jsonrpc: "2.0", id: message.id, result }, options.sessionId === undefined ? {} : { "mcp-session-id": options.sessionId });
      }
      if (message.id === undefined || message.method === undefined) return void res.writeHead(202).end();
      answer(exchange);
    });
  });
  const origin = await listenOnLoopback(server);
  return {
    url: `${origin}/mcp`,
    exchanges,
    when: (match) =>
      new Promise((resolve) => {
        const check = () => {
          const found = exchanges.find(match);
          if (found === undefined) return;
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
      }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function sendJson(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { "content-type": "application/json", ...headers }).end(typeof body === "string" ? body : JSON.stringify(body));
}

/** Starts an SSE answer and sends its headers at once. */
function openSse(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.flushHeaders();
}

function sendEvent(res: ServerResponse, message: unknown): void {
  res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

function resultFor(exchange: Exchange, result: unknown): JsonRpc {
  return { jsonrpc: "2.0", id: exchange.message.id, result };
}

function isMethod(method: string): (exchange: Exchange) => boolean {
  return (exchange) => exchange.message.method === method;
}

/** A registry entry for `url`, as the gateway builds one from its config; `timeout` in seconds. */
function entryFor(url: string, timeout = 10): McpServerEntry {
  return buildServerEntry("under-test", "under-test", "config", serverConfigSchema.parse({ url, timeout }), { authFor: upstreamAuthFactory() });
}

function firstText(result: CallToolResult): string {
  const content = result.content as Array<{ type: string; text?: string }>;
  return content[0]?.text ?? "";
}

function bodyOf(request: RecordedRequest): JsonRpc {
  return (request.body ?? {}) as JsonRpc;
}

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => bodyOf(request).method === "tools/call" && bodyOf(request).params?.name === tool;
}

const CALL: CallOptions = { timeout: 10_000 };

let http: UpstreamHttp;
/** Servers a test started; closed after it. */
const started: Array<{ close(): Promise<void> }> = [];

async function upstream(options: UpstreamOptions = {}): Promise<Upstream> {
  const server = await startUpstream(options);
  started.push(server);
  return server;
}

async function scripted(answer: (exchange: Exchange) => void, options: ScriptOptions = {}): Promise<ScriptedUpstream> {
  const server = await scriptedUpstream(answer, options);
  started.push(server);
  return server;
}

function open(url: string, options: { headers?: Record<string, string>; onUnauthorized?: (challenge: string | undefined) => void; timeout?: number } = {}) {
  return StreamableHttpSession.open(http, entryFor(url, options.timeout), options.headers ?? {}, options.onUnauthorized ?? (() => undefined));
}

beforeAll(() => {
  http = createUpstreamHttp();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await http?.close();
});

// ---------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------

describe("StreamableHttpSession: opening a session", () => {
  it("sends initialize with the latest protocol version and the gateway's clientInfo, then notifications/initialized", async () => {
    const real = await upstream({ mode: "json", stateful: true });
    await open(real.url, { headers: { "x-test": "one" } });

    const posts = real.requests.filter((request) => request.method === "POST");
    expect(posts.map((request) => bodyOf(request).method)).toEqual(["initialize", "notifications/initialized"]);
    expect(posts[0]?.body).toEqual({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: GATEWAY_CLIENT_INFO },
    });
    expect(posts[1]?.body).toEqual({ jsonrpc: "2.0", method: "notifications/initialized" });
    for (const post of posts) {
      expect(post.headers["content-type"]).toBe("application/json");
      expect(post.headers.accept).toBe("application/json, text/event-stream");
      // The caller's outbound headers go on every request.
      expect(post.headers["x-test"]).toBe("one");
    }
    // No standalone GET stream, no DELETE: one POST per message.
    expect(real.requests.every((request) => request.method === "POST")).toBe(true);
    expect(real.sessionCount()).toBe(1);
  });

  it("reuses the server's mcp-session-id on every later request (and sends none on initialize)", async () => {
    const real = await upstream({ mode: "json", stateful: true });
    const session = await open(real.url);
    await session.listTools({}, CALL);
    expect(firstText(await session.callTool({ name: "add", arguments: { a: 2, b: 3 } }, CALL))).toBe("5");

    const [initialize, ...later] = real.requests;
    expect(initialize?.headers["mcp-session-id"]).toBeUndefined();
    expect(later.map((request) => bodyOf(request).method)).toEqual(["notifications/initialized", "tools/list", "tools/call"]);
    const sessionId = later[0]?.headers["mcp-session-id"];
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(later.map((request) => request.headers["mcp-session-id"])).toEqual([sessionId, sessionId, sessionId]);
    expect(real.sessionCount()).toBe(1);
  });

  it("sends the exact session id the scripted server issued", async () => {
    const fake = await scripted((exchange) => sendJson(exchange.res, resultFor(exchange, { tools: [] })), { sessionId: "session-abc-123" });
    const session = await open(fake.url);
    await session.listTools({}, CALL);
    expect(fake.exchanges.map((exchange) => exchange.headers["mcp-session-id"])).toEqual([undefined, "session-abc-123", "session-abc-123"]);
  });

  it("sends mcp-protocol-version only after initialize, with the version the server chose", async () => {
    const fake = await scripted((exchange) => sendJson(exchange.res, resultFor(exchange, { content: [] })), { protocolVersion: "2025-03-26" });
    const session = await open(fake.url);
    await session.callTool({ name: "anything" }, CALL);

    expect(fake.exchanges.map((exchange) => exchange.message.method)).toEqual(["initialize", "notifications/initialized", "tools/call"]);
    expect(fake.exchanges[0]?.headers["mcp-protocol-version"]).toBeUndefined();
    expect(fake.exchanges.slice(1).map((exchange) => exchange.headers["mcp-protocol-version"])).toEqual(["2025-03-26", "2025-03-26"]);
  });

  it("sends the latest version header to a real SDK server that accepted it", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    await session.callTool({ name: "echo", arguments: { message: "v" } }, CALL);
    expect(real.requests[0]?.headers["mcp-protocol-version"]).toBeUndefined();
    expect(real.requests.slice(1).map((request) => request.headers["mcp-protocol-version"])).toEqual([LATEST_PROTOCOL_VERSION, LATEST_PROTOCOL_VERSION]);
  });

  it("fails to open when the server answers a protocol version the SDK does not support, and sends no notifications/initialized", async () => {
    const fake = await scripted(() => undefined, { protocolVersion: "1999-01-01" });
    const error = await rejectionOf(open(fake.url));
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain("protocol version is not supported: 1999-01-01");
    expect(fake.exchanges.map((exchange) => exchange.message.method)).toEqual(["initialize"]);
  });

  it("fails to open when the initialize result names no protocol version", async () => {
    const fake = await scripted(() => undefined, { initializeResult: { capabilities: {}, serverInfo: { name: "x", version: "1" } } });
    const error = await rejectionOf(open(fake.url));
    expect((error as Error).message).toContain("protocol version is not supported: undefined");
    expect(fake.exchanges).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------
// Answers: JSON and SSE
// ---------------------------------------------------------------------------------------

describe("StreamableHttpSession: reading answers", () => {
  it("reads a JSON answer from a real SDK server (stateless, JSON responses)", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    const { tools } = await session.listTools({}, CALL);
    expect(tools.map((tool) => tool.name).sort()).toEqual(["add", "echo", "progress", "secret_admin", "slow", "whoami"]);
    expect(firstText(await session.callTool({ name: "add", arguments: { a: 20, b: 22 } }, CALL))).toBe("42");
    const call = real.requests.find(isCallOf("add"));
    // Without onprogress, no progress token is asked for.
    expect(bodyOf(call!)).toEqual({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "add", arguments: { a: 20, b: 22 } } });
  });

  it("reads an SSE answer from a real SDK server (stateful, SSE responses)", async () => {
    const real = await upstream({ mode: "sse", stateful: true });
    const session = await open(real.url);
    expect(firstText(await session.callTool({ name: "echo", arguments: { message: "over sse" } }, CALL))).toBe("over sse");
  });

  it("finds its response inside a JSON batch answer", async () => {
    const fake = await scripted((exchange) =>
      sendJson(exchange.res, [
        { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "noise" } },
        { jsonrpc: "2.0", id: 999, result: { content: [{ type: "text", text: "not mine" }] } },
        resultFor(exchange, { content: [{ type: "text", text: "mine" }] }),
      ]),
    );
    const session = await open(fake.url);
    expect(firstText(await session.callTool({ name: "x" }, CALL))).toBe("mine");
  });

  it("an answer that is not JSON is an UpstreamProtocolError (not the client's -32700)", async () => {
    const fake = await scripted((exchange) => sendJson(exchange.res, "{this is not json"));
    const session = await open(fake.url);
    const error = await rejectionOf(session.callTool({ name: "x" }, CALL));
    expect(error).toBeInstanceOf(UpstreamProtocolError);
  });

  it("a JSON answer without a response to the request is an UpstreamProtocolError", async () => {
    const fake = await scripted((exchange) => sendJson(exchange.res, { jsonrpc: "2.0", id: 4242, result: {} }));
    const session = await open(fake.url);
    const error = await rejectionOf(session.callTool({ name: "x" }, CALL));
    expect(error).toBeInstanceOf(UpstreamProtocolError);
    expect((error as Error).message).toContain("holds no response to request 2");
  });

  it("resolves as soon as the SSE answer arrives, without waiting for the stream to end", async () => {
    const fake = await scripted((exchange) => {
      openSse(exchange.res);
      sendEvent(exchange.res, resultFor(exchange, { content: [{ type: "text", text: "early" }] }));
      // The stream stays open: a server that is slow to close it.
    });
    const session = await open(fake.url);
    expect(firstText(await session.callTool({ name: "x" }, { timeout: 30_000 }))).toBe("early");
    expect(fake.exchanges.find(isMethod("tools/call"))?.res.writableEnded).toBe(false);
  });

  it("an SSE stream that ends without the answer is an UpstreamProtocolError, after relaying what it carried", async () => {
    const fake = await scripted((exchange) => {
      openSse(exchange.res);
      sendEvent(exchange.res, { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: exchange.message.id, progress: 1 } });
      exchange.res.end();
    });
    const session = await open(fake.url);
    const progress: number[] = [];
    const error = await rejectionOf(session.callTool({ name: "x" }, { ...CALL, onprogress: (update) => progress.push(update.progress) }));
    expect(error).toBeInstanceOf(UpstreamProtocolError);
    expect((error as Error).message).toContain("holds no response to request 2");
    expect(progress).toEqual([1]);
  });

  it("an SSE stream cut off mid-answer rejects, and the session stays usable", async () => {
    let calls = 0;
    const fake = await scripted((exchange) => {
      calls++;
      if (calls === 1) {
        openSse(exchange.res);
        // Half an event, then the connection drops.
        exchange.res.write(`event: message\ndata: {"jsonrpc":"2.0","id":${String(exchange.message.id)},"res`);
        exchange.res.socket?.destroy();
        return;
      }
      sendJson(exchange.res, resultFor(exchange, { content: [{ type: "text", text: "second try" }] }));
    });
    const session = await open(fake.url);
    const error = await rejectionOf(session.callTool({ name: "x" }, CALL));
    expect(error).toBeInstanceOf(Error);
    expect(firstText(await session.callTool({ name: "x" }, CALL))).toBe("second try");
  });
});

// ---------------------------------------------------------------------------------------
// Progress and timeouts
// ---------------------------------------------------------------------------------------

describe("StreamableHttpSession: progress and timeouts", () => {
  it("relays a real SDK server's progress notifications to onprogress, in order, with the request id as progressToken", async () => {
    const real = await upstream({ mode: "sse", stateful: true });
    const session = await open(real.url);
    const updates: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await session.callTool({ name: "progress", arguments: { steps: 3, intervalMs: 0 } }, { ...CALL, onprogress: (update) => updates.push(update) });
    expect(firstText(result)).toBe("done after 3 steps");
    expect(updates).toEqual([
      { progress: 1, total: 3, message: "step 1 of 3" },
      { progress: 2, total: 3, message: "step 2 of 3" },
      { progress: 3, total: 3, message: "step 3 of 3" },
    ]);
    const call = bodyOf(real.requests.find(isCallOf("progress"))!);
    expect(call.params?._meta).toEqual({ progressToken: call.id });
  });

  it("relays only progress for its own token, skipping malformed ones, before the answer", async () => {
    const fake = await scripted((exchange) => {
      const token = exchange.message.params?._meta?.progressToken;
      openSse(exchange.res);
      // A priming event with no data, as SDK servers with event stores send.
      exchange.res.write("id: prime\ndata: \n\n");
      sendEvent(exchange.res, { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: 1 } });
      sendEvent(exchange.res, { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "someone-else", progress: 50 } });
      sendEvent(exchange.res, { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: "two" } });
      sendEvent(exchange.res, { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: 2, total: 2, message: "half" } });
      sendEvent(exchange.res, resultFor(exchange, { content: [{ type: "text", text: "streamed" }] }));
      exchange.res.end();
    });
    const session = await open(fake.url);
    const updates: unknown[] = [];
    const result = await session.callTool({ name: "x" }, { ...CALL, onprogress: (update) => updates.push(update) });
    expect(firstText(result)).toBe("streamed");
    expect(updates).toEqual([{ progress: 1 }, { progress: 2, total: 2, message: "half" }]);
    expect(fake.exchanges.at(-1)?.message.params?._meta).toEqual({ progressToken: 2 });
  });

  it("routes progress of concurrent calls on one session to each call's own onprogress", async () => {
    const real = await upstream({ mode: "sse", stateful: true });
    const session = await open(real.url);
    const short: Array<[number, number | undefined]> = [];
    const long: Array<[number, number | undefined]> = [];
    const [first, second] = await Promise.all([
      session.callTool({ name: "progress", arguments: { steps: 2, intervalMs: 5 } }, { ...CALL, onprogress: (update) => short.push([update.progress, update.total]) }),
      session.callTool({ name: "progress", arguments: { steps: 4, intervalMs: 5 } }, { ...CALL, onprogress: (update) => long.push([update.progress, update.total]) }),
    ]);
    expect(firstText(first)).toBe("done after 2 steps");
    expect(firstText(second)).toBe("done after 4 steps");
    expect(short).toEqual([[1, 2], [2, 2]]);
    expect(long).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]);
    const tokens = real.requests.filter(isCallOf("progress")).map((request) => bodyOf(request).params?._meta?.progressToken);
    expect(new Set(tokens).size).toBe(2);
  });

  it("resetTimeoutOnProgress keeps a call that reports progress alive past its timeout", async () => {
    const real = await upstream({ mode: "sse", stateful: true });
    const session = await open(real.url);
    const updates: number[] = [];
    const startedAt = performance.now();
    // Six steps 100 ms apart: the answer comes after at least 600 ms, twice the timeout.
    const result = await session.callTool(
      { name: "progress", arguments: { steps: 6, intervalMs: 100 } },
      { timeout: 300, resetTimeoutOnProgress: true, onprogress: (update) => updates.push(update.progress) },
    );
    expect(firstText(result)).toBe("done after 6 steps");
    expect(updates).toEqual([1, 2, 3, 4, 5, 6]);
    expect(performance.now() - startedAt).toBeGreaterThan(300);
  });

  it("without resetTimeoutOnProgress the same call times out (McpError RequestTimeout), progress notwithstanding", async () => {
    const real = await upstream({ mode: "sse", stateful: true });
    const session = await open(real.url);
    const updates: number[] = [];
    const error = await rejectionOf(
      session.callTool({ name: "progress", arguments: { steps: 6, intervalMs: 100 } }, { timeout: 300, onprogress: (update) => updates.push(update.progress) }),
    );
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.length).toBeLessThan(6);
    // The gateway hung up: the upstream saw the stream aborted and its tool cancelled.
    await real.waitUntil(() => real.requests.some((request) => isCallOf("progress")(request) && request.aborted));
  });

  it("a server that never answers is McpError RequestTimeout after `timeout` ms; the upstream sees the request aborted", async () => {
    let calls = 0;
    const fake = await scripted((exchange) => {
      calls++;
      if (calls > 1) sendJson(exchange.res, resultFor(exchange, { content: [{ type: "text", text: "answered" }] }));
      // The first call: no headers, no answer, ever.
    });
    const session = await open(fake.url);
    const startedAt = performance.now();
    const error = await rejectionOf(session.callTool({ name: "x" }, { timeout: 200 }));
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(150);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    expect((error as McpError).data).toEqual({ timeout: 200 });
    await fake.exchanges.find(isMethod("tools/call"))!.aborted;
    // The timeout does not poison the session.
    expect(firstText(await session.callTool({ name: "x" }, { timeout: 200 }))).toBe("answered");
  });

  it("an SSE stream that opens and then stays silent is McpError RequestTimeout", async () => {
    const fake = await scripted((exchange) => openSse(exchange.res));
    const session = await open(fake.url);
    const error = await rejectionOf(session.callTool({ name: "x" }, { timeout: 200 }));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    await fake.exchanges.find(isMethod("tools/call"))!.aborted;
  });

  it("a real SDK tool slower than the timeout is McpError RequestTimeout and is cancelled upstream", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    const error = await rejectionOf(session.callTool({ name: "slow", arguments: { ms: 30_000 } }, { timeout: 200 }));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.RequestTimeout);
    await real.waitUntil(() => real.cancelledToolCalls === 1);
  });
});

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

describe("StreamableHttpSession: JSON-RPC and HTTP errors", () => {
  it("a JSON-RPC error answer is McpError with the upstream's code, message and data", async () => {
    const fake = await scripted((exchange) =>
      sendJson(exchange.res, { jsonrpc: "2.0", id: exchange.message.id, error: { code: -32050, message: "the tool is on fire", data: { hint: "water" } } }),
    );
    const session = await open(fake.url);
    const error = await rejectionOf(session.callTool({ name: "x" }, CALL));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32050);
    expect((error as McpError).message).toBe("MCP error -32050: the tool is on fire");
    expect((error as McpError).data).toEqual({ hint: "water" });
  });

  it.each(["json", "sse"] as const)("a real SDK server's Method not found (%s answer) is McpError -32601", async (mode) => {
    const real = await upstream({ mode, stateful: true });
    const session = await open(real.url);
    const error = await rejectionOf(session.request("prompts/list", {}, CALL));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.MethodNotFound);
    expect((error as McpError).message).toContain("Method not found");
    // A JSON-RPC error is an answer, not a broken session.
    expect(firstText(await session.callTool({ name: "echo", arguments: { message: "still fine" } }, CALL))).toBe("still fine");
  });

  it("404 with a session id is UpstreamHttpError 404, and the session is closed: the next request fails with ConnectionClosed without being sent", async () => {
    const real = await upstream({ mode: "json", stateful: true });
    const session = await open(real.url);
    expect(firstText(await session.callTool({ name: "echo", arguments: { message: "before" } }, CALL))).toBe("before");

    await real.dropSessions();
    const lost = await rejectionOf(session.callTool({ name: "echo", arguments: { message: "lost" } }, CALL));
    expect(lost).toBeInstanceOf(UpstreamHttpError);
    expect((lost as UpstreamHttpError).code).toBe(404);
    expect((lost as Error).message).toContain("Session not found");

    const seen = real.requests.length;
    const closed = await rejectionOf(session.listTools({}, CALL));
    expect(closed).toBeInstanceOf(McpError);
    expect((closed as McpError).code).toBe(ErrorCode.ConnectionClosed);
    expect(real.requests).toHaveLength(seen);
  });

  it("404 without a session id is UpstreamHttpError 404, but the session stays open", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    real.failNext({ status: 404, body: "no such endpoint" });
    const error = await rejectionOf(session.callTool({ name: "echo", arguments: { message: "x" } }, CALL));
    expect(error).toBeInstanceOf(UpstreamHttpError);
    expect((error as UpstreamHttpError).code).toBe(404);
    expect((error as Error).message).toContain("no such endpoint");
    expect(firstText(await session.callTool({ name: "echo", arguments: { message: "again" } }, CALL))).toBe("again");
  });

  it("a 401 on initialize calls onUnauthorized with the WWW-Authenticate challenge and fails to open with UpstreamHttpError 401", async () => {
    const real = await upstream({ mode: "json", stateful: true });
    const challenge = 'Bearer realm="upstream", error="invalid_token", resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource"';
    real.failNext({ status: 401, headers: { "www-authenticate": challenge }, body: { error: "invalid_token" } });
    const challenges: Array<string | undefined> = [];
    const error = await rejectionOf(open(real.url, { onUnauthorized: (value) => challenges.push(value) }));
    expect(error).toBeInstanceOf(UpstreamHttpError);
    expect((error as UpstreamHttpError).code).toBe(401);
    expect(challenges).toEqual([challenge]);
    expect(real.sessionCount()).toBe(0);
  });

  it("a 401 on a call tells onUnauthorized (undefined without a challenge); the session is not closed", async () => {
    const real = await upstream({ mode: "json", stateful: true });
    const challenges: Array<string | undefined> = [];
    const session = await open(real.url, { onUnauthorized: (value) => challenges.push(value) });
    real.failNext({ status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } });
    real.failNext({ status: 401 });
    for (const expected of ['Bearer error="invalid_token"', undefined]) {
      const error = await rejectionOf(session.callTool({ name: "echo", arguments: { message: "x" } }, CALL));
      expect(error).toBeInstanceOf(UpstreamHttpError);
      expect((error as UpstreamHttpError).code).toBe(401);
      expect(challenges.at(-1)).toBe(expected);
    }
    expect(challenges).toHaveLength(2);
    expect(firstText(await session.callTool({ name: "echo", arguments: { message: "ok" } }, CALL))).toBe("ok");
  });

  it("another HTTP error is UpstreamHttpError with its status and the start of its body", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    real.failNext({ status: 503, body: "maintenance ".repeat(100) });
    const error = await rejectionOf(session.callTool({ name: "echo", arguments: { message: "x" } }, CALL));
    expect(error).toBeInstanceOf(UpstreamHttpError);
    expect((error as UpstreamHttpError).code).toBe(503);
    expect((error as Error).message).toContain("HTTP 503: maintenance");
    // The body is cut to 500 characters.
    expect((error as Error).message.length).toBeLessThan(600);
  });

  it("a request on a closed session fails with ConnectionClosed without reaching the server", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    await session.close();
    const seen = real.requests.length;
    const error = await rejectionOf(session.callTool({ name: "echo", arguments: { message: "x" } }, CALL));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.ConnectionClosed);
    expect(real.requests).toHaveLength(seen);
  });
});

// ---------------------------------------------------------------------------------------
// tools/list validation
// ---------------------------------------------------------------------------------------

describe("StreamableHttpSession: tools/list results", () => {
  it.each([
    ["no tools array", {}],
    ["tools that is not an array", { tools: { name: "x" } }],
    ["a tool without a name", { tools: [{ name: "ok", inputSchema: { type: "object" } }, { description: "nameless" }] }],
    ["a null tool", { tools: [null] }],
  ])("a result with %s is an UpstreamProtocolError", async (_label, result) => {
    const fake = await scripted((exchange) => sendJson(exchange.res, resultFor(exchange, result)));
    const session = await open(fake.url);
    const error = await rejectionOf(session.listTools({}, CALL));
    expect(error).toBeInstanceOf(UpstreamProtocolError);
    expect((error as Error).message).toContain("no list of named tools");
  });

  it("a result that is not an object is an UpstreamProtocolError", async () => {
    const fake = await scripted((exchange) => sendJson(exchange.res, resultFor(exchange, "tools")));
    const session = await open(fake.url);
    const error = await rejectionOf(session.listTools({}, CALL));
    expect(error).toBeInstanceOf(UpstreamProtocolError);
    expect((error as Error).message).toContain("no result object");
  });

  it("passes the cursor and returns nextCursor", async () => {
    const fake = await scripted((exchange) =>
      sendJson(exchange.res, resultFor(exchange, { tools: [{ name: "page2", inputSchema: { type: "object" } }], nextCursor: "c3" })),
    );
    const session = await open(fake.url);
    const page = await session.listTools({ cursor: "c2" }, CALL);
    expect(page).toEqual({ tools: [{ name: "page2", inputSchema: { type: "object" } }], nextCursor: "c3" });
    expect(fake.exchanges.at(-1)?.message.params).toEqual({ cursor: "c2" });
  });
});

// ---------------------------------------------------------------------------------------
// Server-initiated requests
// ---------------------------------------------------------------------------------------

/** Tools that make the upstream send a request to its client while a call runs. */
function serverRequestTools(server: Parameters<NonNullable<UpstreamOptions["tools"]>>[0]): void {
  server.registerTool("ask_model", { description: "Asks the client for sampling, reports how that went." }, async (extra) => {
    try {
      const sampled = await extra.sendRequest(
        { method: "sampling/createMessage", params: { messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: 5 } },
        CreateMessageResultSchema,
      );
      return { content: [{ type: "text", text: `sampled: ${JSON.stringify(sampled.content)}` }] };
    } catch (error) {
      return { content: [{ type: "text", text: `refused: ${String((error as McpError).code)}` }] };
    }
  });
  server.registerTool("ping_client", { description: "Pings the client, reports how that went." }, async (extra) => {
    try {
      await extra.sendRequest({ method: "ping" }, EmptyResultSchema);
      return { content: [{ type: "text", text: "pong" }] };
    } catch (error) {
      return { content: [{ type: "text", text: `ping failed: ${String((error as McpError).code)}` }] };
    }
  });
}

describe("StreamableHttpSession: requests from the server", () => {
  it("refuses a real SDK server's sampling request with -32601 by a POST back, and the call still completes", async () => {
    const real = await upstream({ mode: "sse", stateful: true, tools: serverRequestTools });
    const session = await open(real.url);
    const result = await session.callTool({ name: "ask_model" }, CALL);
    // The tool only answers once its sampling request was answered: the refusal reached it.
    expect(firstText(result)).toBe(`refused: ${ErrorCode.MethodNotFound}`);

    const call = real.requests.find(isCallOf("ask_model"))!;
    const refusal = real.requests.find((request) => bodyOf(request).error !== undefined);
    expect(refusal?.method).toBe("POST");
    expect(refusal?.body).toEqual({ jsonrpc: "2.0", id: expect.anything() as unknown, error: { code: -32601, message: "Method not found" } });
    expect(refusal?.headers["mcp-session-id"]).toBe(call.headers["mcp-session-id"]);
    expect(refusal?.headers["mcp-protocol-version"]).toBe(LATEST_PROTOCOL_VERSION);
  });

  it("refuses a scripted sampling request whose id equals the call's own id, and reads the real answer after it", async () => {
    const fake = await scripted((exchange) => {
      if (exchange.message.method !== "tools/call") return;
      openSse(exchange.res);
      // Server request ids are the server's own: this one collides with the client's request id.
      sendEvent(exchange.res, { jsonrpc: "2.0", id: exchange.message.id, method: "sampling/createMessage", params: { messages: [], maxTokens: 1 } });
      void fake.when((other) => other.message.error !== undefined).then(() => {
        sendEvent(exchange.res, resultFor(exchange, { content: [{ type: "text", text: "after the refusal" }] }));
        exchange.res.end();
      });
    }, { sessionId: "s-1" });
    const session = await open(fake.url);
    expect(firstText(await session.callTool({ name: "x" }, CALL))).toBe("after the refusal");
    const refusal = fake.exchanges.find((exchange) => exchange.message.error !== undefined)!;
    expect(refusal.message).toEqual({ jsonrpc: "2.0", id: 2, error: { code: -32601, message: "Method not found" } });
    expect(refusal.headers["mcp-session-id"]).toBe("s-1");
  });

  it("answers a server's ping with an empty result (MCP ping: the receiver MUST respond with an empty response)", async () => {
    const real = await upstream({ mode: "sse", stateful: true, tools: serverRequestTools });
    const session = await open(real.url);
    // The SDK Client this session replaced answers ping with {}; the session refuses it with -32601.
    expect(firstText(await session.callTool({ name: "ping_client" }, CALL))).toBe("pong");
  });
});

// ---------------------------------------------------------------------------------------
// The caller going away
// ---------------------------------------------------------------------------------------

describe("StreamableHttpSession: the client's AbortSignal", () => {
  it.each(["json", "sse"] as const)("aborting rejects with the signal's reason, and the upstream (%s) sees the request aborted and cancels the tool", async (mode) => {
    const real = await upstream({ mode });
    const session = await open(real.url);
    const controller = new AbortController();
    const call = rejectionOf(session.callTool({ name: "slow", arguments: { ms: 30_000 } }, { timeout: 30_000, cancel: Cancellation.following(controller.signal) }));
    await real.waitUntil(() => real.requests.some(isCallOf("slow")));
    const reason = new Error("the client left");
    controller.abort(reason);
    expect(await call).toBe(reason);
    await real.waitUntil(() => real.requests.find(isCallOf("slow"))?.aborted === true);
    await real.waitUntil(() => real.cancelledToolCalls === 1);
  });

  // Disconnecting is not cancelling (MCP transports spec): a stateful server keeps running a
  // call whose POST was closed, until the client sends notifications/cancelled, as the SDK
  // Client this session replaced does on abort and on timeout. Fails by the test's timeout.
  it.each([
    ["the timeout", { timeout: 200 }, undefined],
    ["an abort", { timeout: 30_000 }, new AbortController()],
  ] as const)(
    "a call ended by %s sends notifications/cancelled, so a stateful upstream stops the tool",
    async (_label, options, controller) => {
      const real = await upstream({ mode: "sse", stateful: true });
      const session = await open(real.url);
      const call = rejectionOf(session.callTool({ name: "slow", arguments: { ms: 60_000 } }, { ...options, ...(controller === undefined ? {} : { cancel: Cancellation.following(controller.signal) }) }));
      await real.waitUntil(() => real.requests.some(isCallOf("slow")));
      controller?.abort();
      await call;
      const callId = bodyOf(real.requests.find(isCallOf("slow"))!).id;
      await real.waitUntil(() => real.cancelledToolCalls === 1);
      const cancel = real.requests.find((request) => bodyOf(request).method === "notifications/cancelled");
      expect(cancel?.body).toMatchObject({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: callId } });
    },
    3_000,
  );

  it("a default abort rejects with an AbortError", async () => {
    const fake = await scripted(() => undefined);
    const session = await open(fake.url);
    const controller = new AbortController();
    const call = rejectionOf(session.callTool({ name: "x" }, { timeout: 30_000, cancel: Cancellation.following(controller.signal) }));
    const exchange = await fake.when(isMethod("tools/call"));
    controller.abort();
    expect((await call) as Error).toMatchObject({ name: "AbortError" });
    await exchange.aborted;
  });

  it("a signal aborted before the call rejects at once, and nothing reaches the upstream", async () => {
    const real = await upstream({ mode: "json" });
    const session = await open(real.url);
    const seen = real.requests.length;
    const reason = new Error("already gone");
    const error = await rejectionOf(session.callTool({ name: "echo", arguments: { message: "x" } }, { timeout: 30_000, cancel: Cancellation.following(AbortSignal.abort(reason)) }));
    expect(error).toBe(reason);
    expect(real.requests.filter(isCallOf("echo"))).toHaveLength(0);
    expect(real.requests.length).toBe(seen);
  });
});

// ---------------------------------------------------------------------------------------
// End to end: the gateway reconnects after an upstream restart
// ---------------------------------------------------------------------------------------

describe("through the gateway: an upstream restart", () => {
  let restarting: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    restarting = await startUpstream({ name: "restarting", mode: "json", stateful: true });
    gateway = await startTestGateway({ servers: { restarting: { url: restarting.url } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await restarting?.close();
  });

  const restCall = (message: string) =>
    gateway.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: "restarting", name: "echo", arguments: { message } }),
    });

  it("a REST tools/call after the upstream lost its sessions gets 404 once, reconnects, and succeeds", async () => {
    const before = await restCall("before");
    expect(before.status).toBe(200);
    expect(await before.json()).toEqual({ content: [{ type: "text", text: "before" }] });
    const staleSession = restarting.requests.findLast(isCallOf("echo"))?.headers["mcp-session-id"];
    expect(staleSession).toBeDefined();

    // The restart: every connection reset, every session forgotten.
    restarting.setDown(true);
    restarting.setDown(false);
    await restarting.dropSessions();
    const mark = restarting.requests.length;

    const after = await restCall("after");
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ content: [{ type: "text", text: "after" }] });

    const since = restarting.requests.slice(mark);
    expect(since.map((request) => bodyOf(request).method)).toEqual(["tools/call", "initialize", "notifications/initialized", "tools/call"]);
    expect(since[0]?.headers["mcp-session-id"]).toBe(staleSession);
    expect(since[1]?.headers["mcp-session-id"]).toBeUndefined();
    const fresh = since[3]?.headers["mcp-session-id"];
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(staleSession);
    expect(restarting.sessionCount()).toBe(1);
    const warned = gateway.logs.filter((line) => line.level === 40 && line.server === "restarting");
    expect(warned.some((line) => String(line.msg).includes("reconnected") && line.retry === true)).toBe(true);
  });
});
