/**
 * The aggregate `/mcp` endpoint (README, "Routes"): the gateway as one MCP server in front of
 * real upstream MCP servers, driven by the official SDK client and by raw JSON-RPC POSTs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";
import { rejectionOf } from "../fixtures/assertions.js";

const DEFAULT_TOOLS = ["add", "echo", "progress", "secret_admin", "slow", "whoami"];
const WARN = 40;

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string {
  const content = result.content as Array<{ type: string; text?: string }>;
  return content[0]?.text ?? "";
}

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

function isToolsList(request: RecordedRequest): boolean {
  return (request.body as { method?: string } | undefined)?.method === "tools/list";
}

function names(tools: ReadonlyArray<{ name: string }>): string[] {
  return tools.map((tool) => tool.name).sort();
}

function prefixed(server: string, tools: readonly string[]): string[] {
  return tools.map((tool) => `${server}-${tool}`);
}

function warnLinesFor(gateway: TestGateway, server: string): Array<Record<string, unknown>> {
  return gateway.logs.filter((line) => line.level === WARN && line.server === server);
}

interface JsonRpcAnswer {
  jsonrpc: string;
  id: number | string | null;
  result?: { tools?: Array<{ name: string }>; content?: unknown[] };
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

describe("aggregate /mcp: merging and routing", () => {
  let alpha: Upstream;
  let beta: Upstream;
  let gh: Upstream;
  let ghEnterprise: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    [alpha, beta, gh, ghEnterprise] = await Promise.all([
      upstreamNamed("alpha", { mode: "json", stateful: false }),
      upstreamNamed("beta", { mode: "sse", stateful: true }),
      upstreamNamed("gh", { mode: "json" }),
      upstreamNamed("gh-enterprise", { mode: "sse" }),
    ]);
    gateway = await startTestGateway({
      servers: {
        alpha: { url: alpha.url },
        beta: { url: beta.url },
        gh: { url: gh.url },
        "gh-enterprise": { url: ghEnterprise.url },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([alpha, beta, gh, ghEnterprise].map((upstream) => upstream?.close()));
  });

  it("lists every upstream's tools as {server}-{tool}, with descriptions and input schemas", async () => {
    const client = await gateway.connect("/mcp");
    const { tools } = await client.listTools();
    const all = [...DEFAULT_TOOLS, "where"];
    expect(names(tools)).toEqual(
      [...prefixed("alpha", all), ...prefixed("beta", all), ...prefixed("gh", all), ...prefixed("gh-enterprise", all)].sort(),
    );
    const add = tools.find((tool) => tool.name === "beta-add");
    expect(add?.description).toBe("Adds two numbers and returns the sum as text.");
    expect(add?.inputSchema).toMatchObject({ type: "object", properties: { a: { type: "number" }, b: { type: "number" } } });
  });

  it("routes tools/call to the upstream named by the prefix (json stateless and sse stateful)", async () => {
    const client = await gateway.connect("/mcp");
    expect(firstText(await client.callTool({ name: "alpha-add", arguments: { a: 2, b: 3 } }))).toBe("5");
    expect(firstText(await client.callTool({ name: "beta-echo", arguments: { message: "via beta" } }))).toBe("via beta");
    expect(firstText(await client.callTool({ name: "alpha-where", arguments: {} }))).toBe("alpha");
    expect(firstText(await client.callTool({ name: "beta-where", arguments: {} }))).toBe("beta");
    // The upstream sees its own tool name, never the prefixed one.
    expect(beta.requests.some(isCallOf("echo"))).toBe(true);
    expect(beta.requests.some(isCallOf("beta-echo"))).toBe(false);
  });

  it("routes a prefix that is itself a server name followed by '-' to the longest matching server", async () => {
    const client = await gateway.connect("/mcp");
    const ghCallsBefore = gh.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").length;
    expect(firstText(await client.callTool({ name: "gh-enterprise-where", arguments: {} }))).toBe("gh-enterprise");
    expect(firstText(await client.callTool({ name: "gh-enterprise-echo", arguments: { message: "long" } }))).toBe("long");
    const ghCallsAfter = gh.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").length;
    expect(ghCallsAfter).toBe(ghCallsBefore);
    expect(gh.requests.some(isCallOf("enterprise-where"))).toBe(false);
    expect(firstText(await client.callTool({ name: "gh-where", arguments: {} }))).toBe("gh");
  });

  it("x-mcp-servers narrows the list and the calls, without asking the other upstreams", async () => {
    const client = await gateway.connect("/mcp", { "x-mcp-servers": "alpha, gh" });
    const betaListsBefore = beta.requests.filter(isToolsList).length;
    const ghEnterpriseListsBefore = ghEnterprise.requests.filter(isToolsList).length;
    const { tools } = await client.listTools();
    const all = [...DEFAULT_TOOLS, "where"];
    expect(names(tools)).toEqual([...prefixed("alpha", all), ...prefixed("gh", all)].sort());
    expect(beta.requests.filter(isToolsList).length).toBe(betaListsBefore);
    expect(ghEnterprise.requests.filter(isToolsList).length).toBe(ghEnterpriseListsBefore);

    expect(firstText(await client.callTool({ name: "gh-where", arguments: {} }))).toBe("gh");
    const outside = await rejectionOf(client.callTool({ name: "beta-echo", arguments: { message: "no" } }));
    expect(outside).toBeInstanceOf(McpError);
    expect((outside as McpError).message).toContain("beta-echo");
    // gh-enterprise is outside the set even though "gh" (inside it) is a prefix of its name.
    const longer = await rejectionOf(client.callTool({ name: "gh-enterprise-where", arguments: {} }));
    expect(longer).toBeInstanceOf(McpError);
    const refusedReachedBeta = beta.requests
      .filter(isCallOf("echo"))
      .some((request) => (request.body as { params: { arguments?: { message?: string } } }).params.arguments?.message === "no");
    expect(refusedReachedBeta).toBe(false);
    expect(gh.requests.some(isCallOf("enterprise-where"))).toBe(false);
  });

  it("an unknown tool is a JSON-RPC error that explains the naming", async () => {
    const client = await gateway.connect("/mcp");
    const error = await rejectionOf(client.callTool({ name: "nosuchserver-echo", arguments: {} }));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).message).toContain("nosuchserver-echo");
    expect((error as McpError).message).toContain("{server}-{tool}");
  });

  it("relays the upstream's progress notifications to the client's onprogress", async () => {
    const client = await gateway.connect("/mcp");
    const updates: Progress[] = [];
    const result = await client.callTool({ name: "beta-progress", arguments: { steps: 3 } }, undefined, {
      onprogress: (update) => updates.push(update),
    });
    expect(firstText(result)).toBe("done after 3 steps");
    expect(updates.map((update) => update.progress)).toEqual([1, 2, 3]);
    expect(updates[2]).toMatchObject({ total: 3, message: "step 3 of 3" });
  });

  it("reconnects when a stateful upstream restarts and loses its sessions", async () => {
    const client = await gateway.connect("/mcp");
    expect(firstText(await client.callTool({ name: "beta-echo", arguments: { message: "before" } }))).toBe("before");
    expect(beta.sessionCount()).toBeGreaterThan(0);
    const staleSession = beta.requests.findLast(isCallOf("echo"))?.headers["mcp-session-id"];
    expect(staleSession).toBeDefined();

    await beta.dropSessions();
    expect(beta.sessionCount()).toBe(0);

    expect(firstText(await client.callTool({ name: "beta-echo", arguments: { message: "after" } }))).toBe("after");
    const retried = beta.requests.findLast(isCallOf("echo"));
    expect(retried?.headers["mcp-session-id"]).toBeDefined();
    expect(retried?.headers["mcp-session-id"]).not.toBe(staleSession);
    expect(beta.sessionCount()).toBeGreaterThan(0);
    expect(warnLinesFor(gateway, "beta").some((line) => String(line.msg).includes("session"))).toBe(true);
  });

  it("answers GET and DELETE /mcp without a session id with 405 and Allow: GET, POST, DELETE", async () => {
    for (const method of ["GET", "DELETE"]) {
      const response = await gateway.fetch("/mcp", { method, headers: { accept: "application/json, text/event-stream" } });
      expect(response.status, method).toBe(405);
      expect(response.headers.get("allow"), method).toBe("GET, POST, DELETE");
      const body = (await response.json()) as JsonRpcAnswer;
      expect(body.jsonrpc).toBe("2.0");
      expect(body.error?.message).toContain("POST");
    }
  });

  it("answers 401 with a JSON body without a key or with a wrong key, before any upstream is asked", async () => {
    const listsBefore = alpha.requests.filter(isToolsList).length;
    for (const key of [null, "sk-not-the-key"]) {
      const response = await gateway.fetch("/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: rpc("tools/list") });
      expect(response.status, String(key)).toBe(401);
      expect(response.headers.get("content-type")).toContain("application/json");
      const body = (await response.json()) as JsonRpcAnswer;
      expect(body.error?.message).toMatch(/gateway key/);
    }
    expect(alpha.requests.filter(isToolsList).length).toBe(listsBefore);
  });

  it("accepts a curl-like POST without an MCP Accept header and answers JSON", async () => {
    // undici, like curl, sends `accept: */*`; MCP wants both JSON and SSE listed.
    const list = await gateway.fetch("/mcp", { method: "POST", headers: { "content-type": "application/json" }, body: rpc("tools/list", {}, 7) });
    expect(list.status).toBe(200);
    expect(list.headers.get("content-type")).toContain("application/json");
    const listed = (await list.json()) as JsonRpcAnswer;
    expect(listed.id).toBe(7);
    expect(listed.result?.tools?.map((tool) => tool.name)).toContain("gh-enterprise-echo");

    const call = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: rpc("tools/call", { name: "alpha-echo", arguments: { message: "curl" } }, 8),
    });
    expect(call.status).toBe(200);
    expect(call.headers.get("content-type")).toContain("application/json");
    expect(((await call.json()) as JsonRpcAnswer).result?.content).toEqual([{ type: "text", text: "curl" }]);
  });
});

describe("aggregate /mcp: bad input", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  beforeAll(async () => {
    upstream = await upstreamNamed("alpha");
    gateway = await startTestGateway({ servers: { alpha: { url: upstream.url } }, general: { max_request_body_bytes: 2048 } });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function post(body: string): Promise<{ status: number; body: { id?: unknown; error?: { code: number; message: string } } }> {
    const response = await gateway.fetch("/mcp", { method: "POST", headers: MCP_ACCEPT, body });
    return { status: response.status, body: (await response.json()) as { id?: unknown; error?: { code: number; message: string } } };
  }

  it("answers unparsable JSON with 400 and -32700, and a non-JSON-RPC body with 400 and -32600", async () => {
    const parse = await post("{not json");
    expect(parse.status).toBe(400);
    expect(parse.body.error?.code).toBe(-32700);
    for (const body of ['{"foo":1}', "[]", '{"jsonrpc":"2.0","id":1}']) {
      const invalid = await post(body);
      expect(invalid.status, body).toBe(400);
      expect(invalid.body.error?.code, body).toBe(-32600);
    }
    expect(upstream.requests).toHaveLength(0);
  });

  it("refuses a body over max_request_body_bytes with 413, before any upstream is asked", async () => {
    const big = rpc("tools/call", { name: "alpha-echo", arguments: { message: "x".repeat(4096) } });
    const refused = await post(big);
    expect(refused.status).toBe(413);
    expect(refused.body.error?.message).toContain("max_request_body_bytes");
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("aggregate /mcp: an upstream that is down", () => {
  let healthy: Upstream;
  let broken: Upstream;
  let gone: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    [healthy, broken, gone] = await Promise.all([upstreamNamed("healthy"), upstreamNamed("broken", { mode: "sse", stateful: true }), upstreamNamed("gone")]);
    gateway = await startTestGateway({
      servers: { healthy: { url: healthy.url }, broken: { url: broken.url }, gone: { url: gone.url } },
    });
    // A closed port: what an upstream that was never started, or has exited, looks like.
    await gone.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([healthy?.close(), broken?.close()]);
  });

  it("lists the others' tools, logs the failures by server name, and recovers when the upstream is back", async () => {
    const client = await gateway.connect("/mcp");
    const first = names((await client.listTools()).tools);
    expect(first).toContain("broken-echo");
    expect(first.some((name) => name.startsWith("gone-"))).toBe(false);
    expect(warnLinesFor(gateway, "gone").some((line) => String(line.msg).includes("tools/list failed"))).toBe(true);

    broken.setDown(true);
    const { tools } = await client.listTools();
    expect(names(tools)).toEqual(prefixed("healthy", [...DEFAULT_TOOLS, "where"]).sort());
    const warned = warnLinesFor(gateway, "broken").filter((line) => String(line.msg).includes("tools/list failed"));
    expect(warned.length).toBeGreaterThan(0);
    expect(warned[0]).toMatchObject({ code: "upstream_unreachable" });

    broken.setDown(false);
    expect(names((await client.listTools()).tools)).toContain("broken-echo");
  });

  it("a call to a down upstream is a JSON-RPC error naming it; the others still answer", async () => {
    const client = await gateway.connect("/mcp");
    broken.setDown(true);
    try {
      const error = await rejectionOf(client.callTool({ name: "broken-echo", arguments: { message: "x" } }));
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).message).toContain("'broken'");
      expect((error as McpError).message).toContain("unreachable");
      expect(firstText(await client.callTool({ name: "healthy-echo", arguments: { message: "still here" } }))).toBe("still here");
    } finally {
      broken.setDown(false);
    }
  });

  it("a raw tools/call to a closed port answers a JSON-RPC error object naming the server and no internal address", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: MCP_ACCEPT,
      body: rpc("tools/call", { name: "gone-echo", arguments: { message: "x" } }, 42),
    });
    const body = (await response.json()) as JsonRpcAnswer;
    expect(body).toMatchObject({ jsonrpc: "2.0", id: 42, error: { code: -32000 } });
    expect(body.error?.message).toContain("'gone'");
    expect(body.error?.data).toMatchObject({ code: "upstream_unreachable", server: "gone" });
    expect(JSON.stringify(body)).not.toContain(new URL(gone.url).port);
  });
});

describe("aggregate /mcp: a slow upstream", () => {
  let quick: Upstream;
  let sluggish: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    [quick, sluggish] = await Promise.all([upstreamNamed("quick"), upstreamNamed("sluggish", { mode: "json" })]);
    gateway = await startTestGateway({
      servers: { quick: { url: quick.url }, sluggish: { url: sluggish.url, timeout: 0.3 } },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([quick?.close(), sluggish?.close()]);
  });

  it("leaves a hanging upstream out of tools/list after its timeout and logs it", async () => {
    const client = await gateway.connect("/mcp");
    expect(names((await client.listTools()).tools)).toContain("sluggish-echo");

    sluggish.hangNext();
    const { tools } = await client.listTools();
    expect(names(tools)).toEqual(prefixed("quick", [...DEFAULT_TOOLS, "where"]).sort());
    const warned = warnLinesFor(gateway, "sluggish").filter((line) => String(line.msg).includes("tools/list failed"));
    expect(warned.at(-1)).toMatchObject({ code: "upstream_timeout" });
  });

  it("a call that gets no answer within the server's timeout is a JSON-RPC error naming the server", async () => {
    const client = await gateway.connect("/mcp");
    expect(firstText(await client.callTool({ name: "sluggish-echo", arguments: { message: "warm" } }))).toBe("warm");

    sluggish.hangNext();
    const error = await rejectionOf(client.callTool({ name: "sluggish-echo", arguments: { message: "late" } }));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(-32001);
    expect((error as McpError).message).toContain("'sluggish'");
    expect((error as McpError).message).toContain("0.3 s");

    // The timeout does not poison the session: the next call goes through.
    expect(firstText(await client.callTool({ name: "sluggish-echo", arguments: { message: "again" } }))).toBe("again");
    expect(firstText(await client.callTool({ name: "quick-echo", arguments: { message: "fine" } }))).toBe("fine");
  });
});

describe("aggregate /mcp: allowed_tools and disallowed_tools", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await upstreamNamed("shared");
    gateway = await startTestGateway({
      servers: {
        limited: { url: upstream.url, allowed_tools: ["echo", "add"] },
        guarded: { url: upstream.url, disallowed_tools: ["secret_admin"] },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("filters the merged list", async () => {
    const client = await gateway.connect("/mcp");
    const { tools } = await client.listTools();
    const guardedTools = [...DEFAULT_TOOLS, "where"].filter((tool) => tool !== "secret_admin");
    expect(names(tools)).toEqual([...prefixed("limited", ["add", "echo"]), ...prefixed("guarded", guardedTools)].sort());
  });

  it("filters the list of the pass-through endpoint too", async () => {
    const limited = await gateway.connect("/limited/mcp");
    expect(names((await limited.listTools()).tools)).toEqual(["add", "echo"]);
    const guarded = await gateway.connect("/mcp/guarded");
    expect(names((await guarded.listTools()).tools)).not.toContain("secret_admin");
  });

  it("refuses a call to a disallowed or not-allowed tool with HTTP 403 and a JSON-RPC error body, without calling upstream", async () => {
    for (const [name, tool, server] of [
      ["guarded-secret_admin", "secret_admin", "guarded"],
      ["limited-whoami", "whoami", "limited"],
    ] as const) {
      const response = await gateway.fetch("/mcp", { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name, arguments: {} }, 5) });
      expect(response.status, name).toBe(403);
      expect(response.headers.get("content-type")).toContain("application/json");
      const body = (await response.json()) as JsonRpcAnswer;
      expect(body).toMatchObject({ jsonrpc: "2.0", id: 5, error: { code: -32003, data: { code: "tool_not_allowed" } } });
      expect(body.error?.message).toContain(`'${tool}'`);
      expect(body.error?.message).toContain(`'${server}'`);
    }
    expect(upstream.requests.some(isCallOf("secret_admin"))).toBe(false);
    expect(upstream.requests.some(isCallOf("whoami"))).toBe(false);
  });

  it("the SDK client's call to a disallowed tool fails, and allowed tools still work", async () => {
    const client = await gateway.connect("/mcp");
    const error = await rejectionOf(client.callTool({ name: "guarded-secret_admin", arguments: {} }));
    expect(String(error)).toMatch(/403|not allowed/);
    expect(firstText(await client.callTool({ name: "limited-add", arguments: { a: 1, b: 1 } }))).toBe("2");
    expect(upstream.requests.some(isCallOf("secret_admin"))).toBe(false);
  });
});
