/**
 * Smoke test of the upstream MCP fixtures: each variant answers the official SDK client.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { startUpstream } from "../fixtures/upstream-mcp.js";
import type { RecordedRequest, Upstream, UpstreamOptions } from "../fixtures/upstream-mcp.js";

const CUSTOM_HEADERS = { "x-fixture-test": "hello-upstream", authorization: "Bearer upstream-token" };

interface Variant {
  name: string;
  options: UpstreamOptions;
  /** JSON responses cannot carry notifications: the SDK drops progress sent during the call. */
  streamsProgress: boolean;
}

const variants: Variant[] = [
  { name: "json stateless", options: { mode: "json", stateful: false }, streamsProgress: false },
  { name: "json stateful", options: { mode: "json", stateful: true }, streamsProgress: false },
  { name: "sse stateless", options: { mode: "sse", stateful: false }, streamsProgress: true },
  { name: "sse stateful", options: { mode: "sse", stateful: true }, streamsProgress: true },
  { name: "legacy sse", options: { legacySse: true }, streamsProgress: true },
];

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: UpstreamOptions): Promise<Upstream> {
  const upstream = await startUpstream(options);
  cleanups.push(() => upstream.close());
  return upstream;
}

async function connect(upstream: Upstream, legacySse = false): Promise<Client> {
  const url = new URL(upstream.url);
  const requestInit = { headers: CUSTOM_HEADERS };
  const transport = legacySse
    ? new SSEClientTransport(url, { requestInit })
    : new StreamableHTTPClientTransport(url, { requestInit });
  const client = new Client({ name: "fixture-test", version: "1.0.0" });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return client;
}

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string {
  const content = result.content as { type: string; text?: string }[];
  return content[0]?.text ?? "";
}

describe.each(variants)("upstream fixture: $name", ({ options, streamsProgress }) => {
  it("lists the default tools and calls echo, add, whoami and progress", async () => {
    const upstream = await start(options);
    const client = await connect(upstream, options.legacySse === true);

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["add", "echo", "progress", "secret_admin", "slow", "whoami"]);
    for (const tool of tools) expect(tool.description).toBeTruthy();

    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "hi there" } }))).toBe("hi there");
    expect(firstText(await client.callTool({ name: "add", arguments: { a: 2, b: 40 } }))).toBe("42");

    const seen = JSON.parse(firstText(await client.callTool({ name: "whoami", arguments: {} }))) as Record<string, string>;
    expect(seen["x-fixture-test"]).toBe("hello-upstream");
    expect(seen["authorization"]).toBe("Bearer upstream-token");
    expect(upstream.lastHeaders()["x-fixture-test"]).toBe("hello-upstream");

    const progress: Progress[] = [];
    const result = await client.callTool({ name: "progress", arguments: { steps: 3 } }, undefined, {
      onprogress: (update) => progress.push(update),
    });
    expect(firstText(result)).toBe("done after 3 steps");
    expect(progress.map((update) => update.progress)).toEqual(streamsProgress ? [1, 2, 3] : []);
  });
});

describe("upstream fixture faults", () => {
  it("records requests and their JSON bodies", async () => {
    const upstream = await start({});
    const client = await connect(upstream);
    await client.callTool({ name: "echo", arguments: { message: "recorded" } });
    const call = upstream.requests.find(isCallOf("echo"));
    expect(call).toMatchObject({ method: "POST", path: "/mcp", aborted: false });
    expect(call?.headers["x-fixture-test"]).toBe("hello-upstream");
  });

  it("hangNext holds a request until the client disconnects, and counts the abort", async () => {
    const upstream = await start({});
    upstream.hangNext();
    const controller = new AbortController();
    const pending = fetch(upstream.url, { method: "POST", body: "{}", signal: controller.signal });
    await upstream.waitUntil(() => upstream.hangingRequests() === 1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await upstream.whenAborted(1);
    expect(upstream.abortedRequests).toBe(1);
    expect(upstream.requests[0]?.aborted).toBe(true);
    await upstream.waitUntil(() => upstream.hangingRequests() === 0);
  });

  it("slow honours cancellation from the client", async () => {
    const upstream = await start({ mode: "sse", stateful: true });
    const client = await connect(upstream);
    const controller = new AbortController();
    const call = client.callTool({ name: "slow", arguments: { ms: 60_000 } }, undefined, { signal: controller.signal });
    await upstream.waitUntil(() => upstream.requests.some(isCallOf("slow")));
    controller.abort();
    await expect(call).rejects.toThrow();
    await upstream.waitUntil(() => upstream.cancelledToolCalls === 1);
  });

  it("slow stops when a stateless client goes away", async () => {
    // A stateless upstream cannot act on notifications/cancelled (it arrives at a new server
    // instance); only the closed connection stops the call. client.close() aborts the fetch.
    const upstream = await start({ mode: "json" });
    const client = await connect(upstream);
    const call = client.callTool({ name: "slow", arguments: { ms: 60_000 } });
    await upstream.waitUntil(() => upstream.requests.some(isCallOf("slow")));
    await client.close();
    await expect(call).rejects.toThrow();
    await upstream.whenAborted(1);
    await upstream.waitUntil(() => upstream.cancelledToolCalls === 1);
  });

  it("failNext answers a canned response, and dropSessions makes old sessions 404", async () => {
    const upstream = await start({ stateful: true });
    const client = await connect(upstream);
    expect(upstream.sessionCount()).toBe(1);

    upstream.failNext({ status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' }, body: { error: "invalid_token" } });
    const denied = await fetch(upstream.url, { method: "POST", body: "{}" });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');

    const sessionId = upstream.requests.find((r) => r.headers["mcp-session-id"])?.headers["mcp-session-id"];
    await upstream.dropSessions();
    expect(upstream.sessionCount()).toBe(0);
    const stale = await fetch(upstream.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": sessionId ?? "" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(stale.status).toBe(404);
    await client.close();
  });

  it("setDown resets connections", async () => {
    const upstream = await start({});
    upstream.setDown(true);
    await expect(fetch(upstream.url, { method: "POST", body: "{}" })).rejects.toThrow();
    upstream.setDown(false);
    const response = await fetch(upstream.url, { method: "POST", body: "{}" });
    expect(response.status).toBeGreaterThanOrEqual(400);
  });
});
