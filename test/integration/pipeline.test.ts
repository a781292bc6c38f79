/**
 * The one request pipeline: every route's answers carry the cross-cutting steps (request
 * id, debug headers on request, DNS-rebinding refusals) whichever layer serves the route,
 * and the MCP and REST routes' steps answer in their order and style. The debug step must
 * change nothing but the debug headers, so each MCP and REST case is sent with and without
 * it and the answers compared.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

let gateway: TestGateway;
let upstream: Upstream;
let limitedKey: string;

beforeAll(async () => {
  upstream = await upstreamNamed("alpha");
  gateway = await startTestGateway({
    servers: { alpha: { url: upstream.url, auth_type: "bearer_token", auth_value: "alpha-token-0123456789", disallowed_tools: ["only_alpha"] }, beta: { url: upstream.url } },
    general: { max_request_body_bytes: 2048 },
  });
  limitedKey = await gateway.generateKey({ object_permission: { mcp_servers: ["beta"] } });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

interface Answer {
  status: number;
  type: string | null;
  body: string;
  challenge: string | null;
}

async function send(path: string, headers: Record<string, string>, body: string, debug: boolean): Promise<Answer> {
  const response = await fetch(new URL(path, gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...headers, ...(debug ? { "x-litellm-mcp-debug": "true" } : {}) }, body });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text(), challenge: response.headers.get("www-authenticate") };
}

const master = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
const cases: Array<[string, string, () => Record<string, string>, string]> = [
  ["a tool call", "/alpha/mcp", () => master, rpc("tools/call", { name: "where", arguments: {} }, 7)],
  ["the /mcp/{server} form", "/mcp/alpha", () => master, rpc("tools/list", {}, "list-1")],
  ["no key", "/alpha/mcp", () => ({}), rpc("tools/list")],
  ["a bad key", "/alpha/mcp", () => ({ "x-litellm-api-key": "Bearer sk-not-a-key" }), rpc("tools/list")],
  ["an unknown server", "/nosuch/mcp", () => master, rpc("tools/list")],
  ["aggregate: a tool call", "/mcp", () => master, rpc("tools/call", { name: "alpha-where", arguments: {} }, 5)],
  ["aggregate: initialize", "/mcp", () => master, rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }, 1)],
  ["aggregate: a notification (202)", "/mcp", () => master, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })],
  ["aggregate: an unknown tool", "/mcp", () => master, rpc("tools/call", { name: "alpha-nosuch", arguments: {} }, 6)],
  ["aggregate: a disallowed tool", "/mcp", () => master, rpc("tools/call", { name: "alpha-only_alpha", arguments: {} }, 6)],
  ["aggregate: a server the key may not use", "/mcp", () => ({ "x-litellm-api-key": `Bearer ${limitedKey}` }), rpc("tools/call", { name: "alpha-where", arguments: {} }, 6)],
  ["aggregate: no key", "/mcp", () => ({}), rpc("tools/list")],
  ["aggregate: a body that is not JSON", "/mcp", () => master, "{not json"],
  ["REST: a tool call", "/mcp-rest/tools/call", () => master, JSON.stringify({ server_name: "alpha", name: "where", arguments: {} })],
  ["REST: a prefixed name", "/mcp-rest/tools/call", () => master, JSON.stringify({ name: "alpha-where", arguments: {} })],
  ["REST: a bad body", "/mcp-rest/tools/call", () => master, JSON.stringify({ arguments: {} })],
  ["REST: not JSON", "/mcp-rest/tools/call", () => master, "{nope"],
  ["REST: no key", "/mcp-rest/tools/call", () => ({}), JSON.stringify({ server_name: "alpha", name: "where" })],
  ["REST: a disallowed tool", "/mcp-rest/tools/call", () => master, JSON.stringify({ server_name: "alpha", name: "only_alpha" })],
  ["REST: a body over the limit", "/mcp-rest/tools/call", () => master, JSON.stringify({ server_name: "alpha", name: "where", arguments: { padding: "x".repeat(4096) } })],
  ["a server the key may not use", "/alpha/mcp", () => ({ "x-litellm-api-key": `Bearer ${limitedKey}` }), rpc("tools/list")],
  ["a disallowed tool", "/alpha/mcp", () => master, rpc("tools/call", { name: "only_alpha", arguments: {} }, 3)],
  ["a body that is not JSON", "/alpha/mcp", () => master, "{not json"],
  ["a body that is not JSON-RPC", "/alpha/mcp", () => master, JSON.stringify({ hello: "world" })],
  ["a body over the limit", "/alpha/mcp", () => master, rpc("tools/call", { name: "where", arguments: { padding: "x".repeat(4096) } })],
];

describe("the debug step changes nothing but the debug headers", () => {
  it.each(cases)("%s", async (_name, path, headers, body) => {
    const plain = await send(path, headers(), body, false);
    const debugged = await send(path, headers(), body, true);
    expect(plain).toEqual(debugged);
  });

  it("filters tools/list by disallowed_tools, without debug headers unless asked", async () => {
    const answer = await fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/list") });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-mcp-debug-auth-resolution")).toBeNull();
    const names = ((await answer.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((tool) => tool.name);
    expect(names).toContain("where");
    expect(names).not.toContain("only_alpha");
  });
});

describe("the MCP routes' paths", () => {
  it.each([
    ["with a query string", "/alpha/mcp?x=1"],
    ["in the /mcp/{server} form with a query string", "/mcp/alpha?x=1"],
    ["with a percent-encoded server name", "/%61lpha/mcp"],
  ])("serves a server's path %s", async (_name, path) => {
    const answer = await fetch(new URL(path, gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/call", { name: "where", arguments: {} }, 9) });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ jsonrpc: "2.0", id: 9, result: { content: [{ type: "text" }] } });
  });

  it("answers a /mcp-rest path that is no endpoint with 404 after the key check", async () => {
    const keyless = await fetch(new URL("/mcp-rest/nothing", gateway.url));
    expect(keyless.status).toBe(401);
    const wrongMethod = await fetch(new URL("/mcp-rest/tools/list", gateway.url), { method: "POST", headers: master, body: "{}" });
    expect(wrongMethod.status).toBe(404);
    expect(await wrongMethod.json()).toMatchObject({ error: "not_found" });
  });

  it("answers OPTIONS on /mcp as no route (404), before any key check", async () => {
    const answer = await fetch(new URL("/mcp", gateway.url), { method: "OPTIONS" });
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({ error: "not_found" });
  });

  it("answers GET and DELETE on /mcp without a session id with 405 after the key check", async () => {
    expect((await fetch(new URL("/mcp", gateway.url))).status).toBe(401);
    for (const method of ["GET", "DELETE"]) {
      const answer = await fetch(new URL("/mcp", gateway.url), { method, headers: master });
      expect(answer.status, method).toBe(405);
      expect(answer.headers.get("allow")).toBe("GET, POST, DELETE");
    }
  });
});

describe("cross-cutting steps apply to every route", () => {
  const requests: Array<[string, () => Promise<Response>]> = [
    ["a pass-through call", () => fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/list") })],
    ["an aggregate refusal (no key)", () => fetch(new URL("/mcp", gateway.url), { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/list") })],
    ["a REST listing", () => fetch(new URL("/mcp-rest/tools/list", gateway.url), { headers: master })],
    ["a route the Hono app serves (health)", () => fetch(new URL("/health/liveliness", gateway.url))],
    ["an admin route", () => fetch(new URL("/v1/mcp/server", gateway.url), { headers: master })],
    ["a path no route serves", () => fetch(new URL("/nothing/here", gateway.url))],
    ["a DNS-rebinding refusal", () => fetch(new URL("/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master, origin: "http://evil.example" }, body: rpc("tools/list") })],
  ];

  it.each(requests)("x-request-id on %s", async (_name, request) => {
    const answer = await request();
    expect(answer.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps a client's plain request id on the MCP routes and the Hono routes alike", async () => {
    for (const path of ["/health/liveliness", "/mcp-rest/tools/list"]) {
      const answer = await fetch(new URL(path, gateway.url), { headers: { ...master, "x-request-id": "lb-1234.abc" } });
      expect(answer.headers.get("x-request-id"), path).toBe("lb-1234.abc");
    }
  });

  it.each([
    ["an MCP route's 401", () => fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, "x-litellm-mcp-debug": "true" }, body: rpc("tools/list") }), "(none: no upstream was called)"],
    ["a pass-through call", () => fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master, "x-litellm-mcp-debug": "true" }, body: rpc("tools/list") }), "static-token"],
    ["a route the Hono app serves", () => fetch(new URL("/v1/mcp/server", gateway.url), { headers: { ...master, "x-litellm-mcp-debug": "true" } }), "(none: no upstream was called)"],
  ] as const)("debug headers on %s", async (_name, request, resolution) => {
    const answer = await request();
    expect(answer.headers.get("x-mcp-debug-auth-resolution")).toContain(resolution);
    expect(answer.headers.get("x-mcp-debug-inbound-auth")).not.toContain(MASTER_KEY);
  });
});
