/**
 * The transport side of the aggregate `/mcp` (src/mcp/stateless-server.ts, wired by
 * src/mcp/aggregate.ts), through a real gateway with raw HTTP POSTs (no SDK client, so
 * every status code, header and body is what a client really gets):
 *
 * - initialize: protocol version negotiation (a supported version is echoed, an unknown
 *   one gets the latest), serverInfo, capabilities, instructions;
 * - ping, an unknown method (-32601), notifications and responses alone (202, no body),
 *   batches (an array of answers with matching ids);
 * - the transport refusals: Content-Type not JSON (415), an unsupported
 *   mcp-protocol-version header (400, except on initialize);
 * - tools/call: with a progressToken and an Accept that lists text/event-stream the answer
 *   is an SSE stream with the upstream's progress before the result; otherwise JSON;
 *   invalid params are -32602; a client that disconnects ends the upstream call;
 * - progress restarts the server's `timeout` for a streamed call (the aggregate asks the
 *   upstream with resetTimeoutOnProgress), a silent slow tool still times out.
 *
 * The upstreams are real SDK servers (test/fixtures/upstream-mcp.ts): a stateful one that
 * streams progress, and a stateless one whose tools stop when their request is aborted
 * (to show that a client leaving ends the upstream call).
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

interface JsonRpcAnswer {
  jsonrpc: string;
  id?: number | string | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown> & { content?: Array<{ type: string; text?: string }> };
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

/** The JSON-RPC messages of an SSE body (`data:` lines of each event). */
function sseMessages(text: string): JsonRpcAnswer[] {
  return text
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n"),
    )
    .filter((data) => data !== "")
    .map((data) => JSON.parse(data) as JsonRpcAnswer);
}

function isToolsCall(request: RecordedRequest): boolean {
  return (request.body as { method?: string } | undefined)?.method === "tools/call";
}

describe("aggregate /mcp: the stateless streamable-HTTP transport", () => {
  /** Stateful, answers SSE: streams progress. */
  let alpha: Upstream;
  /** Stateless, answers JSON: a tool call ends when its HTTP request is aborted. */
  let gamma: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    [alpha, gamma] = await Promise.all([upstreamNamed("alpha", { mode: "sse", stateful: true }), upstreamNamed("gamma", { mode: "json" })]);
    gateway = await startTestGateway({ servers: { alpha: { url: alpha.url }, gamma: { url: gamma.url } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([alpha?.close(), gamma?.close()]);
  });

  /**
   * A POST to /mcp with node:http on its own socket (fetch's pool would reopen a socket
   * after an abort and hold the gateway's shutdown); resolves with the whole body.
   */
  const rawPost = (body: string, signal: AbortSignal): Promise<string> =>
    new Promise((resolve, reject) => {
      const headers = { ...MCP_ACCEPT, "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
      const req = httpRequest(new URL("/mcp", gateway.url), { method: "POST", headers, agent: false, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });

  const post = (body: string | Blob, headers: Record<string, string> = MCP_ACCEPT): Promise<Response> => gateway.fetch("/mcp", { method: "POST", headers, body });

  async function postJson(body: string, headers: Record<string, string> = MCP_ACCEPT): Promise<{ status: number; contentType: string | null; body: JsonRpcAnswer }> {
    const response = await post(body, headers);
    return { status: response.status, contentType: response.headers.get("content-type"), body: (await response.json()) as JsonRpcAnswer };
  }

  const initialize = (protocolVersion: unknown, id: number | string = 1) =>
    rpc("initialize", { protocolVersion, capabilities: {}, clientInfo: { name: "raw-test", version: "0.0.1" } }, id);

  describe("initialize", () => {
    it.each(SUPPORTED_PROTOCOL_VERSIONS.map((version) => [version]))("echoes the supported version %s", async (version) => {
      const { status, body } = await postJson(initialize(version));
      expect(status).toBe(200);
      expect(body.result?.protocolVersion).toBe(version);
    });

    it.each([["1999-01-01"], ["2099-12-31"], [42], [undefined]])("answers the latest version to %s", async (version) => {
      const { status, body } = await postJson(initialize(version, "init"));
      expect(status).toBe(200);
      expect(body).toMatchObject({ jsonrpc: "2.0", id: "init" });
      expect(body.result?.protocolVersion).toBe(LATEST_PROTOCOL_VERSION);
    });

    it("says who it is: serverInfo, its capabilities and instructions, as a JSON answer", async () => {
      const { status, contentType, body } = await postJson(initialize("2025-06-18"));
      expect(status).toBe(200);
      expect(contentType).toContain("application/json");
      expect(body).toEqual({
        jsonrpc: "2.0",
        id: 1,
        result: {
          protocolVersion: "2025-06-18",
          capabilities: {
            tools: { listChanged: true },
            resources: { subscribe: true, listChanged: true },
            prompts: { listChanged: true },
            completions: {},
            logging: {},
            tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
          },
          serverInfo: { name: "gatehouse", version: expect.any(String) as unknown },
          instructions: expect.stringContaining("{server}-{name}") as unknown,
        },
      });
    });

    it("is answered even with an mcp-protocol-version header the gateway does not know", async () => {
      const { status, body } = await postJson(initialize("2025-03-26"), { ...MCP_ACCEPT, "mcp-protocol-version": "1999-01-01" });
      expect(status).toBe(200);
      expect(body.result?.protocolVersion).toBe("2025-03-26");
    });

    it("is answered by the gateway itself, without asking the upstream", async () => {
      const seen = alpha.requests.length;
      await postJson(initialize(LATEST_PROTOCOL_VERSION));
      expect(alpha.requests).toHaveLength(seen);
    });
  });

  describe("ping, unknown methods, notifications, batches", () => {
    it("answers ping with an empty result", async () => {
      const { status, body } = await postJson(rpc("ping", {}, 7));
      expect(status).toBe(200);
      expect(body).toEqual({ jsonrpc: "2.0", id: 7, result: {} });
    });

    it("answers ping without params too", async () => {
      const { body } = await postJson(JSON.stringify({ jsonrpc: "2.0", id: "p", method: "ping" }));
      expect(body).toEqual({ jsonrpc: "2.0", id: "p", result: {} });
    });

    it.each([["elicitation/create"], ["sampling/createMessage"], ["toString"], ["constructor"], ["__proto__"]])("answers the unknown method %s with -32601 Method not found", async (method) => {
      const { status, body } = await postJson(rpc(method, {}, 9));
      expect(status).toBe(200);
      expect(body).toMatchObject({ jsonrpc: "2.0", id: 9, error: { code: -32601, message: "Method not found" } });
      expect(body.result).toBeUndefined();
    });

    it.each([
      ["notifications/initialized", JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })],
      ["a batch of notifications", JSON.stringify([
        { jsonrpc: "2.0", method: "notifications/initialized" },
        { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3, reason: "bored" } },
      ])],
      ["a response to a server request", JSON.stringify({ jsonrpc: "2.0", id: "server-1", result: {} })],
      ["an error response", JSON.stringify({ jsonrpc: "2.0", id: "server-2", error: { code: -32601, message: "Method not found" } })],
    ])("answers %s with 202 and an empty body", async (_label, body) => {
      const seen = alpha.requests.length;
      const response = await post(body);
      expect(response.status).toBe(202);
      expect(await response.text()).toBe("");
      expect(alpha.requests).toHaveLength(seen);
    });

    it("answers a batch of two requests with an array of two answers, ids matching, in request order", async () => {
      const response = await post(
        JSON.stringify([
          { jsonrpc: "2.0", id: "call", method: "tools/call", params: { name: "alpha-add", arguments: { a: 2, b: 3 } } },
          { jsonrpc: "2.0", id: 11, method: "ping" },
        ]),
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const answers = (await response.json()) as JsonRpcAnswer[];
      expect(Array.isArray(answers)).toBe(true);
      expect(answers).toEqual([
        { jsonrpc: "2.0", id: "call", result: { content: [{ type: "text", text: "5" }] } },
        { jsonrpc: "2.0", id: 11, result: {} },
      ]);
    });

    it("answers every request of a batch even when one fails, and skips the notifications in it", async () => {
      const response = await post(
        JSON.stringify([
          { jsonrpc: "2.0", id: 1, method: "nope/nope" },
          { jsonrpc: "2.0", method: "notifications/initialized" },
          { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "alpha-echo", arguments: { message: "batched" } } },
        ]),
      );
      expect(response.status).toBe(200);
      const answers = (await response.json()) as JsonRpcAnswer[];
      expect(answers).toHaveLength(2);
      expect(answers[0]).toMatchObject({ id: 1, error: { code: -32601 } });
      expect(answers[1]).toEqual({ jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: "batched" }] } });
    });

    it("answers a batch holding one request with an array of one (JSON-RPC 2.0 §6), and a lone request with an object", async () => {
      const batch = await post(JSON.stringify([{ jsonrpc: "2.0", id: 7, method: "ping" }, { jsonrpc: "2.0", method: "notifications/initialized" }]));
      expect(await batch.json()).toEqual([{ jsonrpc: "2.0", id: 7, result: {} }]);
      const lone = await post(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "ping" }));
      expect(await lone.json()).toEqual({ jsonrpc: "2.0", id: 8, result: {} });
    });
  });

  describe("transport refusals", () => {
    it.each([
      ["text/plain", { "content-type": "text/plain", accept: MCP_ACCEPT.accept }],
      ["application/x-www-form-urlencoded", { "content-type": "application/x-www-form-urlencoded", accept: MCP_ACCEPT.accept }],
    ])("refuses Content-Type %s with 415 and a JSON-RPC error, before any upstream is asked", async (_label, headers) => {
      const calls = alpha.requests.filter(isToolsCall).length;
      const { status, contentType, body } = await postJson(rpc("tools/call", { name: "alpha-echo", arguments: { message: "x" } }, 21), headers);
      expect(status).toBe(415);
      expect(contentType).toContain("application/json");
      expect(body).toMatchObject({
        jsonrpc: "2.0",
        id: 21,
        error: { code: -32000, message: "Unsupported Media Type: Content-Type must be application/json", data: { code: "unsupported_media_type" } },
      });
      expect(alpha.requests.filter(isToolsCall)).toHaveLength(calls);
    });

    it("refuses a body without any Content-Type with 415", async () => {
      const response = await post(new Blob([rpc("ping", {}, 22)]), { accept: MCP_ACCEPT.accept });
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(response.status).toBe(415);
      expect(((await response.json()) as JsonRpcAnswer).error?.code).toBe(-32000);
    });

    it("accepts application/json with a charset", async () => {
      const { status, body } = await postJson(rpc("ping", {}, 23), { "content-type": "application/json; charset=utf-8" });
      expect(status).toBe(200);
      expect(body.result).toEqual({});
    });

    it("refuses an unsupported mcp-protocol-version header with 400 naming the supported versions", async () => {
      const calls = alpha.requests.filter(isToolsCall).length;
      const { status, body } = await postJson(rpc("tools/call", { name: "alpha-echo", arguments: { message: "x" } }, 24), {
        ...MCP_ACCEPT,
        "mcp-protocol-version": "1999-01-01",
      });
      expect(status).toBe(400);
      expect(body).toMatchObject({ jsonrpc: "2.0", id: 24, error: { code: -32000, data: { code: "unsupported_protocol_version" } } });
      expect(body.error?.message).toContain("Unsupported protocol version: 1999-01-01");
      expect(body.error?.message).toContain(LATEST_PROTOCOL_VERSION);
      expect(alpha.requests.filter(isToolsCall)).toHaveLength(calls);
    });

    it("refuses an unsupported mcp-protocol-version on a notification too", async () => {
      const response = await post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), { ...MCP_ACCEPT, "mcp-protocol-version": "not-a-version" });
      expect(response.status).toBe(400);
    });

    it.each(SUPPORTED_PROTOCOL_VERSIONS.map((version) => [version]))("accepts the mcp-protocol-version header %s", async (version) => {
      const { status, body } = await postJson(rpc("ping", {}, 25), { ...MCP_ACCEPT, "mcp-protocol-version": version });
      expect(status).toBe(200);
      expect(body.result).toEqual({});
    });
  });

  describe("tools/call answers: SSE with progress, or JSON", () => {
    const progressCall = (progressToken: string | number, id: number | string = 31) =>
      JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "alpha-progress", arguments: { steps: 3, intervalMs: 5 }, _meta: { progressToken } } });

    it.each([["tok-1"], [77]])("streams the upstream's progress (token %s) before the result when the client accepts SSE", async (token) => {
      const response = await post(progressCall(token));
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      const messages = sseMessages(await response.text());
      expect(messages).toEqual([
        { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1, total: 3, message: "step 1 of 3", progressToken: token } },
        { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 2, total: 3, message: "step 2 of 3", progressToken: token } },
        { jsonrpc: "2.0", method: "notifications/progress", params: { progress: 3, total: 3, message: "step 3 of 3", progressToken: token } },
        { jsonrpc: "2.0", id: 31, result: { content: [{ type: "text", text: "done after 3 steps" }] } },
      ]);
      // The gateway asked the upstream for progress (with a token of its own session).
      const upstreamCall = alpha.requests.filter(isToolsCall).at(-1)?.body as { params?: { _meta?: { progressToken?: unknown } } };
      expect(upstreamCall.params?._meta?.progressToken).toBeDefined();
    });

    it("sends the first progress before the tool has finished (a live stream, not a buffer)", async () => {
      const response = await post(
        JSON.stringify({ jsonrpc: "2.0", id: 32, method: "tools/call", params: { name: "alpha-progress", arguments: { steps: 2, intervalMs: 300 }, _meta: { progressToken: "live" } } }),
      );
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n\n")) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += chunk.value;
      }
      const [first] = sseMessages(text);
      expect(first).toMatchObject({ method: "notifications/progress", params: { progress: 1, progressToken: "live" } });
      // The result has not come yet: the tool still waits before its second step.
      expect(text).not.toContain('"result"');
      let rest = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value;
      expect(sseMessages(text + rest).at(-1)).toMatchObject({ id: 32, result: { content: [{ type: "text", text: "done after 2 steps" }] } });
    });

    it("relays each request's progress under its own token when a batch streams", async () => {
      const call = (id: string, progressToken: string, steps: number) => ({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "alpha-progress", arguments: { steps, intervalMs: 5 }, _meta: { progressToken } },
      });
      const response = await post(JSON.stringify([call("a", "token-a", 2), call("b", "token-b", 3)]));
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const messages = sseMessages(await response.text());
      const progressOf = (token: string) =>
        messages.filter((message) => message.method === "notifications/progress" && message.params?.progressToken === token).map((message) => message.params?.progress);
      expect(progressOf("token-a")).toEqual([1, 2]);
      expect(progressOf("token-b")).toEqual([1, 2, 3]);
      expect(messages.filter((message) => message.method === undefined)).toEqual(
        expect.arrayContaining([
          { jsonrpc: "2.0", id: "a", result: { content: [{ type: "text", text: "done after 2 steps" }] } },
          { jsonrpc: "2.0", id: "b", result: { content: [{ type: "text", text: "done after 3 steps" }] } },
        ]),
      );
      expect(messages).toHaveLength(7);
      // Each answer comes after its own progress.
      const indexOf = (predicate: (message: JsonRpcAnswer) => boolean) => messages.findIndex(predicate);
      expect(indexOf((message) => message.id === "a")).toBeGreaterThan(messages.findLastIndex((message) => message.params?.progressToken === "token-a"));
      expect(indexOf((message) => message.id === "b")).toBeGreaterThan(messages.findLastIndex((message) => message.params?.progressToken === "token-b"));
    });

    it("answers the same call as JSON, without progress, when Accept does not list text/event-stream", async () => {
      const { status, contentType, body } = await postJson(progressCall("tok-2"), { "content-type": "application/json", accept: "application/json" });
      expect(status).toBe(200);
      expect(contentType).toContain("application/json");
      expect(body).toEqual({ jsonrpc: "2.0", id: 31, result: { content: [{ type: "text", text: "done after 3 steps" }] } });
    });

    it("answers JSON when the client accepts SSE but asked for no progress", async () => {
      const { status, contentType, body } = await postJson(rpc("tools/call", { name: "alpha-progress", arguments: { steps: 2, intervalMs: 1 } }, 33));
      expect(status).toBe(200);
      expect(contentType).toContain("application/json");
      expect(body).toEqual({ jsonrpc: "2.0", id: 33, result: { content: [{ type: "text", text: "done after 2 steps" }] } });
    });

    it("streams a failed call's error as the final SSE event", async () => {
      const response = await post(
        JSON.stringify({ jsonrpc: "2.0", id: 34, method: "tools/call", params: { name: "nosuchserver-tool", arguments: {}, _meta: { progressToken: "t" } } }),
      );
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const messages = sseMessages(await response.text());
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatchObject({ jsonrpc: "2.0", id: 34, error: { message: expect.stringContaining("nosuchserver-tool") as unknown } });
    });

    it.each([
      ["an SSE answer", { _meta: { progressToken: "leaving" } }],
      ["a JSON answer", {}],
    ])("a client that disconnects while waiting for %s ends the upstream call", async (_label, extra) => {
      const cancelled = gamma.cancelledToolCalls;
      const calls = gamma.requests.filter(isToolsCall).length;
      const controller = new AbortController();
      const pending = rawPost(JSON.stringify({ jsonrpc: "2.0", id: 51, method: "tools/call", params: { name: "gamma-slow", arguments: { ms: 60_000 }, ...extra } }), controller.signal);
      await gamma.waitUntil(() => gamma.requests.filter(isToolsCall).length === calls + 1);
      controller.abort();
      await expect(pending).rejects.toThrow();
      await gamma.waitUntil(() => gamma.requests.filter(isToolsCall).at(-1)?.aborted === true);
      await gamma.waitUntil(() => gamma.cancelledToolCalls === cancelled + 1);
    });

    it.each([
      ["a number", { name: 42, arguments: {} }],
      ["missing", { arguments: {} }],
      ["null", { name: null }],
    ])("answers a tools/call whose name is %s with -32602", async (_label, params) => {
      const calls = alpha.requests.filter(isToolsCall).length;
      const { status, body } = await postJson(rpc("tools/call", params, 41));
      expect(status).toBe(200);
      expect(body).toMatchObject({ jsonrpc: "2.0", id: 41, error: { code: -32602, data: { code: "invalid_params" } } });
      expect(body.error?.message).toContain("params.name");
      expect(alpha.requests.filter(isToolsCall)).toHaveLength(calls);
    });

    it.each([
      ["an array", ["x"]],
      ["a string", "x"],
      ["null", null],
    ])("answers a tools/call whose arguments are %s with -32602", async (_label, args) => {
      const { body } = await postJson(rpc("tools/call", { name: "alpha-echo", arguments: args }, 42));
      expect(body).toMatchObject({ jsonrpc: "2.0", id: 42, error: { code: -32602 } });
      expect(body.error?.message).toContain("params.arguments");
    });
  });
});

describe("aggregate /mcp: a streamed call's progress restarts the server's timeout", () => {
  let patient: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    patient = await upstreamNamed("patient", { mode: "sse", stateful: true });
    gateway = await startTestGateway({ servers: { patient: { url: patient.url, timeout: 0.3 } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await patient?.close();
  });

  const call = (name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) =>
    gateway.fetch("/mcp", {
      method: "POST",
      headers: MCP_ACCEPT,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) } }),
    });

  it("a tool that reports progress every 100 ms answers after 600 ms although the server's timeout is 0.3 s", async () => {
    const response = await call("patient-progress", { steps: 6, intervalMs: 100 }, { progressToken: "p" });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const messages = sseMessages(await response.text());
    expect(messages.filter((message) => message.method === "notifications/progress").map((message) => message.params?.progress)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(messages.at(-1)).toEqual({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "done after 6 steps" }] } });
  });

  it("a silent tool slower than the timeout is -32001 naming the server", async () => {
    const response = await call("patient-slow", { ms: 30_000 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as JsonRpcAnswer;
    expect(body).toMatchObject({ jsonrpc: "2.0", id: 1, error: { code: -32001, data: { code: "upstream_timeout", server: "patient" } } });
    expect(body.error?.message).toContain("'patient'");
  });
});
