import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";

describe("gateway smoke", () => {
  let one: Upstream;
  let two: Upstream;
  let gateway: TestGateway;
  beforeAll(async () => {
    one = await startUpstream({ name: "one", mode: "json" });
    two = await startUpstream({ name: "two", mode: "sse", stateful: true });
    gateway = await startTestGateway({ servers: { alpha: { url: one.url }, beta: { url: two.url } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([one?.close(), two?.close()]);
  });

  it("lists and calls tools of two upstreams through /mcp", async () => {
    const client = await gateway.connect("/mcp");
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).toContain("alpha-echo");
    expect(names).toContain("beta-echo");
    const result = await client.callTool({ name: "beta-echo", arguments: { message: "hi" } });
    expect(result.content).toEqual([{ type: "text", text: "hi" }]);
  });

  it("lists and calls tools of one upstream through /{server}/mcp", async () => {
    const client = await gateway.connect("/beta/mcp");
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain("echo");
    const result = await client.callTool({ name: "add", arguments: { a: 2, b: 3 } });
    expect(result.content).toEqual([{ type: "text", text: "5" }]);
  });
});
