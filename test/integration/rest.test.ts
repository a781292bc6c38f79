/**
 * `/mcp-rest/tools/list` and `/mcp-rest/tools/call` (README, "Routes") against real
 * upstream MCP servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

interface RestTool {
  name: string;
  description?: string;
  inputSchema: { type: string; properties?: Record<string, unknown> };
  mcp_info: { server_name: string };
}

interface ErrorBody {
  detail: string;
  error: string;
  [extra: string]: unknown;
}

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

describe("REST tools API", () => {
  let alpha: Upstream;
  let beta: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    [alpha, beta] = await Promise.all([upstreamNamed("alpha", { mode: "json" }, true), upstreamNamed("beta", { mode: "sse", stateful: true }, true)]);
    gateway = await startTestGateway({
      servers: {
        alpha: { url: alpha.url },
        beta: { url: beta.url, disallowed_tools: ["secret_admin"] },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([alpha?.close(), beta?.close()]);
  });

  const list = async (query = ""): Promise<Response> => gateway.fetch(`/mcp-rest/tools/list${query}`);
  const call = async (body: unknown): Promise<Response> =>
    gateway.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  describe("GET /mcp-rest/tools/list", () => {
    it("lists every tool with its upstream name, description, inputSchema and mcp_info.server_name", async () => {
      const response = await list();
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const body = (await response.json()) as { tools: RestTool[] };
      expect(Object.keys(body)).toEqual(["tools"]);
      const byServer = (server: string) => body.tools.filter((tool) => tool.mcp_info.server_name === server).map((tool) => tool.name).sort();
      expect(byServer("alpha")).toEqual(["add", "echo", "only_alpha", "progress", "secret_admin", "slow", "where", "whoami"]);
      // beta's disallowed_tools applies here as everywhere.
      expect(byServer("beta")).toEqual(["add", "echo", "only_beta", "progress", "slow", "where", "whoami"]);
      const echo = body.tools.find((tool) => tool.name === "echo" && tool.mcp_info.server_name === "alpha");
      expect(echo).toEqual({
        name: "echo",
        description: "Echoes back the provided message.",
        inputSchema: expect.objectContaining({ type: "object", properties: { message: { type: "string" } } }) as unknown,
        mcp_info: { server_name: "alpha" },
      });
    });

    it("?server_name= lists one server", async () => {
      const response = await list("?server_name=beta");
      expect(response.status).toBe(200);
      const body = (await response.json()) as { tools: RestTool[] };
      expect(body.tools.length).toBeGreaterThan(0);
      expect(new Set(body.tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["beta"]));
      expect(body.tools.map((tool) => tool.name)).toContain("only_beta");
    });

    it("an unknown server_name is 404 with a JSON body", async () => {
      const response = await list("?server_name=nope");
      expect(response.status).toBe(404);
      const body = (await response.json()) as ErrorBody;
      expect(body.error).toBe("unknown_server");
      expect(body.detail).toContain("'nope'");
    });

    it("needs a gateway key (401), and accepts it as Authorization: Bearer", async () => {
      const anonymous = await gateway.fetch("/mcp-rest/tools/list", { key: null });
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as ErrorBody).error).toBe("unauthorized");

      const bearer = await gateway.fetch("/mcp-rest/tools/list", { headers: { authorization: `Bearer ${gateway.masterKey}` } });
      expect(bearer.status).toBe(200);
      expect(((await bearer.json()) as { tools: RestTool[] }).tools.length).toBeGreaterThan(0);
    });
  });

  describe("POST /mcp-rest/tools/call", () => {
    it("with server_name, name is the upstream's tool name; the answer is the bare CallToolResult", async () => {
      const response = await call({ server_name: "beta", name: "where", arguments: {} });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ content: [{ type: "text", text: "beta" }] });

      const echoed = await call({ server_name: "alpha", name: "echo", arguments: { message: "hi" } });
      expect(await echoed.json()).toEqual({ content: [{ type: "text", text: "hi" }] });
    });

    it("server_id is accepted as the name of a config server", async () => {
      const response = await call({ server_id: "alpha", name: "where" });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ content: [{ type: "text", text: "alpha" }] });
    });

    it("without a server, name may be {server}-{tool}", async () => {
      const response = await call({ name: "beta-add", arguments: { a: 20, b: 22 } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ content: [{ type: "text", text: "42" }] });
      expect(beta.requests.some(isCallOf("add"))).toBe(true);
    });

    it("without a server, a tool name unique across the servers is routed to its server", async () => {
      const response = await call({ name: "only_beta", arguments: {} });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ content: [{ type: "text", text: "only beta" }] });
      expect(alpha.requests.some(isCallOf("only_beta"))).toBe(false);
    });

    it("a name several servers offer is 400 and names the candidates", async () => {
      const callsBefore = alpha.requests.filter(isCallOf("where")).length + beta.requests.filter(isCallOf("where")).length;
      const response = await call({ name: "where", arguments: {} });
      expect(response.status).toBe(400);
      const body = (await response.json()) as ErrorBody;
      expect(body.error).toBe("ambiguous_tool");
      expect(body.detail).toContain("'alpha-where'");
      expect(body.detail).toContain("'beta-where'");
      expect(body.detail).toContain("server_name");
      expect(alpha.requests.filter(isCallOf("where")).length + beta.requests.filter(isCallOf("where")).length).toBe(callsBefore);
    });

    it("a tool name no server offers is 404", async () => {
      const response = await call({ name: "no_such_tool", arguments: {} });
      expect(response.status).toBe(404);
      const error = (await response.json()) as ErrorBody;
      expect(error.error).toBe("unknown_tool");
      expect(error.detail).toContain("'no_such_tool'");
    });

    it("an unknown server_name is 404", async () => {
      const response = await call({ server_name: "nope", name: "echo", arguments: { message: "x" } });
      expect(response.status).toBe(404);
      expect(((await response.json()) as ErrorBody).error).toBe("unknown_server");
    });

    it("a bad body is 400 and says what is expected", async () => {
      const cases: Array<[string, string]> = [
        ["{not json", "not valid JSON"],
        [JSON.stringify({ arguments: {} }), "name"],
        [JSON.stringify({ name: "echo", arguments: "hello" }), "arguments"],
        [JSON.stringify(["echo"]), "name"],
      ];
      for (const [body, mentions] of cases) {
        const response = await call(body);
        expect(response.status, body).toBe(400);
        const error = (await response.json()) as ErrorBody;
        expect(error.error, body).toBe("invalid_request");
        expect(error.detail, body).toContain(mentions);
      }
    });

    it("a disallowed tool is 403 in every naming form, and never reaches the upstream", async () => {
      for (const body of [{ server_name: "beta", name: "secret_admin" }, { name: "beta-secret_admin" }]) {
        const response = await call({ ...body, arguments: {} });
        expect(response.status, JSON.stringify(body)).toBe(403);
        const error = (await response.json()) as ErrorBody;
        expect(error.error).toBe("tool_not_allowed");
        expect(error.detail).toContain("'secret_admin'");
      }
      // beta hides secret_admin, so the bare name is unique to alpha and goes there.
      const bare = await call({ name: "secret_admin", arguments: {} });
      expect(bare.status).toBe(200);
      expect(await bare.json()).toEqual({ content: [{ type: "text", text: "admin" }] });
      expect(beta.requests.some(isCallOf("secret_admin"))).toBe(false);
    });

    it("a tool's own error result is passed through as a CallToolResult with isError", async () => {
      const response = await call({ server_name: "alpha", name: "add", arguments: { a: "one", b: 2 } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { content: Array<{ type: string; text: string }>; isError?: boolean };
      expect(body.isError).toBe(true);
      expect(body.content[0]?.type).toBe("text");
    });

    it("accepts the gateway key as Authorization: Bearer, as the seed's curl sends it, and does not send it upstream", async () => {
      const response = await gateway.fetch("/mcp-rest/tools/call", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${gateway.masterKey}` },
        body: JSON.stringify({ name: "alpha-whoami", arguments: {} }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { content: Array<{ text: string }> };
      const seenUpstream = JSON.parse(body.content[0]?.text ?? "{}") as Record<string, string>;
      expect(seenUpstream.authorization).toBeUndefined();
      expect(JSON.stringify(seenUpstream)).not.toContain(gateway.masterKey);
    });

    it("needs a gateway key", async () => {
      const response = await gateway.fetch("/mcp-rest/tools/call", {
        method: "POST",
        key: null,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "alpha-echo", arguments: { message: "x" } }),
      });
      expect(response.status).toBe(401);
      expect(alpha.requests.some((request) => JSON.stringify(request.body ?? "").includes('"message":"x"'))).toBe(false);
    });
  });
});

describe("REST tools API with an upstream that is down", () => {
  let healthy: Upstream;
  let broken: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    [healthy, broken] = await Promise.all([upstreamNamed("healthy", {}, true), upstreamNamed("broken", {}, true)]);
    gateway = await startTestGateway({ servers: { healthy: { url: healthy.url }, broken: { url: broken.url } } });
    broken.setDown(true);
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([healthy?.close(), broken?.close()]);
  });

  it("lists the others' tools", async () => {
    const response = await gateway.fetch("/mcp-rest/tools/list");
    expect(response.status).toBe(200);
    const body = (await response.json()) as { tools: RestTool[] };
    expect(new Set(body.tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["healthy"]));
  });

  it("a call to it is 502 naming the server", async () => {
    const response = await gateway.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: "broken", name: "echo", arguments: { message: "x" } }),
    });
    expect(response.status).toBe(502);
    const body = (await response.json()) as ErrorBody;
    expect(body).toMatchObject({ error: "upstream_unreachable", server: "broken" });
    expect(body.detail).toContain("'broken'");
  });

  it("listing only that server is 502 naming it", async () => {
    const response = await gateway.fetch("/mcp-rest/tools/list?server_name=broken");
    expect(response.status).toBe(502);
    expect(((await response.json()) as ErrorBody).detail).toContain("'broken'");
  });
});
