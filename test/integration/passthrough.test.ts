/**
 * The per-server pass-through (`/{server}/mcp` and `/mcp/{server}`) against real upstream
 * MCP servers built with the official SDK: JSON and SSE response modes, stateless and
 * stateful, reached by the official SDK client and by raw HTTP where the wire matters.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type RecordedRequest, type Upstream, type UpstreamOptions } from "../fixtures/upstream-mcp.js";

/** Tool calls of `gated` wait here until the test releases them. */
const gates: Array<() => void> = [];

/** A tool that reports progress once, then waits for the test: proof that bytes stream before the upstream ends. */
function gatedTool(server: McpServer): void {
  server.registerTool("gated", { description: "Sends one progress notification, then waits for the test to release it." }, async (extra) => {
    const progressToken = extra._meta?.progressToken;
    if (progressToken !== undefined) {
      await extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress: 1, total: 2 } });
    }
    await new Promise<void>((resolve) => gates.push(resolve));
    return { content: [{ type: "text", text: "released" }] };
  });
}

function releaseGates(): void {
  for (const release of gates.splice(0)) release();
}

interface Variant {
  server: string;
  options: UpstreamOptions;
}

const VARIANTS: Variant[] = [
  { server: "json-stateless", options: { mode: "json", stateful: false } },
  { server: "json-stateful", options: { mode: "json", stateful: true } },
  { server: "sse-stateless", options: { mode: "sse", stateful: false } },
  { server: "sse-stateful", options: { mode: "sse", stateful: true } },
];

const ROUTES = [
  { form: "/{server}/mcp", path: (server: string) => `/${server}/mcp` },
  { form: "/mcp/{server}", path: (server: string) => `/mcp/${server}` },
];

const DEFAULT_TOOLS = ["add", "echo", "gated", "progress", "secret_admin", "slow", "whoami"];

/** Client headers that an operator might (wrongly) list in extra_headers: hop-by-hop ones must still stay behind. */
const HOP_BY_HOP_LISTED = ["x-foo", "x-tenant", "keep-alive", "te", "upgrade", "proxy-authorization", "authorization", "x-litellm-api-key", "host", "content-length"];

const upstreams = new Map<string, Upstream>();
let gateway: TestGateway;

function upstreamOf(server: string): Upstream {
  const upstream = upstreams.get(server);
  if (upstream === undefined) throw new Error(`no upstream for ${server}`);
  return upstream;
}

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string {
  const content = result.content as Array<{ type: string; text?: string }>;
  return content[0]?.text ?? "";
}

function sessionIdOf(client: Client): string | undefined {
  return (client.transport as StreamableHTTPClientTransport | undefined)?.sessionId;
}

/** The upstream's session id inside the one the client was given (`<upstream id>.<tag>`: bound to the client's key). */
function upstreamSessionIdOf(clientId: string | null | undefined): string | undefined {
  return /^([0-9a-f-]{36})\.[A-Za-z0-9_-]{22}$/.exec(clientId ?? "")?.[1];
}

const INITIALIZE = rpc("initialize", { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } });

/** A JSON-RPC message out of a JSON or single-event SSE body. */
function messageOf(body: string): Record<string, unknown> {
  const data = body.split("\n").find((line) => line.startsWith("data:"));
  return JSON.parse(data === undefined ? body : data.slice(5)) as Record<string, unknown>;
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http, because fetch refuses to send Connection, Keep-Alive, TE, Upgrade and friends. Rejects when the response body breaks off. */
function rawRequest(path: string, options: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, gateway.url), { method: options.method, headers: options.headers, agent: false, signal: options.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Reads an SSE body until `predicate` holds for what arrived so far. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, seen: { text: string }, predicate: (text: string) => boolean): Promise<void> {
  const decoder = new TextDecoder();
  while (!predicate(seen.text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before the expected data arrived; got: ${seen.text}`);
    seen.text += decoder.decode(value, { stream: true });
  }
}

beforeAll(async () => {
  for (const variant of VARIANTS) upstreams.set(variant.server, await startUpstream({ ...variant.options, name: variant.server, tools: gatedTool }));
  const hop = await startUpstream({ name: "hop", mode: "json" });
  upstreams.set("hop", hop);
  const servers: Record<string, Record<string, unknown>> = {};
  for (const variant of VARIANTS) servers[variant.server] = { url: upstreamOf(variant.server).url };
  servers["hop"] = { url: hop.url, extra_headers: HOP_BY_HOP_LISTED };
  gateway = await startTestGateway({ servers });
});

afterAll(async () => {
  releaseGates();
  await gateway?.close();
  await Promise.all([...upstreams.values()].map((upstream) => upstream.close()));
});

describe.each(VARIANTS)("pass-through to a $options.mode upstream ($server)", ({ server, options }) => {
  it.each(ROUTES)("the SDK client lists and calls tools through $form", async ({ path }) => {
    const upstream = upstreamOf(server);
    const before = upstream.requests.length;
    const client = await gateway.connect(path(server));
    expect(client.getServerVersion()?.name).toBe(server);

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(DEFAULT_TOOLS);
    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "through the gateway" } }))).toBe("through the gateway");
    expect(firstText(await client.callTool({ name: "add", arguments: { a: 19, b: 23 } }))).toBe("42");

    const seen = upstream.requests.slice(before);
    expect(seen.some(isCallOf("echo"))).toBe(true);
    expect(seen.every((request) => request.path === "/mcp")).toBe(true);
    if (options.stateful) {
      // The upstream 404s an unknown session id: the calls above worked only because its own id passed through (bound to the key).
      const sessionId = upstreamSessionIdOf(sessionIdOf(client));
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(seen.filter(isCallOf("add")).map((request) => request.headers["mcp-session-id"])).toEqual([sessionId]);
    } else {
      expect(sessionIdOf(client)).toBeUndefined();
    }
    await client.close();
  });
});

describe("sessions", () => {
  it.each(["json-stateful", "sse-stateful"])("%s: the upstream's Mcp-Session-Id reaches the client, a GET stream opens, DELETE ends the session", async (server) => {
    const upstream = upstreamOf(server);
    const sessionsBefore = upstream.sessionCount();

    const init = await gateway.fetch(`/${server}/mcp`, { method: "POST", headers: MCP_ACCEPT, body: INITIALIZE });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get("mcp-session-id");
    const upstreamId = upstreamSessionIdOf(sessionId);
    expect(upstreamId).toMatch(/^[0-9a-f-]{36}$/);
    expect(messageOf(await init.text())).toMatchObject({ id: 1, result: { serverInfo: { name: server } } });
    expect(upstream.sessionCount()).toBe(sessionsBefore + 1);

    const session = { ...MCP_ACCEPT, "mcp-session-id": sessionId ?? "", "mcp-protocol-version": LATEST_PROTOCOL_VERSION };
    const initialized = await gateway.fetch(`/mcp/${server}`, {
      method: "POST",
      headers: session,
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    });
    expect(initialized.status).toBe(202);
    await initialized.body?.cancel();

    const list = await gateway.fetch(`/${server}/mcp`, { method: "POST", headers: session, body: rpc("tools/list", {}, 2) });
    expect(list.status).toBe(200);
    expect(messageOf(await list.text())).toMatchObject({ id: 2, result: { tools: expect.any(Array) } });
    expect(upstream.requests.at(-1)?.headers["mcp-session-id"]).toBe(upstreamId);

    // The standalone GET stream: opened upstream with the session id, handed to the client as SSE.
    const aborted = upstream.abortedRequests;
    const stream = await gateway.fetch(`/${server}/mcp`, {
      method: "GET",
      headers: { accept: "text/event-stream", "mcp-session-id": sessionId ?? "", "mcp-protocol-version": LATEST_PROTOCOL_VERSION },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const get = upstream.requests.findLast((request) => request.method === "GET");
    expect(get?.headers["mcp-session-id"]).toBe(upstreamId);
    expect(get?.aborted).toBe(false);
    // Closing the stream on the client side closes it upstream too.
    await stream.body?.cancel();
    await upstream.whenAborted(aborted + 1);
    expect(get?.aborted).toBe(true);

    const deleted = await gateway.fetch(`/mcp/${server}`, { method: "DELETE", headers: session });
    expect(deleted.status).toBe(200);
    await deleted.body?.cancel();
    expect(upstream.requests.at(-1)).toMatchObject({ method: "DELETE", headers: { "mcp-session-id": upstreamId } });
    await upstream.waitUntil(() => upstream.sessionCount() === sessionsBefore);

    const stale = await gateway.fetch(`/${server}/mcp`, { method: "POST", headers: session, body: rpc("tools/list", {}, 3) });
    expect(stale.status).toBe(404);
    await stale.body?.cancel();
  });

  it("the SDK client's terminateSession reaches the upstream as DELETE", async () => {
    const upstream = upstreamOf("sse-stateful");
    const client = await gateway.connect("/sse-stateful/mcp");
    const sessionId = upstreamSessionIdOf(sessionIdOf(client));
    expect(sessionId).toBeDefined();
    const sessions = upstream.sessionCount();
    await (client.transport as StreamableHTTPClientTransport).terminateSession();
    expect(upstream.requests.some((request) => request.method === "DELETE" && request.headers["mcp-session-id"] === sessionId)).toBe(true);
    await upstream.waitUntil(() => upstream.sessionCount() === sessions - 1);
    await client.close();
  });
});

describe("streaming", () => {
  it.each(["sse-stateless", "sse-stateful"])("%s: progress notifications reach the SDK client's onprogress", async (server) => {
    const client = await gateway.connect(`/${server}/mcp`);
    const progress: Progress[] = [];
    const result = await client.callTool({ name: "progress", arguments: { steps: 3 } }, undefined, { onprogress: (update) => progress.push(update) });
    expect(firstText(result)).toBe("done after 3 steps");
    expect(progress).toEqual([
      { progress: 1, total: 3, message: "step 1 of 3" },
      { progress: 2, total: 3, message: "step 2 of 3" },
      { progress: 3, total: 3, message: "step 3 of 3" },
    ]);
    await client.close();
  });

  it("SSE bytes reach the client while the upstream tool is still running", async () => {
    const response = await gateway.fetch("/sse-stateless/mcp", {
      method: "POST",
      headers: MCP_ACCEPT,
      body: rpc("tools/call", { name: "gated", arguments: {}, _meta: { progressToken: "chunk-test" } }, 7),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    const seen = { text: "" };
    await readUntil(reader, seen, (text) => text.includes("notifications/progress"));
    // The tool is parked on its gate: the upstream has not answered yet, so the progress event was streamed on its own.
    expect(gates).toHaveLength(1);
    expect(seen.text).toContain('"progressToken":"chunk-test"');
    expect(seen.text).not.toContain('"result"');

    releaseGates();
    await readUntil(reader, seen, (text) => text.includes('"result"'));
    expect(seen.text).toContain("released");
    const end = await reader.read();
    expect(end.done).toBe(true);
  });

  it("the SDK client sees progress before the tool call finishes", async () => {
    const client = await gateway.connect("/mcp/sse-stateful");
    let firstProgress!: (update: Progress) => void;
    const progressed = new Promise<Progress>((resolve) => (firstProgress = resolve));
    let finished = false;
    const call = client.callTool({ name: "gated", arguments: {} }, undefined, { onprogress: (update) => firstProgress(update) }).finally(() => {
      finished = true;
    });
    expect(await progressed).toEqual({ progress: 1, total: 2 });
    expect(finished).toBe(false);
    expect(gates).toHaveLength(1);
    releaseGates();
    expect(firstText(await call)).toBe("released");
    await client.close();
  });
});

describe("headers", () => {
  it("hop-by-hop request headers, headers named in Connection and Host do not reach the upstream, even when listed in extra_headers", async () => {
    const hop = upstreamOf("hop");
    const response = await rawRequest("/hop/mcp", {
      method: "POST",
      headers: {
        ...MCP_ACCEPT,
        "x-litellm-api-key": `Bearer ${MASTER_KEY}`,
        connection: "keep-alive, x-foo",
        "x-foo": "connection-scoped",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic cHJveHk6c2VjcmV0",
        upgrade: "h2c",
        "x-tenant": "acme",
      },
      body: rpc("tools/call", { name: "whoami", arguments: {} }),
    });
    expect(response.status).toBe(200);
    const seen = hop.lastHeaders();
    // Positive control: a listed end-to-end header does arrive.
    expect(seen["x-tenant"]).toBe("acme");
    for (const name of ["x-foo", "keep-alive", "te", "proxy-authorization", "upgrade"]) expect(seen[name], name).toBeUndefined();
    expect(seen["connection"] ?? "").not.toContain("x-foo");
    // Host names the upstream, not the gateway the client called.
    expect(seen["host"]).toBe(new URL(hop.url).host);
  });

  it("cookies are not forwarded upstream, and upstream cookies, hop-by-hop and unlisted response headers do not reach the client", async () => {
    const upstream = upstreamOf("json-stateless");
    upstream.failNext({
      status: 200,
      headers: { "content-type": "application/json", "set-cookie": "upstream=1; Path=/", connection: "x-bar", "x-bar": "connection-scoped", "x-kept": "yes" },
      body: { jsonrpc: "2.0", id: 1, result: { tools: [] } },
    });
    const response = await gateway.fetch("/json-stateless/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, cookie: "gatehouse_session=ui-session-secret" },
      body: rpc("tools/list"),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ jsonrpc: "2.0", id: 1, result: { tools: [] } });
    expect(upstream.lastHeaders()["cookie"]).toBeUndefined();
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(response.headers.get("x-bar")).toBeNull();
    // Response headers are an allowlist (issue 15 item 1): an end-to-end header the gateway does not know stays upstream too.
    expect(response.headers.get("x-kept")).toBeNull();
  });

  it.each<{ form: string; headers: Record<string, string> }>([
    { form: "x-litellm-api-key: Bearer k", headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}` } },
    { form: "x-litellm-api-key: k", headers: { "x-litellm-api-key": MASTER_KEY } },
    { form: "Authorization: Bearer k", headers: { authorization: `Bearer ${MASTER_KEY}` } },
  ])("the gateway key sent as $form is not seen upstream", async ({ headers }) => {
    for (const server of ["json-stateless", "hop"]) {
      const upstream = upstreamOf(server);
      const response = await gateway.fetch(`/${server}/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "whoami", arguments: {} }) });
      expect(response.status).toBe(200);
      const echoed = JSON.parse((messageOf(await response.text()) as { result: { content: Array<{ text: string }> } }).result.content[0]!.text) as Record<string, string>;
      for (const seen of [upstream.lastHeaders(), echoed]) {
        expect(seen["x-litellm-api-key"]).toBeUndefined();
        expect(seen["authorization"]).toBeUndefined();
        expect(Object.values(seen).join("\n")).not.toContain(MASTER_KEY);
      }
    }
  });
});

describe("client disconnect", () => {
  it.each(["json-stateless", "sse-stateless"])("%s: aborting the client's request aborts the upstream request", async (server) => {
    const upstream = upstreamOf(server);
    const aborted = upstream.abortedRequests;
    const cancelled = upstream.cancelledToolCalls;
    const calls = upstream.requests.filter(isCallOf("slow")).length;
    const controller = new AbortController();
    // node:http rather than fetch: fetch's pool reopens an idle socket after an abort, which holds the gateway's shutdown.
    const pending = rawRequest(`/${server}/mcp`, {
      method: "POST",
      headers: { ...MCP_ACCEPT, "x-litellm-api-key": `Bearer ${MASTER_KEY}` },
      body: rpc("tools/call", { name: "slow", arguments: { ms: 60_000 } }),
      signal: controller.signal,
    });
    await upstream.waitUntil(() => upstream.requests.filter(isCallOf("slow")).length === calls + 1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await upstream.whenAborted(aborted + 1);
    expect(upstream.requests.filter(isCallOf("slow")).at(-1)?.aborted).toBe(true);
    await upstream.waitUntil(() => upstream.cancelledToolCalls === cancelled + 1);
  });
});
