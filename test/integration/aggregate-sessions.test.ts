/**
 * Sessions on the aggregate `/mcp`: `initialize` gives the client a sealed Mcp-Session-Id;
 * in the session the gateway declares the client's capabilities upstream and forwards the
 * upstream's sampling, elicitation and roots requests to the client, its answers back; a
 * session continues on another instance sharing the database; DELETE ends it upstream too.
 *
 * The upstream is the official SDK's McpServer (stateful, SSE answers) with tools that ask
 * the client within the call (`extra.sendRequest`, so the request travels on the call's
 * stream); the client is the official SDK Client with handlers for all three.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  CreateMessageRequestSchema,
  CreateMessageResultSchema,
  ElicitRequestSchema,
  ElicitResultSchema,
  ListRootsRequestSchema,
  ListRootsResultSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, postgresAvailable, type TestDatabase } from "../fixtures/databases.js";
import { MASTER_KEY, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startGatewayPair, startLoopbackProxy, type GatewayPair, type LoopbackProxy } from "../fixtures/two-gateways.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

/** What the client answered to requests the upstream sent outside any call (on its GET stream). */
const answeredLater: string[] = [];

/** Tools that ask the client something during the call, and some that act on the session's GET stream. */
function askingTools(server: McpServer): void {
  server.registerTool("change_tools", { description: "Adds a tool to this session (the upstream then says its list changed)." }, () => {
    server.registerTool(`late_${Date.now()}`, { description: "Added later." }, () => ({ content: [{ type: "text", text: "late" }] }));
    return { content: [{ type: "text", text: "changed" }] };
  });
  server.registerTool("ask_later", { description: "Answers now, then asks the client's model outside the call." }, () => {
    setImmediate(() => {
      void server.server
        .createMessage({ messages: [{ role: "user", content: { type: "text", text: "later" } }], maxTokens: 5 })
        .then((answer) => answeredLater.push(answer.content.type === "text" ? answer.content.text : "?"))
        .catch((error: unknown) => answeredLater.push(`failed: ${String(error)}`));
    });
    return { content: [{ type: "text", text: "asked" }] };
  });
  server.registerTool("ask_llm", { description: "Asks the client's model (sampling).", inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
    const answer = await extra.sendRequest({ method: "sampling/createMessage", params: { messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens: 20 } }, CreateMessageResultSchema);
    return { content: [{ type: "text", text: `model said: ${answer.content.type === "text" ? answer.content.text : "?"}` }] };
  });
  server.registerTool("ask_user", { description: "Asks the user for a name (elicitation)." }, async (extra) => {
    const answer = await extra.sendRequest(
      { method: "elicitation/create", params: { mode: "form", message: "Your name?", requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } } },
      ElicitResultSchema,
    );
    return { content: [{ type: "text", text: `user ${answer.action}: ${JSON.stringify(answer.content ?? {})}` }] };
  });
  server.registerTool("list_roots", { description: "Lists the client's roots." }, async (extra) => {
    const answer = await extra.sendRequest({ method: "roots/list" }, ListRootsResultSchema);
    return { content: [{ type: "text", text: `roots: ${answer.roots.map((root) => root.uri).join(", ")}` }] };
  });
}

/** The official SDK client, with sampling, elicitation and roots, on `url`; it counts the list changes it is told of. */
async function connectAsking(url: string, key = MASTER_KEY): Promise<{ client: Client; transport: StreamableHTTPClientTransport; asked: string[]; toolListChanges: () => number }> {
  const asked: string[] = [];
  let toolListChanges = 0;
  const client = new Client({ name: "asking-client", version: "1.0.0" }, { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    toolListChanges++;
  });
  client.setRequestHandler(CreateMessageRequestSchema, (request) => {
    asked.push("sampling");
    const first = request.params.messages[0]?.content as { type?: string; text?: string } | undefined;
    return { role: "assistant", model: "test-model", content: { type: "text", text: `echo ${first?.type === "text" ? String(first.text) : ""}` } };
  });
  client.setRequestHandler(ElicitRequestSchema, () => {
    asked.push("elicitation");
    return { action: "accept", content: { name: "Ada" } };
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked.push("roots");
    return { roots: [{ uri: "file:///work/project", name: "project" }] };
  });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${key}` } } });
  await client.connect(transport);
  return { client, transport, asked, toolListChanges: () => toolListChanges };
}

const textOf = (result: unknown) => ((result as { content?: Array<{ text?: string }> }).content ?? []).map((part) => part.text ?? "").join("");

const initializeBodies = (upstream: Upstream) =>
  upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "initialize").map((request) => request.body as { params: { capabilities: Record<string, unknown> } });

describe("sessions on /mcp, one instance", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "asker", stateful: true, mode: "sse", tools: askingTools });
    gateway = await startTestGateway({ servers: { asker: { url: upstream.url } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("gives a sealed session id, declares the client's capabilities upstream, and forwards sampling, elicitation and roots", async () => {
    const { client, transport, asked } = await connectAsking(`${gateway.url}/mcp`);
    try {
      expect(transport.sessionId).toMatch(/^gh1\./);
      expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: "hi" } }))).toBe("model said: echo hi");
      expect(textOf(await client.callTool({ name: "asker-ask_user", arguments: {} }))).toBe('user accept: {"name":"Ada"}');
      expect(textOf(await client.callTool({ name: "asker-list_roots", arguments: {} }))).toBe("roots: file:///work/project");
      expect(asked).toEqual(["sampling", "elicitation", "roots"]);
      // The session's own upstream session declared what the client declared.
      expect(initializeBodies(upstream).some((body) => "sampling" in body.params.capabilities && "elicitation" in body.params.capabilities && "roots" in body.params.capabilities)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it("without a session the gateway declares nothing upstream: the tool that samples fails, naming the server", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: rpc("tools/call", { name: "asker-ask_llm", arguments: { prompt: "hi" } }),
    });
    const body = (await response.json()) as { result?: { isError?: boolean; content?: Array<{ text?: string }> }; error?: { message: string } };
    const failure = body.error?.message ?? (body.result?.isError === true ? textOf(body.result) : "");
    expect(failure).not.toBe("");
    expect(response.headers.get("mcp-session-id")).toBeNull();
  });

  it("refuses the session id to another key with 404, and ends the session (and the upstream's) on DELETE", async () => {
    const { client, transport } = await connectAsking(`${gateway.url}/mcp`);
    await client.callTool({ name: "asker-ask_llm", arguments: { prompt: "x" } });
    const sessionId = transport.sessionId!;
    const other = await gateway.generateKey({});
    const foreign = await gateway.fetch("/mcp", { method: "POST", key: other, headers: { "content-type": "application/json", "mcp-session-id": sessionId }, body: rpc("tools/list") });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { message: string } }).error.message).toContain("Session not found");

    const deletesBefore = upstream.requests.filter((request) => request.method === "DELETE").length;
    const ended = await gateway.fetch("/mcp", { method: "DELETE", headers: { "mcp-session-id": sessionId } });
    expect(ended.status).toBe(200);
    expect(upstream.requests.filter((request) => request.method === "DELETE").length).toBe(deletesBefore + 1);
    const after = await gateway.fetch("/mcp", { method: "POST", headers: { "content-type": "application/json", "mcp-session-id": sessionId }, body: rpc("tools/list") });
    expect(after.status).toBe(404);
    await client.close().catch(() => undefined);
  });

  it("relays what the upstream sends outside any call on the session's GET stream: a tool list change, and a sampling request the client answers", async () => {
    const { client, toolListChanges, asked } = await connectAsking(`${gateway.url}/mcp`);
    try {
      await client.listTools();
      expect(textOf(await client.callTool({ name: "asker-change_tools", arguments: {} }))).toBe("changed");
      await expect.poll(toolListChanges).toBeGreaterThanOrEqual(1);
      const { tools } = await client.listTools();
      expect(tools.some((tool) => tool.name.startsWith("asker-late_"))).toBe(true);

      expect(textOf(await client.callTool({ name: "asker-ask_later", arguments: {} }))).toBe("asked");
      await expect.poll(() => answeredLater).toContain("echo later");
      expect(asked).toContain("sampling");
    } finally {
      await client.close();
    }
  });

  it("tells the client its lists changed when an upstream goes away mid-session and when it is back, and the session goes on", async () => {
    const { client, toolListChanges } = await connectAsking(`${gateway.url}/mcp`);
    try {
      await client.listTools();
      // The gateway's stream from the upstream is open once the upstream has seen a GET in this session.
      await upstream.waitUntil(() => upstream.requests.some((request) => request.method === "GET"));
      const before = toolListChanges();
      upstream.setDown(true);
      await expect.poll(toolListChanges).toBeGreaterThan(before);
      const whileDown = toolListChanges();
      upstream.setDown(false);
      await expect.poll(toolListChanges, { timeout: 10_000 }).toBeGreaterThan(whileDown);
      expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: "back" } }))).toBe("model said: echo back");
    } finally {
      upstream.setDown(false);
      await client.close();
    }
  });

  it("stops a call in the session when the client sends notifications/cancelled for it: the upstream is told and stops", async () => {
    const { transport, client } = await connectAsking(`${gateway.url}/mcp`);
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": transport.sessionId!, "mcp-protocol-version": "2025-11-25" };
    try {
      const cancelledBefore = upstream.cancelledToolCalls;
      const running = gateway.fetch("/mcp", { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: "slow-1", method: "tools/call", params: { name: "asker-slow", arguments: { ms: 30_000 } } }) });
      await upstream.waitUntil(() => upstream.requests.some((request) => JSON.stringify(request.body ?? "").includes('"slow"')));
      const notified = await gateway.fetch("/mcp", { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "slow-1", reason: "user" } }) });
      expect(notified.status).toBe(202);
      await upstream.waitUntil(() => upstream.cancelledToolCalls > cancelledBefore);
      await (await running).text();
      expect(upstream.requests.some((request) => (request.body as { method?: string } | undefined)?.method === "notifications/cancelled")).toBe(true);
    } finally {
      await client.close();
    }
  });

  it("goes on when the upstream restarts and forgets its sessions: the next call opens a new upstream session for the same gateway session", async () => {
    const { client, transport } = await connectAsking(`${gateway.url}/mcp`);
    try {
      expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: "before" } }))).toBe("model said: echo before");
      const sessionsBefore = new Set(upstream.requests.map((request) => request.headers["mcp-session-id"]).filter((id) => id !== undefined));
      await upstream.dropSessions();
      expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: "after" } }))).toBe("model said: echo after");
      const last = upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").at(-1);
      expect(sessionsBefore.has(last?.headers["mcp-session-id"] ?? "")).toBe(false);
      expect(transport.sessionId).toMatch(/^gh1\./);
    } finally {
      await client.close();
    }
  });

  it("refuses a session id it did not seal", async () => {
    const forged = await gateway.fetch("/mcp", { method: "POST", headers: { "content-type": "application/json", "mcp-session-id": "gh1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, body: rpc("tools/list") });
    expect(forged.status).toBe(404);
  });
});

/**
 * Two gateway instances on one database of `dialect` behind a round-robin proxy, in front
 * of the asking upstream; set up and torn down around the calling describe.
 */
function twoInstancesOnOneDatabase(dialect: "postgres" | "sqlite"): { front: () => LoopbackProxy; upstream: () => Upstream } {
  let database: TestDatabase;
  let upstream: Upstream;
  let front: LoopbackProxy;
  let pair: GatewayPair;

  beforeAll(async () => {
    [database, upstream, front] = await Promise.all([createTestDatabase(dialect), startUpstream({ name: "asker", stateful: true, mode: "sse", tools: askingTools }), startLoopbackProxy()]);
    pair = await startGatewayPair({ front, databaseUrl: database.url, servers: { asker: { url: upstream.url } } });
  }, 60_000);

  afterAll(async () => {
    await pair?.close();
    await front?.close();
    await upstream?.close();
    await database?.drop();
  });
  return { front: () => front, upstream: () => upstream };
}

function describeTwoInstances(dialect: "postgres" | "sqlite"): void {
  const { front, upstream } = twoInstancesOnOneDatabase(dialect);

  it("continues a session on the other instance: the client's answer to a sampling request lands there and reaches the upstream session", async () => {
    const { client, asked } = await connectAsking(`${front().url}/mcp`);
    try {
      for (let round = 0; round < 3; round++) {
        expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: `round ${round}` } }))).toBe(`model said: echo round ${round}`);
      }
      expect(asked).toEqual(["sampling", "sampling", "sampling"]);
      const mcpBackends = new Set(front().requests.filter((request) => request.path === "/mcp" && request.method === "POST").map((request) => request.backend));
      expect(mcpBackends).toEqual(new Set(["a", "b"]));
      // One upstream session for the whole gateway session, whichever instance called (two instances
      // opening one at once keep the one recorded first and end the other).
      const calls = upstream().requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call");
      expect(calls).toHaveLength(3);
      expect(new Set(calls.map((request) => request.headers["mcp-session-id"])).size).toBe(1);
    } finally {
      await client.close();
    }
  });
}

describe.skipIf(!(await postgresAvailable()))("sessions on /mcp across two instances sharing one PostgreSQL database", () => {
  describeTwoInstances("postgres");
});

describe("sessions on /mcp across two instances sharing one SQLite file", () => {
  describeTwoInstances("sqlite");
});

/**
 * A 2026-07-28 client (the official v2 SDK, which fulfils `input_required` itself through
 * its handlers and retries) calling tools of a 2025-era upstream that asks it something
 * mid-call: the gateway bridges the upstream's request into a multi round-trip request.
 */
async function connectModernAsking(url: string): Promise<{ client: ModernClient; asked: string[] }> {
  const asked: string[] = [];
  const client = new ModernClient({ name: "v2-asking", version: "1.0.0" }, { capabilities: { sampling: {}, elicitation: { form: {} } }, versionNegotiation: { mode: { pin: "2026-07-28" } } });
  client.setRequestHandler("sampling/createMessage", (request) => {
    asked.push("sampling");
    const first = request.params.messages[0]?.content as { type?: string; text?: string } | undefined;
    return { role: "assistant", model: "v2-model", content: { type: "text", text: `v2 echo ${first?.text ?? ""}` } };
  });
  client.setRequestHandler("elicitation/create", () => {
    asked.push("elicitation");
    return { action: "accept", content: { name: "Grace" } };
  });
  await client.connect(new ModernTransport(new URL(url), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}` } } }));
  return { client, asked };
}

describe("multi round-trip requests for a 2026-07-28 client of a 2025-era upstream", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "asker", stateful: true, mode: "sse", tools: askingTools });
    gateway = await startTestGateway({ servers: { asker: { url: upstream.url } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("the upstream's sampling and elicitation requests reach the client as input_required; its retries finish the calls", async () => {
    const { client, asked } = await connectModernAsking(`${gateway.url}/mcp`);
    try {
      expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: "bridged" } }))).toBe("model said: v2 echo bridged");
      expect(textOf(await client.callTool({ name: "asker-ask_user", arguments: {} }))).toBe('user accept: {"name":"Grace"}');
      expect(asked).toEqual(["sampling", "elicitation"]);
      // The upstream session was opened with what the client declared.
      expect(initializeBodies(upstream).some((body) => "sampling" in body.params.capabilities && !("roots" in body.params.capabilities))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it("answers a call that asks nothing at once, as without the bridge", async () => {
    const { client } = await connectModernAsking(`${gateway.url}/mcp`);
    try {
      const answer = await client.callTool({ name: "asker-echo", arguments: { message: "plain" } });
      expect(textOf(answer)).toBe("plain");
    } finally {
      await client.close();
    }
  });
});

function describeModernTwoInstances(dialect: "postgres" | "sqlite"): void {
  const { front } = twoInstancesOnOneDatabase(dialect);

  it("a retry that lands on the other instance delivers the answer and gets the result the first instance saw", async () => {
    const { client, asked } = await connectModernAsking(`${front().url}/mcp`);
    try {
      for (let round = 0; round < 3; round++) {
        expect(textOf(await client.callTool({ name: "asker-ask_llm", arguments: { prompt: `round ${round}` } }))).toBe(`model said: v2 echo round ${round}`);
      }
      expect(asked).toEqual(["sampling", "sampling", "sampling"]);
      const calls = front().requests.filter((request) => request.path === "/mcp" && request.body.toString("utf8").includes('"tools/call"'));
      // Each call is tried, then retried: round robin puts a retry on the other instance.
      expect(calls.length).toBe(6);
      expect(new Set(calls.map((request) => request.backend))).toEqual(new Set(["a", "b"]));
    } finally {
      await client.close();
    }
  });
}

describe.skipIf(!(await postgresAvailable()))("multi round-trip requests across two instances sharing one PostgreSQL database", () => {
  describeModernTwoInstances("postgres");
});

describe("multi round-trip requests across two instances sharing one SQLite file", () => {
  describeModernTwoInstances("sqlite");
});
