/**
 * My connections (issue 20): a user's upstream OAuth connections listed (server, scopes,
 * expiry, connected and last refreshed; never a token) and disconnected through the JSON
 * API and the UI forms, against a real oidc-provider with RFC 7009 revocation: the
 * provider sees the refresh token revoked with the client's token-endpoint authentication,
 * and the gateway keeps nothing. Connections are the caller's alone: another key can
 * neither see nor delete them. A revocation endpoint that is down is reported, and the
 * tokens are deleted all the same.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { oauthRepository, type OauthRepository } from "../../src/store/oauth-repository.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies, followRedirects } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectThroughUi } from "../fixtures/connect-flow.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { signInToUi } from "../fixtures/ui-session.js";

const SALT = "test-salt";

let dir: string;
let upstream: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let upstream2: ProtectedResourceUpstream;
let as2: InteractiveAuthorizationServer;
let gateway: TestGateway;
let database: Database;
let repo: OauthRepository;
const keys: Record<"alice" | "bob" | "carol", string> = { alice: "", bob: "", carol: "" };

/** A client the operator registered at the authorization server, authenticating with client_secret_post. */
const SHARED = { client_id: "gatehouse-shared-client", client_secret: "shared-secret-8c41e07d2a9b" };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-connections-"));
  upstream = await startProtectedResourceUpstream({ name: "protected" });
  // No revocation here, and access tokens that are stale at once (the refresh margin is 60 s).
  upstream2 = await startProtectedResourceUpstream({ name: "short-lived" });
  as2 = await startInteractiveAuthorizationServer({ resource: upstream2.url, accessTokenTtl: 30 });
  upstream2.trust(as2);
  // The shared client needs the gateway's /callback, and the gateway the issuer: it starts inside the provider's start.
  as = await startInteractiveAuthorizationServer({
    resource: upstream.url,
    revocation: true,
    clients: async (issuer) => {
      gateway = await startTestGateway({
        env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}`, GATEHOUSE_SALT_KEY: SALT },
        general: { oauth_registration_rate_limit_per_minute: 0 },
        servers: {
          dyn: { url: upstream.url, auth_type: "oauth2" },
          shared: { url: upstream.url, auth_type: "oauth2", client_id: SHARED.client_id, client_secret: SHARED.client_secret, token_endpoint_auth_method: "client_secret_post", issuer },
          // The operator named the token endpoint only: the rest (revocation included) is discovered from the upstream's RFC 9728 document.
          named_token_only: { url: upstream.url, auth_type: "oauth2", oauth2_flow: "authorization_code", client_id: SHARED.client_id, client_secret: SHARED.client_secret, token_endpoint_auth_method: "client_secret_post", token_url: `${issuer}/token` },
          // Every endpoint named by the operator: no metadata, so no revocation_endpoint but the one configured.
          named_endpoints: {
            url: upstream.url,
            auth_type: "oauth2",
            client_id: SHARED.client_id,
            client_secret: SHARED.client_secret,
            token_endpoint_auth_method: "client_secret_post",
            authorization_url: `${issuer}/auth`,
            token_url: `${issuer}/token`,
            revocation_url: `${issuer}/token/revocation`,
          },
          short: { url: upstream2.url, auth_type: "oauth2" },
          plain: { url: upstream.url },
        },
      });
      return [{ ...SHARED, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_post" }];
    },
  });
  upstream.trust(as);
  database = await openDatabase(`sqlite:${join(dir, "gatehouse.db")}`);
  repo = oauthRepository(database.db, createSecretBox(SALT));
  keys.alice = await gateway.generateKey({ user_id: "alice", key_alias: "alice-key" });
  keys.bob = await gateway.generateKey({ user_id: "bob", key_alias: "bob-key" });
  // No user_id: its tokens are stored under the key itself.
  keys.carol = await gateway.generateKey({ key_alias: "carol-key" });
});

afterAll(async () => {
  await gateway?.close();
  await database?.close();
  await Promise.all([as?.close(), as2?.close(), upstream?.close(), upstream2?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

interface ListedConnection {
  server_id: string;
  server_name: string;
  available: boolean;
  connected: boolean;
  scopes: string[];
  expires_at: string | null;
  refreshable: boolean;
  connected_at: string | null;
  last_refreshed_at: string | null;
}

async function listConnections(key: string): Promise<ListedConnection[]> {
  const answer = await gateway.fetch("/v1/mcp/connections", { key });
  expect(answer.status).toBe(200);
  expect(answer.headers.get("cache-control")).toBe("no-store");
  return ((await answer.json()) as { connections: ListedConnection[] }).connections;
}

/** The refresh token the provider issued to the last token request of `account`'s flow (the gateway stores it sealed). */
async function storedRefreshToken(server: string, userKey: string): Promise<string> {
  const token = await repo.getUserToken(server, userKey);
  expect(token?.refresh_token).toEqual(expect.any(String));
  return token!.refresh_token!;
}

async function connectionsPage(cookie: string, query = ""): Promise<{ html: string; csrf: string }> {
  const page = await fetch(new URL(`/ui/connections${query}`, gateway.url), { headers: { cookie }, redirect: "manual" });
  expect(page.status).toBe(200);
  const html = await page.text();
  return { html, csrf: /name="csrf" value="([^"]+)"/.exec(html)![1]! };
}

describe("listing", () => {
  it("lists the interactive servers the caller may use, each not connected, before any Connect", async () => {
    const listed = await listConnections(keys.alice);
    expect(listed.map((row) => row.server_name)).toEqual(["dyn", "named_endpoints", "named_token_only", "shared", "short"]);
    expect(listed.every((row) => !row.connected && row.available && row.expires_at === null)).toBe(true);
    expect((await gateway.fetch("/v1/mcp/connections", { key: null })).status).toBe(401);
  });

  it("shows alice's connection after the UI flow: scopes, expiry, connected time, no refresh yet, and never a token", async () => {
    const landed = await connectThroughUi(gateway.url, keys.alice, "dyn", "alice", as);
    expect(landed.pathname).toBe("/ui/connections");
    expect(landed.searchParams.get("connected")).toBe("dyn");
    const answer = await gateway.fetch("/v1/mcp/connections", { key: keys.alice });
    const text = await answer.text();
    const stored = await repo.getUserToken("dyn", "user:alice");
    expect(text).not.toContain(stored!.access_token);
    expect(text).not.toContain(stored!.refresh_token!);
    const dyn = (JSON.parse(text) as { connections: ListedConnection[] }).connections.find((row) => row.server_id === "dyn")!;
    expect(dyn).toMatchObject({ connected: true, available: true, refreshable: true, last_refreshed_at: null });
    expect(dyn.scopes).toEqual(expect.arrayContaining(["mcp:read", "mcp:write"]));
    expect(Date.parse(dyn.expires_at!)).toBeGreaterThan(Date.now());
    expect(Math.abs(Date.parse(dyn.connected_at!) - Date.now())).toBeLessThan(60_000);

    const cookie = await signInToUi(gateway.url, keys.alice);
    const { html } = await connectionsPage(cookie, "?connected=dyn");
    expect(html).toContain("Connected to dyn: the gateway now calls it with your account.");
    expect(html).toMatch(/<code class="scope">mcp:read<\/code>/);
    expect(html).toContain('aria-label="Disconnect dyn"');
    expect(html).toContain('aria-label="Reconnect dyn"');
    expect(html).toContain('aria-label="Connect short"');
    expect(html).not.toContain(stored!.access_token);
    // Only the master key gets the overview of all users.
    expect(html).not.toContain("Connections of all users");
  });

  it("records the last refresh once the gateway refreshed the token", async () => {
    await connectThroughUi(gateway.url, keys.alice, "short", "alice", as2);
    expect((await listConnections(keys.alice)).find((row) => row.server_id === "short")).toMatchObject({ connected: true, last_refreshed_at: null });
    // The access token lives 30 s, inside the refresh margin: this call refreshes it first.
    const call = await fetch(`${gateway.url}/short/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...keyHeader(keys.alice) }, body: rpc("tools/call", { name: "echo", arguments: { message: "hi" } }) });
    expect(call.status, await call.text()).toBe(200);
    expect(as2.tokenRequests().filter((request) => request.grant_type === "refresh_token")).toHaveLength(1);
    const short = (await listConnections(keys.alice)).find((row) => row.server_id === "short")!;
    expect(Math.abs(Date.parse(short.last_refreshed_at!) - Date.now())).toBeLessThan(60_000);
  });
});

describe("connections are the caller's alone", () => {
  it("a key cannot see or delete another key's connection (API, UI form, and the master key alike)", async () => {
    const aliceRefresh = await storedRefreshToken("dyn", "user:alice");
    const revocationsBefore = as.revocationRequests().length;

    expect((await listConnections(keys.bob)).find((row) => row.server_id === "dyn")).toMatchObject({ connected: false });
    expect((await listConnections(keys.carol)).find((row) => row.server_id === "dyn")).toMatchObject({ connected: false });
    expect((await listConnections(gateway.masterKey)).find((row) => row.server_id === "dyn")).toMatchObject({ connected: false });

    for (const key of [keys.bob, keys.carol, gateway.masterKey]) {
      const answer = await gateway.fetch("/v1/mcp/connections/dyn", { key, method: "DELETE" });
      expect(answer.status).toBe(404);
      expect(((await answer.json()) as { error: unknown }).error).toBe("not_connected");
    }
    const bobCookie = await signInToUi(gateway.url, keys.bob);
    const { csrf } = await connectionsPage(bobCookie);
    const posted = await fetch(new URL("/ui/connections/dyn/disconnect", gateway.url), { method: "POST", redirect: "manual", headers: { cookie: bobCookie }, body: new URLSearchParams({ csrf }) });
    expect(posted.status).toBe(303);
    expect(posted.headers.get("location")).toBe("/ui/connections?missing=1");

    expect(await repo.getUserToken("dyn", "user:alice")).toBeDefined();
    expect(await as.refreshTokenActive(aliceRefresh)).toBe(true);
    expect(as.revocationRequests()).toHaveLength(revocationsBefore);
  });

  it("refuses the UI's disconnect form without the session's CSRF token", async () => {
    const cookie = await signInToUi(gateway.url, keys.alice);
    const posted = await fetch(new URL("/ui/connections/dyn/disconnect", gateway.url), { method: "POST", redirect: "manual", headers: { cookie }, body: new URLSearchParams({ csrf: "forged" }) });
    expect(posted.status).toBe(403);
    expect(await repo.getUserToken("dyn", "user:alice")).toBeDefined();
  });

  it("gives the master key counts per server, never tokens; a virtual key gets 403", async () => {
    const answer = await gateway.fetch("/v1/mcp/connections/counts");
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ servers: [{ server_id: "dyn", server_name: "dyn", users: 1 }, { server_id: "short", server_name: "short", users: 1 }] });
    expect(JSON.stringify(await (await gateway.fetch("/v1/mcp/connections/counts")).json())).not.toContain("alice");
    expect((await gateway.fetch("/v1/mcp/connections/counts", { key: keys.alice })).status).toBe(403);
    const page = await connectionsPage(await signInToUi(gateway.url, gateway.masterKey));
    expect(page.html).toContain("Connections of all users");
  });
});

describe("disconnecting", () => {
  it("revokes the refresh token at the provider with the token endpoint's client authentication, then deletes it here", async () => {
    const refresh = await storedRefreshToken("dyn", "user:alice");
    const access = (await repo.getUserToken("dyn", "user:alice"))!.access_token;
    const tokenAuth = as.tokenRequests().filter((request) => request.grant_type === "authorization_code").at(-1)!;
    // The gateway registered itself at this provider (RFC 7591) as a confidential client.
    expect(tokenAuth.authMethod).toBe("basic");

    const answer = await gateway.fetch("/v1/mcp/connections/dyn", { key: keys.alice, method: "DELETE" });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ disconnected: true, server_id: "dyn", revocation: "revoked" });
    expect(JSON.stringify(body)).not.toContain(refresh);

    const revocations = as.revocationRequests();
    const first = revocations.find((request) => request.token === refresh)!;
    expect(first).toMatchObject({ token_type_hint: "refresh_token", authMethod: tokenAuth.authMethod, clientId: tokenAuth.params.client_id ?? first.clientId, status: 200 });
    // The access token is a JWT, which oidc-provider does not revoke (unsupported_token_type): asked, and not a failure.
    expect(revocations.find((request) => request.token === access)).toMatchObject({ token_type_hint: "access_token" });
    expect(await as.refreshTokenActive(refresh)).toBe(false);

    expect(await repo.getUserToken("dyn", "user:alice")).toBeUndefined();
    expect((await listConnections(keys.alice)).find((row) => row.server_id === "dyn")).toMatchObject({ connected: false });
    const call = await fetch(`${gateway.url}/dyn/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...keyHeader(keys.alice) }, body: rpc("tools/list") });
    expect(call.status).toBe(401);
    expect((await gateway.fetch("/v1/mcp/connections/dyn", { key: keys.alice, method: "DELETE" })).status).toBe(404);
  });

  it("authenticates at the revocation endpoint as the configured client does at the token endpoint (client_secret_post)", async () => {
    await connectThroughUi(gateway.url, keys.carol, "shared", "carol", as);
    const carol = (await listConnections(keys.carol)).find((row) => row.server_id === "shared")!;
    expect(carol).toMatchObject({ connected: true });
    // A key without user_id: its tokens are stored under the key's own subject.
    const rows = await database.db.selectFrom("user_tokens").select("user_id").where("server_id", "=", "shared").execute();
    expect(rows).toHaveLength(1);
    const userKey = rows[0]!.user_id;
    expect(userKey).toMatch(/^key:/);
    const refresh = await storedRefreshToken("shared", userKey);
    const tokenAuth = as.tokenRequests().filter((request) => request.grant_type === "authorization_code").at(-1)!;
    expect(tokenAuth).toMatchObject({ authMethod: "post", params: { client_id: SHARED.client_id } });

    const answer = await gateway.fetch("/v1/mcp/connections/shared", { key: keys.carol, method: "DELETE" });
    expect(await answer.json()).toMatchObject({ revocation: "revoked" });
    expect(as.revocationRequests().find((request) => request.token === refresh)).toMatchObject({ authMethod: "post", clientId: SHARED.client_id, status: 200 });
    expect(await as.refreshTokenActive(refresh)).toBe(false);
    expect(await repo.getUserToken("shared", userKey)).toBeUndefined();
  });

  it("never sends a configured client_secret to a revocation endpoint the operator did not name (discovered from the upstream)", async () => {
    await connectThroughUi(gateway.url, keys.carol, "named_token_only", "carol", as);
    const before = as.revocationRequests().length;
    const answer = await gateway.fetch("/v1/mcp/connections/named_token_only", { key: keys.carol, method: "DELETE" });
    expect(await answer.json()).toMatchObject({ disconnected: true, revocation: "not_offered", revocation_detail: expect.stringContaining("set revocation_url") });
    expect(as.revocationRequests()).toHaveLength(before);
    expect((await listConnections(keys.carol)).find((row) => row.server_id === "named_token_only")).toMatchObject({ connected: false });
  });

  it("says when the authorization server offers no revocation, and deletes the tokens", async () => {
    expect(await repo.getUserToken("short", "user:alice")).toBeDefined();
    const answer = await gateway.fetch("/v1/mcp/connections/short", { key: keys.alice, method: "DELETE" });
    expect(await answer.json()).toMatchObject({ disconnected: true, revocation: "not_offered", revocation_detail: expect.stringContaining("revocation_endpoint") });
    expect(await repo.getUserToken("short", "user:alice")).toBeUndefined();
  });

  it("tells the user when the revocation endpoint is down, logs it without secrets, and deletes the tokens all the same", async () => {
    await connectThroughUi(gateway.url, keys.bob, "dyn", "bob", as);
    const refresh = await storedRefreshToken("dyn", "user:bob");
    const access = (await repo.getUserToken("dyn", "user:bob"))!.access_token;
    as.setRevocationDown(true);
    try {
      const cookie = await signInToUi(gateway.url, keys.bob);
      const { csrf } = await connectionsPage(cookie);
      const posted = await fetch(new URL("/ui/connections/dyn/disconnect", gateway.url), { method: "POST", redirect: "manual", headers: { cookie }, body: new URLSearchParams({ csrf }) });
      expect(posted.status).toBe(303);
      const location = posted.headers.get("location")!;
      expect(location).toBe("/ui/connections?disconnected=dyn&revocation=failed");
      const { html } = await connectionsPage(cookie, location.slice("/ui/connections".length));
      expect(html).toMatch(/role="alert"[^>]*>Disconnected from dyn: your tokens were deleted from the gateway, but its authorization server did not confirm the revocation/);
    } finally {
      as.setRevocationDown(false);
    }
    expect(as.revocationRequests().filter((request) => request.token === refresh)).toHaveLength(1);
    expect(await repo.getUserToken("dyn", "user:bob")).toBeUndefined();
    expect(await as.refreshTokenActive(refresh)).toBe(true);
    const line = await gateway.waitForLog((entry) => entry.revocation === "failed");
    expect(line).toMatchObject({ server: "dyn", user: "user:bob", level: 40 });
    expect(String(line.reason)).toMatch(/revoking the refresh token failed/);
    const logged = JSON.stringify(gateway.logs);
    for (const secret of [refresh, access, keys.bob]) expect(logged).not.toContain(secret);
  });

  it("revokes on the server page's Disconnect too, and says so there", async () => {
    await connectThroughUi(gateway.url, keys.alice, "dyn", "alice", as);
    const refresh = await storedRefreshToken("dyn", "user:alice");
    const cookie = await signInToUi(gateway.url, keys.alice);
    const { csrf } = await connectionsPage(cookie);
    const posted = await fetch(new URL("/ui/mcp/servers/dyn/disconnect", gateway.url), { method: "POST", redirect: "manual", headers: { cookie }, body: new URLSearchParams({ csrf }) });
    expect(posted.headers.get("location")).toBe("/ui/mcp/servers/dyn?disconnected=1&revocation=revoked");
    const page = await fetch(new URL(posted.headers.get("location")!, gateway.url), { headers: { cookie } });
    expect(await page.text()).toContain("Disconnected from dyn: your tokens were deleted from the gateway and revoked at its authorization server.");
    expect(await as.refreshTokenActive(refresh)).toBe(false);
    expect(await repo.getUserToken("dyn", "user:alice")).toBeUndefined();
  });
});

/** POSTs a UI form (`/ui/...`) with the session's CSRF token (or `csrf`); the answer, unfollowed. */
async function postForm(cookie: string, path: string, csrf?: string): Promise<Response> {
  const token = csrf ?? (await connectionsPage(cookie)).csrf;
  return fetch(new URL(path, gateway.url), { method: "POST", redirect: "manual", headers: { cookie }, body: new URLSearchParams({ csrf: token }) });
}

/** Follows a Reconnect's redirect into the Connect flow with the UI session, through the authorization server (as `account`), back to the gateway's UI. */
async function continueSignIn(cookie: string, location: string, account: string): Promise<URL> {
  as.setAccountId(account);
  const jar = new CookieJar();
  jar.storeLine(gateway.url, cookie);
  const start = await fetchWithCookies(new URL(location, gateway.url), jar);
  expect(start.status, await start.clone().text()).toBe(302);
  return followRedirects(new URL(start.headers.get("location")!, gateway.url), { cookies: jar, until: (url) => url.origin === new URL(gateway.url).origin && /^\/ui\/(connections|mcp\/servers\/)/.test(url.pathname) });
}

describe("reconnecting", () => {
  it("revokes the current grant before signing in again, then stores and uses the new one (My connections)", async () => {
    await connectThroughUi(gateway.url, keys.alice, "dyn", "alice", as);
    const old = await storedRefreshToken("dyn", "user:alice");
    const cookie = await signInToUi(gateway.url, keys.alice);
    const { html } = await connectionsPage(cookie);
    expect(html).toMatch(/<form method="post" action="\/ui\/connections\/dyn\/reconnect"/);

    const posted = await postForm(cookie, "/ui/connections/dyn/reconnect");
    expect(posted.status).toBe(303);
    const location = new URL(posted.headers.get("location")!, gateway.url);
    expect(location.pathname).toBe("/v1/mcp/server/oauth/dyn/authorize");
    expect(Object.fromEntries(location.searchParams)).toEqual({ redirect_uri: `${gateway.url}/ui/mcp/oauth/callback`, state: "connections" });
    // Revoked and deleted before the sign-in starts: a grant the provider reuses for the new sign-in cannot be ended by it.
    expect(await as.refreshTokenActive(old)).toBe(false);
    expect(await repo.getUserToken("dyn", "user:alice")).toBeUndefined();

    const landed = await continueSignIn(cookie, `${location.pathname}${location.search}`, "alice");
    expect(landed.pathname).toBe("/ui/connections");
    expect(landed.searchParams.get("connected")).toBe("dyn");
    const renewed = await storedRefreshToken("dyn", "user:alice");
    expect(renewed).not.toBe(old);
    expect(await as.refreshTokenActive(renewed)).toBe(true);
    const call = await fetch(`${gateway.url}/dyn/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...keyHeader(keys.alice) }, body: rpc("tools/call", { name: "echo", arguments: { message: "again" } }) });
    expect(call.status, await call.text()).toBe(200);
  });

  it("reconnects from the server page too, and comes back there", async () => {
    const old = await storedRefreshToken("dyn", "user:alice");
    const cookie = await signInToUi(gateway.url, keys.alice);
    const page = await (await fetch(new URL("/ui/mcp/servers/dyn", gateway.url), { headers: { cookie } })).text();
    expect(page).toMatch(/<form method="post" action="\/ui\/mcp\/servers\/dyn\/reconnect"/);
    const posted = await postForm(cookie, "/ui/mcp/servers/dyn/reconnect");
    expect(posted.status).toBe(303);
    expect(await as.refreshTokenActive(old)).toBe(false);
    const landed = await continueSignIn(cookie, posted.headers.get("location")!, "alice");
    expect(`${landed.pathname}${landed.search}`).toBe("/ui/mcp/servers/dyn?connected=1");
    expect(await storedRefreshToken("dyn", "user:alice")).not.toBe(old);
  });

  it("refuses a reconnect without the session's CSRF token, and revokes nothing", async () => {
    const current = await storedRefreshToken("dyn", "user:alice");
    const cookie = await signInToUi(gateway.url, keys.alice);
    for (const path of ["/ui/connections/dyn/reconnect", "/ui/mcp/servers/dyn/reconnect"]) expect((await postForm(cookie, path, "forged")).status).toBe(403);
    expect(await as.refreshTokenActive(current)).toBe(true);
    expect(await repo.getUserToken("dyn", "user:alice")).toBeDefined();
  });

  it("a key limited to another server cannot reconnect (and so revoke) its user's connection to this one", async () => {
    const current = await storedRefreshToken("dyn", "user:alice");
    const limited = await gateway.generateKey({ user_id: "alice", key_alias: "alice-short-only", object_permission: { mcp_servers: ["short"] } });
    const cookie = await signInToUi(gateway.url, limited);
    const revocations = as.revocationRequests().length;
    expect((await postForm(cookie, "/ui/connections/dyn/reconnect")).status).toBe(403);
    expect(as.revocationRequests()).toHaveLength(revocations);
    expect(await as.refreshTokenActive(current)).toBe(true);
  });

  it("stops before signing in when the revocation fails, and says why", async () => {
    const current = await storedRefreshToken("dyn", "user:alice");
    const cookie = await signInToUi(gateway.url, keys.alice);
    as.setRevocationDown(true);
    try {
      const posted = await postForm(cookie, "/ui/connections/dyn/reconnect");
      expect(posted.headers.get("location")).toBe("/ui/connections?disconnected=dyn&revocation=failed&reconnect=1");
      const { html } = await connectionsPage(cookie, posted.headers.get("location")!.slice("/ui/connections".length));
      expect(html).toContain("did not confirm the revocation. To be sure, revoke the gateway&#39;s access in your account there. Reconnect stopped before signing in again: press Connect to sign in.");
      expect(html).toContain('aria-label="Connect dyn"');
    } finally {
      as.setRevocationDown(false);
    }
    expect(await as.refreshTokenActive(current)).toBe(true);
    expect(await repo.getUserToken("dyn", "user:alice")).toBeUndefined();
  });
});

describe("revocation_url", () => {
  it("revokes at the configured revocation endpoint of a server whose endpoints are all configured, with the configured client's authentication", async () => {
    await connectThroughUi(gateway.url, keys.carol, "named_endpoints", "carol", as);
    const userKey = (await database.db.selectFrom("user_tokens").select("user_id").where("server_id", "=", "named_endpoints").executeTakeFirstOrThrow()).user_id;
    const refresh = await storedRefreshToken("named_endpoints", userKey);
    const answer = await gateway.fetch("/v1/mcp/connections/named_endpoints", { key: keys.carol, method: "DELETE" });
    expect(await answer.json()).toMatchObject({ disconnected: true, revocation: "revoked" });
    expect(as.revocationRequests().find((request) => request.token === refresh)).toMatchObject({ authMethod: "post", clientId: SHARED.client_id, status: 200 });
    expect(await as.refreshTokenActive(refresh)).toBe(false);
  });
});

describe("the audit trail", () => {
  interface Event {
    route: string;
    server: string;
    tool: string;
    outcome: string;
    caller: string;
    error_code: string | null;
  }
  const connectionEvents = async () => {
    const page = (await (await gateway.fetch("/v1/mcp/audit?limit=1000")).json()) as { events: Event[] };
    return page.events.filter((event) => event.route === "connections");
  };

  it("records each connection made and ended, with who, the server and how the revocation went; never a token", async () => {
    // Written in batches: polled until there.
    await expect.poll(async () => (await connectionEvents()).length).toBeGreaterThanOrEqual(16);
    const events = await connectionEvents();
    expect(events.every((event) => event.tool === "")).toBe(true);
    const seen = new Set(events.map((event) => `${event.server}:${event.outcome}:${event.caller}:${event.error_code ?? ""}`));
    // The UI's Connect flow records the user key; the API's and UI's disconnects the key's label.
    expect(seen).toContain("dyn:connected:user:alice:");
    expect(seen).toContain("dyn:disconnected:alice-key:");
    expect(seen).toContain("short:disconnected:alice-key:revocation_not_offered");
    expect(seen).toContain("dyn:disconnected:bob-key:revocation_failed");
    expect(seen).toContain("named_endpoints:disconnected:carol-key:");
    const text = JSON.stringify(events);
    for (const key of Object.values(keys)) expect(text).not.toContain(key);
  });

  it("leaves connection events out of the activity numbers (they are not tool calls)", async () => {
    const summary = (await (await gateway.fetch("/v1/mcp/activity/summary?server=dyn&range=hour")).json()) as { totals: { calls: number } };
    const calls = ((await (await gateway.fetch("/v1/mcp/audit?server=dyn&limit=1000")).json()) as { events: Event[] }).events.filter((event) => event.route !== "connections");
    expect(summary.totals.calls).toBe(calls.length);
  });
});
