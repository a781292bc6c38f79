/**
 * Issue 15, the OAuth facade and upstream client secrets (items 7, 12 and 8), each hole
 * driven through the real gateway's HTTP interface. None of these routes is on the node:http
 * fast lane (it takes only POST /{server}/mcp, /mcp and /mcp-rest/tools/call), so each runs
 * once, on the Hono routes.
 *
 * Peers: a real oidc-provider (`interactive-as.ts`) as the authorization server the operator
 * configured; upstream MCP servers that publish RFC 9728 metadata (`protected-resource-upstream.ts`)
 * naming a hand-written hostile authorization server (`hostile-authorization-server.ts`),
 * which answers authorization requests with an error at once, with no user step, and
 * records every request it gets.
 *
 * Servers of the main gateway (trusts X-Forwarded-For from 127.0.0.1, so each test has its
 * own client address and its own registration budget):
 * - `anon`: no client_id; its upstream's RFC 9728 metadata names `hostile`;
 * - `pinned`: a configured client_id/client_secret and `issuer` = the oidc-provider, while
 *   its upstream's RFC 9728 metadata names `decoy` (which must never hear from the gateway);
 * - `liar`: a configured secret and `issuer` = `liarAs`, whose metadata names another issuer.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { oauthRepository, type OauthRepository } from "../../src/store/oauth-repository.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies, followRedirects, submitSingleForm } from "../fixtures/headless-browser.js";
import { startHostileAuthorizationServer, type HostileAuthorizationServer } from "../fixtures/hostile-authorization-server.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { loopbackRedirectUri, pkcePair } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const SALT = "security-oauth-salt";
const PINNED = { client_id: "gatehouse-pinned-client", client_secret: "pinned-operator-secret-9f3e1c7a5b" };
const LIAR_SECRET = "liar-operator-secret-2d8b6f0e4c";
/** A foreign site an attacker registers as its redirect_uri. */
const EVIL_REDIRECT = "https://evil.example/landing";

let dir: string;
let hostile: HostileAuthorizationServer;
let decoy: HostileAuthorizationServer;
let liarAs: HostileAuthorizationServer;
let anonUp: ProtectedResourceUpstream;
let pinnedUp: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let gateway: TestGateway;
let database: Database;
let repo: OauthRepository;
const others: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-security-oauth-"));
  hostile = await startHostileAuthorizationServer();
  decoy = await startHostileAuthorizationServer();
  liarAs = await startHostileAuthorizationServer({ metadataIssuer: "http://127.0.0.1:9/someone-else" });
  anonUp = await startProtectedResourceUpstream({ name: "anon-upstream", trust: hostile });
  pinnedUp = await startProtectedResourceUpstream({ name: "pinned-upstream", trust: decoy });
  // The gateway needs the issuer, the issuer needs the gateway's /callback: it starts in between.
  as = await startInteractiveAuthorizationServer({
    resource: pinnedUp.url,
    clients: async (issuer) => {
      gateway = await startTestGateway({
        env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}`, GATEHOUSE_SALT_KEY: SALT },
        general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: ["127.0.0.1/32"] },
        servers: {
          anon: { url: anonUp.url, auth_type: "oauth2" },
          pinned: { url: pinnedUp.url, auth_type: "oauth2", ...PINNED, issuer, scopes: ["mcp:read"] },
          liar: { url: pinnedUp.url, auth_type: "oauth2", client_id: "liar-client", client_secret: LIAR_SECRET, issuer: liarAs.issuer },
        },
      });
      // client_secret_basic: the first method the issuer's metadata lists, which the gateway uses for a pre-stored client (issue 18).
      return [{ ...PINNED, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_basic" }];
    },
  });
  database = await openDatabase(`sqlite:${join(dir, "gatehouse.db")}`);
  repo = oauthRepository(database.db, createSecretBox(SALT));
});

afterAll(async () => {
  await Promise.allSettled(others.map((other) => other.close()));
  await gateway?.close();
  await database?.close();
  await Promise.allSettled([as?.close(), anonUp?.close(), pinnedUp?.close(), hostile?.close(), decoy?.close(), liarAs?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

// --- helpers ------------------------------------------------------------------------------

let addressCounter = 0;
/** A client address of its own (TEST-NET-3), so one test's registrations do not count against another's. */
function freshAddress(): string {
  addressCounter++;
  return `203.0.113.${addressCounter}`;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function answer(response: Response): Promise<Answer> {
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function registerRaw(target: TestGateway, server: string, body: string, address?: string): Promise<Answer> {
  return answer(
    await fetch(`${target.url}/${server}/register`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(address === undefined ? {} : { "x-forwarded-for": address }) },
      body,
    }),
  );
}

async function register(server: string, redirectUri: string, address = freshAddress()): Promise<string> {
  const registered = await registerRaw(gateway, server, JSON.stringify({ client_name: "security test", redirect_uris: [redirectUri] }), address);
  expect(registered.status, registered.text).toBe(201);
  return (JSON.parse(registered.text) as { client_id: string }).client_id;
}

function authorizeUrl(server: string, params: Record<string, string>): URL {
  const url = new URL(`${gateway.url}/${server}/authorize`);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url;
}

/** A valid authorization request of `clientId`, with a fresh PKCE pair. */
function validAuthorize(server: string, clientId: string, redirectUri: string, extra: Record<string, string> = {}): URL {
  return authorizeUrl(server, {
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: pkcePair().challenge,
    code_challenge_method: "S256",
    state: "client-state",
    ...extra,
  });
}

async function clientRows(): Promise<number> {
  const row = await database.db.selectFrom("oauth_clients").select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
  return Number(row.count);
}

/** An HTML page of the gateway that redirects nowhere. */
function expectPageNotRedirect(result: Answer, status: number): void {
  expect(result.status, result.text).toBe(status);
  expect(result.headers.get("location")).toBeNull();
  expect(result.headers.get("content-type")).toMatch(/^text\/html/);
  expect(result.headers.get("x-frame-options")).toBe("DENY");
  expect(result.text).toMatch(/start the connection again/i);
  expect(result.text).not.toContain("evil.example");
}

const isCallback = (url: URL) => url.origin === gateway.url && url.pathname === "/callback";

// --- item 7: anonymous registration costs the operator ----------------------------------

describe("anonymous registration (issue 15 item 7)", () => {
  it("a 3.9 MB redirect_uris registration is refused with 413 before anything is stored (was stored: 19.5 MB of database from three calls)", async () => {
    const before = await clientRows();
    const uris = Array.from({ length: 60_000 }, (_, index) => `https://a.example/${index}`);
    const body = JSON.stringify({ redirect_uris: uris });
    expect(body.length).toBeGreaterThan(1_500_000);
    for (const sent of [body, JSON.stringify({ redirect_uris: ["https://a.example/cb"], client_name: "n", pad: "x".repeat(16 * 1024) })]) {
      const refused = await registerRaw(gateway, "anon", sent, freshAddress());
      expect(refused.status, refused.text).toBe(413);
      expect(JSON.parse(refused.text)).toMatchObject({ error: "request_too_large", error_description: expect.stringContaining("16384 bytes") });
    }
    expect(await clientRows()).toBe(before);
  });

  it("too many redirect_uris, an overlong redirect URI, client_name or scope, or too many fields are refused 400 with the RFC 7591 error, storing nothing", async () => {
    const before = await clientRows();
    const base = { redirect_uris: ["https://app.example/cb"] };
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ redirect_uris: Array.from({ length: 11 }, (_, index) => `https://app.example/${index}`) }, "invalid_redirect_uri", /redirect_uris: at most 10/],
      [{ redirect_uris: [`https://app.example/${"p".repeat(2100)}`] }, "invalid_redirect_uri", /redirect_uris: longer than 2048/],
      [{ ...base, client_name: "n".repeat(201) }, "invalid_client_metadata", /client_name: longer than 200/],
      [{ ...base, scope: "s".repeat(1001) }, "invalid_client_metadata", /scope: longer than 1000/],
      [{ ...base, contacts: Array.from({ length: 11 }, (_, index) => `c${index}@example.com`) }, "invalid_client_metadata", /contacts: at most 10/],
      [{ ...base, ...Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`x_${index}`, "v"])) }, "invalid_client_metadata", /at most 32 are accepted/],
    ];
    for (const [metadata, error, description] of cases) {
      const refused = await registerRaw(gateway, "anon", JSON.stringify(metadata), freshAddress());
      expect(refused.status, refused.text).toBe(400);
      const body = JSON.parse(refused.text) as { error: string; error_description: string };
      expect(body.error).toBe(error);
      expect(body.error_description).toMatch(description);
    }
    expect(await clientRows()).toBe(before);
  });

  it("registering a client registers nothing upstream; the gateway registers itself upstream at that client's first authorization, once", async () => {
    const upstreamRegistrations = () => hostile.requests().filter((request) => request.path === "/register").length;
    const before = upstreamRegistrations();
    const redirectUri = loopbackRedirectUri();
    const clientId = await register("anon", redirectUri);
    expect(upstreamRegistrations()).toBe(before);
    expect((await repo.getClient(clientId))?.upstreamCredentials).toBeNull();

    for (let attempt = 0; attempt < 2; attempt++) {
      const started = await fetch(validAuthorize("anon", clientId, redirectUri), { redirect: "manual" });
      expect(started.status).toBe(302);
      expect(new URL(started.headers.get("location")!).origin).toBe(hostile.issuer);
    }
    expect(upstreamRegistrations()).toBe(before + 1);
    expect((await repo.getClient(clientId))?.upstreamCredentials).toMatchObject({ client_id: expect.stringMatching(/^hostile-client-/) });
  });

  it("the 11th registration within a minute from one client address is refused 429 with Retry-After and an OAuth error body; another address is not", async () => {
    const address = freshAddress();
    for (let index = 0; index < 10; index++) await register("anon", loopbackRedirectUri(), address);
    const before = await clientRows();
    const refused = await registerRaw(gateway, "anon", JSON.stringify({ redirect_uris: [loopbackRedirectUri()] }), address);
    expect(refused.status, refused.text).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter)).toBe(true);
    expect(refused.headers.get("content-type")).toMatch(/^application\/json/);
    expect(JSON.parse(refused.text)).toEqual({ error: "temporarily_unavailable", error_description: expect.stringContaining("oauth_registration_rate_limit_per_minute") });
    expect(await clientRows()).toBe(before);
    // Another server does not reset the count: the budget is the address's.
    expect((await registerRaw(gateway, "pinned", JSON.stringify({ redirect_uris: [loopbackRedirectUri()] }), address)).status).toBe(429);
    await register("anon", loopbackRedirectUri(), freshAddress());
  });

  it("a caller that is not a trusted proxy cannot dodge the registration limit by rotating X-Forwarded-For", async () => {
    const plain = await startTestGateway({ servers: { anon: { url: anonUp.url, auth_type: "oauth2" } } });
    others.push(plain);
    for (let index = 0; index < 10; index++) {
      const accepted = await registerRaw(plain, "anon", JSON.stringify({ redirect_uris: [loopbackRedirectUri()] }), freshAddress());
      expect(accepted.status, accepted.text).toBe(201);
    }
    const refused = await registerRaw(plain, "anon", JSON.stringify({ redirect_uris: [loopbackRedirectUri()] }), freshAddress());
    expect(refused.status, refused.text).toBe(429);
  });

  it("a client that never completed a flow expires after oauth_incomplete_client_ttl_seconds (unknown at /authorize, then purged); one that redeemed a code is kept", async () => {
    const redirectUri = loopbackRedirectUri();
    const stale = await register("anon", redirectUri);
    const kept = await register("anon", redirectUri);
    await repo.markCompleted(kept);
    const dayAndMore = new Date(Date.now() - 25 * 3600_000).toISOString();
    await database.db.updateTable("oauth_clients").set({ created_at: dayAndMore }).where("client_id", "in", [stale, kept]).execute();

    const refused = await answer(await fetch(validAuthorize("anon", stale, redirectUri), { redirect: "manual" }));
    expectPageNotRedirect(refused, 400);
    expect(refused.text).toMatch(/not registered/);
    expect((await fetch(validAuthorize("anon", kept, redirectUri), { redirect: "manual" })).status).toBe(302);

    // The gateway's periodic purge (every 10 minutes) runs this, with the configured TTL (default 24 h).
    await oauthRepository(database.db, createSecretBox(SALT), undefined, { incompleteClientTtlMs: 24 * 3600_000 }).purgeExpired();
    const left = await database.db.selectFrom("oauth_clients").select("client_id").where("client_id", "in", [stale, kept]).execute();
    expect(left.map((row) => row.client_id)).toEqual([kept]);
  });
});

// --- item 12: open redirect through anonymous clients -----------------------------------

describe("errors toward clients that never completed a flow (issue 15 item 12)", () => {
  it("/{server}/authorize?response_type=token for an anonymous client is an HTML page, not a redirect to its registered foreign URI", async () => {
    for (const server of ["anon", "pinned"]) {
      const clientId = await register(server, EVIL_REDIRECT);
      const refused = await answer(await fetch(validAuthorize(server, clientId, EVIL_REDIRECT, { response_type: "token" }), { redirect: "manual" }));
      expectPageNotRedirect(refused, 400);
      expect(refused.text).toContain("unsupported_response_type");
      // PKCE errors likewise.
      const noPkce = authorizeUrl(server, { response_type: "code", client_id: clientId, redirect_uri: EVIL_REDIRECT });
      expectPageNotRedirect(await answer(await fetch(noPkce, { redirect: "manual" })), 400);
    }
  });

  it("an upstream's immediate error answer (no user step) ends on the gateway's page for an anonymous client, and is relayed only once the client completed a flow", async () => {
    const clientId = await register("anon", EVIL_REDIRECT);
    const toCallback = async (): Promise<Answer> => {
      const jar = new CookieJar();
      const callback = await followRedirects(validAuthorize("anon", clientId, EVIL_REDIRECT), { until: isCallback, cookies: jar });
      expect(callback.searchParams.get("error")).toBe("invalid_scope");
      return answer(await fetchWithCookies(callback, jar));
    };
    expectPageNotRedirect(await toCallback(), 400);

    await repo.markCompleted(clientId);
    const relayed = await toCallback();
    expect(relayed.status).toBe(302);
    const location = new URL(relayed.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(EVIL_REDIRECT);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: "invalid_scope", state: "client-state", iss: `${gateway.url}/anon` });
  });
});

// --- item 8: the operator's client secret goes wherever the upstream says --------------

describe("a configured client_secret goes only to a token endpoint the operator named (issue 15 item 8)", () => {
  it("a server with client_secret and neither token_url nor issuer does not start; the error names the server and says to add token_url or issuer", async () => {
    const start = startTestGateway({ servers: { leaky: { url: anonUp.url, auth_type: "oauth2", client_id: "c", client_secret: "operator-secret-never-shown" } } });
    const error = await start.then(
      (started) => {
        others.push(started);
        return undefined;
      },
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain("mcp_servers.leaky.client_secret");
    expect(message).toMatch(/add token_url/);
    expect(message).toMatch(/or issuer/);
    expect(message).not.toContain("operator-secret-never-shown");
  });

  it("the admin API refuses such a server with 400 and the same explanation, and accepts it with issuer", async () => {
    const body = { server_name: "api_leaky", url: anonUp.url, auth_type: "oauth2", client_id: "c", client_secret: "api-secret-never-shown" };
    const refused = await answer(await gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
    expect(refused.status, refused.text).toBe(400);
    const detail = (JSON.parse(refused.text) as { detail: string }).detail;
    expect(detail).toMatch(/^client_secret: a configured client_secret is sent only to a token endpoint you name: add token_url .* or issuer/);
    expect(refused.text).not.toContain("api-secret-never-shown");
    const accepted = await gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, issuer: as.issuer }) });
    expect(accepted.status, await accepted.text()).toBe(201);
  });

  it("with issuer configured, authorization, code exchange and refresh go to that issuer, while the upstream's RFC 9728 metadata names another host that never hears from the gateway", async () => {
    const redirectUri = loopbackRedirectUri();
    const clientId = await register("pinned", redirectUri);
    const { verifier, challenge } = pkcePair();
    const jar = new CookieJar();
    const start = authorizeUrl("pinned", { response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: "pinned-state" });
    const consent = await fetchWithCookies(start, jar);
    expect(consent.status).toBe(200);
    const { response: allowed } = await submitSingleForm(await consent.text(), start, jar);
    expect(allowed.status).toBe(302);
    expect(new URL(allowed.headers.get("location")!).origin).toBe(as.issuer);
    const landed = await followRedirects(allowed.headers.get("location")!, { until: (url) => url.href.startsWith(redirectUri), cookies: jar });
    const code = landed.searchParams.get("code");
    expect(code, landed.href).toEqual(expect.any(String));

    const token = async (params: Record<string, string>) =>
      answer(await fetch(`${gateway.url}/pinned/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(params) }));
    const exchanged = await token({ grant_type: "authorization_code", code: code!, client_id: clientId, redirect_uri: redirectUri, code_verifier: verifier });
    expect(exchanged.status, exchanged.text).toBe(200);
    const refreshToken = (JSON.parse(exchanged.text) as { refresh_token?: string }).refresh_token;
    expect(refreshToken).toEqual(expect.any(String));
    const refreshed = await token({ grant_type: "refresh_token", refresh_token: refreshToken!, client_id: clientId });
    expect(refreshed.status, refreshed.text).toBe(200);

    // HTTP Basic with the pinned client's credentials: oidc-provider answers 200 only to that client.
    expect(as.tokenRequests().map((request) => [request.grant_type, request.authMethod, request.status])).toEqual([
      ["authorization_code", "basic", 200],
      ["refresh_token", "basic", 200],
    ]);
    // The host the upstream named got nothing at all: not a metadata request, let alone the secret.
    expect(decoy.requests()).toEqual([]);
    // And the client redeemed a code: it is trusted and kept from now on.
    expect((await repo.getClient(clientId))?.completedAt).toEqual(expect.any(Number));
  });

  it("an issuer whose metadata names another issuer is refused (RFC 8414 §3.3): the browser is not sent there and its token endpoint never gets the secret", async () => {
    const redirectUri = loopbackRedirectUri();
    const clientId = await register("liar", redirectUri);
    const jar = new CookieJar();
    const start = validAuthorize("liar", clientId, redirectUri);
    const consent = await fetchWithCookies(start, jar);
    expect(consent.status).toBe(200);
    const { response } = await submitSingleForm(await consent.text(), start, jar);
    const refused = await answer(response);
    expect(refused.status, refused.text).toBe(502);
    expect(refused.headers.get("location")).toBeNull();
    expect(JSON.parse(refused.text)).toMatchObject({ error: "server_error", error_description: expect.stringContaining("naming exactly that issuer") });
    const requests = liarAs.requests();
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((request) => request.path.startsWith("/.well-known/"))).toBe(true);
    expect(JSON.stringify(requests)).not.toContain(LIAR_SECRET);
    expect(JSON.stringify(requests)).not.toContain(Buffer.from(`liar-client:${LIAR_SECRET}`).toString("base64"));
  });
});
