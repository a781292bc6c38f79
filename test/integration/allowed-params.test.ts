/**
 * Issue 17: a server's `allowed_params` (per tool, raw or prefixed name → the argument names
 * a call may carry) is enforced on every route that calls tools, refused the way a
 * disallowed tool is refused there. Real SDK clients, a real upstream MCP server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

let upstream: Upstream;
let gateway: TestGateway;

const toolCalls = () => upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").length;

beforeAll(async () => {
  upstream = await startUpstream({ name: "svc" });
  gateway = await startTestGateway({
    servers: { svc: { url: upstream.url, alias: "s", allowed_params: { echo: ["message"], "svc-add": ["a"] } } },
  });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

async function rest(body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("allowed_params", () => {
  it("lets calls with only the allowed arguments through, and leaves unlisted tools alone", async () => {
    const client = await gateway.connect("/svc/mcp");
    expect(await client.callTool({ name: "echo", arguments: { message: "hi" } })).toMatchObject({ content: [{ text: "hi" }] });
    expect(await client.callTool({ name: "whoami", arguments: {} })).toBeDefined();
    const aggregate = await gateway.connect("/mcp");
    expect(await aggregate.callTool({ name: "s-echo", arguments: { message: "hi" } })).toMatchObject({ content: [{ text: "hi" }] });
  });

  it("refuses an extra argument on the pass-through before it reaches the upstream (a raw or a prefixed key)", async () => {
    const before = toolCalls();
    const client = await gateway.connect("/svc/mcp");
    await expect(client.callTool({ name: "echo", arguments: { message: "hi", shell: "rm -rf /" } })).rejects.toThrow(/parameters 'shell' are not allowed for tool 'echo'/);
    await expect(client.callTool({ name: "add", arguments: { a: 1, b: 2 } })).rejects.toThrow(/parameters 'b' are not allowed for tool 'add'/);
    expect(toolCalls()).toBe(before);
  });

  it("refuses an extra argument on the aggregate /mcp", async () => {
    const before = toolCalls();
    const client = await gateway.connect("/mcp");
    await expect(client.callTool({ name: "s-echo", arguments: { message: "hi", extra: 1 } })).rejects.toThrow(/not allowed for tool 'echo'/);
    await expect(client.callTool({ name: "svc-add", arguments: { a: 1, b: 2 } })).rejects.toThrow(/not allowed for tool 'add'/);
    expect(toolCalls()).toBe(before);
  });

  it("refuses an extra argument on /mcp-rest/tools/call, in every form of naming the tool", async () => {
    const before = toolCalls();
    for (const body of [
      { name: "s-echo", arguments: { message: "hi", extra: 1 } },
      { name: "echo", server_name: "svc", arguments: { message: "hi", extra: 1 } },
      { name: "echo", arguments: { message: "hi", extra: 1 } },
    ]) {
      const answer = await rest(body);
      expect(answer.status, JSON.stringify(body)).toBe(403);
      expect(JSON.stringify(answer.body)).toContain("params_not_allowed");
    }
    expect(toolCalls()).toBe(before);
    expect((await rest({ name: "echo", server_name: "s", arguments: { message: "ok" } })).status).toBe(200);
  });

  it("refuses arguments that are not an object when the tool is limited (they could not be checked)", async () => {
    const response = await gateway.fetch("/svc/mcp", { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "echo", arguments: ["message", "extra"] }) });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("arguments that are not an object are not allowed");
  });
});
