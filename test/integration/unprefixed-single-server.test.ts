/**
 * general_settings.mcp_unprefixed_single_server: a request to the aggregate that names its
 * servers (path or x-mcp-servers) and comes to exactly one gets that server's own tool and
 * prompt names, and its bare names reach that server; every other request keeps the
 * prefixes. Through the official SDK client and a real upstream (the conformance fixture).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startConformanceUpstreamProcess, type ConformanceUpstream } from "../fixtures/conformance-upstream-process.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";

let upstream: ConformanceUpstream;
let other: ConformanceUpstream;
let unprefixed: TestGateway;
let prefixed: TestGateway;

const text = (result: unknown) => ((result as { content: Array<{ text: string }> }).content[0]?.text ?? "");

beforeAll(async () => {
  [upstream, other] = await Promise.all([startConformanceUpstreamProcess(), startConformanceUpstreamProcess()]);
  // The access group `solo` holds one server, `pair` both.
  const servers = { conf: { url: upstream.url, access_groups: ["solo", "pair"] }, other: { url: other.url, access_groups: ["pair"] } };
  [unprefixed, prefixed] = await Promise.all([startTestGateway({ servers, general: { mcp_unprefixed_single_server: true } }), startTestGateway({ servers })]);
});

afterAll(async () => {
  await Promise.all([unprefixed?.close(), prefixed?.close()]);
  upstream?.close();
  other?.close();
});

describe("mcp_unprefixed_single_server", () => {
  it("serves and routes the upstream's own tool and prompt names on an access group of one server", async () => {
    const client = await unprefixed.connect("/solo/mcp");
    const tools = (await client.listTools()).tools.map((tool) => tool.name);
    expect(tools).toContain("test_simple_text");
    expect(tools.some((name) => name.startsWith("conf-"))).toBe(false);
    expect(text(await client.callTool({ name: "test_simple_text", arguments: {} }))).toBe("This is a simple text response for testing.");
    expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toContain("test_simple_prompt");
    const prompt = await client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "a", arg2: "b" } });
    expect(JSON.stringify(prompt.messages)).toContain("arg1='a', arg2='b'");
    const completion = await client.complete({ ref: { type: "ref/prompt", name: "test_prompt_with_arguments" }, argument: { name: "arg1", value: "pa" } });
    expect(completion.completion.values).toEqual(["paris", "park", "party"]);
  });

  it("does the same for x-mcp-servers naming one server, and for a path of one name", async () => {
    const byHeader = await unprefixed.connect("/mcp", { "x-mcp-servers": "conf" });
    expect(text(await byHeader.callTool({ name: "test_simple_text", arguments: {} }))).toBe("This is a simple text response for testing.");
    const byPath = await unprefixed.connect("/conf,/mcp");
    expect((await byPath.listTools()).tools.map((tool) => tool.name)).toContain("test_simple_text");
  });

  it("keeps the prefixes where the request names no server or several, and where the setting is off", async () => {
    for (const [gateway, path] of [
      [unprefixed, "/mcp"],
      [unprefixed, "/pair/mcp"],
      [prefixed, "/solo/mcp"],
    ] as const) {
      const client = await gateway.connect(path);
      const tools = (await client.listTools()).tools.map((tool) => tool.name);
      expect(tools, `${path}`).toContain("conf-test_simple_text");
      expect(tools, `${path}`).not.toContain("test_simple_text");
      expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toContain("conf-test_simple_prompt");
      await expect(client.callTool({ name: "test_simple_text", arguments: {} })).rejects.toThrow(/unknown tool 'test_simple_text'/);
    }
  });
});
