/**
 * stdio servers (`transport: stdio`): the gateway runs the command, speaks MCP over its
 * stdin/stdout with the official SDK, and serves it on every route, driven here by the
 * official SDK client. The peers are real: an SDK stdio server of ours
 * (fixtures/stdio-server.mjs) and @modelcontextprotocol/server-everything in stdio mode.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { EVERYTHING, fixtureServer } from "../fixtures/stdio.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const TOKEN = "fixture-token-0123456789";
/** Set in this process's environment, which the gateway's children must never see. */
const GATEWAY_SECRET = "STDIO_TEST_GATEWAY_SECRET";

let gateway: TestGateway;
let other: Upstream;

function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((part) => part.text ?? "").join("");
}

async function rest(path: string, body?: unknown, key?: string): Promise<Response> {
  return gateway.fetch(path, body === undefined ? { key } : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), key });
}

const logged = (matches: (line: Record<string, unknown>) => boolean) => gateway.waitForLog(matches);

const readyLines = (server: string) => gateway.logs.filter((line) => line.server === server && line.msg === "stdio MCP server is ready");

beforeAll(async () => {
  process.env[GATEWAY_SECRET] = "must-not-reach-children";
  other = await startUpstream({ name: "other" });
  gateway = await startTestGateway({
    env: { FIXTURE_TOKEN: TOKEN },
    servers: {
      fs: fixtureServer({ env: { FIXTURE_TOKEN: "os.environ/FIXTURE_TOKEN" }, disallowed_tools: ["secret_admin"] }),
      crashy: fixtureServer(),
      everything: { transport: "stdio", command: process.execPath, args: [EVERYTHING, "stdio"] },
      broken: { transport: "stdio", command: "/nonexistent/stdio-mcp-server-xyz", args: [] },
      other: { url: other.url },
    },
  });
  await Promise.all(["fs", "crashy", "everything"].map((server) => logged((line) => line.server === server && line.msg === "stdio MCP server is ready")));
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await other?.close();
  delete process.env[GATEWAY_SECRET];
});

describe("a stdio server through /{server}/mcp (SDK client, streamable HTTP)", () => {
  it("initializes from the process's own answer, lists tools without the disallowed one, and calls a tool", async () => {
    const client = await gateway.connect("/fs/mcp");
    expect(client.getServerVersion()?.name).toBe("stdio-fixture");
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).toContain("echo");
    expect(names).not.toContain("secret_admin");
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "hello over stdio" } }))).toBe("hello over stdio");
    await expect(client.callTool({ name: "secret_admin" })).rejects.toThrow(/not allowed/);
  });

  it("routes answers and progress to the right client when several clients share the process (their ids and tokens collide)", async () => {
    const [first, second] = await Promise.all([gateway.connect("/fs/mcp"), gateway.connect("/fs/mcp")]);
    const progress: Record<string, Progress[]> = { first: [], second: [] };
    const calls = await Promise.all(
      [first, second, first, second].map((client, index) =>
        client.callTool({ name: index < 2 ? "progress" : "echo", arguments: index < 2 ? { steps: index + 2 } : { text: `call ${index}` } }, undefined, {
          onprogress: (step) => progress[index % 2 === 0 ? "first" : "second"]!.push(step),
        }),
      ),
    );
    expect(calls.map(textOf)).toEqual(["done after 2 steps (token number)", "done after 3 steps (token number)", "call 2", "call 3"]);
    expect(progress.first!.map((step) => step.progress)).toEqual([1, 2]);
    expect(progress.second!.map((step) => step.progress)).toEqual([1, 2, 3]);
  });

  it("passes a client's cancellation on to the process with the gateway's id", async () => {
    const client = await gateway.connect("/fs/mcp");
    const abort = new AbortController();
    const call = client.callTool({ name: "wait_for_cancel", arguments: { tag: "tag-7f3a" } }, undefined, { signal: abort.signal });
    // The tool says on stderr when it runs: only then is there a request to cancel in the process.
    await logged((entry) => entry.server === "fs" && entry.msg === "waiting tag-7f3a");
    abort.abort("no longer needed");
    await expect(call).rejects.toThrow();
    const line = await logged((entry) => entry.server === "fs" && entry.stream === "stderr" && entry.msg === "cancelled tag-7f3a");
    expect(line.level).toBeDefined();
  });

  it("a client's notifications/cancelled cannot cancel another client's request with the same id", async () => {
    const victim = await gateway.connect("/fs/mcp");
    const attacker = await gateway.connect("/fs/mcp");
    const abort = new AbortController();
    const call = victim.callTool({ name: "wait_for_cancel", arguments: { tag: "victim-5d1e" } }, undefined, { signal: abort.signal });
    await logged((entry) => entry.server === "fs" && entry.msg === "waiting victim-5d1e");
    // The SDK client numbers requests from 0: ids 0 (initialize) to a few are the victim's too.
    for (let requestId = 0; requestId < 8; requestId++) {
      await attacker.notification({ method: "notifications/cancelled", params: { requestId, reason: "hostile" } });
    }
    expect(await attacker.ping()).toEqual({});
    expect(gateway.logs.some((entry) => entry.msg === "cancelled victim-5d1e")).toBe(false);
    abort.abort("done");
    await expect(call).rejects.toThrow();
    await logged((entry) => entry.server === "fs" && entry.msg === "cancelled victim-5d1e");
  });

  it("answers the process's own requests it cannot route with an error (sampling goes to no client)", async () => {
    const client = await gateway.connect("/fs/mcp");
    const text = textOf(await client.callTool({ name: "ask_client" }));
    expect(text).toMatch(/^refused: .*cannot route 'sampling\/createMessage'/);
  });

  it("logs the process's stderr with the server's name", async () => {
    const client = await gateway.connect("/fs/mcp");
    await client.callTool({ name: "stderr", arguments: { line: "a line for the log 91c2" } });
    const line = await logged((entry) => entry.msg === "a line for the log 91c2");
    expect(line).toMatchObject({ server: "fs", stream: "stderr" });
  });

  it("masks the configured env values (its secrets) in the stderr lines it logs", async () => {
    const client = await gateway.connect("/fs/mcp");
    await client.callTool({ name: "stderr", arguments: { line: `token is ${TOKEN} (4d0b)` } });
    const line = await logged((entry) => entry.server === "fs" && String(entry.msg).endsWith("(4d0b)"));
    expect(String(line.msg)).not.toContain(TOKEN);
    expect(JSON.stringify(gateway.logs)).not.toContain(TOKEN);
  });

  it("reports the upstream call in the debug headers without the command", async () => {
    const response = await rest("/mcp-rest/tools/call", { server_name: "fs", name: "echo", arguments: { text: "x" } });
    expect(response.status).toBe(200);
    const debug = await gateway.fetch("/mcp-rest/tools/list?server_name=fs", { headers: { "x-litellm-mcp-debug": "true" } });
    expect(debug.headers.get("x-mcp-debug-auth-resolution")).toBe("stdio-process");
    expect(debug.headers.get("x-mcp-debug-outbound-url")).toBe("stdio://fs");
    expect(JSON.stringify([...debug.headers])).not.toContain("stdio-server.mjs");
  });
});

describe("a stdio server through /mcp and /mcp-rest", () => {
  it("lists its tools prefixed on /mcp and calls one, with progress", async () => {
    const client = await gateway.connect("/mcp");
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(["fs-echo", "fs-progress", "everything-echo", "other-echo"]));
    expect(names).not.toContain("fs-secret_admin");
    expect(textOf(await client.callTool({ name: "fs-echo", arguments: { text: "via the aggregate" } }))).toBe("via the aggregate");
    const steps: Progress[] = [];
    const result = await client.callTool({ name: "fs-progress", arguments: { steps: 3 } }, undefined, { onprogress: (step) => steps.push(step) });
    expect(textOf(result)).toBe("done after 3 steps (token number)");
    expect(steps.map((step) => step.progress)).toEqual([1, 2, 3]);
  });

  it("lists and calls through /mcp-rest/tools/list and /mcp-rest/tools/call", async () => {
    const listed = await rest("/mcp-rest/tools/list?server_name=fs");
    expect(listed.status).toBe(200);
    const { tools } = (await listed.json()) as { tools: Array<{ name: string; mcp_info: { server_name: string } }> };
    expect(tools.map((tool) => tool.name)).toContain("echo");
    expect(tools.every((tool) => tool.mcp_info.server_name === "fs")).toBe(true);
    const called = await rest("/mcp-rest/tools/call", { server_name: "fs", name: "echo", arguments: { text: "via REST" } });
    expect(called.status).toBe(200);
    expect(textOf(await called.json())).toBe("via REST");
  });

  it("records the tool call in the audit trail like any other server's", async () => {
    await rest("/mcp-rest/tools/call", { server_name: "fs", name: "echo", arguments: { text: "audited" } });
    const audit = await gateway.fetch("/v1/mcp/audit?server=fs");
    expect(audit.status).toBe(200);
    const { events } = (await audit.json()) as { events: Array<{ server: string; tool: string; route: string }> };
    expect(events.some((event) => event.server === "fs" && event.tool === "echo" && event.route === "rest")).toBe(true);
  });
});

describe("@modelcontextprotocol/server-everything in stdio mode", () => {
  it("is served through /{server}/mcp, /mcp and REST", async () => {
    const client = await gateway.connect("/everything/mcp");
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain("echo");
    expect(textOf(await client.callTool({ name: "echo", arguments: { message: "everything" } }))).toContain("everything");
    const aggregate = await gateway.connect("/mcp");
    expect(textOf(await aggregate.callTool({ name: "everything-get-sum", arguments: { a: 2, b: 3 } }))).toContain("5");
    const called = await rest("/mcp-rest/tools/call", { server_name: "everything", name: "echo", arguments: { message: "rest" } });
    expect(called.status).toBe(200);
    expect(textOf(await called.json())).toContain("rest");
  });
});

describe("the child's environment", () => {
  it("holds the configured env (os.environ/ resolved) and a minimal default, never the gateway's own variables", async () => {
    const call = async (name: string, args: Record<string, unknown> = {}) => textOf(await (await rest("/mcp-rest/tools/call", { server_name: "fs", name, arguments: args })).json());
    // The child has the value; the gateway masks it in what it relays (see the test below).
    expect(await call("env", { name: "FIXTURE_TOKEN" })).toBe(`****${TOKEN.slice(-4)}`);
    expect(await call("env", { name: GATEWAY_SECRET })).toBe("(unset)");
    const names = (await call("env_names")).split(",");
    expect(names).toContain("FIXTURE_TOKEN");
    expect(names.every((name) => ["FIXTURE_TOKEN", "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"].includes(name))).toBe(true);
  });
});

describe("supervision", () => {
  it("restarts a process that crashed, answering 503 with Retry-After while it is down", async () => {
    const client = await gateway.connect("/crashy/mcp");
    const before = textOf(await client.callTool({ name: "pid" }));
    const readyBefore = readyLines("crashy").length;
    await expect(client.callTool({ name: "crash" })).rejects.toThrow(/exited while handling the request/);
    const down = await rest("/mcp-rest/tools/call", { server_name: "crashy", name: "pid" });
    expect(down.status).toBe(503);
    expect(Number(down.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await down.json()).toMatchObject({ error: "upstream_unavailable", server: "crashy" });
    // The pass-through answers the same: 503 with Retry-After, as a JSON-RPC error with the request's id.
    const sessionId = (client.transport as { sessionId?: string }).sessionId!;
    const passthrough = await gateway.fetch("/crashy/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 41, method: "tools/call", params: { name: "pid" } }),
    });
    expect(passthrough.status).toBe(503);
    expect(passthrough.headers.get("retry-after")).not.toBeNull();
    expect(await passthrough.json()).toMatchObject({ jsonrpc: "2.0", id: 41, error: { message: expect.stringContaining("MCP server 'crashy' is not running") } });
    expect(gateway.logs.some((line) => line.server === "crashy" && line.level === 50 && String(line.msg).includes("'crashy' exited; restarting it in"))).toBe(true);
    await logged(() => readyLines("crashy").length > readyBefore);
    // The client's session outlives the process: the same client calls the new one.
    const after = textOf(await client.callTool({ name: "pid" }));
    expect(after).not.toBe(before);
  });

  it("reports a command that cannot start by the server's name, keeps serving the others, and answers its calls 503", async () => {
    const line = await logged((entry) => entry.server === "broken" && entry.level === 50);
    expect(String(line.msg)).toMatch(/stdio MCP server 'broken' could not start: .*ENOENT.*restarting it in/);
    const response = await rest("/mcp-rest/tools/call", { server_name: "broken", name: "echo", arguments: {} });
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).not.toBeNull();
    const listing = await rest("/mcp-rest/tools/list");
    expect(listing.status).toBe(200);
  });
});

describe("permissions", () => {
  it("a key limited to another server cannot reach the stdio server on any route", async () => {
    const key = await gateway.generateKey({ key_alias: "other-only", object_permission: { mcp_servers: ["other"] } });
    const passthrough = await gateway.fetch("/fs/mcp", {
      key,
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
    });
    expect(passthrough.status).toBe(403);
    const called = await rest("/mcp-rest/tools/call", { server_name: "fs", name: "echo", arguments: { text: "x" } }, key);
    expect(called.status).toBe(403);
    const listed = (await (await rest("/mcp-rest/tools/list", undefined, key)).json()) as { tools: Array<{ mcp_info: { server_name: string } }> };
    expect(listed.tools.every((tool) => tool.mcp_info.server_name === "other")).toBe(true);
    const prefixed = await rest("/mcp-rest/tools/call", { name: "fs-echo", arguments: { text: "x" } }, key);
    expect(prefixed.status).toBe(403);
  });

  it("another key cannot use a client's stdio session", async () => {
    const client: Client = await gateway.connect("/fs/mcp");
    const sessionId = (client.transport as { sessionId?: string }).sessionId!;
    const key = await gateway.generateKey({ key_alias: "fs-too", object_permission: { mcp_servers: ["fs"] } });
    const response = await gateway.fetch("/fs/mcp", {
      key,
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/list", params: {} }),
    });
    expect(response.status).toBe(404);
  });
});

describe("regression: a stdio server's answers showed its configured env secrets to callers", () => {
  // A server that echoes its token (an upstream API's "invalid token: ..." error) showed it to
  // every key allowed to use the server, as item 11 of SECURITY.md closed for HTTP upstreams.
  it("masks the credential-carrying env values in answers on the pass-through, /mcp and REST", async () => {
    const limited = await gateway.generateKey({ object_permission: { mcp_servers: ["fs"] } });
    const client = await gateway.connect("/fs/mcp", { "x-litellm-api-key": `Bearer ${limited}` });
    const direct = textOf(await client.callTool({ name: "echo", arguments: { text: `bad token ${TOKEN}` } }));
    expect(direct).toBe(`bad token ****${TOKEN.slice(-4)}`);
    const aggregate = await gateway.connect("/mcp", { "x-litellm-api-key": `Bearer ${limited}` });
    expect(textOf(await aggregate.callTool({ name: "fs-env", arguments: { name: "FIXTURE_TOKEN" } }))).not.toContain(TOKEN);
    const called = await rest("/mcp-rest/tools/call", { server_name: "fs", name: "echo", arguments: { text: `again ${TOKEN}` } }, limited);
    expect(JSON.stringify(await called.json())).not.toContain(TOKEN);
    // Ordinary env values (no credential name, not token-shaped) are left alone.
    expect(textOf(await client.callTool({ name: "echo", arguments: { text: "plain words stay" } }))).toBe("plain words stay");
  });
});
