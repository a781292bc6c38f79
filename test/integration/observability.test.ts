/**
 * Operators' signals (issue 10): `x-request-id` on every answer and in the logs,
 * Prometheus `/metrics`, and the audit trail of tool calls at `GET /v1/mcp/audit`.
 * A real gateway (served by node:http, so both the fast lane and the Hono routes answer),
 * real SDK upstreams, and the seed's mock OAuth server for the M2M token counters.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, type MockServer } from "../../src/mock-server/mock-server.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const master = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
const ARGUMENT_SECRET = "argument-secret-7f3a9c";

let gateway: TestGateway;
let alpha: Upstream;
let mock: MockServer;
let virtualKey: string;

beforeAll(async () => {
  alpha = await upstreamNamed("alpha");
  mock = await startMockServer({ port: 0, host: "127.0.0.1", log: () => undefined });
  gateway = await startTestGateway({
    servers: {
      alpha: { url: alpha.url, auth_type: "bearer_token", auth_value: "alpha-token-0123456789" },
      m2m: { url: `${mock.url}/mcp`, auth_type: "oauth2", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET, token_url: `${mock.url}/oauth/token` },
      down: { url: "http://127.0.0.1:9/mcp", timeout: 2 },
    },
  });
  virtualKey = await gateway.generateKey({ key_alias: "audit-alias", object_permission: { mcp_servers: ["alpha"] } });
});

afterAll(async () => {
  await gateway.close();
  await alpha.close();
  await mock.close();
});

const post = (path: string, body: string, headers: Record<string, string> = master) =>
  fetch(new URL(path, gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });

const callEcho = (path: string, message = "hi", headers: Record<string, string> = master) =>
  post(path, rpc("tools/call", { name: path === "/mcp" ? "alpha-echo" : "echo", arguments: { message } }, 1), headers);

const restCall = (body: Record<string, unknown>, headers: Record<string, string> = master) =>
  fetch(new URL("/mcp-rest/tools/call", gateway.url), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

async function metricsText(): Promise<string> {
  const response = await fetch(new URL("/metrics", gateway.url), { headers: master });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
}

/** The value of one sample, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(line.indexOf("{") + 1, line.lastIndexOf("}")).split(",");
    if (wanted.every((pair) => inside.includes(pair)) && inside.length === wanted.length) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

interface AuditPage {
  events: Array<Record<string, unknown>>;
  next?: string;
}

async function audit(query = ""): Promise<AuditPage> {
  const response = await fetch(new URL(`/v1/mcp/audit${query}`, gateway.url), { headers: master });
  expect(response.status).toBe(200);
  return (await response.json()) as AuditPage;
}

describe("x-request-id", () => {
  it.each([
    ["a fast-lane pass-through call", () => callEcho("/alpha/mcp")],
    ["an aggregate call", () => callEcho("/mcp")],
    ["a REST call", () => restCall({ server_name: "alpha", name: "echo", arguments: { message: "x" } })],
    ["a Hono-route call (debug headers)", () => callEcho("/alpha/mcp", "hi", { ...master, "x-litellm-mcp-debug": "true" })],
    ["a refusal without a key", () => callEcho("/alpha/mcp", "hi", {})],
    ["an unknown route", () => fetch(new URL("/nowhere", gateway.url))],
    ["the health check", () => fetch(new URL("/health", gateway.url))],
  ])("is a fresh UUID on %s", async (_name, send) => {
    const response = await send();
    expect(response.headers.get("x-request-id")).toMatch(UUID);
    await response.arrayBuffer();
  });

  it("keeps a client's plain id, and replaces one that is not a plain token", async () => {
    const kept = await fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master, "x-request-id": "lb-1234.abc:9" }, body: rpc("tools/list") });
    expect(kept.headers.get("x-request-id")).toBe("lb-1234.abc:9");
    for (const odd of ["has space", "x".repeat(129), "quote\"d", "<script>"]) {
      const replaced = await fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master, "x-request-id": odd }, body: rpc("tools/list") });
      expect(replaced.headers.get("x-request-id"), odd).toMatch(UUID);
    }
  });

  it("is in the access log line (debug level) of every request, whose path leaves out the query", async () => {
    const answered = await callEcho("/alpha/mcp");
    const oauth = await fetch(new URL("/callback?code=secret-code-123&state=s", gateway.url));
    for (const response of [answered, oauth]) {
      const id = response.headers.get("x-request-id");
      await response.arrayBuffer();
      await expect.poll(() => gateway.logs.find((line) => line.msg === "request" && line.request_id === id)).toBeDefined();
    }
    const lines = gateway.logs.filter((line) => line.msg === "request" && (line.request_id === answered.headers.get("x-request-id") || line.request_id === oauth.headers.get("x-request-id")));
    expect(lines[0]).toMatchObject({ method: "POST", path: "/alpha/mcp", status: 200, route: "passthrough", server: "alpha" });
    expect(lines[1]).toMatchObject({ method: "GET", path: "/callback", route: "oauth" });
    expect(JSON.stringify(gateway.logs)).not.toContain("secret-code-123");
  });

  it("is named by the log line of a failed request, on both lanes", async () => {
    for (const headers of [master, { ...master, "x-litellm-mcp-debug": "true" }]) {
      const response = await post("/down/mcp", rpc("tools/call", { name: "echo", arguments: {} }, 2), headers);
      expect(response.status).toBe(502);
      const id = response.headers.get("x-request-id")!;
      await response.arrayBuffer();
      expect(gateway.logs.some((line) => line.request_id === id && line.code === "upstream_unreachable")).toBe(true);
    }
  });
});

describe("/metrics", () => {
  it("needs the master key", async () => {
    expect((await fetch(new URL("/metrics", gateway.url))).status).toBe(401);
    expect((await fetch(new URL("/metrics", gateway.url), { headers: { "x-litellm-api-key": `Bearer ${virtualKey}` } })).status).toBe(403);
  });

  it("counts requests per route family, server and status, with their latency", async () => {
    const before = await metricsText();
    for (let index = 0; index < 3; index++) await (await callEcho("/alpha/mcp")).arrayBuffer();
    await (await callEcho("/mcp")).arrayBuffer();
    await (await restCall({ server_name: "alpha", name: "echo", arguments: { message: "x" } })).arrayBuffer();
    await (await callEcho("/alpha/mcp", "hi", {})).arrayBuffer();
    const after = await metricsText();
    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta("gatehouse_http_requests_total", { route: "passthrough", server: "alpha", status: "200" })).toBe(3);
    expect(delta("gatehouse_http_requests_total", { route: "passthrough", server: "alpha", status: "401" })).toBe(1);
    expect(delta("gatehouse_http_requests_total", { route: "aggregate", server: "", status: "200" })).toBe(1);
    expect(delta("gatehouse_http_requests_total", { route: "rest", server: "", status: "200" })).toBe(1);
    expect(delta("gatehouse_http_request_duration_seconds_count", { route: "passthrough", server: "alpha" })).toBe(4);
    expect(after).toContain("gatehouse_process_resident_memory_bytes");
  });

  it("does not grow a label per made-up server name", async () => {
    for (const name of ["made-up-1", "made-up-2"]) await (await post(`/${name}/mcp`, rpc("tools/list"))).arrayBuffer();
    const text = await metricsText();
    expect(text).not.toContain("made-up");
    expect(sample(text, "gatehouse_http_requests_total", { route: "passthrough", server: "", status: "404" })).toBeGreaterThanOrEqual(2);
  });

  it("counts upstream failures per server and code", async () => {
    const before = sample(await metricsText(), "gatehouse_upstream_errors_total", { server: "down", code: "upstream_unreachable" });
    await (await post("/down/mcp", rpc("tools/call", { name: "echo", arguments: {} }, 3))).arrayBuffer();
    await (await restCall({ server_name: "down", name: "echo" })).arrayBuffer();
    const after = sample(await metricsText(), "gatehouse_upstream_errors_total", { server: "down", code: "upstream_unreachable" });
    expect(after - before).toBe(2);
  });

  it("counts M2M token requests and the calls served from the cached token", async () => {
    for (let index = 0; index < 3; index++) {
      const response = await post("/m2m/mcp", rpc("tools/call", { name: "echo", arguments: { message: "m2m" } }, index));
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
    const text = await metricsText();
    expect(sample(text, "gatehouse_token_requests_total", { server: "m2m", flow: "client_credentials", outcome: "ok" })).toBe(1);
    expect(sample(text, "gatehouse_token_cache_hits_total", { server: "m2m", flow: "client_credentials" })).toBe(2);
  });
});

describe("the audit trail", () => {
  it("records tool calls on every route: who, which server and tool, how it ended, the request id; never the arguments", async () => {
    const passthrough = await callEcho("/alpha/mcp", ARGUMENT_SECRET);
    const aggregate = await callEcho("/mcp", ARGUMENT_SECRET);
    const rest = await restCall({ server_name: "alpha", name: "echo", arguments: { message: ARGUMENT_SECRET } }, { "x-litellm-api-key": `Bearer ${virtualKey}` });
    const ids = [passthrough, aggregate, rest].map((response) => response.headers.get("x-request-id"));
    await Promise.all([passthrough, aggregate, rest].map((response) => response.arrayBuffer()));
    const page = await audit("?server=alpha&tool=echo&limit=1000");
    const byRequest = new Map(page.events.map((event) => [event.request_id, event]));
    expect(byRequest.get(ids[0])).toMatchObject({ route: "passthrough", server: "alpha", tool: "echo", outcome: "ok", status: 200, caller_kind: "master", caller: "master", subject: "master" });
    expect(byRequest.get(ids[1])).toMatchObject({ route: "aggregate", server: "alpha", tool: "echo", outcome: "ok", caller_kind: "master" });
    expect(byRequest.get(ids[2])).toMatchObject({ route: "rest", server: "alpha", tool: "echo", outcome: "ok", caller_kind: "virtual", caller: "audit-alias" });
    expect(String(byRequest.get(ids[2])?.subject)).toMatch(/^key:[0-9a-f]{64}$/);
    for (const id of ids) expect(typeof byRequest.get(id)?.duration_ms).toBe("number");
    expect(JSON.stringify(page)).not.toContain(ARGUMENT_SECRET);
    expect(JSON.stringify(page)).not.toContain(virtualKey);
  });

  it("records refusals and failures with their code, and a tool's own error as tool_error", async () => {
    const echoOnly = await gateway.generateKey({ key_alias: "echo-only", object_permission: { mcp_servers: ["alpha"], mcp_tool_permissions: { alpha: ["echo"] } } });
    const forbidden = await post("/alpha/mcp", rpc("tools/call", { name: "add", arguments: { a: 1, b: 2 } }, 4), { "x-litellm-api-key": `Bearer ${echoOnly}` });
    expect(forbidden.status).toBe(403);
    const forbiddenId = forbidden.headers.get("x-request-id");
    await forbidden.arrayBuffer();
    const failed = await post("/down/mcp", rpc("tools/call", { name: "echo", arguments: {} }, 5));
    const failedId = failed.headers.get("x-request-id");
    await failed.arrayBuffer();
    const toolError = await restCall({ server_name: "alpha", name: "add", arguments: { a: "not a number" } });
    const toolErrorId = toolError.headers.get("x-request-id");
    await toolError.arrayBuffer();
    const events = (await audit("?limit=1000")).events;
    expect(events.find((event) => event.request_id === forbiddenId)).toMatchObject({ server: "alpha", tool: "add", outcome: "error", status: 403, error_code: "tool_not_allowed", caller: "echo-only" });
    expect(events.find((event) => event.request_id === failedId)).toMatchObject({ server: "down", tool: "echo", outcome: "error", status: 502, error_code: "upstream_unreachable" });
    expect(events.find((event) => event.request_id === toolErrorId)).toMatchObject({ server: "alpha", tool: "add", outcome: "tool_error" });
  });

  it("records /mcp's refusals of a tool before any server: a tool the key may not use, a tool nobody offers (they went unrecorded)", async () => {
    const echoOnly = await gateway.generateKey({ key_alias: "aggregate-echo-only", object_permission: { mcp_servers: ["alpha"], mcp_tool_permissions: { alpha: ["echo"] } } });
    const refused = await post("/mcp", rpc("tools/call", { name: "alpha-add", arguments: { a: 1, b: 2 } }, 6), { "x-litellm-api-key": `Bearer ${echoOnly}` });
    const refusedId = refused.headers.get("x-request-id");
    expect(refused.status).toBe(403);
    await refused.arrayBuffer();
    const unknown = await post("/mcp", rpc("tools/call", { name: "nobody-offers-this", arguments: {} }, 7));
    const unknownId = unknown.headers.get("x-request-id");
    await unknown.arrayBuffer();
    const events = (await audit("?limit=1000")).events;
    expect(events.find((event) => event.request_id === refusedId)).toMatchObject({ route: "aggregate", server: "", tool: "alpha-add", outcome: "error", error_code: "tool_not_allowed", caller: "aggregate-echo-only" });
    expect(events.find((event) => event.request_id === unknownId)).toMatchObject({ route: "aggregate", server: "", tool: "nobody-offers-this", outcome: "error", error_code: "unknown_tool" });
  });

  it("filters by caller and outcome, and pages newest first with a cursor", async () => {
    for (let index = 0; index < 5; index++) await (await callEcho("/alpha/mcp", `page-${index}`)).arrayBuffer();
    const first = await audit("?caller=master&outcome=ok&limit=2");
    expect(first.events).toHaveLength(2);
    expect(first.events.every((event) => event.caller === "master" && event.outcome === "ok")).toBe(true);
    expect(first.next).toBeDefined();
    const second = await audit(`?caller=master&outcome=ok&limit=2&cursor=${encodeURIComponent(first.next!)}`);
    expect(second.events).toHaveLength(2);
    const times = [...first.events, ...second.events].map((event) => String(event.at));
    expect([...times].sort().reverse()).toEqual(times);
    expect(new Set([...first.events, ...second.events].map((event) => event.id)).size).toBe(4);
    const byVirtual = await audit("?caller=audit-alias&limit=1000");
    expect(byVirtual.events.length).toBeGreaterThan(0);
    expect(byVirtual.events.every((event) => event.caller === "audit-alias")).toBe(true);
  });

  it("refuses bad queries with 400, and anyone but the master key", async () => {
    for (const query of ["?limit=0", "?limit=5000", "?limit=abc", "?since=yesterday", "?cursor=nonsense"]) {
      const response = await fetch(new URL(`/v1/mcp/audit${query}`, gateway.url), { headers: master });
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
    }
    expect((await fetch(new URL("/v1/mcp/audit", gateway.url))).status).toBe(401);
    expect((await fetch(new URL("/v1/mcp/audit", gateway.url), { headers: { "x-litellm-api-key": `Bearer ${virtualKey}` } })).status).toBe(403);
  });

  it("lists only events at or after `since`", async () => {
    const since = new Date().toISOString();
    const response = await callEcho("/alpha/mcp", "after-since");
    const id = response.headers.get("x-request-id");
    await response.arrayBuffer();
    const page = await audit(`?since=${encodeURIComponent(since)}&limit=1000`);
    expect(page.events.some((event) => event.request_id === id)).toBe(true);
    expect(page.events.every((event) => String(event.at) >= since)).toBe(true);
  });
});

describe("with audit_log: false", () => {
  it("records nothing", async () => {
    const quiet = await startTestGateway({ servers: { alpha: { url: alpha.url } }, general: { audit_log: false } });
    try {
      const response = await fetch(new URL("/alpha/mcp", quiet.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/call", { name: "echo", arguments: { message: "x" } }) });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      const page = await fetch(new URL("/v1/mcp/audit", quiet.url), { headers: master });
      expect(((await page.json()) as AuditPage).events).toEqual([]);
    } finally {
      await quiet.close();
    }
  });
});
