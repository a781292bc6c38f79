/**
 * Upstreams on the 2026-07-28 revision, built with the official v2 SDK: one that speaks
 * only that revision (its answer to the gateway's `initialize` is an
 * UnsupportedProtocolVersion error naming it), one that also answers 2025-era requests.
 * Through `/mcp`, REST and the pass-through, with clients of both revisions (the official
 * v1 and v2 SDK clients).
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../fixtures/databases.js";
import { startGatewayPair, startLoopbackProxy } from "../fixtures/two-gateways.js";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startModernUpstream, type ModernUpstream } from "../fixtures/modern-upstream.js";

let gateway: TestGateway;
let strict: ModernUpstream;
let dual: ModernUpstream;

beforeAll(async () => {
  strict = await startModernUpstream({ legacy: "reject", name: "strict" });
  dual = await startModernUpstream({ legacy: "stateless", name: "dual" });
  gateway = await startTestGateway({ servers: { strict: { url: strict.url }, dual: { url: dual.url } } });
});

afterAll(async () => {
  await gateway?.close();
  await strict?.close();
  await dual?.close();
});

const textOf = (result: unknown) => ((result as { content?: Array<{ text?: string }> }).content ?? []).map((part) => part.text ?? "").join("");

async function modernClient(path: string): Promise<ModernClient> {
  const client = new ModernClient({ name: "v2-client", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await client.connect(new ModernTransport(new URL(`${gateway.url}${path}`), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}` } } }));
  return client;
}

describe("a 2026-07-28-only upstream behind /mcp", () => {
  it("serves a 2025-era client (the v1 SDK): the gateway speaks 2026-07-28 upstream, with the version in _meta and the method and name in headers", async () => {
    const client = await gateway.connect("/mcp");
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["strict-echo", "strict-add", "dual-echo"]));
    expect(textOf(await client.callTool({ name: "strict-add", arguments: { a: 2, b: 40 } }))).toBe("42");

    const call = strict.requests.find((request) => (request.body as { method?: string } | undefined)?.method === "tools/call");
    expect(call?.headers).toMatchObject({ "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "add" });
    expect((call?.body as { params: { _meta: Record<string, unknown> } }).params._meta).toMatchObject({
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "gatehouse" },
    });
    expect(call?.headers).not.toHaveProperty("mcp-session-id");

    // Both upstreams offer modern://readme: the aggregate names each with its server.
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri).sort()).toEqual(["gatehouse://dual/modern://readme", "gatehouse://strict/modern://readme"]);
    const read = await client.readResource({ uri: "gatehouse://strict/modern://readme" });
    expect(read.contents[0]).toMatchObject({ uri: "gatehouse://strict/modern://readme", text: "modern readme" });
    const prompt = await client.getPrompt({ name: "strict-greet", arguments: { name: "Ada" } });
    expect(JSON.stringify(prompt.messages)).toContain("Hello Ada");
  });

  it("mirrors a tool's x-mcp-header argument in its Mcp-Param header, which the upstream checks against the body", async () => {
    const client = await gateway.connect("/mcp");
    expect(textOf(await client.callTool({ name: "strict-forecast", arguments: { region: "eu-north1", days: 3 } }))).toBe("sunny in eu-north1 for 3 days");
    const call = strict.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").at(-1);
    expect(call?.headers).toMatchObject({ "mcp-name": "forecast", "mcp-param-region": "eu-north1" });
    // Non-ASCII travels in the Base64 sentinel form.
    expect(textOf(await client.callTool({ name: "strict-forecast", arguments: { region: "Zürich" } }))).toBe("sunny in Zürich for 1 days");
    const rest = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "forecast", server_name: "strict", arguments: { region: "ap-south1" } }) });
    expect(textOf(await rest.json())).toBe("sunny in ap-south1 for 1 days");
  });

  it("serves it in a 2025-era session too (its upstream session is the stateless 2026-07-28 kind)", async () => {
    const client = await gateway.connect("/mcp");
    expect(textOf(await client.callTool({ name: "strict-echo", arguments: { message: "in a session" } }))).toBe("in a session");
  });

  it("serves a 2026-07-28 client (the v2 SDK) end to end", async () => {
    const client = await modernClient("/mcp");
    try {
      expect(textOf(await client.callTool({ name: "strict-echo", arguments: { message: "modern to modern" } }))).toBe("modern to modern");
    } finally {
      await client.close();
    }
  });

  it("serves REST calls", async () => {
    const response = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "echo", server_name: "strict", arguments: { message: "rest" } }) });
    expect(response.status).toBe(200);
    expect(textOf(await response.json())).toBe("rest");
  });
});

describe("a 2026-07-28 upstream on the pass-through", () => {
  it("a 2026-07-28 client reaches it through /{server}/mcp with its mirrored headers", async () => {
    const client = await modernClient("/strict/mcp");
    try {
      expect(textOf(await client.callTool({ name: "echo", arguments: { message: "passed through" } }))).toBe("passed through");
    } finally {
      await client.close();
    }
  });

  it("refuses a mirrored Mcp-Name that is not the body's tool, before the upstream sees it", async () => {
    const before = strict.requests.length;
    const response = await gateway.fetch("/strict/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "add" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "x" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: number } }).error.code).toBe(-32020);
    expect(strict.requests.length).toBe(before);
  });
});

describe("caching a 2026-07-28 upstream's lists as its ttlMs and cacheScope allow", () => {
  const toolLists = (upstream: ModernUpstream) => upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/list").length;

  it("private: asks again for another key, not for the same key within the ttl", async () => {
    const upstream = await startModernUpstream({ legacy: "reject", name: "private", toolsCache: { ttlMs: 60_000, cacheScope: "private" } });
    const privateGateway = await startTestGateway({ servers: { cached: { url: upstream.url } } });
    try {
      const list = async (key: string) => (await (await privateGateway.fetch("/mcp", { method: "POST", key, headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) })).json()) as { result: { tools: unknown[] } };
      const other = await privateGateway.generateKey({});
      expect((await list(MASTER_KEY)).result.tools).toHaveLength(5);
      expect((await list(MASTER_KEY)).result.tools).toHaveLength(5);
      expect(toolLists(upstream)).toBe(1);
      expect((await list(other)).result.tools).toHaveLength(5);
      expect(toolLists(upstream)).toBe(2);
    } finally {
      await privateGateway.close();
      await upstream.close();
    }
  });

  it("public: one answer serves every key within the ttl; without a ttl nothing is cached", async () => {
    const upstream = await startModernUpstream({ legacy: "reject", name: "public", toolsCache: { ttlMs: 60_000, cacheScope: "public" } });
    const uncached = await startModernUpstream({ legacy: "reject", name: "uncached" });
    const publicGateway = await startTestGateway({ servers: { shared: { url: upstream.url }, fresh: { url: uncached.url } } });
    try {
      const list = (key: string) => publicGateway.fetch("/mcp", { method: "POST", key, headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) });
      const other = await publicGateway.generateKey({});
      for (const key of [MASTER_KEY, other, MASTER_KEY]) expect((await list(key)).status).toBe(200);
      expect(toolLists(upstream)).toBe(1);
      expect(toolLists(uncached)).toBe(3);
    } finally {
      await publicGateway.close();
      await upstream.close();
      await uncached.close();
    }
  });
});

describe("a 2026-07-28 upstream's multi round-trip request, for a 2025-era client in an /mcp session", () => {
  async function connectConfirming(url: string): Promise<{ client: Client; asked: string[] }> {
    const asked: string[] = [];
    const client = new Client({ name: "v1-confirming", version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } });
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return { action: "accept", content: { confirm: true } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}` } } }));
    return { client, asked };
  }

  it("asks the client on the call's stream and retries the upstream with its answer", async () => {
    const { client, asked } = await connectConfirming(`${gateway.url}/mcp`);
    try {
      expect(textOf(await client.callTool({ name: "strict-deploy", arguments: { env: "prod" } }))).toBe("deployed to prod");
      expect(asked).toEqual(["Deploy to prod?"]);
      const retry = strict.requests.filter((request) => JSON.stringify(request.body ?? "").includes('"inputResponses"')).at(-1);
      expect((retry?.body as { params: { inputResponses: unknown } }).params.inputResponses).toEqual({ confirm: { action: "accept", content: { confirm: true } } });
    } finally {
      await client.close();
    }
  });

  it("without a session (stateless) the call cannot ask the client: the upstream's refusal (no elicitation declared) reaches the client, named", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "strict-deploy", arguments: { env: "prod" } } }),
    });
    const body = (await response.json()) as { error?: { message: string } };
    expect(body.error?.message).toMatch(/^MCP server 'strict': .*elicitation/i);
  });

  it("the client's answer landing on another instance reaches the call that waits for it", async () => {
    const database = await createTestDatabase("sqlite");
    const front = await startLoopbackProxy();
    const pair = await startGatewayPair({ front, databaseUrl: database.url, servers: { strict: { url: strict.url } } });
    try {
      const { client, asked } = await connectConfirming(`${front.url}/mcp`);
      try {
        for (const env of ["staging", "prod", "dev"]) expect(textOf(await client.callTool({ name: "strict-deploy", arguments: { env } }))).toBe(`deployed to ${env}`);
        expect(asked).toHaveLength(3);
        const answers = front.requests.filter((request) => request.method === "POST" && request.body.toString("utf8").includes('"gh:strict:'));
        expect(answers.length).toBe(3);
        expect(new Set(front.requests.filter((request) => request.method === "POST").map((request) => request.backend))).toEqual(new Set(["a", "b"]));
      } finally {
        await client.close();
      }
    } finally {
      await pair.close();
      await front.close();
      await database.drop();
    }
  });
});
