/**
 * Bad input on the pass-through gets a clear error and changes nothing upstream:
 * malformed JSON-RPC, unknown servers, missing or bad keys, oversized bodies, dead and
 * slow upstreams, wrong methods, and tools hidden by allowed_tools/disallowed_tools.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

const MAX_BODY = 2048;
const ALL_TOOLS = ["add", "echo", "progress", "secret_admin", "slow", "whoami"];

let jsonUp: Upstream;
let sseUp: Upstream;
let sleepy: Upstream;
let goneUrl: string;
let gateway: TestGateway;

interface JsonRpcErrorBody {
  jsonrpc: string;
  id: string | number | null;
  error: { code: number; message: string; data?: Record<string, unknown> };
}

function isToolsCall(request: RecordedRequest): boolean {
  return (request.body as { method?: string } | undefined)?.method === "tools/call";
}

/** A message out of a JSON body or a single-event SSE body. */
function messageOf(body: string): Record<string, unknown> {
  const data = body.split("\n").find((line) => line.startsWith("data:"));
  return JSON.parse(data === undefined ? body : data.slice(5)) as Record<string, unknown>;
}

function post(path: string, body: string | ReadableStream<Uint8Array>, init: RequestInit & { key?: string | null } = {}): Promise<Response> {
  return gateway.fetch(path, { method: "POST", ...init, headers: { ...MCP_ACCEPT, ...(init.headers as Record<string, string> | undefined) }, body, duplex: "half" } as RequestInit);
}

async function jsonRpcError(response: Response): Promise<JsonRpcErrorBody> {
  expect(response.headers.get("content-type")).toContain("application/json");
  const body = (await response.json()) as JsonRpcErrorBody;
  expect(body.jsonrpc).toBe("2.0");
  expect(typeof body.error.code).toBe("number");
  expect(body.error.message).not.toBe("");
  return body;
}

/** Runs `action` and asserts that none of the upstreams saw a request meanwhile. */
async function upstreamsUntouched(action: () => Promise<void>): Promise<void> {
  const before = [jsonUp, sseUp, sleepy].map((upstream) => upstream.requests.length);
  await action();
  expect([jsonUp, sseUp, sleepy].map((upstream) => upstream.requests.length)).toEqual(before);
}

beforeAll(async () => {
  jsonUp = await startUpstream({ name: "json", mode: "json" });
  sseUp = await startUpstream({ name: "sse", mode: "sse" });
  sleepy = await startUpstream({ name: "sleepy", mode: "sse" });
  const gone = await startUpstream({ name: "gone" });
  goneUrl = gone.url;
  await gone.close();
  gateway = await startTestGateway({
    servers: {
      alpha: { url: jsonUp.url },
      "beta-internal": { url: sseUp.url },
      "allowed-json": { url: jsonUp.url, allowed_tools: ["echo", "add"] },
      "allowed-sse": { url: sseUp.url, allowed_tools: ["echo", "add"] },
      "hidden-json": { url: jsonUp.url, disallowed_tools: ["secret_admin", "slow"] },
      "hidden-sse": { url: sseUp.url, disallowed_tools: ["secret_admin", "slow"] },
      gone: { url: goneUrl },
      sleepy: { url: sleepy.url, timeout: 0.3 },
    },
    general: { max_request_body_bytes: MAX_BODY },
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([jsonUp?.close(), sseUp?.close(), sleepy?.close()]);
});

describe("malformed JSON-RPC", () => {
  it.each(["/alpha/mcp", "/mcp/alpha"])("%s: a body that is not JSON is -32700 with HTTP 400", async (path) => {
    await upstreamsUntouched(async () => {
      const response = await post(path, "{not json");
      expect(response.status).toBe(400);
      const body = await jsonRpcError(response);
      expect(body.id).toBeNull();
      expect(body.error.code).toBe(-32700);
    });
  });

  it.each([
    { what: "an object that is not a JSON-RPC message", body: '{"foo":1}' },
    { what: "an empty batch", body: "[]" },
    { what: "a batch with a non-message", body: `[${rpc("tools/list")}, 42]` },
    { what: "a request without jsonrpc 2.0", body: '{"id":1,"method":"tools/list"}' },
  ])("$what is -32600 with HTTP 400", async ({ body }) => {
    await upstreamsUntouched(async () => {
      const response = await post("/alpha/mcp", body);
      expect(response.status).toBe(400);
      const error = await jsonRpcError(response);
      expect(error.error.code).toBe(-32600);
    });
  });
});

describe("who is calling", () => {
  it("no key is 401 for an existing and for an unknown server alike, before the body is looked at", async () => {
    await upstreamsUntouched(async () => {
      const answers = await Promise.all(
        ["/alpha/mcp", "/nope/mcp", "/mcp/alpha", "/mcp/nope"].map(async (path) => {
          const response = await post(path, "{not json", { key: null });
          return { status: response.status, body: await response.text() };
        }),
      );
      for (const answer of answers) expect(answer.status).toBe(401);
      // Byte for byte the same answer: nothing tells an existing server from a missing one.
      expect(new Set(answers.map((answer) => answer.body)).size).toBe(1);
      expect(JSON.parse(answers[0]!.body)).toMatchObject({ jsonrpc: "2.0", error: { code: expect.any(Number) } });
    });
  });

  it.each<{ form: string; headers: Record<string, string> }>([
    { form: "x-litellm-api-key", headers: { "x-litellm-api-key": "Bearer sk-wrong" } },
    { form: "Authorization", headers: { authorization: "Bearer sk-wrong" } },
  ])("a bad key in $form is 401 for existing and unknown servers", async ({ headers }) => {
    await upstreamsUntouched(async () => {
      const existing = await post("/alpha/mcp", rpc("tools/list"), { headers });
      const unknown = await post("/nope/mcp", rpc("tools/list"), { headers });
      expect(existing.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(await existing.text()).toBe(await unknown.text());
    });
  });

  it("GET and DELETE without a key are 401 too", async () => {
    for (const method of ["GET", "DELETE"]) {
      const response = await gateway.fetch("/alpha/mcp", { method, key: null });
      expect(response.status, method).toBe(401);
      await response.body?.cancel();
    }
  });
});

describe("unknown server", () => {
  it.each(["/nope/mcp", "/mcp/nope"])("%s is 404 and names no other server", async (path) => {
    await upstreamsUntouched(async () => {
      const response = await post(path, rpc("tools/list", {}, 5));
      expect(response.status).toBe(404);
      const text = await response.text();
      const body = JSON.parse(text) as JsonRpcErrorBody;
      expect(body).toMatchObject({ jsonrpc: "2.0", error: { code: expect.any(Number) } });
      expect(body.error.message).toContain("nope");
      for (const name of ["alpha", "beta-internal", "allowed-json", "hidden-sse", "gone", "sleepy", "127.0.0.1"]) expect(text).not.toContain(name);
    });
  });
});

describe("oversized bodies", () => {
  const big = rpc("tools/call", { name: "echo", arguments: { message: "x".repeat(MAX_BODY) } });

  it("a body with Content-Length over max_request_body_bytes is 413 and never reaches the upstream", async () => {
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_BODY);
    await upstreamsUntouched(async () => {
      const response = await post("/alpha/mcp", big);
      expect(response.status).toBe(413);
      const body = await jsonRpcError(response);
      expect(body.error.message).toContain("max_request_body_bytes");
    });
  });

  it("a chunked body that grows past the limit is 413 and never reaches the upstream", async () => {
    const bytes = new TextEncoder().encode(big);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + 512));
        offset += 512;
      },
    });
    await upstreamsUntouched(async () => {
      const response = await post("/mcp/alpha", stream);
      expect(response.status).toBe(413);
      await jsonRpcError(response);
    });
  });

  it("a body just under the limit goes through", async () => {
    const message = "y".repeat(MAX_BODY - 200);
    const response = await post("/alpha/mcp", rpc("tools/call", { name: "echo", arguments: { message } }));
    expect(response.status).toBe(200);
    expect(messageOf(await response.text())).toMatchObject({ result: { content: [{ type: "text", text: message }] } });
  });
});

describe("upstream faults", () => {
  it("an upstream with nothing listening is 502, naming the server and not its URL", async () => {
    const port = new URL(goneUrl).port;
    for (const [method, path] of [
      ["POST", "/gone/mcp"],
      ["GET", "/mcp/gone"],
      ["DELETE", "/gone/mcp"],
    ] as const) {
      const response =
        method === "POST"
          ? await post(path, rpc("tools/list", {}, 9))
          : // No Mcp-Session-Id: one the gateway did not issue to this key is 404 before any upstream is asked.
            await gateway.fetch(path, { method, headers: { accept: "text/event-stream" } });
      expect(response.status, method).toBe(502);
      const text = await response.text();
      const body = JSON.parse(text) as JsonRpcErrorBody;
      expect(body.error.message).toContain("'gone'");
      if (method === "POST") expect(body.id).toBe(9);
      expect(text).not.toContain(port);
      expect(text).not.toContain("127.0.0.1");
      expect(text).not.toContain("ECONNREFUSED");
    }
  });

  it("the SDK client gets an error, not a hang, from an unreachable upstream", async () => {
    await expect(gateway.connect("/gone/mcp")).rejects.toThrow(/502|unreachable/);
  });

  it("an upstream that does not start answering within `timeout` is 504, and the held request is released", async () => {
    sleepy.hangNext();
    const response = await post("/sleepy/mcp", rpc("tools/list", {}, 11));
    expect(response.status).toBe(504);
    const body = await jsonRpcError(response);
    expect(body.id).toBe(11);
    expect(body.error.message).toContain("'sleepy'");
    expect(JSON.stringify(body)).not.toContain(new URL(sleepy.url).port);
    // The gateway gave up on the upstream request instead of leaving it open.
    await sleepy.waitUntil(() => sleepy.hangingRequests() === 0);

    const next = await post("/sleepy/mcp", rpc("tools/list", {}, 12));
    expect(next.status).toBe(200);
    await next.body?.cancel();
  });

  it("a stream that has started is not cut by `timeout`", async () => {
    const client = await gateway.connect("/sleepy/mcp");
    const progress: Progress[] = [];
    // Four steps 150 ms apart: the answer ends well after the 0.3 s timeout, its headers well before.
    const result = await client.callTool({ name: "progress", arguments: { steps: 4, intervalMs: 150 } }, undefined, {
      onprogress: (update) => progress.push(update),
    });
    expect(result.content).toEqual([{ type: "text", text: "done after 4 steps" }]);
    expect(progress.map((update) => update.progress)).toEqual([1, 2, 3, 4]);
    await client.close();
  });
});

describe("methods", () => {
  it.each(["PUT", "PATCH"])("%s is 405 with an Allow header, and the upstream sees nothing", async (method) => {
    await upstreamsUntouched(async () => {
      const response = await gateway.fetch("/alpha/mcp", { method, headers: MCP_ACCEPT, body: rpc("tools/list") });
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")?.split(/,\s*/).sort()).toEqual(["DELETE", "GET", "POST"]);
      await jsonRpcError(response);
    });
  });
});

describe("allowed_tools and disallowed_tools", () => {
  it.each([
    { server: "hidden-json", tool: "secret_admin" },
    { server: "hidden-sse", tool: "slow" },
    { server: "allowed-json", tool: "whoami" },
    { server: "allowed-sse", tool: "secret_admin" },
  ])("$server: calling $tool is 403 and the upstream sees no tools/call", async ({ server, tool }) => {
    const calls = [jsonUp, sseUp].map((upstream) => upstream.requests.filter(isToolsCall).length);
    const response = await post(`/${server}/mcp`, rpc("tools/call", { name: tool, arguments: {} }, 21));
    expect(response.status).toBe(403);
    const body = await jsonRpcError(response);
    expect(body.id).toBe(21);
    expect(body.error.message).toContain(tool);
    expect([jsonUp, sseUp].map((upstream) => upstream.requests.filter(isToolsCall).length)).toEqual(calls);
  });

  it("a batch that hides a disallowed call among allowed ones is refused whole", async () => {
    await upstreamsUntouched(async () => {
      const batch = `[${rpc("tools/call", { name: "echo", arguments: { message: "ok" } }, 1)}, ${rpc("tools/call", { name: "secret_admin", arguments: {} }, 2)}]`;
      const response = await post("/mcp/hidden-json", batch);
      expect(response.status).toBe(403);
      await jsonRpcError(response);
    });
  });

  it("the SDK client's call of a disallowed tool fails and never reaches the upstream", async () => {
    const client = await gateway.connect("/hidden-sse/mcp");
    const calls = sseUp.requests.filter(isToolsCall).length;
    await expect(client.callTool({ name: "secret_admin", arguments: {} })).rejects.toThrow();
    expect(sseUp.requests.filter(isToolsCall).length).toBe(calls);
    // The session is still usable for allowed tools.
    expect((await client.callTool({ name: "echo", arguments: { message: "still here" } })).content).toEqual([{ type: "text", text: "still here" }]);
    await client.close();
  });

  it.each([
    { server: "allowed-json", expected: ["add", "echo"] },
    { server: "allowed-sse", expected: ["add", "echo"] },
    { server: "hidden-json", expected: ["add", "echo", "progress", "whoami"] },
    { server: "hidden-sse", expected: ["add", "echo", "progress", "whoami"] },
  ])("$server: tools/list through the pass-through shows only $expected", async ({ server, expected }) => {
    for (const path of [`/${server}/mcp`, `/mcp/${server}`]) {
      const client = await gateway.connect(path);
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(expected);
      // The tools that remain are the upstream's, untouched.
      expect(tools.find((tool) => tool.name === "echo")?.description).toBe("Echoes back the provided message.");
      await client.close();
    }
  });

  it.each(["alpha", "beta-internal"])("%s: without a filter every upstream tool is listed", async (server) => {
    const client = await gateway.connect(`/${server}/mcp`);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(ALL_TOOLS);
    await client.close();
  });

  it("a raw tools/list keeps the request id and the rest of the result when filtered (SSE)", async () => {
    const response = await post("/hidden-sse/mcp", rpc("tools/list", {}, "list-7"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const message = messageOf(await response.text()) as { id: unknown; result: { tools: Array<{ name: string; inputSchema: unknown }> } };
    expect(message.id).toBe("list-7");
    expect(message.result.tools.map((tool) => tool.name).sort()).toEqual(["add", "echo", "progress", "whoami"]);
    expect(message.result.tools.every((tool) => typeof tool.inputSchema === "object")).toBe(true);
  });
});
