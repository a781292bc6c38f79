/**
 * Log levels through the aggregate `/mcp`, across protocol generations:
 *
 * - a 2026-07-28 client asks for log messages per request (`_meta` logLevel): it gets those
 *   at or above that level on the call's stream, and none when it asks for none; a
 *   2026-07-28 upstream is asked with the same level, an earlier one's messages are filtered
 *   by the gateway;
 * - a 2025 client sets its session's level once (`logging/setLevel`): a 2026-07-28 upstream,
 *   which has no such request, gets that level with each call of the session.
 *
 * Upstreams: the v1 SDK's McpServer (logging during the call on its stream) and the v2
 * SDK's `createMcpHandler` (`ctx.mcpReq.log`, which honours the request's level).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, MCP_ACCEPT, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startModernUpstream, type ModernUpstream } from "../fixtures/modern-upstream.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const VERSION = "2026-07-28";
const AUTH = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
let gateway: TestGateway;
let legacy: Upstream;
let modern: ModernUpstream;

function chattyLegacy(server: McpServer): void {
  server.server.registerCapabilities({ logging: {} });
  server.registerTool("chatty", { description: "Logs at debug, info and error on the call's stream, then answers." }, async (extra) => {
    for (const level of ["debug", "info", "error"] as const) await extra.sendNotification({ method: "notifications/message", params: { level, data: `${level} from legacy` } });
    return { content: [{ type: "text", text: "said it all" }] };
  });
}

beforeAll(async () => {
  legacy = await startUpstream({ name: "legacy", mode: "sse", tools: chattyLegacy });
  modern = await startModernUpstream({ legacy: "reject", name: "modern" });
  gateway = await startTestGateway({ servers: { legacy: { url: legacy.url }, modern: { url: modern.url } } });
});

afterAll(async () => {
  await gateway?.close();
  await legacy?.close();
  await modern?.close();
});

/** A 2026-07-28 tools/call, and every message of its answer (SSE events, or the one JSON body). */
async function modernCall(name: string, logLevel?: unknown): Promise<{ status: number; messages: Array<Record<string, unknown>> }> {
  const response = await gateway.fetch("/mcp", {
    method: "POST",
    headers: { ...MCP_ACCEPT, ...AUTH, "mcp-protocol-version": VERSION, "mcp-method": "tools/call", "mcp-name": name },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name,
        arguments: {},
        _meta: { "io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": {}, ...(logLevel === undefined ? {} : { "io.modelcontextprotocol/logLevel": logLevel }) },
      },
    }),
  });
  const text = await response.text();
  const messages = (response.headers.get("content-type") ?? "").includes("text/event-stream")
    ? text
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
    : [JSON.parse(text) as Record<string, unknown>];
  return { status: response.status, messages };
}

const logged = (messages: Array<Record<string, unknown>>) =>
  messages.filter((message) => message.method === "notifications/message").map((message) => (message.params as { level: string; data: string; logger?: string }));

describe("a 2026-07-28 client's per-request log level on /mcp", () => {
  it("gets an earlier upstream's log messages at or above the level asked for, on the call's stream, named after the server", async () => {
    const { status, messages } = await modernCall("legacy-chatty", "info");
    expect(status).toBe(200);
    expect(logged(messages)).toEqual([
      { level: "info", data: "info from legacy", logger: "legacy" },
      { level: "error", data: "error from legacy", logger: "legacy" },
    ]);
    expect(messages.at(-1)).toMatchObject({ id: 1, result: { content: [{ type: "text", text: "said it all" }] } });
  });

  it("gets none when it asks for none", async () => {
    const { messages } = await modernCall("legacy-chatty");
    expect(logged(messages)).toEqual([]);
    expect(messages.at(-1)).toMatchObject({ id: 1, result: { content: [{ type: "text", text: "said it all" }] } });
  });

  it("asks a 2026-07-28 upstream at the same level, which sends only those", async () => {
    const { messages } = await modernCall("modern-chatty", "error");
    expect(logged(messages)).toEqual([{ level: "error", data: "error from modern", logger: "modern" }]);
    const call = modern.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").at(-1);
    expect((call?.body as { params: { _meta: Record<string, unknown> } }).params._meta["io.modelcontextprotocol/logLevel"]).toBe("error");
  });

  it("refuses a level MCP does not name with -32602", async () => {
    const { status, messages } = await modernCall("legacy-chatty", "loud");
    expect(status).toBe(400);
    expect(messages[0]).toMatchObject({ error: { code: -32602, message: expect.stringContaining("logLevel") } });
  });
});

describe("a 2025 client's session level reaches a 2026-07-28 upstream", () => {
  it("sends the level set with logging/setLevel with each call of the session, and relays what comes back", async () => {
    const client = new Client({ name: "legacy-client", version: "1.0.0" });
    const messages: Array<{ level: string; data: unknown }> = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void messages.push({ level: notification.params.level, data: notification.params.data }));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: AUTH } }));
    try {
      await client.setLoggingLevel("info");
      // The upstream got no logging/setLevel: the revision has none.
      expect(modern.requests.some((request) => (request.body as { method?: string } | undefined)?.method === "logging/setLevel")).toBe(false);
      expect(await client.callTool({ name: "modern-chatty", arguments: {} })).toMatchObject({ content: [{ type: "text", text: "said it all" }] });
      const call = modern.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").at(-1);
      expect((call?.body as { params: { _meta: Record<string, unknown> } }).params._meta["io.modelcontextprotocol/logLevel"]).toBe("info");
      expect(messages).toEqual([
        { level: "info", data: "info from modern" },
        { level: "error", data: "error from modern" },
      ]);
    } finally {
      await client.close();
    }
  });
});

describe("a call that may stream streams only once something goes before its result", () => {
  it("answers a 2026-07-28 call as JSON when no log message reaches the level it asked for", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, ...AUTH, "mcp-protocol-version": VERSION, "mcp-method": "tools/call", "mcp-name": "legacy-chatty" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 9,
        method: "tools/call",
        params: { name: "legacy-chatty", arguments: {}, _meta: { "io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/logLevel": "emergency" } },
      }),
    });
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toMatchObject({ id: 9, result: { content: [{ type: "text", text: "said it all" }] } });
  });

  it("answers a call in a 2025 session as JSON when the upstream sends nothing first, and as SSE when it does", async () => {
    const initialize = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, ...AUTH },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }),
    });
    await initialize.text();
    const session = initialize.headers.get("mcp-session-id");
    expect(session).not.toBeNull();
    const call = (name: string) =>
      gateway.fetch("/mcp", {
        method: "POST",
        headers: { ...MCP_ACCEPT, ...AUTH, "mcp-session-id": session!, "mcp-protocol-version": "2025-06-18" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name, arguments: { message: "quiet" } } }),
      });
    const quiet = await call("legacy-echo");
    expect(quiet.headers.get("content-type")).toContain("application/json");
    expect(await quiet.json()).toMatchObject({ id: 2, result: { content: [{ type: "text", text: "quiet" }] } });
    const chatty = await call("legacy-chatty");
    expect(chatty.headers.get("content-type")).toContain("text/event-stream");
    const events = (await chatty.text()).split("\n").filter((line) => line.startsWith("data: ")).map((line) => JSON.parse(line.slice(6)) as { method?: string; id?: number });
    expect(events.filter((event) => event.method === "notifications/message")).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ id: 2 });
  });
});
