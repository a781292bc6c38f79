/**
 * Debug headers (LiteLLM's "Debugging OAuth" and "Common Issues"; README, "Debug headers")
 * through a real gateway: a request with `x-litellm-mcp-debug: true` learns, masked, which
 * inbound auth it sent, which OAuth2 bearer it carried, and, per server, the credential
 * mode the gateway actually used, the upstream URL and the configured auth_type.
 *
 * Upstreams: the SDK fixture (static auth types, per-request headers, /mcp aggregation),
 * an M2M upstream whose tokens come from the seed's mock server and are checked against
 * it (the mock's clock can jump, which revokes the cached token), and an RFC 9728
 * protected upstream behind oidc-provider for the interactive modes (as in
 * interactive-oauth.test.ts).
 *
 * After every test, each response it read (status, every header, the body) is searched
 * for every secret in play: none may appear, nor any 8 characters of one (a masked value
 * shows a secret's last 4 only).
 */
import { randomBytes } from "node:crypto";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, startMockServer, type MockServer } from "../../src/mock-server/mock-server.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, type OAuthConnection } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { startUpstream, upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

const DEBUG = { "x-litellm-mcp-debug": "true" };
const DEBUG_HEADERS = [
  "x-mcp-debug-inbound-auth",
  "x-mcp-debug-oauth2-token",
  "x-mcp-debug-auth-resolution",
  "x-mcp-debug-outbound-url",
  "x-mcp-debug-server-auth-type",
] as const;
type DebugName = (typeof DEBUG_HEADERS)[number];
const SAME_AS = " (SAME_AS_LITELLM_KEY - likely misconfigured)";
/** What the per-server headers say when no upstream was called. */
const NOTHING_CALLED = /^\(none\b/;

/** Random secrets; the label is not a word, so no 8 characters of one occur in a response by chance. */
const secret = (label: string): string => `${label}${randomBytes(18).toString("base64url")}`;
const tail = (value: string): string => value.slice(-4);

const BASIC_USER_PASS = `svc-user:${randomBytes(15).toString("base64url")}`;
/** Every static auth_type (README, "config.yaml"), with the header the upstream must receive. */
const STATIC = [
  { server: "st_none", authType: "none", value: undefined, resolution: "no-auth" },
  { server: "st_api_key", authType: "api_key", value: secret("Qk1"), resolution: "static-token" },
  { server: "st_bearer_token", authType: "bearer_token", value: secret("Qk2"), resolution: "static-token" },
  { server: "st_basic", authType: "basic", value: BASIC_USER_PASS, resolution: "static-token" },
  { server: "st_authorization", authType: "authorization", value: `Custom ${secret("Qk3")}`, resolution: "static-token" },
  { server: "st_token", authType: "token", value: secret("Qk4"), resolution: "static-token" },
] as const;
const ALPHA_TOKEN = secret("Qk5");
const PER_REQUEST = secret("Qk6");
const URL_SECRET = secret("Qk7");
const LEGACY_TOKEN = secret("Qk8");
const BAD_KEY = `sk-${randomBytes(24).toString("base64url")}`;

let plain: Upstream;
let legacyUp: Upstream;
let alphaUp: Upstream;
let betaUp: Upstream;
let mock: MockServer;
/** Added to the mock server's clock: moving it past a token's lifetime revokes that token. */
let mockClockSkewMs = 0;
let m2mUp: Upstream;
let protectedUp: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let gateway: TestGateway;
let alice: OAuthConnection | undefined;
const keys = { alice: "", dora: "", limited: "" };

beforeAll(async () => {
  plain = await startUpstream({ name: "plain" });
  legacyUp = await startUpstream({ name: "legacy", legacySse: true });
  alphaUp = await upstreamNamed("alpha", {}, true);
  betaUp = await upstreamNamed("beta", {}, true);
  mock = await startMockServer({ port: 0, now: () => Date.now() + mockClockSkewMs });
  // The mock's own /mcp has one tool and records nothing; this upstream records what the
  // gateway sent and lets the mock judge the bearer (401 for one it did not issue, or expired).
  m2mUp = await startUpstream({
    name: "m2m",
    authorize: async (request) => {
      const check = await fetch(`${mock.url}/mcp`, { headers: { authorization: request.headers["authorization"] ?? "" } });
      const body = await check.text();
      if (check.status !== 401) return undefined;
      return { status: 401, headers: { "www-authenticate": check.headers.get("www-authenticate") ?? "Bearer" }, body };
    },
  });
  protectedUp = await startProtectedResourceUpstream({ name: "protected" });
  as = await startInteractiveAuthorizationServer({ resource: protectedUp.url });
  protectedUp.trust(as);

  const servers: Record<string, Record<string, unknown>> = {};
  for (const row of STATIC) servers[row.server] = { url: plain.url, auth_type: row.authType, ...(row.value === undefined ? {} : { auth_value: row.value }) };
  servers["alpha"] = { url: alphaUp.url, auth_type: "bearer_token", auth_value: ALPHA_TOKEN };
  servers["beta"] = { url: betaUp.url, auth_type: "none" };
  servers["m2m"] = { url: m2mUp.url, auth_type: "oauth2", client_id: MOCK_CLIENT_ID, client_secret: "os.environ/M2M_SECRET", token_url: `${mock.url}/oauth/token` };
  servers["dyn"] = { url: protectedUp.url, auth_type: "oauth2" };
  servers["legacy"] = { url: legacyUp.url, transport: "sse", auth_type: "bearer_token", auth_value: LEGACY_TOKEN };
  servers["keyed_url"] = { url: `${plain.url}?api_key=${URL_SECRET}`, auth_type: "none" };
  gateway = await startTestGateway({ servers, env: { M2M_SECRET: MOCK_CLIENT_SECRET } });

  const generate = (body: Record<string, unknown>) => gateway.generateKey(body);
  keys.alice = await generate({ user_id: "alice" });
  keys.dora = await generate({ user_id: "dora" });
  keys.limited = await generate({ user_id: "lim", object_permission: { mcp_servers: ["alpha", "beta"] } });

  // Alice connects the interactive server once: the gateway stores her upstream token.
  alice = await connectWithOAuth(`${gateway.url}/dyn/mcp`, asKey(keys.alice));
  expect(alice.authorized).toBe(true);
});

afterAll(async () => {
  await alice?.client.close();
  await gateway?.close();
  await Promise.all([plain?.close(), legacyUp?.close(), alphaUp?.close(), betaUp?.close(), m2mUp?.close(), mock?.close(), protectedUp?.close(), as?.close()]);
});

// --- helpers ------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** Every response a test read, checked for secrets after it. */
const answers: Answer[] = [];

const asKey = (key: string): Record<string, string> => ({ "x-litellm-api-key": `Bearer ${key}` });
const MASTER = asKey(MASTER_KEY);

/** A raw request to the gateway with exactly these headers. */
async function send(path: string, headers: Record<string, string>, body?: string, method = body === undefined ? "GET" : "POST"): Promise<Answer> {
  const response = await fetch(`${gateway.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const answer = { status: response.status, headers: response.headers, text: await response.text() };
  answers.push(answer);
  return answer;
}

/** A raw JSON-RPC tools/call of `echo` at an MCP path. */
function callEcho(path: string, headers: Record<string, string>, message = "hello", tool = "echo"): Promise<Answer> {
  return send(path, { ...MCP_ACCEPT, ...headers }, rpc("tools/call", { name: tool, arguments: { message } }));
}

/** The result text of a JSON (not SSE) tools/call answer. */
function resultText(answer: Answer): string | undefined {
  const parsed = JSON.parse(answer.text) as { result?: { content?: Array<{ text?: string }> } };
  return parsed.result?.content?.[0]?.text;
}

function debugOf(answer: Answer): Record<DebugName, string | null> {
  return Object.fromEntries(DEBUG_HEADERS.map((name) => [name, answer.headers.get(name)])) as Record<DebugName, string | null>;
}

/** `alpha=static-token, beta=no-auth` → {alpha: "static-token", beta: "no-auth"}; every entry must be named. */
function perServer(value: string | null): Record<string, string> {
  const entries = (value ?? "").split(", ").map((entry) => {
    const at = entry.indexOf("=");
    expect(at, `"${entry}" names its server`).toBeGreaterThan(0);
    return [entry.slice(0, at), entry.slice(at + 1)] as const;
  });
  const map = Object.fromEntries(entries);
  expect(Object.keys(map)).toHaveLength(entries.length);
  return map;
}

function bearerOf(headers: Record<string, string>): string | undefined {
  return /^Bearer (\S+)$/.exec(headers["authorization"] ?? "")?.[1];
}

const posts = (upstream: Upstream, since = 0): RecordedRequest[] => upstream.requests.slice(since).filter((request) => request.method === "POST");

function expectNoDebugHeaders(answer: Answer): void {
  expect([...answer.headers.keys()].filter((name) => name.startsWith("x-mcp-debug-"))).toEqual([]);
}

/** Every secret in play, the ones learned from upstreams too (issued tokens). */
function knownSecrets(): string[] {
  const values = [MASTER_KEY, keys.alice, keys.dora, keys.limited, ALPHA_TOKEN, PER_REQUEST, URL_SECRET, LEGACY_TOKEN, BAD_KEY, MOCK_CLIENT_SECRET];
  for (const row of STATIC) if (row.value !== undefined) values.push(row.value);
  values.push(BASIC_USER_PASS.split(":")[1]!, Buffer.from(BASIC_USER_PASS).toString("base64"));
  values.push(...as.issuedTokens());
  for (const token of alice?.provider.savedTokens ?? []) values.push(token.access_token, ...(token.refresh_token === undefined ? [] : [token.refresh_token]));
  for (const request of m2mUp.requests) {
    const token = bearerOf(request.headers);
    if (token !== undefined) values.push(token);
  }
  return [...new Set(values.filter((value) => value !== ""))];
}

/** Windows of 8 characters of the secret found in `raw`: a masked value shows at most its last 4. */
function leakedParts(raw: string, value: string): string[] {
  const width = Math.min(8, value.length);
  const found = new Set<string>();
  for (let i = 0; i + width <= value.length; i++) if (raw.includes(value.slice(i, i + width))) found.add(value.slice(i, i + width));
  return [...found];
}

afterEach(() => {
  const seen = answers.splice(0);
  expect(seen.length, "the test read at least one gateway response").toBeGreaterThan(0);
  const secrets = knownSecrets();
  expect(secrets.length).toBeGreaterThan(12);
  for (const answer of seen) {
    const raw = [`HTTP ${answer.status}`, ...[...answer.headers].map(([name, value]) => `${name}: ${value}`), "", answer.text].join("\n");
    for (const value of secrets) expect(leakedParts(raw, value), `a secret ending in ${tail(value)} shows in:\n${raw}`).toEqual([]);
  }
});

// --- one server: every resolution mode ------------------------------------------------------

describe("/{server}/mcp: the mode actually used", () => {
  it.each(STATIC)("$server (auth_type $authType) → $resolution, and the upstream got that credential", async (row) => {
    const seen = plain.requests.length;
    const answer = await callEcho(`/${row.server}/mcp`, { ...MASTER, ...DEBUG }, row.server);
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe(row.server);
    expect(debugOf(answer)).toEqual({
      "x-mcp-debug-inbound-auth": `x-litellm-api-key=Bearer****${tail(MASTER_KEY)}`,
      "x-mcp-debug-oauth2-token": "(none)",
      "x-mcp-debug-auth-resolution": row.resolution,
      "x-mcp-debug-outbound-url": plain.url,
      "x-mcp-debug-server-auth-type": row.authType,
    });
    const sent = posts(plain, seen);
    expect(sent).toHaveLength(1);
    const credential = sent[0]!.headers[row.authType === "api_key" ? "x-api-key" : "authorization"];
    const expected = {
      none: undefined,
      api_key: row.value,
      bearer_token: `Bearer ${row.value}`,
      basic: `Basic ${Buffer.from(BASIC_USER_PASS).toString("base64")}`,
      authorization: row.value,
      token: `token ${row.value}`,
    }[row.authType];
    expect(credential).toBe(expected);
    expect(sent[0]!.headers).not.toHaveProperty("x-litellm-api-key");
  });

  it("per-request x-mcp-{server}-authorization → per-request-header, which replaced the configured token", async () => {
    const seen = alphaUp.requests.length;
    const answer = await callEcho("/alpha/mcp", { ...MASTER, ...DEBUG, "x-mcp-alpha-authorization": `Bearer ${PER_REQUEST}` });
    expect(answer.status, answer.text).toBe(200);
    expect(debugOf(answer)).toMatchObject({
      "x-mcp-debug-auth-resolution": "per-request-header",
      "x-mcp-debug-outbound-url": alphaUp.url,
      "x-mcp-debug-server-auth-type": "bearer_token",
      "x-mcp-debug-oauth2-token": "(none)",
    });
    expect(posts(alphaUp, seen).map((request) => request.headers["authorization"])).toEqual([`Bearer ${PER_REQUEST}`]);
  });

  it("M2M (client_credentials against the mock server) → m2m-client-credentials (Common Issue 3)", async () => {
    const seen = m2mUp.requests.length;
    const answer = await callEcho("/m2m/mcp", { ...MASTER, ...DEBUG }, "machine");
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe("machine");
    expect(debugOf(answer)).toEqual({
      "x-mcp-debug-inbound-auth": `x-litellm-api-key=Bearer****${tail(MASTER_KEY)}`,
      "x-mcp-debug-oauth2-token": "(none)",
      "x-mcp-debug-auth-resolution": "m2m-client-credentials",
      "x-mcp-debug-outbound-url": m2mUp.url,
      "x-mcp-debug-server-auth-type": "oauth2",
    });
    expect(mock.tokensIssued()).toBeGreaterThanOrEqual(1);
    expect(bearerOf(posts(m2mUp, seen)[0]!.headers)).toEqual(expect.any(String));
  });

  it("an M2M token revoked upstream: the 401 is retried with a fresh token and the final attempt is reported", async () => {
    const warm = await callEcho("/m2m/mcp", { ...MASTER }, "warm");
    expect(warm.status, warm.text).toBe(200);
    const seen = m2mUp.requests.length;
    const issued = mock.tokensIssued();
    // Two hours on the mock's clock: the gateway's cached token (1 h) is now refused there.
    mockClockSkewMs += 2 * 3600_000;

    const answer = await callEcho("/m2m/mcp", { ...MASTER, ...DEBUG }, "after revocation");
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe("after revocation");
    expect(mock.tokensIssued()).toBe(issued + 1);
    const attempts = posts(m2mUp, seen);
    expect(attempts).toHaveLength(2);
    expect(bearerOf(attempts[0]!.headers)).not.toBe(bearerOf(attempts[1]!.headers));
    // One value for the one server: the retry replaced the refused attempt.
    expect(debugOf(answer)["x-mcp-debug-auth-resolution"]).toBe("m2m-client-credentials");
    expect(debugOf(answer)["x-mcp-debug-outbound-url"]).toBe(m2mUp.url);
  });

  it("oauth2 with the client's own bearer → oauth2-passthrough (the seed's healthy example)", async () => {
    const token = alice!.provider.tokens()!.access_token;
    const seen = protectedUp.requests.length;
    const answer = await callEcho("/dyn/mcp", { ...asKey(keys.dora), authorization: `Bearer ${token}`, ...DEBUG }, "passthrough");
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe("passthrough");
    expect(debugOf(answer)).toEqual({
      "x-mcp-debug-inbound-auth": `x-litellm-api-key=Bearer****${tail(keys.dora)}; authorization=Bearer****${tail(token)}`,
      "x-mcp-debug-oauth2-token": `Bearer****${tail(token)}`,
      "x-mcp-debug-auth-resolution": "oauth2-passthrough",
      "x-mcp-debug-outbound-url": protectedUp.url,
      "x-mcp-debug-server-auth-type": "oauth2",
    });
    expect(posts(protectedUp, seen).map((request) => bearerOf(request.headers))).toEqual([token]);
  });

  it("oauth2 without a bearer, for a user who connected → stored-user-token", async () => {
    const stored = alice!.provider.tokens()!.access_token;
    const seen = protectedUp.requests.length;
    const answer = await callEcho("/dyn/mcp", { ...asKey(keys.alice), ...DEBUG }, "stored");
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe("stored");
    expect(debugOf(answer)).toEqual({
      "x-mcp-debug-inbound-auth": `x-litellm-api-key=Bearer****${tail(keys.alice)}`,
      "x-mcp-debug-oauth2-token": "(none)",
      "x-mcp-debug-auth-resolution": "stored-user-token",
      "x-mcp-debug-outbound-url": protectedUp.url,
      "x-mcp-debug-server-auth-type": "oauth2",
    });
    expect(posts(protectedUp, seen).map((request) => bearerOf(request.headers))).toEqual([stored]);
  });

  it("the /mcp/{server} form reports the same", async () => {
    const answer = await callEcho("/mcp/alpha", { ...MASTER, ...DEBUG });
    expect(answer.status, answer.text).toBe(200);
    expect(debugOf(answer)).toMatchObject({ "x-mcp-debug-auth-resolution": "static-token", "x-mcp-debug-outbound-url": alphaUp.url, "x-mcp-debug-server-auth-type": "bearer_token" });
  });

  it("a legacy SSE upstream (transport: sse): the session's credentials are reported on every request of the session", async () => {
    const init = await send("/legacy/mcp", { ...MCP_ACCEPT, ...MASTER, ...DEBUG }, rpc("initialize", { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1.0.0" } }));
    expect(init.status, init.text).toBe(200);
    expect(debugOf(init)).toMatchObject({ "x-mcp-debug-auth-resolution": "static-token", "x-mcp-debug-outbound-url": legacyUp.url, "x-mcp-debug-server-auth-type": "bearer_token" });
    const session = { ...MCP_ACCEPT, ...MASTER, "mcp-session-id": init.headers.get("mcp-session-id") ?? "", "mcp-protocol-version": LATEST_PROTOCOL_VERSION };
    expect(session["mcp-session-id"]).not.toBe("");
    const seen = posts(legacyUp).length;
    const call = await send("/legacy/mcp", { ...session, ...DEBUG }, rpc("tools/call", { name: "echo", arguments: { message: "legacy" } }, 2));
    expect(call.status, call.text).toBe(200);
    expect(call.text).toContain('"text":"legacy"');
    // The call went upstream, with the session's static token.
    expect(posts(legacyUp).slice(seen).map((request) => request.headers["authorization"])).toEqual([`Bearer ${LEGACY_TOKEN}`]);
    expect(debugOf(call)).toMatchObject({ "x-mcp-debug-auth-resolution": "static-token", "x-mcp-debug-outbound-url": legacyUp.url, "x-mcp-debug-server-auth-type": "bearer_token" });
    const closed = await send("/legacy/mcp", { ...session }, undefined, "DELETE");
    expect(closed.status).toBe(200);
  });

  it("a credential in the server's URL (query) does not show in x-mcp-debug-outbound-url, though the upstream got it", async () => {
    const seen = plain.requests.length;
    const answer = await callEcho("/keyed_url/mcp", { ...MASTER, ...DEBUG });
    expect(answer.status, answer.text).toBe(200);
    const url = debugOf(answer)["x-mcp-debug-outbound-url"]!;
    // Either without the query, or with its values masked.
    expect([plain.url, `${plain.url}?api_key=****${tail(URL_SECRET)}`]).toContain(url);
    expect(debugOf(answer)["x-mcp-debug-auth-resolution"]).toBe("no-auth");
    expect(posts(plain, seen).map((request) => request.path)).toEqual([`/mcp?api_key=${URL_SECRET}`]);
  });
});

// --- several servers -----------------------------------------------------------------------

describe("/mcp and /mcp-rest: one value per server called", () => {
  it("tools/list over alpha, beta and m2m → each server's own mode, URL and auth_type", async () => {
    const answer = await send("/mcp", { ...MCP_ACCEPT, ...MASTER, ...DEBUG, "x-mcp-servers": "alpha,beta,m2m" }, rpc("tools/list"));
    expect(answer.status, answer.text).toBe(200);
    const names = (JSON.parse(answer.text) as { result: { tools: Array<{ name: string }> } }).result.tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(["alpha-echo", "beta-echo", "m2m-echo"]));
    const debug = debugOf(answer);
    expect(perServer(debug["x-mcp-debug-auth-resolution"])).toEqual({ alpha: "static-token", beta: "no-auth", m2m: "m2m-client-credentials" });
    expect(perServer(debug["x-mcp-debug-outbound-url"])).toEqual({ alpha: alphaUp.url, beta: betaUp.url, m2m: m2mUp.url });
    expect(perServer(debug["x-mcp-debug-server-auth-type"])).toEqual({ alpha: "bearer_token", beta: "none", m2m: "oauth2" });
    // The servers are in the same order in every header.
    const order = (name: DebugName) => Object.keys(perServer(debug[name]));
    expect(order("x-mcp-debug-outbound-url")).toEqual(order("x-mcp-debug-auth-resolution"));
    expect(order("x-mcp-debug-server-auth-type")).toEqual(order("x-mcp-debug-auth-resolution"));
    expect(debug["x-mcp-debug-oauth2-token"]).toBe("(none)");
  });

  it("a per-request header changes only its own server's mode", async () => {
    const seenBeta = betaUp.requests.length;
    const answer = await send(
      "/mcp",
      { ...MCP_ACCEPT, ...MASTER, ...DEBUG, "x-mcp-servers": "alpha,beta", "x-mcp-alpha-authorization": `Bearer ${PER_REQUEST}` },
      rpc("tools/list"),
    );
    expect(answer.status, answer.text).toBe(200);
    expect(perServer(debugOf(answer)["x-mcp-debug-auth-resolution"])).toEqual({ alpha: "per-request-header", beta: "no-auth" });
    expect(betaUp.requests.slice(seenBeta).every((request) => request.headers["authorization"] === undefined)).toBe(true);
  });

  it("tools/call on /mcp reports the one server called", async () => {
    const answer = await send("/mcp", { ...MCP_ACCEPT, ...MASTER, ...DEBUG }, rpc("tools/call", { name: "beta-echo", arguments: { message: "to beta" } }));
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe("to beta");
    expect(debugOf(answer)).toMatchObject({ "x-mcp-debug-auth-resolution": "no-auth", "x-mcp-debug-outbound-url": betaUp.url, "x-mcp-debug-server-auth-type": "none" });
  });

  it("an aggregated tools/call with a progressToken is answered as JSON when debugging, so the headers report the server it called", async () => {
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "alpha-progress", arguments: { steps: 2, intervalMs: 1 }, _meta: { progressToken: "p-1" } },
    });
    const answer = await send("/mcp", { ...MCP_ACCEPT, ...MASTER, ...DEBUG }, body);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
    expect(answer.text).toContain("done after 2 steps");
    expect(debugOf(answer)).toMatchObject({ "x-mcp-debug-auth-resolution": "static-token", "x-mcp-debug-outbound-url": alphaUp.url });

    // The same with a credential that takes I/O to resolve (the stored per-user token).
    const stored = body.replace("alpha-progress", "dyn-progress");
    const viaStore = await send("/mcp", { ...MCP_ACCEPT, ...asKey(keys.alice), ...DEBUG, "x-mcp-servers": "dyn" }, stored);
    expect(viaStore.status, viaStore.text).toBe(200);
    expect(viaStore.headers.get("content-type")).toMatch(/^application\/json/);
    expect(viaStore.text).toContain("done after 2 steps");
    expect(debugOf(viaStore)).toMatchObject({ "x-mcp-debug-auth-resolution": "stored-user-token", "x-mcp-debug-outbound-url": protectedUp.url });
  });

  it("an M2M token revoked under a pooled /mcp session: the retry is reported once, as m2m-client-credentials", async () => {
    const warm = await send("/mcp", { ...MCP_ACCEPT, ...MASTER, "x-mcp-servers": "m2m" }, rpc("tools/call", { name: "m2m-echo", arguments: { message: "warm" } }));
    expect(warm.status, warm.text).toBe(200);
    const issued = mock.tokensIssued();
    mockClockSkewMs += 2 * 3600_000;
    const answer = await send("/mcp", { ...MCP_ACCEPT, ...MASTER, ...DEBUG, "x-mcp-servers": "m2m" }, rpc("tools/call", { name: "m2m-echo", arguments: { message: "again" } }));
    expect(answer.status, answer.text).toBe(200);
    expect(resultText(answer)).toBe("again");
    expect(mock.tokensIssued()).toBe(issued + 1);
    expect(debugOf(answer)["x-mcp-debug-auth-resolution"]).toBe("m2m-client-credentials");
  });

  it("/mcp-rest/tools/call with server_name or a prefixed name → only the server called", async () => {
    const seenAlpha = alphaUp.requests.length;
    const named = await send("/mcp-rest/tools/call", { "content-type": "application/json", ...MASTER, ...DEBUG }, JSON.stringify({ name: "echo", server_name: "beta", arguments: { message: "rest" } }));
    expect(named.status, named.text).toBe(200);
    expect(JSON.parse(named.text)).toMatchObject({ content: [{ type: "text", text: "rest" }] });
    expect(debugOf(named)).toMatchObject({ "x-mcp-debug-auth-resolution": "no-auth", "x-mcp-debug-outbound-url": betaUp.url, "x-mcp-debug-server-auth-type": "none" });

    const prefixed = await send("/mcp-rest/tools/call", { "content-type": "application/json", ...MASTER, ...DEBUG }, JSON.stringify({ name: "m2m-echo", arguments: { message: "rest" } }));
    expect(prefixed.status, prefixed.text).toBe(200);
    expect(debugOf(prefixed)).toMatchObject({ "x-mcp-debug-auth-resolution": "m2m-client-credentials", "x-mcp-debug-outbound-url": m2mUp.url, "x-mcp-debug-server-auth-type": "oauth2" });
    expect(alphaUp.requests.length).toBe(seenAlpha);
  });

  it("/mcp-rest/tools/call with a bare unique tool name: the called server's value is reported", async () => {
    const answer = await send("/mcp-rest/tools/call", { "content-type": "application/json", ...asKey(keys.limited), ...DEBUG }, JSON.stringify({ name: "only_beta", arguments: {} }));
    expect(answer.status, answer.text).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ content: [{ text: "only beta" }] });
    const resolution = debugOf(answer)["x-mcp-debug-auth-resolution"]!;
    // Finding the tool lists every server of the key, which contacts them too.
    const reported = resolution.includes("=") ? perServer(resolution) : { beta: resolution };
    expect(reported["beta"]).toBe("no-auth");
    expect(Object.keys(reported).every((server) => ["alpha", "beta"].includes(server))).toBe(true);
  });
});

// --- the seed's "Common Issues" ---------------------------------------------------------------

describe("Common Issues, reproduced", () => {
  it("1. the gateway key in Authorization → SAME_AS_LITELLM_KEY, inbound shows only authorization, and the key never goes upstream", async () => {
    const seen = protectedUp.requests.length;
    const answer = await callEcho("/dyn/mcp", { authorization: `Bearer ${keys.alice}`, ...DEBUG }, "misconfigured");
    const debug = debugOf(answer);
    expect(debug["x-mcp-debug-inbound-auth"]).toBe(`authorization=Bearer****${tail(keys.alice)}`);
    expect(debug["x-mcp-debug-oauth2-token"]).toBe(`Bearer****${tail(keys.alice)}${SAME_AS}`);
    // Gatehouse never forwards the key: it used the user's stored token instead.
    expect(answer.status, answer.text).toBe(200);
    expect(debug["x-mcp-debug-auth-resolution"]).toBe("stored-user-token");
    const bearers = posts(protectedUp, seen).map((request) => bearerOf(request.headers));
    expect(bearers).toEqual([alice!.provider.tokens()!.access_token]);
  });

  it("1. the key in both headers: flagged too, and not passed through as the user's OAuth2 token", async () => {
    const seen = protectedUp.requests.length;
    const answer = await callEcho("/dyn/mcp", { ...asKey(keys.alice), authorization: `Bearer ${keys.alice}`, ...DEBUG }, "both");
    expect(answer.status, answer.text).toBe(200);
    const debug = debugOf(answer);
    expect(debug["x-mcp-debug-inbound-auth"]).toBe(`x-litellm-api-key=Bearer****${tail(keys.alice)}; authorization=Bearer****${tail(keys.alice)}`);
    expect(debug["x-mcp-debug-oauth2-token"]).toBe(`Bearer****${tail(keys.alice)}${SAME_AS}`);
    expect(debug["x-mcp-debug-auth-resolution"]).toBe("stored-user-token");
    expect(posts(protectedUp, seen).map((request) => bearerOf(request.headers))).toEqual([alice!.provider.tokens()!.access_token]);
  });

  it("1. also with the master key on a static server, and for a user who never connected (401 challenge)", async () => {
    const onStatic = await callEcho("/alpha/mcp", { authorization: `Bearer ${MASTER_KEY}`, ...DEBUG });
    expect(onStatic.status, onStatic.text).toBe(200);
    expect(debugOf(onStatic)).toMatchObject({
      "x-mcp-debug-inbound-auth": `authorization=Bearer****${tail(MASTER_KEY)}`,
      "x-mcp-debug-oauth2-token": `Bearer****${tail(MASTER_KEY)}${SAME_AS}`,
      "x-mcp-debug-auth-resolution": "static-token",
    });
    const unconnected = await callEcho("/dyn/mcp", { authorization: `Bearer ${keys.dora}`, ...DEBUG });
    expect(unconnected.status).toBe(401);
    expect(debugOf(unconnected)["x-mcp-debug-oauth2-token"]).toBe(`Bearer****${tail(keys.dora)}${SAME_AS}`);
  });

  it("2. no OAuth2 token on an interactive oauth2 server → oauth2-token (none), a 401 challenge, nothing called", async () => {
    const seen = protectedUp.requests.length;
    const answer = await callEcho("/dyn/mcp", { ...asKey(keys.dora), ...DEBUG });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/dyn/mcp"`);
    const debug = debugOf(answer);
    expect(debug["x-mcp-debug-inbound-auth"]).toBe(`x-litellm-api-key=Bearer****${tail(keys.dora)}`);
    expect(debug["x-mcp-debug-oauth2-token"]).toBe("(none)");
    expect(debug["x-mcp-debug-auth-resolution"]).toMatch(NOTHING_CALLED);
    expect(protectedUp.requests.length).toBe(seen);
  });

  it("3. M2M configured → m2m-client-credentials even when the client sends its own bearer", async () => {
    const token = alice!.provider.tokens()!.access_token;
    const seen = m2mUp.requests.length;
    const answer = await callEcho("/m2m/mcp", { ...MASTER, authorization: `Bearer ${token}`, ...DEBUG });
    expect(answer.status, answer.text).toBe(200);
    const debug = debugOf(answer);
    expect(debug["x-mcp-debug-oauth2-token"]).toBe(`Bearer****${tail(token)}`);
    expect(debug["x-mcp-debug-auth-resolution"]).toBe("m2m-client-credentials");
    expect(debug["x-mcp-debug-server-auth-type"]).toBe("oauth2");
    expect(bearerOf(posts(m2mUp, seen)[0]!.headers)).not.toBe(token);
  });
});

// --- gateway errors and the request flag ---------------------------------------------------------

describe("gateway 401 and the request flag", () => {
  it("no key: 401 with the debug headers, inbound (none), and nothing said about the server", async () => {
    for (const path of ["/alpha/mcp", "/no_such_server/mcp", "/mcp", "/mcp-rest/tools/list"]) {
      const answer = path === "/mcp-rest/tools/list" ? await send(path, DEBUG) : await callEcho(path, DEBUG);
      expect(answer.status, path).toBe(401);
      const debug = debugOf(answer);
      expect(debug["x-mcp-debug-inbound-auth"]).toBe("(none)");
      expect(debug["x-mcp-debug-oauth2-token"]).toBe("(none)");
      for (const name of ["x-mcp-debug-auth-resolution", "x-mcp-debug-outbound-url", "x-mcp-debug-server-auth-type"] as const) {
        expect(debug[name], `${path} ${name}`).toMatch(NOTHING_CALLED);
      }
      expect(answer.text).not.toContain(alphaUp.url);
    }
  });

  it("a bad key: 401, the bad key masked; in Authorization it is what the gateway took for its key", async () => {
    const seen = alphaUp.requests.length;
    const dedicated = await callEcho("/alpha/mcp", { ...asKey(BAD_KEY), ...DEBUG });
    expect(dedicated.status).toBe(401);
    expect(debugOf(dedicated)).toMatchObject({
      "x-mcp-debug-inbound-auth": `x-litellm-api-key=Bearer****${tail(BAD_KEY)}`,
      "x-mcp-debug-oauth2-token": "(none)",
    });
    expect(debugOf(dedicated)["x-mcp-debug-auth-resolution"]).toMatch(NOTHING_CALLED);

    const inAuthorization = await callEcho("/alpha/mcp", { authorization: `Bearer ${BAD_KEY}`, ...DEBUG });
    expect(inAuthorization.status).toBe(401);
    expect(debugOf(inAuthorization)["x-mcp-debug-oauth2-token"]).toBe(`Bearer****${tail(BAD_KEY)}${SAME_AS}`);
    expect(alphaUp.requests.length).toBe(seen);
  });

  it("debug headers on other gateway errors too (403 for a server the key may not use)", async () => {
    const seen = m2mUp.requests.length;
    const answer = await callEcho("/m2m/mcp", { ...asKey(keys.limited), ...DEBUG });
    expect(answer.status).toBe(403);
    expect(debugOf(answer)["x-mcp-debug-inbound-auth"]).toBe(`x-litellm-api-key=Bearer****${tail(keys.limited)}`);
    expect(debugOf(answer)["x-mcp-debug-auth-resolution"]).toMatch(NOTHING_CALLED);
    expect(debugOf(answer)["x-mcp-debug-outbound-url"]).toMatch(NOTHING_CALLED);
    expect(m2mUp.requests.length).toBe(seen);
  });

  it("the secret search finds a secret that does show, and its masked form passes; whoami's echo of the upstream's headers shows the credential masked", async () => {
    expect(leakedParts(`x: Bearer ${ALPHA_TOKEN}`, ALPHA_TOKEN).length).toBeGreaterThan(0);
    expect(leakedParts(`x: Bearer****${tail(ALPHA_TOKEN)}`, ALPHA_TOKEN)).toEqual([]);
    // The upstream echoes the credential it got; the gateway scrubs it from the answer (issue 15 item 11).
    const echoed = await send("/alpha/mcp", { ...MCP_ACCEPT, ...MASTER, ...DEBUG }, rpc("tools/call", { name: "whoami", arguments: {} }));
    expect(echoed.status, echoed.text).toBe(200);
    expect(echoed.text).toContain(`Bearer ****${tail(ALPHA_TOKEN)}`);
    expect(leakedParts(echoed.text, ALPHA_TOKEN)).toEqual([]);
    const masked = await callEcho("/alpha/mcp", { ...MASTER, authorization: `Bearer ${ALPHA_TOKEN}`, ...DEBUG });
    expect(debugOf(masked)["x-mcp-debug-oauth2-token"]).toBe(`Bearer****${tail(ALPHA_TOKEN)}`);
  });

  it("without the flag (or with it not true) no debug header appears, on success and on 401", async () => {
    const flags: Array<Record<string, string>> = [{}, { "x-litellm-mcp-debug": "false" }, { "x-litellm-mcp-debug": "1" }];
    for (const flag of flags) {
      const ok = await callEcho("/alpha/mcp", { ...MASTER, ...flag });
      expect(ok.status, ok.text).toBe(200);
      expectNoDebugHeaders(ok);
      const refused = await callEcho("/alpha/mcp", { ...flag });
      expect(refused.status).toBe(401);
      expectNoDebugHeaders(refused);
      const aggregated = await send("/mcp", { ...MCP_ACCEPT, ...MASTER, ...flag, "x-mcp-servers": "alpha,beta" }, rpc("tools/list"));
      expect(aggregated.status).toBe(200);
      expectNoDebugHeaders(aggregated);
    }
    // The flag's value is case-insensitive.
    const upper = await callEcho("/alpha/mcp", { ...MASTER, "x-litellm-mcp-debug": "TRUE" });
    expect(debugOf(upper)["x-mcp-debug-auth-resolution"]).toBe("static-token");
  });
});
