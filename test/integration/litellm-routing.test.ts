/**
 * LiteLLM's multi-server URLs (issue 17): `/{a},{b}/mcp` and `/mcp/{a},{b}` serve the named
 * servers through the aggregate, `/mcp/` is `/mcp`, the path wins over `x-mcp-servers`,
 * and a path never serves more than it names. Driven with the official SDK client against
 * real upstream MCP servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

describe("LiteLLM's multi-server MCP URLs", () => {
  let alpha: Upstream;
  let beta: Upstream;
  let gamma: Upstream;
  let gateway: TestGateway;
  let alphaOnly: string;

  beforeAll(async () => {
    [alpha, beta, gamma] = await Promise.all([upstreamNamed("alpha", {}, true), upstreamNamed("beta", {}, true), upstreamNamed("gamma", {}, true)]);
    gateway = await startTestGateway({ servers: { alpha: { url: alpha.url }, beta: { url: beta.url }, gamma: { url: gamma.url } } });
    alphaOnly = await gateway.generateKey({ object_permission: { mcp_servers: ["alpha"] } });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.allSettled([alpha?.close(), beta?.close(), gamma?.close()]);
  });

  async function serversListed(path: string, headers: Record<string, string> = {}): Promise<string[]> {
    const client = await gateway.connect(path, headers);
    const { tools } = await client.listTools();
    await client.close();
    return [...new Set(tools.map((tool) => tool.name.split("-")[0]!))].sort();
  }

  async function post(path: string, key: string | null, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const response = await gateway.fetch(path, { method: "POST", key, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/list") });
    return { status: response.status, text: await response.text() };
  }

  it("/{a},{b}/mcp and /mcp/{a},{b} serve exactly the named servers, tools prefixed", async () => {
    expect(await serversListed("/alpha,beta/mcp")).toEqual(["alpha", "beta"]);
    expect(await serversListed("/mcp/beta,gamma")).toEqual(["beta", "gamma"]);
  });

  it("a call through /{a},{b}/mcp reaches the named server", async () => {
    const client = await gateway.connect("/alpha,beta/mcp");
    const result = await client.callTool({ name: "beta-echo", arguments: { message: "via a server list" } });
    await client.close();
    expect(result.content).toEqual([{ type: "text", text: "via a server list" }]);
  });

  it("/mcp/ is the aggregate /mcp", async () => {
    expect(await serversListed("/mcp/")).toEqual(["alpha", "beta", "gamma"]);
  });

  it("the path wins over x-mcp-servers", async () => {
    expect(await serversListed("/alpha,beta/mcp", { "x-mcp-servers": "gamma" })).toEqual(["alpha", "beta"]);
  });

  it("unknown names in a list are left out; a list of only unknown names is a 404, never every server", async () => {
    expect(await serversListed("/alpha,nosuch/mcp")).toEqual(["alpha"]);
    const none = await post("/nosuch,nothere/mcp", gateway.masterKey);
    expect(none.status).toBe(404);
  });

  it("a limited key gets only its servers out of a list, and a 403 for a list of none of them", async () => {
    const client = await gateway.connect("/alpha,beta/mcp", { "x-litellm-api-key": `Bearer ${alphaOnly}` });
    const { tools } = await client.listTools();
    await client.close();
    expect(new Set(tools.map((tool) => tool.name.split("-")[0]))).toEqual(new Set(["alpha"]));
    expect((await post("/beta,gamma/mcp", alphaOnly)).status).toBe(403);
    // The same answer whether or not the names exist: a limited key cannot probe them.
    expect((await post("/nosuch,nothere/mcp", alphaOnly)).status).toBe(403);
  });

  it("a server list without a key is a 401 before anything is said about the names", async () => {
    expect((await post("/alpha,beta/mcp", null)).status).toBe(401);
    expect((await post("/nosuch,nothere/mcp", null)).status).toBe(401);
  });

  it("a path naming more than 64 servers is a 400", async () => {
    const names = Array.from({ length: 65 }, (_, index) => `s${index}`).join(",");
    const answer = await post(`/${names}/mcp`, gateway.masterKey);
    expect(answer.status).toBe(400);
    expect(answer.text).toContain("at most 64");
  });
});
