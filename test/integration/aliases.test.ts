/**
 * Issue 17: a server's alias (its own `alias`, or `litellm_settings.mcp_aliases`) is its
 * tool prefix on /mcp and REST, and a name it answers to in URLs, x-mcp-servers,
 * x-mcp-{alias}-{header} and REST server_name; MCP_TOOL_PREFIX_SEPARATOR sets the separator.
 * Through real SDK clients and real upstream MCP servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

let github: Upstream;
let jira: Upstream;
let plain: Upstream;
let gateway: TestGateway;
let underscored: TestGateway;

const text = (result: unknown) => ((result as { content: Array<{ text: string }> }).content[0]?.text ?? "");

beforeAll(async () => {
  [github, jira, plain] = await Promise.all([upstreamNamed("github"), upstreamNamed("jira"), upstreamNamed("plain")]);
  const servers = {
    github_mcp: { url: github.url },
    jira: { url: jira.url, alias: "tickets", disallowed_tools: ["tickets-secret_admin"] },
    plain: { url: plain.url },
  };
  const sections = { litellm_settings: { mcp_aliases: { gh: "github_mcp", github: "github_mcp" } } };
  gateway = await startTestGateway({ servers, sections });
  underscored = await startTestGateway({ servers, sections, env: { MCP_TOOL_PREFIX_SEPARATOR: "__" } });
});

afterAll(async () => {
  await Promise.all([gateway?.close(), underscored?.close()]);
  await Promise.all([github?.close(), jira?.close(), plain?.close()]);
});

describe("the alias is the tool prefix", () => {
  it("lists tools under the alias on /mcp, and routes calls by alias or name", async () => {
    const client = await gateway.connect("/mcp");
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain("gh-where");
    expect(names).toContain("tickets-where");
    expect(names).toContain("plain-where");
    expect(names.some((name) => name.startsWith("github_mcp-") || name.startsWith("jira-"))).toBe(false);
    expect(text(await client.callTool({ name: "gh-where", arguments: {} }))).toBe("github");
    expect(text(await client.callTool({ name: "github_mcp-where", arguments: {} }))).toBe("github");
    expect(text(await client.callTool({ name: "tickets-where", arguments: {} }))).toBe("jira");
  });

  it("applies a disallowed_tools entry written with the alias prefix (never ignored)", async () => {
    const client = await gateway.connect("/mcp");
    expect((await client.listTools()).tools.map((tool) => tool.name)).not.toContain("tickets-secret_admin");
    await expect(client.callTool({ name: "tickets-secret_admin", arguments: {} })).rejects.toThrow(/not allowed/);
    const direct = await gateway.connect("/jira/mcp");
    await expect(direct.callTool({ name: "secret_admin", arguments: {} })).rejects.toThrow(/not allowed/);
  });

  it("uses MCP_TOOL_PREFIX_SEPARATOR between prefix and tool", async () => {
    const client = await underscored.connect("/mcp");
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain("gh__where");
    expect(names).toContain("plain__where");
    expect(text(await client.callTool({ name: "tickets__where", arguments: {} }))).toBe("jira");
    const rest = await underscored.fetch("/mcp-rest/tools/call", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "gh__where", arguments: {} }) });
    expect(text(await rest.json())).toBe("github");
  });
});

describe("the alias is a name the server answers to", () => {
  it("serves /{alias}/mcp and /mcp/{alias}", async () => {
    for (const path of ["/gh/mcp", "/mcp/gh", "/tickets/mcp"]) {
      const client = await gateway.connect(path);
      const expected = path.includes("tickets") ? "jira" : "github";
      expect(text(await client.callTool({ name: "where", arguments: {} })), path).toBe(expected);
    }
  });

  it("narrows /mcp by alias in x-mcp-servers", async () => {
    const client = await gateway.connect("/mcp", { "x-mcp-servers": "gh,tickets" });
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain("gh-where");
    expect(names).toContain("tickets-where");
    expect(names.some((name) => name.startsWith("plain-"))).toBe(false);
  });

  it("sends x-mcp-{alias}-{header} to that server only", async () => {
    const before = [github.requests.length, plain.requests.length];
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, "x-mcp-gh-x-team": "platform" },
      body: rpc("tools/call", { name: "gh-where", arguments: {} }),
    });
    expect(response.status).toBe(200);
    await response.text();
    const call = github.requests.slice(before[0]).find((request) => (request.body as { method?: string } | undefined)?.method === "tools/call");
    expect(call?.headers["x-team"]).toBe("platform");
    expect(plain.requests.slice(before[1]).some((request) => request.headers["x-team"] !== undefined)).toBe(false);
  });

  it("takes the alias as REST server_name", async () => {
    const listed = await gateway.fetch("/mcp-rest/tools/list?server_name=tickets");
    const body = (await listed.json()) as { tools: Array<{ name: string; mcp_info: { server_name: string } }> };
    expect(body.tools.map((tool) => tool.name)).toContain("where");
    expect(new Set(body.tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["jira"]));
    const called = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "where", server_name: "gh", arguments: {} }) });
    expect(text(await called.json())).toBe("github");
  });

  it("does not let a key limited to one server reach another through its alias", async () => {
    const key = await gateway.generateKey({ object_permission: { mcp_servers: ["jira"] } });
    const denied = await gateway.fetch("/gh/mcp", { key, method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "where", arguments: {} }) });
    expect(denied.status).toBe(403);
    await denied.text();
    const allowed = await gateway.fetch("/tickets/mcp", { key, method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "where", arguments: {} }) });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain("jira");
    const viaAggregate = await gateway.fetch("/mcp", { key, method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "gh-where", arguments: {} }) });
    expect(await viaAggregate.text()).toMatch(/not available to this key|not allowed/);
  });
});
