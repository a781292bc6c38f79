/**
 * Inbound trust (issue 15 items 9, 10 and 14), through real gateways and real SDK upstreams
 * that record every header they receive:
 *
 * - item 9: no header holding a gateway key reaches an upstream, however the key is written
 *   (bare, among several credentials, Basic user or password, another valid key, in an
 *   `extra_headers` header, in a per-request header), on every way a client header goes
 *   upstream (extra_headers, delegated auth, oauth2 pass-through, RFC 8693 subject token);
 * - item 10: server names are unique ignoring case (config, API, an existing database),
 *   and a per-request header reaches exactly one server;
 * - item 14: DNS rebinding: listening on loopback, a foreign `Host` is refused on every
 *   route; a foreign `Origin` (and `Origin: null`) is refused on the MCP and OAuth facade
 *   routes; a real Chromium's consent form still passes.
 *
 * Every attack on `POST /{server}/mcp`, `POST /mcp` and `POST /mcp-rest/tools/call` runs on
 * both request paths: the node:http fast lane (as sent) and the Hono route (with
 * `x-litellm-mcp-debug: true`, which the fast lane never takes).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import { migrateToLatest } from "../../src/store/migrate.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { serversRepository } from "../../src/store/servers-repository.js";
import { launchBrowser } from "../fixtures/browser.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { loopbackRedirectUri, pkcePair } from "../fixtures/mcp-oauth-client.js";
import { startTokenExchangeServer, type TokenExchangeServer } from "../fixtures/token-exchange-as.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";
import { rawJson, rawRequest, type RawAnswer, type RawRequest } from "../fixtures/raw-http.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function gatewayWith(options: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  const gateway = await startTestGateway(options);
  cleanups.push(() => gateway.close());
  return gateway;
}

async function upstream(label: string): Promise<Upstream> {
  const started = await upstreamNamed(label);
  cleanups.push(() => started.close());
  return started;
}

// --- helpers ------------------------------------------------------------------------------

const DEBUG = { "x-litellm-mcp-debug": "true" };
const LANES = [
  ["the fast lane", {}],
  ["the Hono route", DEBUG],
] as const;

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString("base64")}`;


/** One request with exactly these headers (Host and Origin included, which fetch would not send as given). */
const send = (base: string, path: string, init: Partial<RawRequest> = {}) => rawRequest(new URL(path, base), { ...init, method: init.method ?? "POST" });

const json = rawJson;

/** The three routes that carry a tool call, each as the route names it. */
function toolCall(route: "passthrough" | "aggregate" | "rest", server: string, message: string): { path: string; body: string } {
  if (route === "passthrough") return { path: `/${server}/mcp`, body: rpc("tools/call", { name: "echo", arguments: { message } }, 7) };
  if (route === "aggregate") return { path: "/mcp", body: rpc("tools/call", { name: `${server}-echo`, arguments: { message } }, 7) };
  return { path: "/mcp-rest/tools/call", body: JSON.stringify({ name: `${server}-echo`, arguments: { message } }) };
}

/** The text of a tool result, whichever route answered (JSON-RPC result, or the bare CallToolResult of /mcp-rest). */
function resultText(answer: RawAnswer): string | undefined {
  const body = json(answer);
  const result = (body["result"] ?? body) as { content?: Array<{ text?: string }> };
  return result.content?.[0]?.text;
}

/** Every header value an upstream received, with base64 words decoded: where a leaked key would show. */
function everythingSent(requests: readonly RecordedRequest[]): string {
  const values = requests.flatMap((request) => Object.values(request.headers));
  return values.flatMap((value) => [value, ...value.split(/[\s,]+/).map((word) => Buffer.from(word, "base64").toString("latin1"))]).join("\n");
}

// === item 9: the gateway key never goes upstream =============================================

describe("item 9: no header holding a gateway key reaches an upstream", () => {
  let up: Upstream;
  let gateway: TestGateway;
  /** The caller's key (limited to xh), and another valid key the caller also holds. */
  let callerKey: string;
  let otherKey: string;
  let secrets: string[];

  beforeAll(async () => {
    up = await upstream("xh");
    gateway = await gatewayWith({ servers: { xh: { url: up.url, extra_headers: ["authorization", "x-api-key"] } } });
    callerKey = await gateway.generateKey({ object_permission: { mcp_servers: ["xh"] } });
    otherKey = await gateway.generateKey({ key_alias: "other" });
    secrets = [MASTER_KEY, callerKey, otherKey];
  });

  const forms: Array<[string, () => Record<string, string>]> = [
    ["a bare master key in Authorization next to x-litellm-api-key", () => ({ authorization: MASTER_KEY })],
    ["'Authorization: Bearer x, Bearer <key>'", () => ({ authorization: `Bearer upstream-x, Bearer ${callerKey}` })],
    ["'Authorization: Basic base64(<key>:)'", () => ({ authorization: basic(`${MASTER_KEY}:`) })],
    ["another valid gateway key in Authorization", () => ({ authorization: `Bearer ${otherKey}` })],
    ["a gateway key in an extra_headers header", () => ({ "x-api-key": otherKey })],
  ];
  const routes = ["passthrough", "aggregate", "rest"] as const;

  describe.each(LANES)("on %s", (_lane, lane) => {
    it.each(routes.flatMap((route) => forms.map(([form, headers]) => [route, form, headers] as const)))(
      "%s: %s is left out and the call still succeeds",
      async (route, _form, headers) => {
        const before = up.requests.length;
        const call = toolCall(route, "xh", "screened");
        const answer = await send(gateway.url, call.path, { headers: { ...MCP_ACCEPT, ...keyHeader(callerKey), ...headers(), ...lane }, body: call.body });
        expect(answer.status, answer.text).toBe(200);
        expect(resultText(answer)).toBe("screened");
        const sent = up.requests.slice(before);
        expect(sent.length).toBeGreaterThan(0);
        for (const request of sent) {
          expect(request.headers).not.toHaveProperty("authorization");
          expect(request.headers).not.toHaveProperty("x-api-key");
        }
        const seen = everythingSent(sent);
        for (const secret of secrets) expect(seen).not.toContain(secret);
      },
    );

    it("still forwards the client's own upstream token in Authorization (extra_headers)", async () => {
      const before = up.requests.length;
      const call = toolCall("passthrough", "xh", "own token");
      const answer = await send(gateway.url, call.path, {
        headers: { ...MCP_ACCEPT, ...keyHeader(callerKey), authorization: "Bearer upstream-own-token", ...lane },
        body: call.body,
      });
      expect(answer.status, answer.text).toBe(200);
      expect(up.requests.slice(before).map((request) => request.headers["authorization"])).toEqual(["Bearer upstream-own-token"]);
    });

    it.each(routes)("%s: a gateway key in x-mcp-{server}-authorization is refused 400, never sent", async (route) => {
      const before = up.requests.length;
      const call = toolCall(route, "xh", "per-request");
      const answer = await send(gateway.url, call.path, {
        headers: { ...MCP_ACCEPT, ...keyHeader(callerKey), "x-mcp-xh-authorization": `Bearer ${MASTER_KEY}`, ...lane },
        body: call.body,
      });
      // The aggregate answers a failed tool call in-band, as a JSON-RPC error of a 200.
      expect(answer.status, answer.text).toBe(route === "aggregate" ? 200 : 400);
      if (route !== "rest") expect(json(answer)).toMatchObject({ error: { data: { code: "gateway_key_in_upstream_header" } } });
      expect(answer.text).toContain("gateway_key_in_upstream_header");
      expect(answer.text).toContain("x-mcp-xh-authorization");
      expect(answer.text).not.toContain(MASTER_KEY);
      expect(everythingSent(up.requests.slice(before))).not.toContain(MASTER_KEY);
    });
  });
});

describe("item 9: delegated auth, oauth2 pass-through and token exchange forward no gateway key", () => {
  let up: Upstream;
  let exchange: TokenExchangeServer;
  let gateway: TestGateway;
  let callerKey: string;
  let otherKey: string;

  beforeAll(async () => {
    up = await upstream("authup");
    exchange = await startTokenExchangeServer({ resource: up.url });
    cleanups.push(() => exchange.close());
    gateway = await gatewayWith({
      servers: {
        dl: { url: up.url, auth_type: "oauth2", delegate_auth_to_upstream: true },
        ia: {
          url: up.url,
          auth_type: "oauth2",
          client_id: "gatehouse-ia",
          client_secret: "ia-secret-0123456789",
          authorization_url: "http://127.0.0.1:1/authorize",
          token_url: "http://127.0.0.1:1/token",
        },
        obo: { url: up.url, auth_type: "oauth2_token_exchange", token_exchange_endpoint: exchange.tokenUrl, client_id: "gatehouse-obo", client_secret: "obo-client-secret-7c2e91" },
      },
    });
    callerKey = await gateway.generateKey({ object_permission: { mcp_servers: ["ia", "obo", "dl"] } });
    otherKey = await gateway.generateKey({ key_alias: "other-auth" });
  });

  describe.each(LANES)("on %s", (_lane, lane) => {
    it.each<[string, () => Record<string, string>]>([
      ["no gateway key, 'Authorization: Basic base64(<master key>:)'", () => ({ authorization: basic(`${MASTER_KEY}:`) })],
      ["no gateway key, 'Authorization: Bearer x, Bearer <master key>'", () => ({ authorization: `Bearer upstream-x, Bearer ${MASTER_KEY}` })],
      ["x-litellm-api-key and another valid key in Authorization", () => ({ ...keyHeader(callerKey), authorization: `Bearer ${otherKey}` })],
    ])("a delegating server's upstream gets no Authorization for %s", async (_form, headers) => {
      const before = up.requests.length;
      const answer = await send(gateway.url, "/dl/mcp", { headers: { ...MCP_ACCEPT, ...headers(), ...lane }, body: rpc("tools/call", { name: "echo", arguments: { message: "delegated" } }) });
      expect(answer.status, answer.text).toBe(200);
      const sent = up.requests.slice(before);
      expect(sent.map((request) => request.headers["authorization"])).toEqual([undefined]);
      for (const secret of [MASTER_KEY, otherKey]) expect(everythingSent(sent)).not.toContain(secret);
    });

    it("a delegating server's upstream still gets the client's own token", async () => {
      const before = up.requests.length;
      const answer = await send(gateway.url, "/dl/mcp", { headers: { ...MCP_ACCEPT, authorization: "Bearer upstream-own", ...lane }, body: rpc("tools/list") });
      expect(answer.status, answer.text).toBe(200);
      expect(up.requests.slice(before).map((request) => request.headers["authorization"])).toEqual(["Bearer upstream-own"]);
    });

    it("oauth2 pass-through does not take another valid gateway key for the user's upstream token: 401, upstream untouched", async () => {
      const before = up.requests.length;
      const answer = await send(gateway.url, "/ia/mcp", { headers: { ...MCP_ACCEPT, ...keyHeader(callerKey), authorization: `Bearer ${otherKey}`, ...lane }, body: rpc("tools/list") });
      expect(answer.status, answer.text).toBe(401);
      expect(answer.text).toContain("upstream_authorization_required");
      expect(up.requests.length).toBe(before);
    });

    it("oauth2 pass-through forwards the client's own upstream token", async () => {
      const before = up.requests.length;
      const answer = await send(gateway.url, "/ia/mcp", { headers: { ...MCP_ACCEPT, ...keyHeader(callerKey), authorization: "Bearer ia-upstream-token", ...lane }, body: rpc("tools/list") });
      expect(answer.status, answer.text).toBe(200);
      expect(up.requests.slice(before).map((request) => request.headers["authorization"])).toEqual(["Bearer ia-upstream-token"]);
    });

    it.each(["passthrough", "aggregate", "rest"] as const)("%s: token exchange never sends a gateway key as the subject token (the authorization server sees nothing)", async (route) => {
      const requests = exchange.tokenRequests();
      const before = up.requests.length;
      const call = toolCall(route, "obo", "exchanged");
      const answer = await send(gateway.url, call.path, { headers: { ...MCP_ACCEPT, ...keyHeader(callerKey), authorization: `Bearer ${otherKey}`, ...lane }, body: call.body });
      expect(answer.status, answer.text).toBe(route === "aggregate" ? 200 : 401);
      expect(answer.text).toContain("subject_token_required");
      expect(answer.text).toContain("x-litellm-api-key");
      expect(exchange.tokenRequests()).toBe(requests);
      expect(up.requests.length).toBe(before);
    });
  });
});

// === item 10: names that differ only in case =================================================

describe("item 10: server names are unique ignoring case", () => {
  it("a config file with servers 'A' and 'a' does not start, naming the path", async () => {
    await expect(startTestGateway({ servers: { A: { url: "http://127.0.0.1:1/mcp" }, a: { url: "http://127.0.0.1:1/mcp" } } })).rejects.toThrow(
      /mcp_servers\.a: differs from server 'A' only in case/,
    );
  });

  describe("the management API", () => {
    let gateway: TestGateway;
    beforeAll(async () => {
      const up = await upstream("api");
      gateway = await gatewayWith({ servers: { Cfg: { url: up.url } } });
      const created = await create(gateway, { server_name: "Alpha", url: up.url });
      expect(created.status).toBe(201);
      expect((await create(gateway, { server_name: "beta", url: up.url })).status).toBe(201);
    });

    async function create(gateway: TestGateway, body: Record<string, unknown>): Promise<Response> {
      return gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    }

    it.each([
      ["a database server's", "alpha", "Alpha"],
      ["a config server's", "cfg", "Cfg"],
    ])("refuses a new server whose name differs from %s only in case: 409", async (_whose, name, existing) => {
      const response = await create(gateway, { server_name: name, url: "http://127.0.0.1:1/mcp" });
      expect(response.status).toBe(409);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ error: "server_name_taken" });
      expect(JSON.stringify(body)).toContain(`'${existing}'`);
    });

    it("refuses a rename onto another server's name in another case: 409; a server may change the case of its own name", async () => {
      const onto = await gateway.fetch("/v1/mcp/server/beta", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "ALPHA", url: "http://127.0.0.1:1/mcp" }) });
      expect(onto.status).toBe(409);
      const own = await gateway.fetch("/v1/mcp/server/beta", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "Beta", url: "http://127.0.0.1:1/mcp" }) });
      expect(own.status, await own.clone().text()).toBe(200);
      expect(((await own.json()) as Record<string, unknown>)["server_name"]).toBe("Beta");
    });
  });

  describe("a database that already holds 'Dup' and 'dup' (written before this rule, or by two instances at once)", () => {
    let dir: string;
    let first: Upstream;
    let second: Upstream;
    let gateway: TestGateway;
    let dupId: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "gatehouse-case-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      first = await upstream("first");
      second = await upstream("second");
      const url = `sqlite:${join(dir, "gatehouse.db")}`;
      const database = await openDatabase(url);
      try {
        await migrateToLatest(database);
        // A clock a second apart per row: 'Dup' is created first (ties are broken by id).
        let clock = Date.parse("2026-01-01T00:00:00Z");
        const servers = serversRepository(database.db, createSecretBox("test-salt"), () => new Date((clock += 1000)));
        await servers.insert("Dup", { url: first.url });
        dupId = (await servers.insert("dup", { url: second.url })).id;
      } finally {
        await database.close();
      }
      gateway = await gatewayWith({ servers: {}, env: { DATABASE_URL: url } });
    });

    it("loads the first created, leaves the other out with an error naming both", async () => {
      const listed = (await (await gateway.fetch("/v1/mcp/server")).json()) as Array<{ server_name: string }>;
      expect(listed.map((server) => server.server_name)).toEqual(["Dup"]);
      const health = (await (await gateway.fetch("/v1/mcp/server/health")).json()) as Array<{ server_id: string; server_name: string; loaded: boolean; health_check_error: string }>;
      expect(health.filter((entry) => !entry.loaded)).toEqual([
        expect.objectContaining({ server_id: dupId, server_name: "dup", status: "unhealthy", health_check_error: expect.stringContaining("'Dup'") as unknown }),
      ]);
      expect(gateway.logs.some((line) => line["level"] === 50 && line["server"] === "dup" && String(line["problem"]).includes("ignoring case"))).toBe(true);
    });

    it.each(LANES)("x-mcp-dup-authorization reaches exactly one server (%s)", async (_lane, lane) => {
      const [firstBefore, secondBefore] = [first.requests.length, second.requests.length];
      const answer = await send(gateway.url, "/Dup/mcp", {
        headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), "x-mcp-dup-authorization": "Bearer for-Dup-only", ...lane },
        body: rpc("tools/call", { name: "where", arguments: {} }),
      });
      expect(answer.status, answer.text).toBe(200);
      expect(resultText(answer)).toBe("first");
      expect(first.requests.slice(firstBefore).map((request) => request.headers["authorization"])).toEqual(["Bearer for-Dup-only"]);
      expect(second.requests.length).toBe(secondBefore);
      const leftOut = await send(gateway.url, "/dup/mcp", { headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), ...lane }, body: rpc("tools/list") });
      expect(leftOut.status).toBe(404);
      expect(second.requests.length).toBe(secondBefore);
    });

    it("the left-out server can be renamed through the API by its id, and then routes", async () => {
      const renamed = await gateway.fetch(`/v1/mcp/server/${dupId}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "dup2", url: second.url }) });
      expect(renamed.status, await renamed.clone().text()).toBe(200);
      const answer = await send(gateway.url, "/dup2/mcp", { headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY) }, body: rpc("tools/call", { name: "where", arguments: {} }) });
      expect(resultText(answer)).toBe("second");
    });
  });
});

// === item 14: DNS rebinding =================================================================

describe("item 14: DNS rebinding (Host and Origin)", () => {
  let up: Upstream;
  let gateway: TestGateway;
  let port: string;

  beforeAll(async () => {
    up = await upstream("rb");
    gateway = await gatewayWith({
      servers: {
        rb: { url: up.url },
        gh: {
          url: up.url,
          auth_type: "oauth2",
          client_id: "gatehouse-gh",
          client_secret: "gh-secret-0123456789",
          authorization_url: "http://127.0.0.1:1/authorize",
          token_url: "http://127.0.0.1:1/token",
        },
      },
    });
    port = new URL(gateway.url).port;
  });

  const mcpRoutes = ["passthrough", "aggregate", "rest"] as const;

  describe.each(LANES)("on %s", (_lane, lane) => {
    it.each(mcpRoutes)("%s: a rebinding page's Host (evil.example) is refused 403 before anything reaches the upstream", async (route) => {
      const before = up.requests.length;
      const call = toolCall(route, "rb", "rebound");
      const answer = await send(gateway.url, call.path, {
        headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), host: `evil.example:${port}`, origin: `http://evil.example:${port}`, ...lane },
        body: call.body,
      });
      expect(answer.status, answer.text).toBe(403);
      expect(answer.text).toContain("host_not_allowed");
      expect(answer.text).toContain("PROXY_BASE_URL");
      if (route !== "rest") expect(json(answer)).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32003 } });
      expect(up.requests.length).toBe(before);
    });

    it.each(mcpRoutes.flatMap((route) => ["https://evil.example", "null", `http://evil.example:${"PORT"}`].map((origin) => [route, origin] as const)))(
      "%s: a foreign Origin (%s) is refused 403; nothing reaches the upstream",
      async (route, origin) => {
        const before = up.requests.length;
        const call = toolCall(route, "rb", "cross-origin");
        const answer = await send(gateway.url, call.path, { headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), origin: origin.replace("PORT", port), ...lane }, body: call.body });
        expect(answer.status, answer.text).toBe(403);
        expect(answer.text).toContain("origin_not_allowed");
        if (route !== "rest") expect(json(answer)).toMatchObject({ id: null, error: { code: -32003, data: { code: "origin_not_allowed" } } });
        expect(up.requests.length).toBe(before);
      },
    );

    it.each(mcpRoutes.flatMap((route) => [`http://127.0.0.1:${"PORT"}`, "http://localhost:6274", "https://app.localhost", "http://[::1]:3000"].map((origin) => [route, origin] as const)))(
      "%s: the gateway's own or a loopback Origin (%s) passes",
      async (route, origin) => {
        const call = toolCall(route, "rb", "same-origin");
        const answer = await send(gateway.url, call.path, { headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), origin: origin.replace("PORT", port), ...lane }, body: call.body });
        expect(answer.status, answer.text).toBe(200);
        expect(resultText(answer)).toBe("same-origin");
      },
    );
  });

  it.each(["/health/readiness", "/ui/login", "/.well-known/oauth-authorization-server/gh", "/v1/mcp/server"])("a foreign Host is refused on every route: GET %s", async (path) => {
    const answer = await send(gateway.url, path, { method: "GET", headers: { ...keyHeader(MASTER_KEY), host: `rebound.example:${port}` } });
    expect(answer.status, answer.text).toBe(403);
    expect(json(answer)).toMatchObject({ error: "host_not_allowed" });
  });

  it.each(["localhost", "LOCALHOST", "127.0.0.1", "127.0.0.2", "[::1]", "gateway.localhost"])("loopback Host names pass: %s", async (name) => {
    const answer = await send(gateway.url, "/rb/mcp", { headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), host: `${name}:${port}` }, body: rpc("tools/call", { name: "echo", arguments: { message: "named" } }) });
    expect(answer.status, answer.text).toBe(200);
  });

  describe("the OAuth facade", () => {
    const registration = () =>
      JSON.stringify({ client_name: "rebinding", redirect_uris: [loopbackRedirectUri()], grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "none" });

    it.each([
      ["POST /{server}/register", "/gh/register", "application/json", registration],
      ["POST /{server}/token", "/gh/token", "application/x-www-form-urlencoded", () => "grant_type=authorization_code&code=x"],
      ["POST /{server}/authorize (the consent form)", "/gh/authorize", "application/x-www-form-urlencoded", () => "decision=allow"],
    ])("refuses %s from a foreign Origin (and Origin: null) with an OAuth error", async (_name, path, type, body) => {
      for (const origin of ["https://evil.example", "null"]) {
        const answer = await send(gateway.url, path, { headers: { "content-type": type, origin }, body: body() });
        expect(answer.status, answer.text).toBe(403);
        expect(json(answer)).toMatchObject({ error: "origin_not_allowed", error_description: expect.stringContaining("DNS-rebinding") });
        expect(answer.headers["cache-control"]).toBe("no-store");
      }
    });

    it("registers a client from a loopback Origin, and serves discovery to any Origin (it is public)", async () => {
      const registered = await send(gateway.url, "/gh/register", { headers: { "content-type": "application/json", origin: "http://localhost:6274" }, body: registration() });
      expect(registered.status, registered.text).toBe(201);
      const discovery = await send(gateway.url, "/.well-known/oauth-authorization-server/gh", { method: "GET", headers: { origin: "https://evil.example" } });
      expect(discovery.status).toBe(200);
    });
  });
});

describe("item 14: behind PROXY_BASE_URL, with general_settings.mcp_allowed_origins", () => {
  let up: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    up = await upstream("proxied");
    gateway = await gatewayWith({
      servers: { px: { url: up.url } },
      general: { mcp_allowed_origins: ["https://app.example.com"] },
      env: { PROXY_BASE_URL: "https://gw.example.com" },
    });
  });

  describe.each(LANES)("on %s", (_lane, lane) => {
    it.each([
      ["the public origin's Host and Origin", "gw.example.com", "https://gw.example.com", 200],
      ["an allowlisted Origin", "127.0.0.1", "https://app.example.com", 200],
      ["the public host on another scheme", "gw.example.com", "http://gw.example.com", 403],
      ["an Origin that is not listed", "gw.example.com", "https://app.example.com.evil.example", 403],
      ["a Host that is neither loopback nor the public origin's", "evil.example", "https://gw.example.com", 403],
    ])("%s: %s / %s → %s", async (_name, host, origin, status) => {
      const before = up.requests.length;
      const call = toolCall("passthrough", "px", "proxied");
      const answer = await send(gateway.url, call.path, { headers: { ...MCP_ACCEPT, ...keyHeader(MASTER_KEY), host, origin, ...lane }, body: call.body });
      expect(answer.status, answer.text).toBe(status);
      expect(up.requests.length > before).toBe(status === 200);
    });
  });

  it("a config entry that is not an origin stops startup, naming the path", async () => {
    await expect(startTestGateway({ servers: {}, general: { mcp_allowed_origins: ["https://app.example.com/"] } })).rejects.toThrow(
      /general_settings\.mcp_allowed_origins\[0\]: must be an origin/,
    );
  });
});

describe("item 14: a real browser's consent form still passes the Origin check", { timeout: 60_000 }, () => {
  let gateway: TestGateway;
  let authorizationServer: Server;
  let authorizeHits = 0;

  beforeAll(async () => {
    // The upstream authorization endpoint the consent redirects to: it only has to answer the browser.
    authorizationServer = createServer((request, response) => {
      if (request.url?.startsWith("/authorize") === true) authorizeHits++;
      response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>upstream</title><p>upstream authorization page</p>");
    });
    const as = await listenOnLoopback(authorizationServer);
    cleanups.push(() => new Promise((resolve) => authorizationServer.close(resolve)));
    gateway = await gatewayWith({
      servers: {
        gh: { url: "http://127.0.0.1:1/mcp", auth_type: "oauth2", client_id: "gatehouse-gh", client_secret: "gh-secret-0123456789", authorization_url: `${as}/authorize`, token_url: `${as}/token` },
      },
    });
  });

  it("Chromium posts the consent form with the gateway's origin (not Origin: null), and the gateway redirects upstream", async () => {
    const redirectUri = loopbackRedirectUri();
    const registered = (await (
      await fetch(`${gateway.url}/gh/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_name: "browser client", redirect_uris: [redirectUri], grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "none" }),
      })
    ).json()) as { client_id: string };
    const authorize = new URL(`${gateway.url}/gh/authorize`);
    for (const [name, value] of Object.entries({ response_type: "code", client_id: registered.client_id, redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: "S256", state: "s1" })) {
      authorize.searchParams.set(name, value);
    }

    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.goto(authorize.href);
    const consent = page.waitForResponse((response) => response.request().method() === "POST" && new URL(response.url()).pathname === "/gh/authorize");
    await page.getByRole("button", { name: "Allow" }).click();
    const answered = await consent;
    expect(await answered.request().headerValue("origin")).toBe(new URL(gateway.url).origin);
    expect(answered.status()).toBe(302);
    await page.waitForURL((url) => url.pathname === "/authorize" && url.port !== new URL(gateway.url).port);
    expect(authorizeHits).toBe(1);
  });
});
