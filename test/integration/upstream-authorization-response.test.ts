/**
 * The gateway as the OAuth client of upstream authorization servers (issue 18, part 3), against
 * real peers over HTTP: `oidc-provider` (interactive-as.ts, with its RFC 9207 misbehaviour
 * variants) and protected upstream MCP servers built with the official SDK.
 *
 * - RFC 9207: the issuer is recorded with each flow; an authorization response whose `iss`
 *   is missing (from a server that advertises it) or foreign is refused at /callback, and
 *   its code goes to no token endpoint;
 * - issuer-bound registrations and tokens: credentials from another issuer are never sent;
 * - `application_type` in the gateway's dynamic registrations;
 * - scope selection and step-up on `403 insufficient_scope`, for the SDK client and Connect.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applicationType } from "../../src/oauth/upstream-registration.js";
import { openDatabase, type Database } from "../../src/store/database.js";
import { oauthRepository, type OauthRepository } from "../../src/store/oauth-repository.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies, followRedirects } from "../fixtures/headless-browser.js";
import { FOREIGN_ISSUER, startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, loopbackRedirectUri, pkcePair } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const SALT = "test-salt";
const OLD_ISSUER = "https://old-as.example";

let dir: string;
let upstream: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let stepUpstream: ProtectedResourceUpstream;
let stepAs: InteractiveAuthorizationServer;
let gateway: TestGateway;
let database: Database;
let repo: OauthRepository;
let aliceKey = "";
let bobKey = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-iss-"));
  upstream = await startProtectedResourceUpstream({ name: "protected" });
  as = await startInteractiveAuthorizationServer({ resource: upstream.url });
  upstream.trust(as);
  // Reading needs mcp:read (granted first); `echo` needs mcp:write: a step-up.
  stepUpstream = await startProtectedResourceUpstream({ name: "step", toolScopes: { echo: "mcp:write" } });
  stepAs = await startInteractiveAuthorizationServer({ resource: stepUpstream.url });
  stepUpstream.trust(stepAs);
  gateway = await startTestGateway({
    env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}`, GATEHOUSE_SALT_KEY: SALT },
    general: { oauth_registration_rate_limit_per_minute: 0 },
    servers: {
      issa: { url: upstream.url, auth_type: "oauth2", description: "discovered authorization server" },
      step: { url: stepUpstream.url, auth_type: "oauth2", scopes: ["mcp:read"] },
    },
  });
  database = await openDatabase(`sqlite:${join(dir, "gatehouse.db")}`);
  repo = oauthRepository(database.db, createSecretBox(SALT));
  aliceKey = await gateway.generateKey({ user_id: "alice", key_alias: "alice-key" });
  bobKey = await gateway.generateKey({ user_id: "bob", key_alias: "bob-key" });
});

afterAll(async () => {
  await gateway?.close();
  await database?.close();
  await Promise.all([as?.close(), stepAs?.close(), upstream?.close(), stepUpstream?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });
const landsOn = (target: string) => (candidate: URL) => {
  const url = new URL(target);
  return candidate.origin === url.origin && candidate.pathname === url.pathname;
};
const codeGrants = (server: InteractiveAuthorizationServer) => server.tokenRequests().filter((record) => record.grant_type === "authorization_code").length;

async function register(server: string, redirectUri: string): Promise<string> {
  const response = await fetch(`${gateway.url}/${server}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "raw-client", redirect_uris: [redirectUri], grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "none" }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

/** A registered client's browser, run up to the gateway's /callback (not opened yet). */
async function upToCallback(server: string, client?: { clientId: string; redirectUri: string }): Promise<{ clientId: string; redirectUri: string; jar: CookieJar; callback: URL }> {
  const redirectUri = client?.redirectUri ?? loopbackRedirectUri();
  const id = client?.clientId ?? (await register(server, redirectUri));
  const url = new URL(`${gateway.url}/${server}/authorize`);
  const params = { response_type: "code", client_id: id, redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: "S256", state: randomBytes(8).toString("hex") };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const jar = new CookieJar();
  const callback = await followRedirects(url, { until: landsOn(`${gateway.url}/callback`), cookies: jar });
  return { clientId: id, redirectUri, jar, callback };
}

async function callEcho(path: string, headers: Record<string, string>) {
  const response = await fetch(`${gateway.url}${path}`, { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "hi" } }) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe("RFC 9207 at /callback (the upstream's authorization response)", () => {
  it("registers with application_type native for the gateway's loopback /callback, binds the registration to the issuer, and relays a good response with the gateway's iss", async () => {
    const registrations = as.registrations().length;
    const { clientId, redirectUri, jar, callback } = await upToCallback("issa");
    expect(callback.searchParams.get("iss")).toBe(as.issuer);
    const relayed = await fetchWithCookies(callback, jar, { redirect: "manual" });
    expect(relayed.status).toBe(302);
    const location = new URL(relayed.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
    expect(location.searchParams.get("iss")).toBe(`${gateway.url}/issa`);
    expect(location.searchParams.get("code")).toEqual(expect.any(String));
    expect(as.registrations().slice(registrations)).toMatchObject([{ application_type: "native", redirect_uris: [`${gateway.url}/callback`] }]);
    expect((await repo.getClient(clientId))?.upstreamCredentials?.issuer).toBe(as.issuer);
  });

  it("refuses a response without iss from a server that advertises authorization_response_iss_parameter_supported; the code is redeemed nowhere", async () => {
    const { jar, callback } = await upToCallback("issa");
    as.setIssParameter("omit");
    const tampered = new URL(callback);
    tampered.searchParams.delete("iss");
    const grants = codeGrants(as);
    const logged = gateway.logs.length;
    const answer = await fetchWithCookies(tampered, jar, { redirect: "manual" });
    const text = await answer.text();
    as.setIssParameter("send");
    expect(answer.status).toBe(502);
    expect(answer.headers.get("location")).toBeNull();
    expect(text).toContain("issa");
    expect(text).toContain("authorization_response_iss_parameter_supported");
    expect(codeGrants(as)).toBe(grants);
    const line = gateway.logs.slice(logged).find((entry) => entry["msg"] === "refused an upstream authorization response; its code goes nowhere");
    expect(line).toMatchObject({ server: "issa", step: "callback", request_id: expect.any(String) });
  });

  it("refuses a response whose iss names another issuer (mix-up), and says which issuer to configure if it is the real one", async () => {
    as.setIssParameter("foreign");
    const { jar, callback } = await upToCallback("issa");
    as.setIssParameter("send");
    expect(callback.searchParams.get("iss")).toBe(FOREIGN_ISSUER);
    const grants = codeGrants(as);
    const answer = await fetchWithCookies(callback, jar, { redirect: "manual" });
    const text = await answer.text();
    expect(answer.status).toBe(502);
    expect(text).toContain(FOREIGN_ISSUER);
    expect(text).toMatch(/set issuer/);
    expect(codeGrants(as)).toBe(grants);
  });

  it("checks iss on an error response too: a trusted client gets server_error with the gateway's iss, not the forged refusal", async () => {
    // A client that completed a flow is trusted with error redirects (RFC 9700 §4.11.2).
    const done = await upToCallback("issa");
    const relayed = await fetchWithCookies(done.callback, done.jar, { redirect: "manual" });
    const code = new URL(relayed.headers.get("location")!).searchParams.get("code")!;
    await repo.markCompleted(done.clientId);
    expect(code).toEqual(expect.any(String));
    const again = await upToCallback("issa", done);
    const forged = new URL(again.callback);
    forged.searchParams.delete("code");
    forged.searchParams.set("error", "access_denied");
    forged.searchParams.set("iss", FOREIGN_ISSUER);
    const answer = await fetchWithCookies(forged, again.jar, { redirect: "manual" });
    expect(answer.status).toBe(302);
    const location = new URL(answer.headers.get("location")!);
    expect(location.searchParams.get("error")).toBe("server_error");
    expect(location.searchParams.get("iss")).toBe(`${gateway.url}/issa`);
  });
});

describe("registrations and tokens bound to their issuer", () => {
  it("registers again when the stored registration came from another issuer, and never sends the old client's credentials", async () => {
    const redirectUri = loopbackRedirectUri();
    const clientId = await register("issa", redirectUri);
    const old = { client_id: "old-client", client_secret: "old-client-secret-3f9a", issuer: OLD_ISSUER };
    expect(await repo.replaceUnboundUpstreamCredentials(clientId, OLD_ISSUER, old)).toMatchObject({ client_id: "old-client" });
    const registrations = as.registrations().length;
    const authorizations = as.authorizationRequests().length;
    await upToCallback("issa", { clientId, redirectUri });
    expect(as.registrations().length).toBe(registrations + 1);
    const stored = (await repo.getClient(clientId))?.upstreamCredentials;
    expect(stored?.issuer).toBe(as.issuer);
    expect(stored?.client_id).not.toBe("old-client");
    expect(as.authorizationRequests().slice(authorizations).map((request) => request["client_id"])).toEqual([stored?.client_id]);
    expect(JSON.stringify(as.tokenRequests())).not.toContain("old-client");
  });

  it("does not refresh a stored token from another issuer at this one: the user is challenged to connect again", async () => {
    const { clientId } = await upToCallback("issa");
    await repo.saveUserToken("issa", "user:bob", {
      clientId,
      access_token: "expired-access-token",
      refresh_token: "refresh-token-of-the-old-issuer",
      token_type: "Bearer",
      issuer: OLD_ISSUER,
      expiresAt: Date.now() - 1_000,
    });
    const refreshes = as.tokenRequests().filter((record) => record.grant_type === "refresh_token").length;
    const answer = await callEcho("/issa/mcp", keyHeader(bobKey));
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toContain(`resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/issa/mcp"`);
    expect(as.tokenRequests().filter((record) => record.grant_type === "refresh_token").length).toBe(refreshes);
    expect(await repo.getUserToken("issa", "user:bob")).toBeUndefined();
  });
});

describe("application_type", () => {
  it("is native for an http loopback /callback and web for any other", () => {
    expect(applicationType("http://127.0.0.1:4000/callback")).toBe("native");
    expect(applicationType("http://localhost:4000/callback")).toBe("native");
    expect(applicationType("http://[::1]:4000/callback")).toBe("native");
    expect(applicationType("https://gateway.example.com/callback")).toBe("web");
    expect(applicationType("https://localhost/callback")).toBe("web");
    expect(applicationType("http://gateway.internal/callback")).toBe("web");
  });
});

describe("scope selection and step-up (403 insufficient_scope)", () => {
  it("asks for the configured scope first; an upstream insufficient_scope becomes the gateway's 403 challenge with the union, and the SDK client steps up through the gateway", async () => {
    const connection = await connectWithOAuth(`${gateway.url}/step/mcp`, keyHeader(aliceKey));
    try {
      expect(stepAs.authorizationRequests().at(-1)?.["scope"]).toBe("mcp:read");
      // The SDK answers a step-up challenge by refreshing first when it holds a refresh token,
      // which cannot add scopes; without one (here: the gateway calls with alice's stored
      // token) it goes through authorization with the challenge's scope.
      connection.provider.invalidateCredentials("tokens");
      const stepUps = stepUpstream.insufficientScope();
      const error = await connection.client.callTool({ name: "echo", arguments: { message: "needs write" } }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UnauthorizedError);
      expect(stepUpstream.insufficientScope()).toBe(stepUps + 1);
      // The SDK took the union from the gateway's challenge and asked the gateway, which asked upstream.
      expect(connection.provider.authorizationUrls.at(-1)?.searchParams.get("scope")).toBe("mcp:read mcp:write");
      expect(stepAs.authorizationRequests().at(-1)?.["scope"]).toBe("mcp:read mcp:write");
      expect(connection.provider.lastRedirect()?.iss).toBe(`${gateway.url}/step`);
      await connection.transport.finishAuth(connection.provider.takeAuthorizationCode());
      const result = await connection.client.callTool({ name: "echo", arguments: { message: "stepped up" } });
      expect((result.content as Array<{ text?: string }>)[0]?.text).toBe("stepped up");
    } finally {
      await connection.client.close();
    }
  });

  it("answers a read-only token's call with the gateway's own challenge, never the upstream's resource_metadata", async () => {
    const connection = await connectWithOAuth(`${gateway.url}/step/mcp`, keyHeader(bobKey));
    await connection.client.close();
    // bob's own first authorization asked for the configured scope only.
    const token = connection.provider.tokens()!.access_token;
    const answer = await callEcho("/step/mcp", { ...keyHeader(bobKey), authorization: `Bearer ${token}` });
    expect(answer.status).toBe(403);
    const challenge = answer.headers.get("www-authenticate")!;
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:read mcp:write"');
    expect(challenge).toContain(`resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/step/mcp"`);
    expect(challenge).not.toContain(stepUpstream.resourceMetadataUrl);
    expect(answer.text).toContain("mcp:write");
  });

  it("makes the UI's Connect ask for the union after a user's step-up", async () => {
    const url = new URL(`${gateway.url}/v1/mcp/server/oauth/step/authorize`);
    url.searchParams.set("redirect_uri", `${gateway.url}/ui/mcp/oauth/callback`);
    const answer = await fetch(url, { headers: keyHeader(aliceKey), redirect: "manual" });
    expect(answer.status).toBe(302);
    const upstreamRequest = new URL(answer.headers.get("location")!);
    expect(upstreamRequest.origin).toBe(new URL(stepAs.issuer).origin);
    expect(upstreamRequest.searchParams.get("scope")).toBe("mcp:read mcp:write");
  });

  it("does not let a client add a scope the upstream never demanded to the configured ones", async () => {
    const redirectUri = loopbackRedirectUri();
    const clientId = await register("step", redirectUri);
    const url = new URL(`${gateway.url}/step/authorize`);
    const params = { response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: "S256", scope: "mcp:read openid admin" };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    const answer = await fetch(url, { redirect: "manual" });
    expect(answer.status).toBe(302);
    expect(new URL(answer.headers.get("location")!).searchParams.get("scope")).toBe("mcp:read");
  });
});
