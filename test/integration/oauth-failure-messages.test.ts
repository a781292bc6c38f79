/**
 * Every OAuth failure a user can hit gives the browser or the MCP client a message that
 * names the MCP server, the step and what the operator should change, and logs the
 * upstream's reason with the request id (the `x-request-id` of the answer). A refresh the
 * authorization server refuses ends in the 401 challenge that makes the client sign in
 * again, never a 500 or a loop.
 *
 * Real peers where one can be made to fail this way: oidc-provider (`interactive-as.ts`)
 * refuses a registration asking for a client authentication it does not offer, a client
 * authenticating another way than it registered, and a revoked refresh token, and sends a
 * foreign `iss` on request; a plain http server serves the client metadata documents. The
 * hand-written authorization server (`hostile-authorization-server.ts`) refuses the scopes
 * at once, with markup in its description.
 *
 * Servers of the gateway under test (all in front of one protected upstream):
 * - `dyn`: discovered from the upstream's RFC 9728 metadata, dynamic registration at `as`;
 * - `wrongauth`: a client pre-registered at `as` for client_secret_jwt, configured for client_secret_basic;
 * - `regrefused`: pinned to `asPostOnly`, which offers no client_secret_basic (the gateway's registrations ask for it);
 * - `mixup`: pinned to `asForeign`, whose authorization responses name another issuer;
 * - `scoperef`: pinned to the hostile server, which refuses every authorization request with invalid_scope.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PendingFlow } from "../../src/oauth/authorize.js";
import { openDatabase, type Database } from "../../src/store/database.js";
import { oauthRepository, type OauthRepository } from "../../src/store/oauth-repository.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies, followRedirects } from "../fixtures/headless-browser.js";
import { startHostileAuthorizationServer, type HostileAuthorizationServer } from "../fixtures/hostile-authorization-server.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, loopbackRedirectUri, pkcePair } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const SALT = "test-salt";
/** Registered at `as` for client_secret_jwt (RFC 7523), which the gateway does not send: its secret goes in Basic or the form. */
const JWT_CLIENT = { client_id: "gatehouse-jwt-client", client_secret: "jwt-client-secret-7c1e9a-0123456789abcdef0123456789" };
const MARKUP = '<script>alert("owned")</script><b>scope "calendar:everything" is not offered</b>';

let dir: string;
let upstream: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let asPostOnly: InteractiveAuthorizationServer;
let asForeign: InteractiveAuthorizationServer;
let hostile: HostileAuthorizationServer;
let documents: Server;
let documentBase: string;
let gateway: TestGateway;
let database: Database;
let repo: OauthRepository;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-oauth-failures-"));
  upstream = await startProtectedResourceUpstream({ name: "protected" });
  asPostOnly = await startInteractiveAuthorizationServer({ resource: upstream.url, clientAuthMethods: ["client_secret_post", "none"] });
  asForeign = await startInteractiveAuthorizationServer({ resource: upstream.url, issParameter: "foreign" });
  hostile = await startHostileAuthorizationServer({ authorizeError: "invalid_scope", authorizeErrorDescription: MARKUP });
  documents = createServer((request, response) => {
    const url = `${documentBase}${request.url ?? ""}`;
    if (request.url === "/someone-else.json") {
      return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ client_id: "https://someone-else.example/client.json", client_name: "x", redirect_uris: ["http://127.0.0.1/cb"] }));
    }
    response.writeHead(404).end(url);
  });
  await new Promise<void>((done) => documents.listen(0, "127.0.0.1", done));
  documentBase = `http://127.0.0.1:${(documents.address() as AddressInfo).port}`;

  // `wrongauth` needs a client registered for the gateway's /callback: the gateway starts inside the authorization server's start.
  as = await startInteractiveAuthorizationServer({
    resource: upstream.url,
    clients: async (issuer) => {
      gateway = await startTestGateway({
        env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}`, GATEHOUSE_SALT_KEY: SALT },
        general: {
          oauth_registration_rate_limit_per_minute: 0,
          oauth_client_metadata_document_hosts: ["127.0.0.1"],
          oauth_client_metadata_document_internal_hosts: ["127.0.0.1"],
        },
        servers: {
          dyn: { url: upstream.url, auth_type: "oauth2" },
          wrongauth: { url: upstream.url, auth_type: "oauth2", ...JWT_CLIENT, issuer, token_endpoint_auth_method: "client_secret_basic" },
          regrefused: { url: upstream.url, auth_type: "oauth2", issuer: asPostOnly.issuer },
          mixup: { url: upstream.url, auth_type: "oauth2", issuer: asForeign.issuer },
          scoperef: { url: upstream.url, auth_type: "oauth2", issuer: hostile.issuer, scopes: ["calendar:everything"] },
        },
      });
      return [{ ...JWT_CLIENT, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_jwt" }];
    },
  });
  upstream.trust(as);
  database = await openDatabase(`sqlite:${join(dir, "gatehouse.db")}`);
  repo = oauthRepository(database.db, createSecretBox(SALT));
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await gateway?.close();
  await database?.close();
  await new Promise((done) => documents?.close(done));
  await Promise.all([as?.close(), asPostOnly?.close(), asForeign?.close(), hostile?.close(), upstream?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

// --- helpers ------------------------------------------------------------------------------

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

async function register(server: string, redirectUri: string): Promise<string> {
  const response = await fetch(`${gateway.url}/${server}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "failure-test-client", redirect_uris: [redirectUri], token_endpoint_auth_method: "none" }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

interface Started {
  url: URL;
  redirectUri: string;
  verifier: string;
}

/** A registered client's authorization request at `server` (not yet sent). */
async function authorizationRequest(server: string): Promise<Started> {
  const redirectUri = loopbackRedirectUri();
  const clientId = await register(server, redirectUri);
  const { verifier, challenge } = pkcePair();
  const url = new URL(`${gateway.url}/${server}/authorize`);
  for (const [name, value] of Object.entries({ response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: "client-state" })) {
    url.searchParams.set(name, value);
  }
  return { url, redirectUri, verifier };
}

const isCallback = (candidate: URL) => candidate.origin === new URL(gateway.url).origin && candidate.pathname === "/callback";

/** The browser follows the flow until the upstream sends it back to the gateway's /callback; answers the gateway's page there. */
async function backAtCallback(started: Started): Promise<{ response: Response; page: string; requestId: string }> {
  const jar = new CookieJar();
  const callback = await followRedirects(started.url, { until: isCallback, cookies: jar });
  const response = await fetchWithCookies(callback, jar);
  return { response, page: await response.text(), requestId: response.headers.get("x-request-id")! };
}

/** The log lines of one request. */
const linesOf = (requestId: string) => gateway.logs.filter((line) => line["request_id"] === requestId && line["msg"] !== "request");

/** A page's visible text, tags removed, entities decoded: what the user reads. */
function visibleText(html: string): string {
  return html
    .replace(/<[^>]*>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}

async function callEcho(path: string, headers: Record<string, string>, name = "echo") {
  const response = await fetch(`${gateway.url}${path}`, { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name, arguments: { message: "hi" } }) });
  return { status: response.status, headers: response.headers, text: await response.text(), requestId: response.headers.get("x-request-id")! };
}

// --- one test per failure class -------------------------------------------------------------

describe("what a user sees, and the operator finds in the log, when OAuth fails", () => {
  it("an upstream that refuses the gateway's registration: the page names the server, the registration and the settings to change; the log has the request id and the upstream's error", async () => {
    const started = await authorizationRequest("regrefused");
    const response = await fetch(started.url, { redirect: "manual" });
    const page = visibleText(await response.text());
    const requestId = response.headers.get("x-request-id")!;
    expect(response.status).toBe(502);
    expect(response.headers.get("location")).toBeNull();
    expect(page).toContain("MCP server 'regrefused'");
    expect(page).toContain("dynamic client registration");
    expect(page).toMatch(/PROXY_BASE_URL/);
    expect(page).toMatch(/configure client_id and client_secret/);
    const line = linesOf(requestId).find((entry) => entry["step"] === "upstream client registration");
    expect(line, JSON.stringify(linesOf(requestId))).toMatchObject({ server: "regrefused", level: 40 });
    expect(String(line!["detail"])).toMatch(/HTTP 400 error=invalid_client_metadata \(.+\)/);
  });

  it("a client authentication the authorization server does not accept: /token answers 502 naming the server, the code exchange and token_endpoint_auth_method; the log has the request id and invalid_client, never the secret", async () => {
    const started = await authorizationRequest("wrongauth");
    // A shared, configured client: the consent page first, which the browser approves.
    const landed = await followRedirects(started.url, { until: (candidate) => candidate.href.startsWith(started.redirectUri) });
    const code = landed.searchParams.get("code");
    expect(code).toEqual(expect.any(String));
    const response = await fetch(`${gateway.url}/wrongauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: code!, code_verifier: started.verifier, redirect_uri: started.redirectUri }),
    });
    const body = (await response.json()) as { error: string; error_description: string };
    const requestId = response.headers.get("x-request-id")!;
    expect(response.status).toBe(502);
    expect(body.error).toBe("server_error");
    expect(body.error_description).toContain("MCP server 'wrongauth'");
    expect(body.error_description).toContain("at the code exchange (invalid_client)");
    expect(body.error_description).toContain("token_endpoint_auth_method");
    expect(body.error_description).toContain("it accepts");
    const line = linesOf(requestId).find((entry) => entry["code"] === "server_error");
    expect(line, JSON.stringify(linesOf(requestId))).toBeDefined();
    expect(String(line!["detail"])).toMatch(/HTTP 401 challenge basic error=invalid_client \(client authentication failed\)/);
    expect(JSON.stringify(gateway.logs)).not.toContain(JWT_CLIENT.client_secret);
  });

  it("an authorization response from another issuer: the page names the server, /callback and the issuer setting; the log has the request id and the foreign iss", async () => {
    const { response, page, requestId } = await backAtCallback(await authorizationRequest("mixup"));
    const text = visibleText(page);
    expect(response.status).toBe(502);
    expect(text).toContain("MCP server 'mixup'");
    expect(text).toContain("/callback");
    expect(text).toContain("https://attacker.example");
    expect(text).toContain("set issuer to it in the server's config");
    const line = linesOf(requestId).find((entry) => entry["step"] === "callback");
    expect(line, JSON.stringify(linesOf(requestId))).toMatchObject({ server: "mixup" });
    expect(String(line!["err"])).toContain("https://attacker.example");
  });

  it("a sign-in that expired (or that this gateway never stored): the page names the server, the /callback step and what to change; the log has the request id", async () => {
    const state = randomBytes(16).toString("base64url");
    const { verifier, challenge } = pkcePair();
    const flow: PendingFlow = { clientId: "gh_expired", redirectUri: "http://127.0.0.1:9/cb", codeChallenge: challenge, upstreamVerifier: verifier, origin: gateway.url, browserBinding: "unused" };
    await repo.putSingleUse("flow", state, "dyn", flow, -1000);
    const response = await fetch(`${gateway.url}/callback?state=${state}&code=upstream-code`);
    const text = visibleText(await response.text());
    expect(response.status).toBe(400);
    expect(text).toContain("Sign-in expired");
    expect(text).toContain("MCP server 'dyn'");
    expect(text).toContain("/callback");
    expect(text).toContain("Nothing needs changing at the gateway");
    expect(linesOf(response.headers.get("x-request-id")!)).toEqual([expect.objectContaining({ server: "dyn", step: "callback", msg: expect.stringContaining("expired") })]);

    // A sign-in this gateway never stored (another instance's, with its own database): what the operator must change.
    const unknown = await fetch(`${gateway.url}/callback?state=${randomBytes(16).toString("base64url")}&code=upstream-code`);
    expect(unknown.status).toBe(400);
    expect(visibleText(await unknown.text())).toMatch(/does not know this sign-in .*one shared database \(DATABASE_URL\)/);
    expect(linesOf(unknown.headers.get("x-request-id")!)).toEqual([expect.objectContaining({ step: "callback", msg: expect.stringContaining("does not know") })]);
  });

  it("refused scopes: the page names the server, the authorization request and the scopes setting, with the upstream's markup neither rendered nor shown; the log has the request id and its description", async () => {
    const { response, page, requestId } = await backAtCallback(await authorizationRequest("scoperef"));
    const text = visibleText(page);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(text).toContain("MCP server 'scoperef'");
    expect(text).toContain("refused the authorization request (invalid_scope)");
    expect(text).toContain("the operator must set the server's scopes");
    expect(page).not.toContain("<script");
    expect(page).not.toContain("<b>");
    const line = linesOf(requestId).find((entry) => entry["step"] === "authorization request");
    expect(line, JSON.stringify(linesOf(requestId))).toMatchObject({ server: "scoperef", issuer: hostile.issuer });
    expect(String(line!["upstream"])).toContain("error=invalid_scope");
    expect(String(line!["upstream"])).toContain('scope "calendar:everything" is not offered');
    expect(String(line!["upstream"]).length).toBeLessThan(400);
  });

  it("a client metadata document that cannot be fetched or is invalid: the page names the server, the document step and what to change; the log has the request id and the reason", async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, "127.0.0.1", done));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((done) => closed.close(done));
    const cases = [
      { clientId: `http://127.0.0.1:${closedPort}/client.json`, step: "client metadata document (fetch)", reason: /could not be reached/, change: /make sure .* serves the client's metadata document/ },
      { clientId: `${documentBase}/someone-else.json`, step: "client metadata document (validation)", reason: /is not the URL it was fetched from/, change: /set "client_id" to exactly/ },
    ];
    for (const { clientId, step, reason, change } of cases) {
      const { challenge } = pkcePair();
      const url = new URL(`${gateway.url}/dyn/authorize`);
      for (const [name, value] of Object.entries({ response_type: "code", client_id: clientId, redirect_uri: "http://127.0.0.1/cb", code_challenge: challenge, code_challenge_method: "S256" })) url.searchParams.set(name, value);
      const response = await fetch(url, { redirect: "manual" });
      const text = visibleText(await response.text());
      expect(response.status, clientId).toBe(400);
      expect(text).toContain("Signing in to MCP server 'dyn' stopped at the client's metadata document");
      expect(text).toContain(step);
      expect(text).toMatch(reason);
      expect(text).toMatch(change);
      const line = linesOf(response.headers.get("x-request-id")!).find((entry) => entry["step"] === "client metadata document");
      expect(line, clientId).toMatchObject({ server: "dyn", client_id: clientId });
      expect(String(line!["err"])).toMatch(reason);
    }
  });

  it("a refresh the authorization server refuses (invalid_grant): the stored token is dropped, /dyn/mcp answers the 401 challenge and /mcp a JSON-RPC error, never a 500, both naming the server; a fresh sign-in then works", async () => {
    const key = await gateway.generateKey({ user_id: "erin", key_alias: "erin-key" });
    const first = await connectWithOAuth(`${gateway.url}/dyn/mcp`, keyHeader(key));
    cleanups.push(() => first.client.close());
    expect(first.authorized).toBe(true);

    /** The stored token, made due for a refresh, its refresh token revoked at the authorization server. */
    const revoked: string[] = [];
    const revokeStored = async () => {
      const stored = (await repo.getUserToken("dyn", "user:erin"))!;
      revoked.push(stored.refresh_token!, stored.access_token);
      expect(stored.refresh_token).toEqual(expect.any(String));
      await as.revokeRefreshToken(stored.refresh_token!);
      await repo.saveUserToken("dyn", "user:erin", { ...stored, expiresAt: Date.now() - 1_000 });
    };
    const refusedRefreshes = () => as.tokenRequests().filter((record) => record.grant_type === "refresh_token" && record.status === 400).length;

    // The per-server route: the challenge that makes the client sign in again.
    await revokeStored();
    const refusals = refusedRefreshes();
    const passthrough = await callEcho("/dyn/mcp", keyHeader(key));
    expect(passthrough.status, passthrough.text).toBe(401);
    expect(passthrough.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/dyn/mcp"`);
    expect(passthrough.text).toContain("the authorization server of MCP server 'dyn' refused to refresh your stored token (invalid_grant");
    expect(passthrough.text).toContain("sign in again (an MCP client connected to /dyn/mcp starts it from the 401 challenge there)");
    expect(refusedRefreshes()).toBe(refusals + 1);
    expect(await repo.getUserToken("dyn", "user:erin")).toBeUndefined();
    const line = linesOf(passthrough.requestId).find((entry) => entry["step"] === "refresh");
    expect(line, JSON.stringify(gateway.logs.filter((entry) => entry["step"] === "refresh"))).toMatchObject({ server: "dyn", user: "user:erin" });
    expect(String(line!["reason"])).toMatch(/HTTP 400 error=invalid_grant/);
    // No loop: the next call is the plain challenge, and the authorization server is not asked again.
    const again = await callEcho("/dyn/mcp", keyHeader(key));
    expect(again.status).toBe(401);
    expect(again.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect(refusedRefreshes()).toBe(refusals + 1);

    // The MCP client's own refresh through the gateway's /token, with the revoked refresh token: invalid_grant, so it signs in again.
    const clientRefresh = await fetch(`${gateway.url}/dyn/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", client_id: first.provider.clientInformation()!.client_id, refresh_token: revoked[0]! }),
    });
    const refused = (await clientRefresh.json()) as { error: string; error_description: string };
    expect(clientRefresh.status).toBe(400);
    expect(refused.error).toBe("invalid_grant");
    expect(refused.error_description).toContain("the authorization server of MCP server 'dyn' refused the refresh (invalid_grant");
    const tokenLine = linesOf(clientRefresh.headers.get("x-request-id")!).find((entry) => entry["code"] === "invalid_grant");
    expect(tokenLine).toMatchObject({ level: 30 });
    expect(String(tokenLine!["detail"])).toMatch(/HTTP 400 error=invalid_grant/);

    // A fresh sign-in works, and stores a new token.
    const second = await connectWithOAuth(`${gateway.url}/dyn/mcp`, keyHeader(key));
    cleanups.push(() => second.client.close());
    expect(second.authorized).toBe(true);
    expect(await repo.getUserToken("dyn", "user:erin")).toBeDefined();
    const signedIn = await callEcho("/dyn/mcp", keyHeader(key));
    expect(signedIn.status, signedIn.text).toBe(200);

    // The aggregate: the same refusal is the server's JSON-RPC error, not a 500, and the token is dropped too.
    await revokeStored();
    const aggregate = await callEcho("/mcp", { ...keyHeader(key), "x-mcp-servers": "dyn" }, "dyn-echo");
    // The aggregate answers as a stateless MCP server: the call's JSON-RPC error, which points at the route whose 401 signs in.
    expect(aggregate.status, aggregate.text).toBe(200);
    const answer = JSON.parse(aggregate.text) as { error?: { message: string; data?: { code?: string; server?: string } } };
    expect(answer.error?.data).toMatchObject({ code: "upstream_authorization_required", server: "dyn" });
    expect(answer.error?.message).toContain("MCP server 'dyn' refused to refresh your stored token (invalid_grant");
    expect(answer.error?.message).toContain("connected to /dyn/mcp");
    expect(await repo.getUserToken("dyn", "user:erin")).toBeUndefined();
    expect(linesOf(aggregate.requestId).some((entry) => entry["step"] === "refresh")).toBe(true);
    // Never a token in the log lines that tell the refusal.
    const logText = JSON.stringify(gateway.logs);
    for (const token of revoked) expect(logText).not.toContain(token);
  });
});
