/**
 * 2026-07-28 clients on the aggregate `/mcp`: no initialize, the version and capabilities
 * in each request's `_meta`, the MCP-Protocol-Version / Mcp-Method / Mcp-Name headers
 * checked against the body, server/discover, resultType and caching hints on results.
 *
 * The official v2 SDK client (`@modelcontextprotocol/client`, which speaks the revision)
 * is the real peer; the header checks are probed with requests written as the revision's
 * transport chapter shows them, since a correct client never sends a wrong header. The
 * upstreams are real SDK servers on earlier revisions.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { EVERYTHING } from "../fixtures/stdio.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const VERSION = "2026-07-28";
let gateway: TestGateway;
let alpha: Upstream;

beforeAll(async () => {
  alpha = await startUpstream({ name: "alpha", mode: "sse" });
  gateway = await startTestGateway({ servers: { alpha: { url: alpha.url }, ev: { transport: "stdio", command: process.execPath, args: [EVERYTHING, "stdio"] } } });
  await gateway.waitForLog((line) => line.server === "ev" && line.msg === "stdio MCP server is ready");
});

afterAll(async () => {
  await gateway?.close();
  await alpha?.close();
});

interface Answer {
  status: number;
  sessionId: string | null;
  body: { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };
}

/** A 2026-07-28 request: its headers mirror the body unless `headers` says otherwise. */
async function modern(method: string, params: Record<string, unknown> = {}, headers: Record<string, string | null> = {}, metaVersion = VERSION): Promise<Answer> {
  const name = typeof params.name === "string" ? params.name : typeof params.uri === "string" ? params.uri : undefined;
  const sent: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": VERSION,
    "mcp-method": method,
    ...(name === undefined ? {} : { "mcp-name": name }),
  };
  for (const [header, value] of Object.entries(headers)) {
    if (value === null) delete sent[header];
    else sent[header] = value;
  }
  const body = {
    jsonrpc: "2.0",
    id: 7,
    method,
    params: {
      ...params,
      _meta: { "io.modelcontextprotocol/protocolVersion": metaVersion, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "modern-client", version: "1.0.0" } },
    },
  };
  const response = await gateway.fetch("/mcp", { method: "POST", headers: sent, body: JSON.stringify(body) });
  const text = await response.text();
  const json = text.startsWith("event:") || text.startsWith(":") ? JSON.parse(text.split("\n").find((line) => line.startsWith("data: "))!.slice(6)) : JSON.parse(text);
  return { status: response.status, sessionId: response.headers.get("mcp-session-id"), body: json as Answer["body"] };
}

describe("the official v2 SDK client (2026-07-28) on /mcp", () => {
  for (const mode of [{ pin: VERSION }, "auto"] as const) {
    it(`negotiates 2026-07-28 (${typeof mode === "string" ? mode : "pinned"}) and lists and calls tools, reads resources and gets prompts of 2025-era upstreams`, async () => {
      const client = new ModernClient({ name: "v2-client", version: "1.0.0" }, { versionNegotiation: { mode } });
      const transport = new ModernTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}` } } });
      await client.connect(transport);
      try {
        expect(client.getNegotiatedProtocolVersion()).toBe(VERSION);
        const { tools } = await client.listTools();
        expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["alpha-echo", "ev-echo"]));
        expect(await client.callTool({ name: "alpha-echo", arguments: { message: "v2" } })).toMatchObject({ content: [{ type: "text", text: "v2" }] });
        const { resources } = await client.listResources();
        expect(resources.length).toBeGreaterThan(0);
        const read = await client.readResource({ uri: resources[0]!.uri });
        expect(read.contents[0]?.uri).toBe(resources[0]!.uri);
        const prompt = await client.getPrompt({ name: "ev-simple-prompt" });
        expect(prompt.messages.length).toBeGreaterThan(0);
      } finally {
        await client.close();
      }
    });
  }
});

describe("2026-07-28 clients on /mcp", () => {
  it("answers server/discover with the versions, capabilities and identity, cacheable and private", async () => {
    const { status, body, sessionId } = await modern("server/discover");
    expect(status).toBe(200);
    expect(body.result).toMatchObject({
      resultType: "complete",
      supportedVersions: expect.arrayContaining([VERSION, "2025-11-25", "2025-06-18"]),
      capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} },
      _meta: { "io.modelcontextprotocol/serverInfo": { name: "gatehouse" } },
      ttlMs: expect.any(Number),
      cacheScope: "private",
    });
    expect(body.result?.capabilities).not.toHaveProperty("logging");
    expect(sessionId).toBeNull();
  });

  it("lists and calls tools without initialize, every result with resultType and the server's identity", async () => {
    const listed = await modern("tools/list");
    expect(listed.body.result).toMatchObject({ resultType: "complete", cacheScope: "private", ttlMs: expect.any(Number) });
    expect((listed.body.result?.tools as Array<{ name: string }>).map((tool) => tool.name)).toContain("alpha-echo");

    const called = await modern("tools/call", { name: "alpha-echo", arguments: { message: "modern" } });
    expect(called.status).toBe(200);
    expect(called.body.result).toMatchObject({ resultType: "complete", content: [{ type: "text", text: "modern" }], _meta: { "io.modelcontextprotocol/serverInfo": { name: "gatehouse" } } });
    expect(called.body.result).not.toHaveProperty("ttlMs");
  });

  it("reads a Base64-sentinel Mcp-Name as the name it encodes", async () => {
    const encoded = `=?base64?${Buffer.from("alpha-echo").toString("base64")}?=`;
    const called = await modern("tools/call", { name: "alpha-echo", arguments: { message: "sentinel" } }, { "mcp-name": encoded });
    expect(called.body.result).toMatchObject({ content: [{ text: "sentinel" }] });
  });

  it.each([
    ["an Mcp-Name that is not the body's name", { "mcp-name": "alpha-add" }, /Mcp-Name header value 'alpha-add' does not match body value 'alpha-echo'/],
    ["no Mcp-Name", { "mcp-name": null }, /Mcp-Name header is missing/],
    ["no Mcp-Method", { "mcp-method": null }, /Mcp-Method header is missing/],
    ["an Mcp-Method that is not the body's method", { "mcp-method": "tools/list" }, /Mcp-Method header value 'tools\/list' does not match/],
  ])("refuses %s with 400 HeaderMismatch (-32020), and the upstream is not called", async (_label, headers, message) => {
    const callsBefore = alpha.requests.length;
    const answer = await modern("tools/call", { name: "alpha-echo", arguments: { message: "x" } }, headers as Record<string, string | null>);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: -32020, message: expect.stringMatching(message) });
    expect(alpha.requests.length).toBe(callsBefore);
  });

  it("refuses a header version that is not the body's with HeaderMismatch, and an unknown version with -32022 listing the versions it speaks", async () => {
    const mismatched = await modern("tools/list", {}, { "mcp-protocol-version": "2025-11-25" });
    expect(mismatched.status).toBe(400);
    expect(mismatched.body.error?.code).toBe(-32020);

    const unknown = await modern("tools/list", {}, { "mcp-protocol-version": "2099-01-01" }, "2099-01-01");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: -32022, message: "Unsupported protocol version", data: { supported: expect.arrayContaining([VERSION, "2025-11-25"]), requested: "2099-01-01" } });
  });

  it("answers a method it does not serve (or that the revision removed) with HTTP 404 and -32601", async () => {
    for (const method of ["resources/subscribe", "logging/setLevel", "ping"]) {
      const answer = await modern(method);
      expect(answer.status, method).toBe(404);
      expect(answer.body.error?.code, method).toBe(-32601);
    }
  });

  it("ignores an Mcp-Session-Id and mints none", async () => {
    const answer = await modern("tools/list", {}, { "mcp-session-id": "gh1.whatever" });
    expect(answer.status).toBe(200);
    expect(answer.sessionId).toBeNull();
  });

  it("names an unknown resource -32602, as this revision does", async () => {
    const answer = await modern("resources/read", { uri: "nowhere://nothing" });
    expect(answer.body.error?.code).toBe(-32602);
  });
});
