/**
 * The node:http fast lane (pass-through, aggregate `/mcp`, `/mcp-rest/tools/call`) must
 * answer exactly as the Hono routes do. A request with `x-litellm-mcp-debug` always takes
 * the Hono route, so each case is sent both ways and the answers compared (status, content
 * type, body), debug headers aside.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { masterKeyResolver } from "../../src/auth/inbound/key-resolver.js";
import { parseConfig } from "../../src/config/load.js";
import { fastLane } from "../../src/http/fast-lane.js";
import { createLogger } from "../../src/log.js";
import { createLegacySseBridge } from "../../src/mcp/legacy-sse-bridge.js";
import { createPassthrough } from "../../src/mcp/passthrough.js";
import { sessionBinding } from "../../src/mcp/session-binding.js";
import { createStreamBudget } from "../../src/mcp/stream-budget.js";
import { createUpstreamHttp } from "../../src/mcp/upstream-http.js";
import { metadataDiscovery } from "../../src/auth/upstream/metadata-discovery.js";
import { delegatedResourceMetadata } from "../../src/oauth/delegated-resource-metadata.js";
import { upstreamAuthFactory } from "../../src/auth/upstream/select-strategy.js";
import { configServerEntries, registrySnapshot, type RegistrySnapshot } from "../../src/registry/registry.js";
import { createAggregate } from "../../src/mcp/aggregate.js";
import { createRestTools } from "../../src/mcp/rest-tools.js";
import { createUpstreamClients } from "../../src/mcp/upstream-clients.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
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

describe("fast path and Hono route answer alike", () => {
  it.each(cases)("%s", async (_name, path, headers, body) => {
    const fast = await send(path, headers(), body, false);
    const hono = await send(path, headers(), body, true);
    expect(fast).toEqual(hono);
  });

  it("filters tools/list by disallowed_tools on the fast path", async () => {
    const answer = await fetch(new URL("/alpha/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/list") });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-mcp-debug-auth-resolution")).toBeNull();
    const names = ((await answer.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((tool) => tool.name);
    expect(names).toContain("where");
    expect(names).not.toContain("only_alpha");
  });
});

/**
 * Which requests the fast path takes: its handler alone on a node:http server, where
 * whatever it declines answers 599 (in the gateway, the Hono route would get it).
 */
describe("what the fast lane takes", () => {
  const DECLINED = 599;
  let server: Server;
  let withDelegating: RegistrySnapshot;
  let plainOnly: RegistrySnapshot;
  let current: RegistrySnapshot;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const servers = {
      plain: { url: upstream.url, auth_type: "bearer_token", auth_value: "plain-token-0123456789" },
      interactive: { url: upstream.url, auth_type: "oauth2", authorization_url: "http://127.0.0.1:9/authorize", token_url: "http://127.0.0.1:9/token", scopes: ["read"] },
      delegating: { url: upstream.url, auth_type: "oauth2", delegate_auth_to_upstream: true },
      legacy: { url: upstream.url, transport: "sse" },
    };
    const { config } = parseConfig(stringify({ mcp_servers: servers }), { file: "fast-path.yaml", env: {} });
    const entries = configServerEntries(config, { authFor: upstreamAuthFactory() });
    withDelegating = registrySnapshot(entries);
    plainOnly = registrySnapshot(entries.filter((entry) => entry.name === "plain"));
    current = withDelegating;
    const log = createLogger({ level: "silent" });
    const http = createUpstreamHttp();
    const streams = createStreamBudget({ perKey: 64, perServer: 256 });
    const legacySse = createLegacySseBridge({ log, streams });
    const delegated = delegatedResourceMetadata({ discovery: metadataDiscovery() });
    const sessions = sessionBinding(Buffer.alloc(32, 7));
    const passthrough = createPassthrough({ http, sessions, streams, legacySse, log, delegated });
    const clients = createUpstreamClients({ log, http });
    const aggregate = createAggregate({ clients, log, listTimeoutMs: 5_000, delegated });
    const fast = fastLane({ registry: { current: () => current }, keys: masterKeyResolver(MASTER_KEY), passthrough, aggregate, rest: createRestTools(aggregate), maxBodyBytes: 4096, log });
    server = createServer((request, response) => {
      if (!fast(request, response)) response.writeHead(DECLINED).end();
    });
    base = await listenOnLoopback(server);
    close = async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([clients.close(), http.close(), legacySse.close()]);
    };
  });

  afterAll(async () => {
    server.closeAllConnections();
    await close();
  });

  const post = (path: string, headers: Record<string, string> = {}, method = "POST") =>
    fetch(`${base}${path}`, { method, headers: { ...MCP_ACCEPT, ...master, ...headers }, ...(method === "POST" ? { body: rpc("tools/call", { name: "where", arguments: {} }) } : {}) });

  it("takes a plain server's POST on both path forms, and answers it", async () => {
    for (const path of ["/plain/mcp", "/mcp/plain"]) {
      const answer = await post(path);
      expect(answer.status, path).toBe(200);
      expect(await answer.text()).toContain("alpha");
    }
  });

  it("takes its refusals too (no key: 401 as a JSON-RPC error)", async () => {
    const answer = await fetch(`${base}/plain/mcp`, { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/list") });
    expect(answer.status).toBe(401);
    expect(await answer.json()).toMatchObject({ jsonrpc: "2.0", error: { data: { code: "unauthorized" } } });
  });

  it.each([
    ["a debug request", "/plain/mcp", { "x-litellm-mcp-debug": "true" }, "POST"],
    ["a query string", "/plain/mcp?x=1", {}, "POST"],
    ["GET", "/plain/mcp", {}, "GET"],
    ["an unknown server (the Hono route answers 401 first)", "/nosuch/mcp", {}, "POST"],
    ["an interactive OAuth server (its 401 carries the gateway's challenge)", "/interactive/mcp", {}, "POST"],
    ["a server that delegates auth", "/delegating/mcp", {}, "POST"],
    ["a legacy SSE server", "/legacy/mcp", {}, "POST"],
    ["/mcp while a server delegates auth (a keyless request may be admitted there)", "/mcp", {}, "POST"],
    ["another route", "/mcp-rest/tools/list", {}, "POST"],
  ] as const)("leaves %s to the Hono route", async (_name, path, headers, method) => {
    current = withDelegating;
    expect((await post(path, headers, method)).status).toBe(DECLINED);
  });

  it("takes /mcp when no server delegates auth, and /mcp-rest/tools/call either way", async () => {
    current = plainOnly;
    const aggregated = await fetch(`${base}/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/call", { name: "plain-where", arguments: {} }, 3) });
    expect(aggregated.status).toBe(200);
    expect(await aggregated.json()).toMatchObject({ jsonrpc: "2.0", id: 3, result: { content: [{ type: "text" }] } });
    for (const snapshot of [plainOnly, withDelegating]) {
      current = snapshot;
      const rest = await fetch(`${base}/mcp-rest/tools/call`, { method: "POST", headers: { "content-type": "application/json", ...master }, body: JSON.stringify({ server_name: "plain", name: "where", arguments: {} }) });
      expect(rest.status).toBe(200);
      expect(await rest.json()).toMatchObject({ content: [{ type: "text" }] });
    }
  });
});
