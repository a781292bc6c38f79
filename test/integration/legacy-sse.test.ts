/**
 * A legacy HTTP+SSE upstream (`transport: sse`, MCP 2024-11-05) behind the same
 * streamable-HTTP route as every other server, used by the official SDK's
 * streamable-HTTP client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

let legacy: Upstream;
let slowStart: Upstream;
let restarting: Upstream;
let goneUrl: string;
let gateway: TestGateway;

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

function isSseGet(request: RecordedRequest): boolean {
  return request.method === "GET" && request.path === "/sse";
}

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string {
  const content = result.content as Array<{ type: string; text?: string }>;
  return content[0]?.text ?? "";
}

function transportOf(client: Client): StreamableHTTPClientTransport {
  return client.transport as StreamableHTTPClientTransport;
}

/** A message out of a JSON body or a single-event SSE body. */
function messageOf(body: string): Record<string, unknown> {
  const data = body.split("\n").find((line) => line.startsWith("data:"));
  return JSON.parse(data === undefined ? body : data.slice(5)) as Record<string, unknown>;
}

const INITIALIZE = rpc("initialize", { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } });

beforeAll(async () => {
  legacy = await startUpstream({ name: "legacy", legacySse: true });
  slowStart = await startUpstream({ name: "slow-start", legacySse: true });
  restarting = await startUpstream({ name: "restarting", legacySse: true });
  const gone = await startUpstream({ name: "gone", legacySse: true });
  goneUrl = gone.url;
  await gone.close();
  gateway = await startTestGateway({
    servers: {
      legacy: { url: legacy.url, transport: "sse", disallowed_tools: ["secret_admin"] },
      "legacy-auth": { url: legacy.url, transport: "sse", auth_type: "bearer_token", auth_value: "legacy-token", static_headers: { "X-Legacy-Tenant": "acme" } },
      "legacy-slow": { url: slowStart.url, transport: "sse", timeout: 0.3 },
      "legacy-gone": { url: goneUrl, transport: "sse" },
      "legacy-restart": { url: restarting.url, transport: "sse" },
    },
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([legacy?.close(), slowStart?.close(), restarting?.close()]);
});

describe("a legacy SSE upstream through the streamable-HTTP route", () => {
  it.each(["/legacy/mcp", "/mcp/legacy"])("%s: the SDK client initializes, lists filtered tools and calls echo", async (path) => {
    const sseGets = legacy.requests.filter(isSseGet).length;
    const client = await gateway.connect(path);
    expect(client.getServerVersion()?.name).toBe("legacy");
    // The bridge gives the client a session of its own and holds one SSE stream upstream for it.
    expect(transportOf(client).sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(legacy.requests.filter(isSseGet).length).toBe(sseGets + 1);

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["add", "echo", "progress", "slow", "whoami"]);
    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "over legacy sse" } }))).toBe("over legacy sse");
    expect(legacy.requests.filter(isCallOf("echo")).at(-1)?.path).toMatch(/^\/messages\?sessionId=/);
    await client.close();
  });

  it("relays progress notifications to the SDK client", async () => {
    const client = await gateway.connect("/legacy/mcp");
    const progress: Progress[] = [];
    const result = await client.callTool({ name: "progress", arguments: { steps: 3 } }, undefined, { onprogress: (update) => progress.push(update) });
    expect(firstText(result)).toBe("done after 3 steps");
    expect(progress.map((update) => update.progress)).toEqual([1, 2, 3]);
    expect(progress[2]).toMatchObject({ total: 3, message: "step 3 of 3" });
    await client.close();
  });

  it("a disallowed tool call is refused and never reaches the upstream", async () => {
    const client = await gateway.connect("/legacy/mcp");
    const calls = legacy.requests.filter(isCallOf("secret_admin")).length;
    await expect(client.callTool({ name: "secret_admin", arguments: {} })).rejects.toThrow();
    expect(legacy.requests.filter(isCallOf("secret_admin")).length).toBe(calls);
    expect(firstText(await client.callTool({ name: "add", arguments: { a: 1, b: 2 } }))).toBe("3");
    await client.close();
  });

  it("DELETE closes the bridge and its upstream SSE stream; the session id is then unknown", async () => {
    const client = await gateway.connect("/legacy/mcp");
    const sessionId = transportOf(client).sessionId;
    const stream = legacy.requests.filter(isSseGet).at(-1);
    expect(stream?.aborted).toBe(false);
    const sessions = legacy.sessionCount();

    await transportOf(client).terminateSession();
    // The fixture re-checks waiters when a request ends, and forgets the session right after.
    await legacy.waitUntil(() => stream?.aborted === true);
    expect(legacy.sessionCount()).toBe(sessions - 1);

    const stale = await gateway.fetch("/legacy/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, "mcp-session-id": sessionId ?? "", "mcp-protocol-version": LATEST_PROTOCOL_VERSION },
      body: rpc("tools/list", {}, 4),
    });
    expect(stale.status).toBe(404);
    await client.close();
  });

  it("an unknown session id is 404 and opens nothing upstream", async () => {
    const before = legacy.requests.length;
    for (const method of ["POST", "GET", "DELETE"]) {
      const response = await gateway.fetch("/legacy/mcp", {
        method,
        headers: { ...MCP_ACCEPT, "mcp-session-id": "00000000-0000-4000-8000-000000000000" },
        ...(method === "POST" ? { body: rpc("tools/list", {}, 8) } : {}),
      });
      expect(response.status, method).toBe(404);
      const body = (await response.json()) as { jsonrpc: string; error: { code: number } };
      expect(body.jsonrpc).toBe("2.0");
    }
    expect(legacy.requests.length).toBe(before);
  });

  it("a raw initialize gets a session id, and the session then answers tools/list", async () => {
    const init = await gateway.fetch("/legacy/mcp", { method: "POST", headers: MCP_ACCEPT, body: INITIALIZE });
    expect(init.status).toBe(200);
    const sessionId = init.headers.get("mcp-session-id");
    expect(sessionId).toBeTruthy();
    expect(messageOf(await init.text())).toMatchObject({ id: 1, result: { serverInfo: { name: "legacy" } } });
    const session = { ...MCP_ACCEPT, "mcp-session-id": sessionId ?? "", "mcp-protocol-version": LATEST_PROTOCOL_VERSION };
    const initialized = await gateway.fetch("/legacy/mcp", { method: "POST", headers: session, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
    expect(initialized.status).toBe(202);
    const list = await gateway.fetch("/legacy/mcp", { method: "POST", headers: session, body: rpc("tools/list", {}, 2) });
    expect(list.status).toBe(200);
    const tools = (messageOf(await list.text()) as { result: { tools: Array<{ name: string }> } }).result.tools;
    expect(tools.map((tool) => tool.name)).not.toContain("secret_admin");
    const deleted = await gateway.fetch("/legacy/mcp", { method: "DELETE", headers: session });
    expect(deleted.status).toBe(200);
  });
});

describe("legacy SSE upstream credentials", () => {
  it("the static auth header and static_headers arrive on the SSE GET and on every POST, the gateway key on none", async () => {
    const before = legacy.requests.length;
    const client = await gateway.connect("/legacy-auth/mcp");
    const reported = JSON.parse(firstText(await client.callTool({ name: "whoami", arguments: {} }))) as Record<string, string>;
    // The tool's report of the credential is scrubbed (issue 15 item 11); the upstream's record below has it whole.
    expect(reported["authorization"]).toBe("Bearer ****oken");
    expect(reported["x-legacy-tenant"]).toBe("acme");

    const seen = legacy.requests.slice(before);
    const get = seen.filter(isSseGet);
    const posts = seen.filter((request) => request.method === "POST");
    expect(get).toHaveLength(1);
    expect(posts.length).toBeGreaterThanOrEqual(3); // initialize, notifications/initialized, tools/call
    for (const request of [...get, ...posts]) {
      expect(request.headers["authorization"], `${request.method} ${request.path}`).toBe("Bearer legacy-token");
      expect(request.headers["x-legacy-tenant"]).toBe("acme");
      expect(request.headers["x-litellm-api-key"]).toBeUndefined();
      expect(Object.values(request.headers).join("\n")).not.toContain(MASTER_KEY);
    }
    await client.close();
  });

  it("a legacy server without auth gets no Authorization, even when the client sends one", async () => {
    const before = legacy.requests.length;
    const client = await gateway.connect("/legacy/mcp", { authorization: "Bearer client-own-token" });
    await client.listTools();
    const seen = legacy.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const request of seen) expect(request.headers["authorization"]).toBeUndefined();
    await client.close();
  });
});

describe("legacy SSE upstream faults", () => {
  it("an upstream with nothing listening is 502, naming the server and not its URL", async () => {
    const response = await gateway.fetch("/legacy-gone/mcp", { method: "POST", headers: MCP_ACCEPT, body: INITIALIZE });
    expect(response.status).toBe(502);
    const text = await response.text();
    expect((JSON.parse(text) as { error: { message: string } }).error.message).toContain("'legacy-gone'");
    expect(text).not.toContain(new URL(goneUrl).port);
  });

  it("an upstream whose SSE stream does not open within `timeout` is 504, and the stream is abandoned", async () => {
    slowStart.hangNext(1, "GET");
    const response = await gateway.fetch("/legacy-slow/mcp", { method: "POST", headers: MCP_ACCEPT, body: INITIALIZE });
    expect(response.status).toBe(504);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toContain("'legacy-slow'");
    await slowStart.waitUntil(() => slowStart.hangingRequests() === 0);
  });

  it("an upstream that drops its SSE stream ends the bridge session: 404, then a new session works", async () => {
    const path = "/legacy-restart/mcp";
    const init = await gateway.fetch(path, { method: "POST", headers: MCP_ACCEPT, body: INITIALIZE });
    expect(init.status).toBe(200);
    await init.text();
    const session = { ...MCP_ACCEPT, "mcp-session-id": init.headers.get("mcp-session-id") ?? "", "mcp-protocol-version": LATEST_PROTOCOL_VERSION };
    const stream = await gateway.fetch(path, { method: "GET", headers: { ...session, accept: "text/event-stream" } });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();

    // A legacy session cannot be resumed: when the upstream forgets it (a restart), so must the bridge.
    await restarting.dropSessions();
    // The bridge noticed once it ends the client's GET stream of that session.
    let chunk = await reader.read();
    while (!chunk.done) chunk = await reader.read();

    const stale = await gateway.fetch(path, { method: "POST", headers: session, body: rpc("tools/list", {}, 2) });
    expect(stale.status).toBe(404);
    await stale.body?.cancel();
    const gets = restarting.requests.filter(isSseGet).length;
    const client = await gateway.connect(path);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    expect(restarting.requests.filter(isSseGet).length).toBe(gets + 1);
    await client.close();
  });
});
