/**
 * The pass-through's node:http fast path must answer exactly as the Hono route does. A
 * request with `x-litellm-mcp-debug` always takes the Hono route, so each case is sent
 * both ways and the answers compared (status, content type, body), debug headers aside.
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

async function send(path: string, headers: Record<string, string>, body: string, viaHono: boolean): Promise<Answer> {
  const response = await fetch(new URL(path, gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...headers, ...(viaHono ? { "x-litellm-mcp-debug": "true" } : {}) }, body });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text(), challenge: response.headers.get("www-authenticate") };
}

const master = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
const cases: Array<[string, string, () => Record<string, string>, string]> = [
  ["a tool call", "/alpha/mcp", () => master, rpc("tools/call", { name: "where", arguments: {} }, 7)],
  ["the /mcp/{server} form", "/mcp/alpha", () => master, rpc("tools/list", {}, "list-1")],
  ["no key", "/alpha/mcp", () => ({}), rpc("tools/list")],
  ["a bad key", "/alpha/mcp", () => ({ "x-litellm-api-key": "Bearer sk-not-a-key" }), rpc("tools/list")],
  ["an unknown server", "/nosuch/mcp", () => master, rpc("tools/list")],
  ["a server the key may not use", "/alpha/mcp", () => ({ "x-litellm-api-key": `Bearer ${limitedKey}` }), rpc("tools/list")],
  ["a disallowed tool", "/alpha/mcp", () => master, rpc("tools/call", { name: "only_alpha", arguments: {} }, 3)],
  ["a body that is not JSON", "/alpha/mcp", () => master, "{not json"],
  ["a body that is not JSON-RPC", "/alpha/mcp", () => master, JSON.stringify({ hello: "world" })],
  ["a body over the limit", "/alpha/mcp", () => master, rpc("tools/call", { name: "where", arguments: { padding: "x".repeat(4096) } })],
];

describe("fast path and Hono route answer alike", () => {
  it.each(cases)("%s", async (_name, path, headers, body) => {
    const fast = await send(path, headers(), body, false);
    const hono = await send(path, headers(), body, true);
    expect(fast).toEqual(hono);
  });

  it("takes the fast path for an eligible server (no debug headers on its answers) and filters tools/list the same way", async () => {
    const answer = await fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/list") });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-mcp-debug-auth-resolution")).toBeNull();
    const names = ((await answer.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((tool) => tool.name);
    expect(names).toContain("where");
    expect(names).not.toContain("only_alpha");
  });
});
