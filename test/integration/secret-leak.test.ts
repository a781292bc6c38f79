/**
 * Secret leaks, end to end: one gateway run with distinctive secrets everywhere a secret
 * can be (the master key, the salt key, static upstream credentials from os.environ/ and
 * inline, a credential in an upstream URL, per-request upstream credentials, M2M client
 * secrets and the access tokens a real token endpoint issues, a shared interactive client's
 * secret and the gateway's own dynamically registered one, users' interactive access and
 * refresh tokens, RFC 8693 subject tokens and the exchanged tokens, virtual keys, database
 * servers' secrets, a UI session), exercised through every route: pass-through, aggregate,
 * REST, debug headers, error paths (bad key, upstream 401, authorization-server errors and
 * garbage, invalid redirect_uri), the admin API, keys, health, metrics, the OAuth facade,
 * the Connect flow and the UI.
 *
 * Every response the gateway sends in this process is captured (a recording `fetch` sees
 * the SDK client's, the headless browser's and the test's requests alike), with every
 * header and the whole body, and so is the complete log at `trace` level. Every secret is
 * then searched for, unmasked (exact substring, also base64-encoded); masked forms such as
 * `Bearer****ef01` pass. The only exemptions are answers that hand a secret to its owner,
 * by route: the new key in the body of POST /key/generate, the tokens in the body of the
 * facade's POST /{server}/token, and the session cookie in the Set-Cookie of POST /ui/login.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { runtimeSettings } from "../../src/config/settings.js";
import { startGateway, type RunningGateway } from "../../src/gateway.js";
import { createLogger } from "../../src/log.js";
import { MCP_ACCEPT, rpc } from "../fixtures/gateway.js";
import { CookieJar, followRedirects } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, type OAuthConnection } from "../fixtures/mcp-oauth-client.js";
import { startAuthorizationServer, type AuthorizationServer } from "../fixtures/oidc-provider.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { startTokenExchangeServer, type TokenExchangeServer } from "../fixtures/token-exchange-as.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

// --- the secrets ------------------------------------------------------------------------------

/** value → what it is. Everything in here must never show unmasked outside its exemption. */
const secrets = new Map<string, string>();
const canary = (label: string, prefix: string): string => {
  const value = `${prefix}-LEAKCANARY-${randomBytes(12).toString("base64url")}`;
  secrets.set(value, label);
  return value;
};
const learned = (label: string, value: string | undefined): void => {
  if (value !== undefined && value.length >= 8 && !secrets.has(value)) secrets.set(value, label);
};

const MASTER = canary("master key", "sk-master");
const SALT = canary("GATEHOUSE_SALT_KEY", "salt");
const STATIC_TOKEN = canary("static bearer_token (os.environ)", "tok-static");
const STATIC_HEADER = canary("static_headers value (os.environ)", "hdr-static");
const API_KEY = canary("api_key auth_value (inline)", "tok-apikey");
const BASIC_PASSWORD = canary("basic auth password", "pw-basic");
const URL_SECRET = canary("credential in an upstream URL query", "url-key");
const PER_REQUEST = canary("per-request x-mcp-static-authorization", "tok-perreq");
const M2M_SECRET = canary("M2M client_secret (os.environ)", "cs-m2m");
const M2M_WRONG_SECRET = canary("M2M client_secret the AS refuses", "cs-m2mwrong");
const M2M_GARBAGE_SECRET = canary("M2M client_secret of the garbage-answer server", "cs-m2mgarbage");
const GARBAGE_TOKEN = canary("access token inside a malformed token response", "at-garbage");
const GH_SECRET = canary("shared interactive client_secret (os.environ)", "cs-gh");
const OBO_SECRET = canary("token exchange client_secret (os.environ)", "cs-obo");
const OBO_GARBAGE_TOKEN = canary("exchanged token inside a malformed token response", "at-obogarbage");
const DB_TOKEN = canary("database server auth_value", "tok-db");
const DB_HEADER = canary("database server static_headers value", "hdr-db");
const DB_CLIENT_SECRET = canary("database server client_secret", "cs-db");
const DB_REFUSED_SECRET = canary("auth_value in a refused admin API body", "tok-refused");
const BAD_KEY = canary("a wrong gateway key", "sk-bad");
const UNKNOWN_KEY = canary("an unknown key sent to /key/delete", "sk-unknown");
const BASIC_VALUE = `svc-leak:${BASIC_PASSWORD}`;
secrets.set(Buffer.from(BASIC_VALUE).toString("base64"), "basic auth header value (base64)");

const GH_CLIENT_ID = "gatehouse-gh-leak";
const DEBUG = { "x-litellm-mcp-debug": "true" };

// --- capture: every response, every log line --------------------------------------------------

interface Capture {
  method: string;
  url: URL;
  status: number;
  headers: Array<[string, string]>;
  body: string;
}

/** Responses of the gateway. */
const captures: Capture[] = [];
/** Responses of anything else the process fetched (the gateway's calls to authorization servers): read only to learn the secrets they issued. */
const outbound: Capture[] = [];
const pendingBodies: Array<Promise<void>> = [];
const logLines: string[] = [];
const realFetch = globalThis.fetch;

function recordingFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  return realFetch(input, init).then((response) => {
    const capture: Capture = { method, url, status: response.status, headers: [...response.headers], body: "" };
    (gatewayUrl !== undefined && url.origin === new URL(gatewayUrl).origin ? captures : outbound).push(capture);
    pendingBodies.push(
      response
        .clone()
        .text()
        .then(
          (text) => void (capture.body = text),
          (error: unknown) => void (capture.body = `<body unreadable: ${String(error)}>`),
        ),
    );
    return response;
  });
}

let gatewayUrl: string | undefined;
let gateway: RunningGateway;
let plainUp: Upstream;
let m2mUp: Upstream;
let m2mAs: AuthorizationServer;
let oboUp: Upstream;
let oboAs: TokenExchangeServer;
let protectedUp: ProtectedResourceUpstream;
let ias: InteractiveAuthorizationServer;
const connections: OAuthConnection[] = [];
const keys = { alice: "", bob: "", carol: "" };
let session = "";

beforeAll(async () => {
  globalThis.fetch = recordingFetch as typeof fetch;
  plainUp = await startUpstream({ name: "plain" });
  m2mUp = await startUpstream({ name: "m2m" });
  m2mAs = await startAuthorizationServer({
    resource: m2mUp.url,
    clients: [
      { client_id: "m2m-leak-client", client_secret: M2M_SECRET },
      { client_id: "m2m-garbage-client", client_secret: M2M_GARBAGE_SECRET },
    ],
  });
  oboUp = await startUpstream({ name: "obo" });
  oboAs = await startTokenExchangeServer({ resource: oboUp.url, clients: [{ client_id: "gatehouse-obo", client_secret: OBO_SECRET }] });
  protectedUp = await startProtectedResourceUpstream({ name: "protected" });

  // The shared client needs the gateway's callback, and `gh` the authorization server's issuer
  // (a configured client_secret goes only to a token endpoint the operator named): the gateway
  // starts between the authorization server's listening and its clients. The upstream names
  // its authorization server only after both.
  ias = await startInteractiveAuthorizationServer({
    resource: protectedUp.url,
    clients: async (issuer) => {
      const env: Record<string, string> = {
        GATEHOUSE_MASTER_KEY: MASTER,
        GATEHOUSE_SALT_KEY: SALT,
        DATABASE_URL: "sqlite::memory:",
        LEAK_STATIC_TOKEN: STATIC_TOKEN,
        LEAK_STATIC_HEADER: STATIC_HEADER,
        LEAK_M2M_SECRET: M2M_SECRET,
        LEAK_GH_SECRET: GH_SECRET,
        LEAK_OBO_SECRET: OBO_SECRET,
      };
      const servers = {
        static: { url: plainUp.url, auth_type: "bearer_token", auth_value: "os.environ/LEAK_STATIC_TOKEN", static_headers: { "X-Upstream-Secret": "os.environ/LEAK_STATIC_HEADER" } },
        apikey: { url: plainUp.url, auth_type: "api_key", auth_value: API_KEY },
        basic: { url: plainUp.url, auth_type: "basic", auth_value: BASIC_VALUE },
        keyed_url: { url: `${plainUp.url}?api_key=${URL_SECRET}`, auth_type: "none" },
        m2m: { url: m2mUp.url, auth_type: "oauth2", client_id: "m2m-leak-client", client_secret: "os.environ/LEAK_M2M_SECRET", token_url: m2mAs.tokenUrl, scopes: ["mcp:read"] },
        m2mbad: { url: m2mUp.url, auth_type: "oauth2", client_id: "m2m-leak-client", client_secret: M2M_WRONG_SECRET, token_url: m2mAs.tokenUrl },
        m2mgarbage: { url: m2mUp.url, auth_type: "oauth2", client_id: "m2m-garbage-client", client_secret: M2M_GARBAGE_SECRET, token_url: m2mAs.tokenUrl },
        obo: { url: oboUp.url, auth_type: "oauth2_token_exchange", token_exchange_endpoint: oboAs.tokenUrl, client_id: "gatehouse-obo", client_secret: "os.environ/LEAK_OBO_SECRET" },
        gh: { url: protectedUp.url, auth_type: "oauth2", client_id: GH_CLIENT_ID, client_secret: "os.environ/LEAK_GH_SECRET", issuer, scopes: ["mcp:read"] },
        dyn: { url: protectedUp.url, auth_type: "oauth2" },
      };
      const { config, warnings } = parseConfig(stringify({ mcp_servers: servers }), { file: "leak-config.yaml", env });
      const settings = runtimeSettings(config, env);
      const destination = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          logLines.push(...chunk.toString("utf8").split("\n").filter((line) => line.trim() !== ""));
          callback();
        },
      });
      // The strictest output: every level; startup warnings logged as the CLI logs them.
      const log = createLogger({ level: "trace", destination });
      for (const warning of [...warnings, ...settings.warnings]) log.warn(warning);
      gateway = await startGateway({ config, settings, env, log, port: 0, host: "127.0.0.1" });
      gatewayUrl = gateway.url;
      return [{ client_id: GH_CLIENT_ID, client_secret: GH_SECRET, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_post" }];
    },
  });
  protectedUp.trust(ias);
}, 30_000);

afterAll(async () => {
  for (const connection of connections) await connection.client.close().catch(() => undefined);
  await gateway?.close();
  await Promise.all([plainUp?.close(), m2mUp?.close(), m2mAs?.close(), oboUp?.close(), oboAs?.close(), protectedUp?.close(), ias?.close()]);
  globalThis.fetch = realFetch;
});

// --- helpers ----------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

const asKey = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

async function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const response = await fetch(`${gateway.url}${path}`, { redirect: "manual", ...init, ...(init.body === undefined ? {} : { method: init.method ?? "POST" }) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** A JSON-RPC POST at an MCP path. */
function mcp(path: string, headers: Record<string, string>, method: string, params: Record<string, unknown> = {}): Promise<Answer> {
  return send(path, { headers: { ...MCP_ACCEPT, ...headers }, body: rpc(method, params) });
}

function resultText(answer: Answer): string | undefined {
  const body = JSON.parse(answer.text) as { result?: { content?: Array<{ text?: string }> }; content?: Array<{ text?: string }> };
  return (body.result?.content ?? body.content)?.[0]?.text;
}

const show = (answer: Answer) => `${answer.status} ${answer.text.slice(0, 300)}`;

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string | undefined {
  return (result.content as Array<{ text?: string }>)[0]?.text;
}

// --- the scenario -----------------------------------------------------------------------------

describe("exercising every route with the secrets in play", () => {
  it("authorization servers that answer garbage (M2M and token exchange): the client gets an error, never the token in the garbage", async () => {
    m2mAs.setFault({ status: 200, contentType: "application/json", body: JSON.stringify({ access_token: GARBAGE_TOKEN, token_type: "Bearer", expires_in: "soon" }) });
    const m2m = await mcp("/m2mgarbage/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "x" } });
    m2mAs.setFault(undefined);
    expect(m2m.status, show(m2m)).toBe(502);

    const subject = await oboAs.mintSubjectToken({ sub: "garbage-user" });
    learned("subject token (JWT)", subject);
    oboAs.setFault({ status: 200, contentType: "application/json", body: JSON.stringify({ access_token: OBO_GARBAGE_TOKEN, issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: 7 }) });
    const obo = await mcp("/obo/mcp", { ...asKey(MASTER), authorization: `Bearer ${subject}`, ...DEBUG }, "tools/list");
    oboAs.setFault(undefined);
    expect(obo.status, show(obo)).toBeGreaterThanOrEqual(400);
  });

  it("pass-through with static credentials, per-request credentials and a URL credential, with and without debug headers", async () => {
    for (const server of ["static", "apikey", "basic", "keyed_url"]) {
      for (const debug of [{}, DEBUG]) {
        const answer = await mcp(`/${server}/mcp`, { ...asKey(MASTER), ...debug }, "tools/call", { name: "echo", arguments: { message: "hello" } });
        expect(answer.status, show(answer)).toBe(200);
        expect(resultText(answer)).toBe("hello");
      }
    }
    const perRequest = await mcp("/static/mcp", { ...asKey(MASTER), "x-mcp-static-authorization": `Bearer ${PER_REQUEST}`, ...DEBUG }, "tools/list");
    expect(perRequest.status).toBe(200);
    expect(perRequest.headers.get("x-mcp-debug-auth-resolution")).toBe("per-request-header");
    const viaMcpFirst = await mcp("/mcp/static", { ...asKey(MASTER), ...DEBUG }, "tools/list");
    expect(viaMcpFirst.status).toBe(200);
    // The upstream got the real credentials: they were in play.
    const seen = JSON.stringify(plainUp.requests.map((request) => request.headers));
    for (const value of [STATIC_TOKEN, STATIC_HEADER, API_KEY, PER_REQUEST, Buffer.from(BASIC_VALUE).toString("base64")]) expect(seen).toContain(value);
    expect(plainUp.requests.some((request) => request.path.includes(URL_SECRET))).toBe(true);
  });

  it("M2M: a token from the token endpoint, an upstream 401 retried with a fresh one, a refused client secret", async () => {
    const first = await mcp("/m2m/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "m2m" } });
    expect(first.status, show(first)).toBe(200);
    expect(first.headers.get("x-mcp-debug-auth-resolution")).toBe("m2m-client-credentials");
    m2mUp.failNext({ status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' }, body: { error: "invalid_token" } });
    const retried = await mcp("/m2m/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "again" } });
    expect(retried.status, show(retried)).toBe(200);
    expect(m2mAs.issuedTokens().length).toBeGreaterThanOrEqual(2);
    const refused = await mcp("/m2mbad/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/list");
    expect(refused.status, show(refused)).toBe(502);
    expect(refused.text).toContain("invalid_client");
  });

  it("aggregate /mcp and REST, across every server, with debug headers", async () => {
    const list = await mcp("/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/list");
    expect(list.status, show(list)).toBe(200);
    expect(list.text).toContain("static-echo");
    for (const name of ["static-echo", "apikey-echo", "basic-echo", "keyed_url-echo", "m2m-echo"]) {
      const call = await mcp("/mcp", { ...asKey(MASTER), ...DEBUG, "x-mcp-static-authorization": `Bearer ${PER_REQUEST}` }, "tools/call", { name, arguments: { message: "agg" } });
      expect(resultText(call), show(call)).toBe("agg");
    }
    const restList = await send("/mcp-rest/tools/list", { headers: { ...asKey(MASTER), ...DEBUG } });
    expect(restList.status, show(restList)).toBe(200);
    const restCall = await send("/mcp-rest/tools/call", { headers: { "content-type": "application/json", ...asKey(MASTER), ...DEBUG }, body: JSON.stringify({ name: "echo", server_name: "basic", arguments: { message: "rest" } }) });
    expect(resultText(restCall), show(restCall)).toBe("rest");
    const restViaAuthorization = await send("/mcp-rest/tools/call", { headers: { "content-type": "application/json", authorization: `Bearer ${MASTER}`, ...DEBUG }, body: JSON.stringify({ name: "keyed_url-echo", arguments: { message: "rest2" } }) });
    expect(resultText(restViaAuthorization), show(restViaAuthorization)).toBe("rest2");
  });

  it("error paths: no key, a bad key, the key in Authorization too, an upstream 401, an unknown server", async () => {
    for (const path of ["/static/mcp", "/mcp", "/m2m/mcp", "/dyn/mcp"]) {
      expect((await mcp(path, { ...DEBUG }, "tools/list")).status).toBe(401);
      expect((await mcp(path, { ...asKey(BAD_KEY), ...DEBUG }, "tools/list")).status).toBe(401);
      expect((await mcp(path, { authorization: `Bearer ${BAD_KEY}`, ...DEBUG }, "tools/list")).status).toBe(401);
    }
    expect((await send("/mcp-rest/tools/list", { headers: { ...asKey(BAD_KEY), ...DEBUG } })).status).toBe(401);
    const both = await mcp("/static/mcp", { ...asKey(MASTER), authorization: `Bearer ${MASTER}`, ...DEBUG }, "tools/list");
    expect(both.headers.get("x-mcp-debug-oauth2-token")).toMatch(/SAME_AS_LITELLM_KEY/);
    plainUp.failNext({ status: 401, headers: { "www-authenticate": 'Bearer realm="plain"' }, body: { error: "invalid_token" } });
    const refused = await mcp("/static/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/list");
    // The refused credential is the gateway's: its own 502, not the upstream's challenge (issue 15 item 13).
    expect(refused.status).toBe(502);
    expect(refused.headers.get("www-authenticate")).toBeNull();
    plainUp.failNext({ status: 401, body: { error: "invalid_token" } });
    const refusedAggregate = await mcp("/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/call", { name: "static-echo", arguments: { message: "x" } });
    expect(refusedAggregate.status).toBe(200);
    expect((await mcp("/nope/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/list")).status).toBe(404);
  });

  it("keys: generate (the key is shown once), list, use, delete", async () => {
    for (const user of ["alice", "bob", "carol"] as const) {
      const answer = await send("/key/generate", { headers: { "content-type": "application/json", ...asKey(MASTER) }, body: JSON.stringify({ user_id: user, key_alias: `${user}-leak` }) });
      expect(answer.status, show(answer)).toBe(200);
      keys[user] = (JSON.parse(answer.text) as { key: string }).key;
      learned(`virtual key of ${user}`, keys[user]);
    }
    for (const full of ["true", "false"]) expect((await send(`/key/list?return_full_object=${full}`, { headers: asKey(MASTER) })).status).toBe(200);
    expect((await mcp("/static/mcp", { ...asKey(keys.carol), ...DEBUG }, "tools/list")).status).toBe(200);
    const deleted = await send("/key/delete", { headers: { "content-type": "application/json", ...asKey(MASTER) }, body: JSON.stringify({ keys: [keys.carol] }) });
    expect(deleted.status, show(deleted)).toBe(200);
    const unknown = await send("/key/delete", { headers: { "content-type": "application/json", ...asKey(MASTER) }, body: JSON.stringify({ keys: [UNKNOWN_KEY] }) });
    expect(unknown.status).toBe(404);
    expect((await mcp("/static/mcp", { ...asKey(keys.carol), ...DEBUG }, "tools/list")).status).toBe(401);
    expect((await send("/key/list", { headers: asKey(keys.alice) })).status).toBe(403);
  });

  it("interactive OAuth through the facade: dynamic registration (dyn) and a shared client with consent (gh), stored and presented tokens, refresh", async () => {
    const alice = await connectWithOAuth(`${gateway.url}/dyn/mcp`, asKey(keys.alice));
    connections.push(alice);
    expect(alice.authorized).toBe(true);
    expect(firstText(await alice.client.callTool({ name: "echo", arguments: { message: "alice" } }))).toBe("alice");
    const bob = await connectWithOAuth(`${gateway.url}/gh/mcp`, asKey(keys.bob));
    connections.push(bob);
    expect(bob.authorized).toBe(true);
    for (const connection of [alice, bob]) {
      for (const token of connection.provider.savedTokens) {
        learned("interactive access token", token.access_token);
        learned("interactive refresh token", token.refresh_token);
      }
    }
    const aliceTokens = alice.provider.savedTokens.at(-1)!;
    // The user's own bearer, the stored token, and both on the aggregate, all with debug headers.
    const presented = await mcp("/dyn/mcp", { ...asKey(keys.alice), authorization: `Bearer ${aliceTokens.access_token}`, ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "bearer" } });
    expect(resultText(presented), show(presented)).toBe("bearer");
    const stored = await mcp("/dyn/mcp", { ...asKey(keys.alice), ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "stored" } });
    expect(resultText(stored), show(stored)).toBe("stored");
    const aggregated = await mcp("/mcp", { ...asKey(keys.alice), ...DEBUG, "x-mcp-servers": "dyn,static" }, "tools/call", { name: "dyn-echo", arguments: { message: "agg" } });
    expect(resultText(aggregated), show(aggregated)).toBe("agg");
    const restStored = await send("/mcp-rest/tools/call", { headers: { "content-type": "application/json", ...asKey(keys.bob), ...DEBUG }, body: JSON.stringify({ name: "gh-echo", arguments: { message: "rest" } }) });
    expect(resultText(restStored), show(restStored)).toBe("rest");
    // A refused upstream token: the upstream's 401 challenge.
    const wrong = await mcp("/dyn/mcp", { ...asKey(keys.alice), authorization: `Bearer ${BAD_KEY}`, ...DEBUG }, "tools/list");
    expect(wrong.status).toBe(401);

    // Refresh at the facade, once with the real refresh token, once with a refused one.
    const clientId = alice.provider.clientInformation()!.client_id;
    const form = (params: Record<string, string>) => ({ headers: { "content-type": "application/x-www-form-urlencoded", ...asKey(keys.alice) }, body: new URLSearchParams(params).toString() });
    const refreshed = await send("/dyn/token", form({ grant_type: "refresh_token", refresh_token: aliceTokens.refresh_token!, client_id: clientId }));
    expect(refreshed.status, show(refreshed)).toBe(200);
    const renewed = JSON.parse(refreshed.text) as { access_token: string; refresh_token?: string };
    learned("refreshed access token", renewed.access_token);
    learned("refreshed refresh token", renewed.refresh_token);
    const refusedRefresh = await send("/dyn/token", form({ grant_type: "refresh_token", refresh_token: `${aliceTokens.refresh_token!}x`, client_id: clientId }));
    expect(refusedRefresh.status).toBe(400);
    const badCode = await send("/gh/token", form({ grant_type: "authorization_code", code: "not-a-code", code_verifier: "v".repeat(43), client_id: clientId }));
    expect(badCode.status).toBe(400);

    // Discovery documents, and the facade's refusals.
    for (const path of ["/.well-known/oauth-protected-resource/dyn/mcp", "/.well-known/oauth-protected-resource/mcp/gh", "/.well-known/oauth-authorization-server/gh", "/.well-known/openid-configuration/dyn"]) {
      expect((await send(path)).status).toBe(200);
    }
    const badRegistration = await send("/dyn/register", { headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: ["http://evil.example/cb"] }) });
    expect(badRegistration.status).toBe(400);
    const unregistered = await send(`/gh/authorize?client_id=${encodeURIComponent(clientId)}&redirect_uri=${encodeURIComponent("https://evil.example/cb")}&response_type=code`);
    expect(unregistered.status).toBe(400);
    expect((await send("/callback?state=forged&code=forged")).status).toBe(400);
  }, 30_000);

  it("on-behalf-of (RFC 8693): JWT and opaque subject tokens exchanged, an expired one refused, the authorization server refusing", async () => {
    const jwt = await oboAs.mintSubjectToken({ sub: "alice" });
    const opaque = oboAs.mintOpaqueSubjectToken("carol");
    const expired = await oboAs.mintSubjectToken({ sub: "alice", expiresInSeconds: -60 });
    learned("subject token (JWT)", jwt);
    learned("subject token (opaque)", opaque);
    learned("expired subject token", expired);
    for (const subject of [jwt, opaque]) {
      const passthrough = await mcp("/obo/mcp", { ...asKey(MASTER), authorization: `Bearer ${subject}`, ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "obo" } });
      expect(resultText(passthrough), show(passthrough)).toBe("obo");
      expect(passthrough.headers.get("x-mcp-debug-auth-resolution")).toBe("token-exchange");
    }
    const aggregated = await mcp("/mcp", { ...asKey(MASTER), authorization: `Bearer ${jwt}`, "x-mcp-servers": "obo", ...DEBUG }, "tools/call", { name: "obo-echo", arguments: { message: "agg" } });
    expect(resultText(aggregated), show(aggregated)).toBe("agg");
    const rest = await send("/mcp-rest/tools/call", { headers: { "content-type": "application/json", ...asKey(MASTER), authorization: `Bearer ${jwt}`, ...DEBUG }, body: JSON.stringify({ name: "obo-echo", arguments: { message: "rest" } }) });
    expect(resultText(rest), show(rest)).toBe("rest");
    const tooLate = await mcp("/obo/mcp", { ...asKey(MASTER), authorization: `Bearer ${expired}`, ...DEBUG }, "tools/list");
    expect(tooLate.status).toBe(401);
    const another = await oboAs.mintSubjectToken({ sub: "dora" });
    learned("subject token (JWT)", another);
    oboAs.setFault({ status: 400, contentType: "application/json", body: JSON.stringify({ error: "invalid_grant", error_description: "subject token is invalid or expired" }) });
    const refused = await mcp("/obo/mcp", { ...asKey(MASTER), authorization: `Bearer ${another}`, ...DEBUG }, "tools/list");
    oboAs.setFault(undefined);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(oboAs.issuedTokens().length).toBeGreaterThanOrEqual(2);
  });

  it("the admin API: config servers and database servers (secrets masked on the way out), create, edit with the masked values sent back, a refused body, delete", async () => {
    const admin = { "content-type": "application/json", ...asKey(MASTER) };
    const created = await send("/v1/mcp/server", { headers: admin, body: JSON.stringify({ server_name: "dbsrv", url: plainUp.url, auth_type: "bearer_token", auth_value: DB_TOKEN, static_headers: { "X-Db-Secret": DB_HEADER } }) });
    expect(created.status, show(created)).toBe(201);
    const createdM2m = await send("/v1/mcp/server", { headers: admin, body: JSON.stringify({ server_name: "dbm2m", url: m2mUp.url, auth_type: "oauth2", client_id: "db-client", client_secret: DB_CLIENT_SECRET, token_url: m2mAs.tokenUrl }) });
    expect(createdM2m.status, show(createdM2m)).toBe(201);
    const refused = await send("/v1/mcp/server", { headers: admin, body: JSON.stringify({ server_name: "refused", url: "not a url", auth_type: "none", auth_value: DB_REFUSED_SECRET }) });
    expect(refused.status).toBe(400);
    const list = await send("/v1/mcp/server", { headers: asKey(MASTER) });
    expect(list.status).toBe(200);
    for (const id of ["static", "apikey", "basic", "keyed_url", "m2m", "m2mbad", "obo", "gh", "dyn", "dbsrv", "dbm2m"]) expect((await send(`/v1/mcp/server/${id}`, { headers: asKey(MASTER) })).status).toBe(200);
    const view = JSON.parse((await send("/v1/mcp/server/dbsrv", { headers: asKey(MASTER) })).text) as Record<string, unknown>;
    const edited = await send("/v1/mcp/server/dbsrv", { method: "PUT", headers: admin, body: JSON.stringify({ ...view, description: "edited" }) });
    expect(edited.status, show(edited)).toBe(200);
    await gateway.syncWithStore();
    const call = await mcp("/dbsrv/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "db" } });
    expect(resultText(call), show(call)).toBe("db");
    expect(plainUp.lastHeaders()["authorization"]).toBe(`Bearer ${DB_TOKEN}`);
    const unknownClient = await mcp("/dbm2m/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/list");
    expect(unknownClient.status).toBe(502);
    expect((await send("/v1/mcp/server/dbm2m", { method: "DELETE", headers: asKey(MASTER) })).status).toBe(200);
    expect((await send("/v1/mcp/server", { headers: asKey(keys.alice) })).status).toBe(403);
  });

  it("health, readiness and metrics", async () => {
    expect((await send("/health/liveliness")).status).toBe(200);
    expect((await send("/health/readiness")).status).toBe(200);
    const metrics = await send("/metrics", { headers: asKey(MASTER) });
    // /metrics is planned (README, issue 10): when it exists it is scanned like every answer.
    expect([200, 404]).toContain(metrics.status);
    expect((await send("/metrics", { headers: asKey(BAD_KEY) })).status).not.toBe(200);
  });

  it("the UI: the login page, a refused and an accepted sign-in, the server pages and edit forms, a tool call, keys, the Connect flow", async () => {
    const loginPage = await fetch(`${gateway.url}/ui/login`, { redirect: "manual" });
    expect(loginPage.status).toBe(200);
    const loginCookie = /gatehouse_login_csrf=([^;]+)/.exec(loginPage.headers.getSetCookie().join("\n"))![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await loginPage.text())![1]!;
    const signIn = (key: string) =>
      fetch(`${gateway.url}/ui/login`, { method: "POST", redirect: "manual", headers: { cookie: `gatehouse_login_csrf=${loginCookie}` }, body: new URLSearchParams({ csrf, key }) });
    expect((await signIn(BAD_KEY)).status).toBe(401);
    const accepted = await signIn(`Bearer ${MASTER}`);
    expect(accepted.status).toBe(303);
    session = /gatehouse_session=([^;]+)/.exec(accepted.headers.getSetCookie().join("\n"))![1]!;
    learned("UI session cookie", session);
    const cookie = { cookie: `gatehouse_session=${session}` };
    for (const path of ["/ui/mcp/servers", "/ui/keys", "/ui/mcp/servers/new"]) expect((await send(path, { headers: cookie })).status, path).toBe(200);
    for (const id of ["static", "apikey", "basic", "keyed_url", "m2m", "obo", "gh", "dyn", "dbsrv"]) {
      for (const page of ["", "/edit", "/tools"]) expect((await send(`/ui/mcp/servers/${id}${page}`, { headers: cookie })).status, `${id}${page}`).toBe(200);
    }
    const toolsPage = await send("/ui/mcp/servers/static/tools?tool=echo", { headers: cookie });
    const pageCsrf = /name="csrf" value="([^"]+)"/.exec(toolsPage.text)![1]!;
    const called = await send("/ui/mcp/servers/static/tools/call", { headers: { ...cookie, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ csrf: pageCsrf, tool: "echo", raw_arguments: JSON.stringify({ message: "from the ui" }) }).toString() });
    expect(called.status).toBe(200);
    expect(called.text).toContain("from the ui");

    // Connect (the UI's flow) for the shared-client server, with the session alone; then a refused redirect_uri.
    const jar = new CookieJar();
    jar.storeLine(gateway.url, `gatehouse_session=${session}; Path=/`);
    const start = `${gateway.url}/v1/mcp/server/oauth/gh/authorize?redirect_uri=${encodeURIComponent(`${gateway.url}/ui/mcp/oauth/callback`)}`;
    const landed = await followRedirects(start, { cookies: jar, until: (url) => url.origin === gateway.url && url.pathname === "/ui/mcp/servers/gh" });
    expect(landed.searchParams.get("connected")).toBe("1");
    const evil = await send(`/v1/mcp/server/oauth/gh/authorize?redirect_uri=${encodeURIComponent("https://evil.example/cb")}`, { headers: { ...asKey(MASTER), ...DEBUG } });
    expect(evil.status).toBe(400);
    expect(evil.text).toContain("invalid_request");
    const connected = await mcp("/gh/mcp", { ...asKey(MASTER), ...DEBUG }, "tools/call", { name: "echo", arguments: { message: "connected" } });
    expect(resultText(connected), show(connected)).toBe("connected");
  }, 30_000);
});

// --- the search -------------------------------------------------------------------------------

interface Hit {
  label: string;
  where: string;
  context: string;
}

/** Secrets a response may carry because it hands them to their owner: by route, by part of the answer. */
function exemptions(capture: Capture): { body: Set<string>; setCookie: Set<string> } {
  const body = new Set<string>();
  const setCookie = new Set<string>();
  const path = capture.url.pathname;
  const json = (): Record<string, unknown> => {
    try {
      return JSON.parse(capture.body) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  if (capture.method === "POST" && path === "/key/generate" && capture.status === 200) {
    const key = json().key;
    if (typeof key === "string") body.add(key);
  }
  // The facade's token endpoint answers the MCP client that completed the flow (or refreshed) with its tokens.
  if (capture.method === "POST" && /^\/(dyn|gh)\/token$/.test(path) && capture.status === 200) {
    for (const field of ["access_token", "refresh_token"]) {
      const value = json()[field];
      if (typeof value === "string") body.add(value);
    }
  }
  if (capture.method === "POST" && path === "/ui/login" && capture.status === 303) {
    for (const [name, value] of capture.headers) if (name === "set-cookie") setCookie.add(/gatehouse_session=([^;]+)/.exec(value)?.[1] ?? "");
  }
  return { body, setCookie };
}

/** Every way a secret may be written out: as is, base64 and base64url. */
function variants(value: string): string[] {
  return [...new Set([value, Buffer.from(value).toString("base64"), Buffer.from(value).toString("base64url")])];
}

function contextOf(text: string, value: string, label: string): string {
  const at = text.indexOf(value);
  return `…${text.slice(Math.max(0, at - 80), at)}«${label}»${text.slice(at + value.length, at + value.length + 80)}…`.replace(/\s+/g, " ");
}

function search(texts: Array<{ where: string; text: string; allowed?: Set<string> }>): Hit[] {
  const hits: Hit[] = [];
  for (const { where, text, allowed } of texts) {
    for (const [value, label] of secrets) {
      if (allowed?.has(value)) continue;
      for (const variant of variants(value)) {
        if (text.includes(variant)) hits.push({ label: variant === value ? label : `${label} (encoded)`, where, context: contextOf(text, variant, label) });
      }
    }
  }
  return hits;
}

function everyText(): Array<{ where: string; text: string; allowed?: Set<string> }> {
  const texts: Array<{ where: string; text: string; allowed?: Set<string> }> = [];
  for (const capture of captures) {
    const route = `${capture.method} ${capture.url.pathname}${capture.url.search.slice(0, 120)} → ${capture.status}`;
    const allowed = exemptions(capture);
    for (const [name, value] of capture.headers) texts.push({ where: `${route}, header ${name}`, text: value, ...(name === "set-cookie" ? { allowed: allowed.setCookie } : {}) });
    texts.push({ where: `${route}, body`, text: capture.body, allowed: allowed.body });
  }
  logLines.forEach((line, index) => {
    let message = "";
    try {
      message = String((JSON.parse(line) as { msg?: unknown }).msg);
    } catch {
      message = line.slice(0, 80);
    }
    texts.push({ where: `log line ${index + 1} ("${message.slice(0, 100)}")`, text: line });
  });
  return texts;
}

/** Secrets issued by the authorization servers: from their answers to the gateway (what it was given), and their own records. */
function learnIssuedSecrets(): void {
  for (const capture of outbound) {
    let body: unknown;
    try {
      body = JSON.parse(capture.body);
    } catch {
      continue;
    }
    if (typeof body !== "object" || body === null) continue;
    for (const field of ["access_token", "refresh_token", "id_token", "client_secret", "registration_access_token"]) {
      const value = (body as Record<string, unknown>)[field];
      if (typeof value === "string") learned(`${field} issued by ${capture.url.origin}${capture.url.pathname}`, value);
    }
  }
  for (const token of m2mAs.issuedTokens()) learned("M2M access token", token);
  for (const token of oboAs.issuedTokens()) learned("exchanged access token (RFC 8693)", token);
  for (const token of ias.issuedTokens()) learned("interactive access token", token);
}

describe("the search", () => {
  it("finds a planted secret, and passes its masked form (the scanner works)", () => {
    const planted = [{ where: "planted", text: `x-mcp-debug-oauth2-token: Bearer ${STATIC_TOKEN}` }];
    expect(search(planted).map((hit) => hit.label)).toEqual(["static bearer_token (os.environ)"]);
    expect(search([{ where: "masked", text: `Bearer****${STATIC_TOKEN.slice(-4)}` }])).toEqual([]);
    expect(search([{ where: "encoded", text: `Basic ${Buffer.from(BASIC_VALUE).toString("base64")}` }]).length).toBeGreaterThan(0);
  });

  it("no secret appears unmasked in any response header, response body or log line", async () => {
    for (const connection of connections.splice(0)) await connection.client.close();
    await Promise.all(pendingBodies);
    learnIssuedSecrets();
    // What the search covers: every part of the run left something to search.
    expect(captures.length).toBeGreaterThan(120);
    expect(logLines.length).toBeGreaterThan(20);
    expect(outbound.length).toBeGreaterThan(5);
    expect(secrets.size).toBeGreaterThan(35);
    expect(captures.some((capture) => capture.url.pathname === "/dyn/token" && capture.status === 200)).toBe(true);
    expect(captures.some((capture) => capture.url.pathname === "/callback")).toBe(true);
    expect(captures.some((capture) => capture.headers.some(([name]) => name === "x-mcp-debug-auth-resolution"))).toBe(true);
    expect(logLines.some((line) => line.includes('"level":10') || line.includes('"level":20'))).toBe(true);

    const hits = search(everyText());
    expect(hits, `secrets found unmasked:\n${report(hits)}`).toEqual([]);
  }, 30_000);

  it("a credential in an upstream URL's query is masked in the admin API (GET /v1/mcp/server, /v1/mcp/server/{id}) and in the UI's edit form", () => {
    // The gateway treats URL query values as secrets elsewhere: x-mcp-debug-outbound-url masks
    // every one (src/debug.ts maskUrl) and the UI's server list shows origin + path only. But
    // src/registry/server-admin.ts maskedConfig() masks auth_value, client_secret and
    // static_headers only, so `url` leaves with `?api_key=...` intact, and the edit form
    // (src/http/routes/ui.tsx, formValuesFromView) pre-fills it. Expected: the query values
    // masked on the way out, and kept when an edit sends the masked URL back (as for secrets).
    const hits = search(everyText()).filter((hit) => hit.label === secrets.get(URL_SECRET));
    expect(hits, `the URL credential found:\n${report(hits)}`).toEqual([]);
  });
});

function report(hits: Hit[]): string {
  return hits.map((hit) => `- ${hit.label} in ${hit.where}: ${hit.context}`).join("\n");
}
