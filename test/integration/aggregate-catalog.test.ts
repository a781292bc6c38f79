/**
 * The aggregate `/mcp` serves more than tools: the resources, resource templates, prompts,
 * completions and logging of every server the caller may use, with the official SDK client
 * on one side and two copies of `@modelcontextprotocol/server-everything` (stdio) on the
 * other. The two copies offer the same resource URIs, so the aggregate must tell them apart.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Resource } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { EVERYTHING } from "../fixtures/stdio.js";

let gateway: TestGateway;
/** A key for `ev1` only. */
let ev1Key: string;

const everything = () => ({ transport: "stdio", command: process.execPath, args: [EVERYTHING, "stdio"] });

beforeAll(async () => {
  gateway = await startTestGateway({ servers: { ev1: everything(), ev2: everything() } });
  await Promise.all(["ev1", "ev2"].map((server) => gateway.waitForLog((line) => line.server === server && line.msg === "stdio MCP server is ready")));
  ev1Key = await gateway.generateKey({ object_permission: { mcp_servers: ["ev1"] } });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
});

/** Every resource, following nextCursor to the end (bounded). */
async function allResources(client: Client): Promise<{ resources: Resource[]; pages: number }> {
  const resources: Resource[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.listResources(cursor === undefined ? {} : { cursor });
    resources.push(...page.resources);
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < 50);
  return { resources, pages };
}

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

describe("/mcp: resources, prompts, completions and logging of every server", () => {
  it("declares resources, prompts, completions and logging in initialize", async () => {
    const client = await gateway.connect("/mcp");
    expect(client.getServerCapabilities()).toMatchObject({ tools: {}, resources: {}, prompts: {}, completions: {}, logging: {} });
  });

  it("lists every server's prompts named {server}-{prompt}, and gets one with its arguments", async () => {
    const direct = await (await gateway.connect("/ev1/mcp")).listPrompts();
    const client = await gateway.connect("/mcp");
    const { prompts } = await client.listPrompts();
    const names = prompts.map((prompt) => prompt.name).sort();
    expect(names).toEqual([...direct.prompts.map((prompt) => `ev1-${prompt.name}`), ...direct.prompts.map((prompt) => `ev2-${prompt.name}`)].sort());

    const got = await client.getPrompt({ name: "ev2-args-prompt", arguments: { city: "Lisbon" } });
    expect(JSON.stringify(got.messages)).toContain("Lisbon");
  });

  it("pages resources across servers with its own cursor; two servers' identical URIs are both rewritten to gatehouse://{server}/{uri}", async () => {
    const direct = await allResources(await gateway.connect("/ev1/mcp"));
    expect(direct.resources.length).toBeGreaterThan(0);
    const { resources, pages } = await allResources(await gateway.connect("/mcp"));

    expect(pages).toBe(direct.pages);
    const uris = resources.map((resource) => resource.uri).sort();
    expect(uris).toEqual([...direct.resources.map((resource) => `gatehouse://ev1/${resource.uri}`), ...direct.resources.map((resource) => `gatehouse://ev2/${resource.uri}`)].sort());
  });

  it("reads a rewritten URI at its server, naming the content with the URI the client asked for", async () => {
    const [first] = (await allResources(await gateway.connect("/ev1/mcp"))).resources;
    const directRead = await (await gateway.connect("/ev2/mcp")).readResource({ uri: first!.uri });
    const client = await gateway.connect("/mcp");

    const read = await client.readResource({ uri: `gatehouse://ev2/${first!.uri}` });

    expect(read.contents.map((content) => content.uri)).toEqual(directRead.contents.map((content) => `gatehouse://ev2/${content.uri}`));
    expect(read.contents.map((content) => ("text" in content ? content.text : content.blob))).toEqual(directRead.contents.map((content) => ("text" in content ? content.text : content.blob)));
  });

  it("keeps URIs as the upstream gives them when only one server offers them, and routes a plain read without a listing first", async () => {
    const client = await gateway.connect("/mcp", keyHeader(ev1Key));
    const direct = (await allResources(await gateway.connect("/ev1/mcp"))).resources;
    const [first] = direct;

    // Before any listing with this key: the gateway finds the URI by listing itself.
    const read = await client.readResource({ uri: first!.uri });
    expect(read.contents[0]?.uri).toBe(first!.uri);

    const { resources } = await allResources(client);
    expect(resources.map((resource) => resource.uri).sort()).toEqual(direct.map((resource) => resource.uri).sort());
  });

  it("routes a URI made from a server's template, and lists the templates", async () => {
    const client = await gateway.connect("/mcp", keyHeader(ev1Key));
    const { resourceTemplates } = await client.listResourceTemplates();
    const text = resourceTemplates.find((template) => template.uriTemplate.includes("/text/"));
    expect(text?.uriTemplate).toBe("demo://resource/dynamic/text/{resourceId}");

    const read = await client.readResource({ uri: "demo://resource/dynamic/text/7" });
    expect(JSON.stringify(read.contents)).toContain("Resource 7");
  });

  it("completes a prompt argument through its prefixed name", async () => {
    const client = await gateway.connect("/mcp");
    const { prompts } = await client.listPrompts();
    const completable = prompts.find((prompt) => prompt.name === "ev1-completable-prompt");
    const argument = completable?.arguments?.[0]?.name;
    expect(argument).toBeDefined();

    const result = await client.complete({ ref: { type: "ref/prompt", name: "ev1-completable-prompt" }, argument: { name: argument!, value: "" } });
    expect(result.completion.values.length).toBeGreaterThan(0);
  });

  it("sets the log level on every server", async () => {
    const client = await gateway.connect("/mcp");
    await expect(client.setLoggingLevel("warning")).resolves.toEqual({});
  });

  it("a key limited to one server sees only its prompts and resources, and cannot name the other server's resources", async () => {
    const client = await gateway.connect("/mcp", keyHeader(ev1Key));
    const { prompts } = await client.listPrompts();
    expect(prompts.length).toBeGreaterThan(0);
    expect(prompts.every((prompt) => prompt.name.startsWith("ev1-"))).toBe(true);
    await expect(client.getPrompt({ name: "ev2-simple-prompt" })).rejects.toThrow(/unknown prompt 'ev2-simple-prompt'/);
    await expect(client.readResource({ uri: "gatehouse://ev2/demo://resource/dynamic/text/1" })).rejects.toThrow(/no MCP server 'ev2' is available to this key/);
  });

  it("refuses a cursor it did not give, and an unknown resource with -32002", async () => {
    const client = await gateway.connect("/mcp");
    await expect(client.listResources({ cursor: "not-a-gateway-cursor" })).rejects.toMatchObject({ code: -32602 });
    await expect(client.readResource({ uri: "nowhere://nothing" })).rejects.toMatchObject({ code: -32002 });
  });
});

describe("/mcp: tasks of every server (server-everything's task-only research tool)", () => {
  interface Rpc {
    result?: Record<string, unknown> & { task?: { taskId: string; status: string }; tasks?: Array<{ taskId: string }>; status?: string };
    error?: { code: number; message: string };
  }
  async function call(method: string, params: Record<string, unknown>, key = gateway.masterKey): Promise<Rpc> {
    const response = await gateway.fetch("/mcp", { method: "POST", key, headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    return (await response.json()) as Rpc;
  }

  it("creates the task at its server, names it gh:{server}:..., and gets its status, its result and the list through /mcp", async () => {
    const created = await call("tools/call", { name: "ev2-simulate-research-query", arguments: { topic: "gateways" }, task: { ttl: 60_000 } });
    const taskId = created.result?.task?.taskId;
    expect(taskId, JSON.stringify(created)).toMatch(/^gh:ev2:/);

    await expect.poll(async () => (await call("tasks/get", { taskId })).result?.status, { timeout: 15_000, interval: 250 }).toBe("completed");
    const result = await call("tasks/result", { taskId });
    expect(JSON.stringify(result.result)).toContain("gateways");
    const listed = await call("tasks/list", {});
    expect(listed.result?.tasks?.map((task) => task.taskId)).toContain(taskId);
  });

  it("another key cannot see, read or cancel the task: its id is an unknown task there", async () => {
    const created = await call("tools/call", { name: "ev1-simulate-research-query", arguments: { topic: "secrets" }, task: { ttl: 60_000 } });
    const taskId = created.result?.task?.taskId;
    expect(taskId).toMatch(/^gh:ev1:/);
    for (const method of ["tasks/get", "tasks/result", "tasks/cancel"]) {
      const answer = await call(method, { taskId }, ev1Key);
      expect(answer.error?.message, method).toContain("unknown task");
    }
    const forged = await call("tasks/get", { taskId: `gh:ev1:${taskId!.split(":").at(-1)!.split(".")[0]}.AAAAAAAAAAAAAAAAAAAAAA` });
    expect(forged.error?.message).toContain("unknown task");
    const cancelled = await call("tasks/cancel", { taskId });
    expect(cancelled.result?.status, JSON.stringify(cancelled)).toBe("cancelled");
  });
});
