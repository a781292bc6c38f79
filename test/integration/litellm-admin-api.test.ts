/**
 * LiteLLM's shapes of the management API (issue 17): `/v1/mcp/server` lists an array, takes
 * `credentials` and `mcp_access_groups`, and `PUT /v1/mcp/server` names the server by
 * `server_id` in the body; `/v1/mcp/tools`, `/v1/mcp/access_groups` and
 * `/v1/mcp/server/health` answer any key about the servers it may use. Against real
 * upstream MCP servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

const SECRET = "sk-upstream-litellm-shape-4c8e1f";

describe("LiteLLM's /v1/mcp API shapes", () => {
  let alpha: Upstream;
  let beta: Upstream;
  let down: Upstream;
  let gateway: TestGateway;
  let limitedKey: string;

  beforeAll(async () => {
    [alpha, beta, down] = await Promise.all([upstreamNamed("alpha", {}, true), upstreamNamed("beta", {}, true), upstreamNamed("down", {}, true)]);
    down.setDown(true);
    gateway = await startTestGateway({
      servers: {
        alpha: { url: alpha.url },
        beta: { url: beta.url },
        broken: { url: down.url, timeout: 2 },
      },
    });
    limitedKey = await gateway.generateKey({ object_permission: { mcp_servers: ["alpha"] } });
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.allSettled([alpha?.close(), beta?.close(), down?.close()]);
  });

  async function json<T>(path: string, init: RequestInit & { key?: string | null } = {}): Promise<{ status: number; body: T; text: string }> {
    const response = await gateway.fetch(path, init);
    const text = await response.text();
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as T, text };
  }
  const send = (method: string, body: unknown) => ({ method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  it("POST takes LiteLLM's credentials object; the answer never shows the secret", async () => {
    const created = await json<Record<string, unknown>>("/v1/mcp/server", send("POST", { server_name: "viaapi", url: beta.url, transport: "http", auth_type: "bearer_token", credentials: { auth_value: SECRET } }));
    expect(created.status, created.text).toBe(201);
    expect(created.text).not.toContain(SECRET);
    expect(created.body).toMatchObject({ server_name: "viaapi", credentials: null, mcp_access_groups: [], auth_type: "bearer_token" });
    const call = await json<{ content: Array<{ text: string }> }>("/mcp-rest/tools/call", send("POST", { name: "viaapi-whoami", arguments: {} }));
    expect(call.status, call.text).toBe(200);
    expect(beta.lastHeaders().authorization).toBe(`Bearer ${SECRET}`);
  });

  it("a credential given both flat and in credentials, differently, is a 400 naming it", async () => {
    const answer = await json<{ detail: string; field: string }>("/v1/mcp/server", send("POST", { server_name: "both", url: beta.url, auth_type: "bearer_token", auth_value: "one-value-1234", credentials: { auth_value: "another-value-5678" } }));
    expect(answer.status).toBe(400);
    expect(answer.body.field).toBe("credentials.auth_value");
    expect(answer.text).not.toContain("another-value-5678");
  });

  it("an unknown credentials field is a 400, not silently dropped", async () => {
    const answer = await json<{ detail: string }>("/v1/mcp/server", send("POST", { server_name: "odd", url: beta.url, credentials: { aws_access_key_id: "AKIA..." } }));
    expect(answer.status).toBe(400);
    expect(answer.body.detail).toContain("credentials.aws_access_key_id");
  });

  it("GET /v1/mcp/server is an array; PUT /v1/mcp/server with server_id in the body edits that server (202), and the listed body can be sent back", async () => {
    const listed = await json<Array<Record<string, unknown>>>("/v1/mcp/server");
    expect(Array.isArray(listed.body)).toBe(true);
    const server = listed.body.find((entry) => entry.server_name === "viaapi")!;
    const edited = await json<Record<string, unknown>>("/v1/mcp/server", send("PUT", { ...server, description: "edited the LiteLLM way" }));
    expect(edited.status, edited.text).toBe(202);
    expect(edited.body).toMatchObject({ server_id: server.server_id, description: "edited the LiteLLM way" });
    // The stored credential was kept (credentials: null sent back is "unchanged").
    await json("/mcp-rest/tools/call", send("POST", { name: "viaapi-whoami", arguments: {} }));
    expect(beta.lastHeaders().authorization).toBe(`Bearer ${SECRET}`);
  });

  it("PUT /v1/mcp/server without server_id is a 400 that says where it goes", async () => {
    const answer = await json<{ detail: string }>("/v1/mcp/server", send("PUT", { server_name: "viaapi", url: beta.url }));
    expect(answer.status).toBe(400);
    expect(answer.body.detail).toContain("server_id");
  });

  it("PUT /v1/mcp/server and the server list need the master key", async () => {
    expect((await json("/v1/mcp/server", { ...send("PUT", { server_id: "alpha" }), key: limitedKey })).status).toBe(403);
    expect((await json("/v1/mcp/server", { key: limitedKey })).status).toBe(403);
    expect((await json("/v1/mcp/server", { key: null })).status).toBe(401);
  });

  it("GET /v1/mcp/tools lists the prefixed tools /mcp lists, for this key only", async () => {
    const all = await json<{ tools: Array<{ name: string; mcp_info: { server_name: string } }> }>("/v1/mcp/tools");
    expect(all.status).toBe(200);
    const names = all.body.tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(["alpha-echo", "beta-echo", "viaapi-echo"]));
    expect(all.body.tools.find((tool) => tool.name === "alpha-echo")?.mcp_info).toEqual({ server_name: "alpha" });

    const limited = await json<{ tools: Array<{ name: string }> }>("/v1/mcp/tools", { key: limitedKey });
    expect(limited.status).toBe(200);
    expect(new Set(limited.body.tools.map((tool) => tool.name.split("-")[0]))).toEqual(new Set(["alpha"]));
    expect((await json("/v1/mcp/tools", { key: null })).status).toBe(401);
  });

  it("GET /v1/mcp/server/health reports healthy and unhealthy servers, filtered by server_ids", async () => {
    const health = await json<Array<{ server_id: string; status: string; health_check_error?: string }>>("/v1/mcp/server/health");
    expect(health.status).toBe(200);
    const byId = new Map(health.body.map((entry) => [entry.server_id, entry]));
    expect(byId.get("alpha")?.status).toBe("healthy");
    expect(byId.get("broken")?.status).toBe("unhealthy");
    expect(byId.get("broken")?.health_check_error).toEqual(expect.any(String));

    const some = await json<Array<{ server_id: string }>>("/v1/mcp/server/health?server_ids=alpha&server_ids=beta");
    expect(some.body.map((entry) => entry.server_id).sort()).toEqual(["alpha", "beta"]);
  });

  it("a limited key's health view and access groups cover only its servers", async () => {
    const health = await json<Array<{ server_id: string }>>("/v1/mcp/server/health", { key: limitedKey });
    expect(health.status).toBe(200);
    expect(health.body.map((entry) => entry.server_id)).toEqual(["alpha"]);
    const groups = await json<{ access_groups: string[] }>("/v1/mcp/access_groups", { key: limitedKey });
    expect(groups.status).toBe(200);
    expect(groups.body).toEqual({ access_groups: [] });
  });
});
