/**
 * Interactive OAuth (authorization code + PKCE) for MCP clients, through a real gateway
 * (issue 5), against oidc-provider (`interactive-as.ts`) and upstream MCP servers that
 * publish RFC 9728 metadata and verify the JWT audience (`protected-resource-upstream.ts`).
 *
 * Servers of the gateway under test:
 * - `dyn`: no client_id; the upstream's authorization server is discovered from the
 *   upstream's RFC 9728 metadata and the gateway registers itself there per MCP client;
 * - `gh`: a pre-stored client_id/client_secret (the GitHub case): consent page first;
 * - `tvpass` / `tvfail`: `token_validation` rules that hold / do not hold;
 * - `short`: another upstream whose authorization server issues 61-second tokens, for the
 *   per-user store's refresh;
 * - `conf`: the short-lived upstream again, with configured authorization/token/registration URLs.
 *
 * The gateway's database is a SQLite file that the test also opens, to write records the
 * clock cannot produce in a test (an expired flow) and to move a stored token's expiry.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PendingFlow } from "../../src/oauth/authorize.js";
import type { IssuedCode } from "../../src/oauth/callback.js";
import { openDatabase, type Database } from "../../src/store/database.js";
import { oauthRepository, type OauthRepository } from "../../src/store/oauth-repository.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies, findSingleForm, followRedirects, submitSingleForm } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, type OAuthConnection, type TestOAuthClientProvider } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { loopbackRedirectUri as loopbackRedirect, pkcePair as pkce } from "../fixtures/mcp-oauth-client.js";

/** The gateway's own pre-registered confidential client at the authorization server (GitHub style). */
const GH = { client_id: "gatehouse-gh-client", client_secret: "gh-shared-secret-5d1f9a0c2b7e" };
const SALT = "test-salt";

let dir: string;
let upstream: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let upstream2: ProtectedResourceUpstream;
let as2: InteractiveAuthorizationServer;
let gateway: TestGateway;
let database: Database;
let repo: OauthRepository;
const keys: Record<"alice" | "bob" | "carol" | "dora", string> = { alice: "", bob: "", carol: "", dora: "" };
const cleanups: Array<() => Promise<unknown>> = [];

/** Every secret the test saw: none may appear in an error body, a page or a log line. */
const secrets = new Set<string>([GH.client_secret]);
/** Every error body and page the gateway answered. */
const errorBodies: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-oauth-"));
  upstream = await startProtectedResourceUpstream({ name: "protected" });
  upstream2 = await startProtectedResourceUpstream({ name: "short-lived" });
  as2 = await startInteractiveAuthorizationServer({ resource: upstream2.url, accessTokenTtl: 61 });
  upstream2.trust(as2);

  // `gh` needs a client registered for `${gateway.url}/callback`, and the gateway needs the
  // authorization server's issuer for `gh` (a configured client_secret goes only to a token
  // endpoint the operator named: issue 15 item 8), so the gateway starts inside the
  // authorization server's start, between its listening and its clients. Metadata is
  // discovered lazily, on first use; for the other servers from the upstream's RFC 9728
  // document, which names no authorization server until `trust(as)`.
  as = await startInteractiveAuthorizationServer({
    resource: upstream.url,
    clients: async (issuer) => {
      gateway = await startTestGateway({
        env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}`, GATEHOUSE_SALT_KEY: SALT },
        // Every test here registers from 127.0.0.1; the per-address limit has its own suite (security-oauth).
        general: { oauth_registration_rate_limit_per_minute: 0 },
        servers: {
          dyn: { url: upstream.url, auth_type: "oauth2", description: "protected upstream, discovered" },
          gh: { url: upstream.url, auth_type: "oauth2", client_id: GH.client_id, client_secret: GH.client_secret, issuer, scopes: ["mcp:read"] },
          tvpass: {
            url: upstream.url,
            auth_type: "oauth2",
            token_validation: { sub: "alice", aud: upstream.url, scope: "mcp:read mcp:write" },
            token_storage_ttl_seconds: 7200,
          },
          tvfail: { url: upstream.url, auth_type: "oauth2", token_validation: { sub: "mallory" } },
          short: { url: upstream2.url, auth_type: "oauth2" },
          conf: {
            url: upstream2.url,
            auth_type: "oauth2",
            authorization_url: as2.authorizationEndpoint,
            token_url: as2.tokenEndpoint,
            registration_url: as2.registrationEndpoint,
            scopes: ["mcp:read"],
          },
        },
      });
      // client_secret_basic: without token_endpoint_auth_method the gateway uses the first method the metadata lists (oidc-provider's: basic).
      return [{ ...GH, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_basic" }];
    },
  });
  upstream.trust(as);

  database = await openDatabase(`sqlite:${join(dir, "gatehouse.db")}`);
  repo = oauthRepository(database.db, createSecretBox(SALT));

  for (const user of Object.keys(keys) as Array<keyof typeof keys>) {
    keys[user] = await gateway.generateKey({ user_id: user, key_alias: `${user}-key` });
    secrets.add(keys[user]);
  }
  secrets.add(gateway.masterKey);
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await gateway?.close();
  await database?.close();
  await Promise.all([as?.close(), as2?.close(), upstream?.close(), upstream2?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

// --- helpers ------------------------------------------------------------------------------

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

/** The SDK client through the gateway; closed after the suite. */
async function connect(path: string, key: string, options: { provider?: TestOAuthClientProvider } = {}): Promise<OAuthConnection> {
  const connection = await connectWithOAuth(`${gateway.url}${path}`, keyHeader(key), options);
  cleanups.push(() => connection.client.close());
  for (const token of connection.provider.savedTokens) {
    secrets.add(token.access_token);
    if (token.refresh_token !== undefined) secrets.add(token.refresh_token);
  }
  return connection;
}

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string | undefined {
  return (result.content as Array<{ text?: string }>)[0]?.text;
}

async function register(server: string, redirectUri: string): Promise<Record<string, unknown> & { client_id: string }> {
  const response = await fetch(`${gateway.url}/${server}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "raw-client",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  });
  const text = await response.text();
  expect(response.status, text).toBe(201);
  return JSON.parse(text) as Record<string, unknown> & { client_id: string };
}

function authorizeUrl(server: string, params: Record<string, string>): URL {
  const url = new URL(`${gateway.url}/${server}/authorize`);
  for (const [name, value] of Object.entries({ response_type: "code", ...params })) url.searchParams.set(name, value);
  return url;
}

const landsOn = (target: string) => (candidate: URL) => {
  const url = new URL(target);
  return candidate.origin === url.origin && candidate.pathname === url.pathname;
};

interface RawFlow {
  clientId: string;
  redirectUri: string;
  verifier: string;
  state: string;
  /** Where the browser came back to the client: code, state, iss. */
  landed: URL;
}

/** An MCP client done by hand: register, authorize (the browser follows every redirect), back at the redirect_uri. */
async function rawFlow(server: string, jar = new CookieJar()): Promise<RawFlow> {
  const redirectUri = loopbackRedirect();
  const { client_id: clientId } = await register(server, redirectUri);
  const { verifier, challenge } = pkce();
  const state = randomBytes(12).toString("base64url");
  const url = authorizeUrl(server, { client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state });
  const landed = await followRedirects(url, { until: landsOn(redirectUri), cookies: jar });
  return { clientId, redirectUri, verifier, state, landed };
}

interface TokenAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function tokenAt(server: string, params: Record<string, string>, key?: string): Promise<TokenAnswer> {
  const response = await fetch(`${gateway.url}/${server}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", ...(key === undefined ? {} : keyHeader(key)) },
    body: new URLSearchParams(params),
  });
  const text = await response.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  if (response.status === 200) {
    for (const name of ["access_token", "refresh_token"]) if (typeof body[name] === "string") secrets.add(body[name]);
  } else {
    errorBodies.push(text);
  }
  return { status: response.status, headers: response.headers, body };
}

function redeem(flow: RawFlow, server: string, key?: string, overrides: Record<string, string> = {}): Promise<TokenAnswer> {
  return tokenAt(
    server,
    {
      grant_type: "authorization_code",
      code: flow.landed.searchParams.get("code") ?? "",
      client_id: flow.clientId,
      redirect_uri: flow.redirectUri,
      code_verifier: flow.verifier,
      ...overrides,
    },
    key,
  );
}

interface McpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The echo's text, when the call succeeded. */
  echoed?: string;
}

/** A raw tools/call echo at a gateway MCP path, with exactly the given auth headers. */
async function callEcho(path: string, headers: Record<string, string>, message = "hello"): Promise<McpAnswer> {
  const response = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { ...MCP_ACCEPT, ...headers },
    body: rpc("tools/call", { name: "echo", arguments: { message } }),
  });
  const text = await response.text();
  if (response.status !== 200) {
    errorBodies.push(text);
    return { status: response.status, headers: response.headers, text };
  }
  const parsed = JSON.parse(text) as { result?: { content?: Array<{ text?: string }> } };
  const echoed = parsed.result?.content?.[0]?.text;
  return { status: response.status, headers: response.headers, text, ...(echoed === undefined ? {} : { echoed }) };
}

/** The bearer token of an upstream request. */
function bearerOf(headers: Record<string, string>): string | undefined {
  return /^Bearer (\S+)$/.exec(headers["authorization"] ?? "")?.[1];
}

/** Every byte of the gateway's SQLite database (latin1 maps bytes 1:1). */
async function databaseBytes(): Promise<string> {
  const path = join(dir, "gatehouse.db");
  const files = [path, `${path}-wal`].filter((file) => existsSync(file));
  return Buffer.concat(await Promise.all(files.map((file) => readFile(file)))).toString("latin1");
}

async function page(response: Response): Promise<string> {
  const text = await response.text();
  errorBodies.push(text);
  return text;
}

/** A page that explains itself and shows no stack trace. */
function expectFriendlyPage(response: Response, text: string, status: number): void {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^text\/html/);
  expect(response.headers.get("location")).toBeNull();
  expect(response.headers.get("x-frame-options")).toBe("DENY");
  expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
  expect(text).toMatch(/<h1>[^<]+<\/h1>/);
  expect(text).toMatch(/start the connection again/i);
  expect(text).not.toMatch(/\bat \S+ \(|Error:|node_modules|\.ts:\d+|\.js:\d+/);
}

// --- discovery ----------------------------------------------------------------------------

describe("discovery served by the gateway", () => {
  it("serves RFC 9728 metadata whose resource is exactly the URL the client used, for both path forms", async () => {
    for (const [path, resource] of [
      ["/.well-known/oauth-protected-resource/dyn/mcp", `${gateway.url}/dyn/mcp`],
      ["/.well-known/oauth-protected-resource/mcp/dyn", `${gateway.url}/mcp/dyn`],
    ] as const) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        resource,
        authorization_servers: [`${gateway.url}/dyn`],
        bearer_methods_supported: ["header"],
        // Not configured: the upstream's own scopes_supported.
        scopes_supported: ["mcp:read", "mcp:write"],
      });
    }
    const gh = (await (await fetch(`${gateway.url}/.well-known/oauth-protected-resource/gh/mcp`)).json()) as Record<string, unknown>;
    expect(gh).toMatchObject({ resource: `${gateway.url}/gh/mcp`, authorization_servers: [`${gateway.url}/gh`], scopes_supported: ["mcp:read"] });
  });

  it("serves RFC 8414 metadata (and the OpenID alias) with issuer {origin}/{server}, S256 only and the gateway's endpoints", async () => {
    const documents: Array<Record<string, unknown>> = [];
    for (const path of ["/.well-known/oauth-authorization-server/dyn", "/.well-known/openid-configuration/dyn"]) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status).toBe(200);
      documents.push((await response.json()) as Record<string, unknown>);
    }
    const issuer = `${gateway.url}/dyn`;
    for (const document of documents) {
      expect(document).toMatchObject({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        registration_endpoint: `${issuer}/register`,
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none", "private_key_jwt"],
        token_endpoint_auth_signing_alg_values_supported: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"],
        client_id_metadata_document_supported: true,
        authorization_response_iss_parameter_supported: true,
        scopes_supported: ["mcp:read", "mcp:write"],
      });
    }
    // The upstream's authorization server is not what the client sees.
    expect(JSON.stringify(documents)).not.toContain(as.issuer);
    const gh = (await (await fetch(`${gateway.url}/.well-known/oauth-authorization-server/gh`)).json()) as Record<string, unknown>;
    expect(gh).toMatchObject({ issuer: `${gateway.url}/gh`, scopes_supported: ["mcp:read"] });
  });

  it("answers a call without an upstream token with 401 and a resource_metadata challenge (scope when configured)", async () => {
    const seen = upstream.requests.length;
    const cases = [
      ["/dyn/mcp", `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/dyn/mcp"`],
      ["/mcp/dyn", `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp/dyn"`],
      ["/gh/mcp", `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/gh/mcp", scope="mcp:read"`],
    ] as const;
    for (const [path, challenge] of cases) {
      const answer = await callEcho(path, keyHeader(keys.dora));
      expect(answer.status, answer.text).toBe(401);
      expect(answer.headers.get("www-authenticate")).toBe(challenge);
    }
    expect(upstream.requests.length).toBe(seen);
  });
});

// --- (a) no client_id: discovered upstream, the gateway registers itself per MCP client ------

describe("a server without client_id: the SDK client through the gateway (discovered upstream endpoints)", () => {
  let alice: OAuthConnection;

  it("completes discovery → register → authorize → token → tools/call, with the upstream's audience", async () => {
    const started = Date.now();
    const registrations = as.registrations().length;
    const authorizations = as.authorizationRequests().length;
    alice = await connect("/dyn/mcp", keys.alice);
    expect(alice.authorized).toBe(true);
    expect(firstText(await alice.client.callTool({ name: "echo", arguments: { message: "through the gateway" } }))).toBe("through the gateway");
    const { provider } = alice;

    // The client discovered the gateway, not the upstream's authorization server.
    expect(provider.discovery?.resourceMetadata?.resource).toBe(`${gateway.url}/dyn/mcp`);
    expect(provider.discovery?.authorizationServerUrl).toBe(`${gateway.url}/dyn`);
    expect(provider.discovery?.authorizationServerMetadata?.issuer).toBe(`${gateway.url}/dyn`);
    expect(provider.authorizationUrls.map((url) => `${url.origin}${url.pathname}`)).toEqual([`${gateway.url}/dyn/authorize`]);

    // The MCP client got a public registration: no secret handed out.
    const information = provider.clientInformation() as Record<string, unknown>;
    expect(information["client_id"]).toEqual(expect.any(String));
    expect(information).not.toHaveProperty("client_secret");
    expect(information["token_endpoint_auth_method"]).toBe("none");

    // The gateway registered itself upstream, with its own /callback (the client never did).
    const newRegistrations = as.registrations().slice(registrations);
    expect(newRegistrations).toHaveLength(1);
    expect(newRegistrations[0]).toMatchObject({ redirect_uris: [`${gateway.url}/callback`], grant_types: ["authorization_code", "refresh_token"] });
    expect(JSON.stringify(as.registrations())).not.toContain(provider.redirectUrl);
    const stored = await repo.getClient(String(information["client_id"]));
    const upstreamClient = stored?.upstreamCredentials;
    expect(upstreamClient?.client_id).toEqual(expect.any(String));
    expect(upstreamClient?.client_id).not.toBe(information["client_id"]);
    if (upstreamClient?.client_secret !== undefined) secrets.add(upstreamClient.client_secret);

    // Upstream: the gateway's client, its /callback, its own PKCE S256, the scopes, and resource = the upstream.
    const sent = as.authorizationRequests().slice(authorizations);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      response_type: "code",
      client_id: upstreamClient?.client_id,
      redirect_uri: `${gateway.url}/callback`,
      code_challenge_method: "S256",
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      scope: "mcp:read mcp:write",
      resource: upstream.url,
    });
    const clientAuthorization = provider.authorizationUrls[0]!;
    expect(sent[0]?.["state"]).not.toBe(clientAuthorization.searchParams.get("state"));
    expect(sent[0]?.["code_challenge"]).not.toBe(clientAuthorization.searchParams.get("code_challenge"));

    // The pending flow was kept under the upstream state's hash for 10 minutes, and used once.
    const flow = await database.db
      .selectFrom("oauth_flows")
      .selectAll()
      .where("state_hash", "=", createHash("sha256").update(String(sent[0]?.["state"])).digest("hex"))
      .executeTakeFirst();
    expect(flow?.consumed_at).toEqual(expect.any(String));
    expect(Date.parse(flow!.expires_at) - started).toBeGreaterThanOrEqual(600_000);
    expect(Date.parse(flow!.expires_at) - Date.now()).toBeLessThanOrEqual(600_000);
    expect(flow?.sealed).not.toContain(clientAuthorization.searchParams.get("state"));

    // Back at the client: its own state and the gateway's issuer (RFC 9207).
    expect(provider.lastRedirect()).toMatchObject({ iss: `${gateway.url}/dyn`, state: clientAuthorization.searchParams.get("state") });

    // The upstream code exchange: the gateway's credentials, its verifier, the upstream resource.
    const exchange = as.tokenRequests().findLast((record) => record.grant_type === "authorization_code");
    expect(exchange).toMatchObject({
      authMethod: "basic",
      status: 200,
      params: { redirect_uri: `${gateway.url}/callback`, resource: upstream.url, code_verifier: expect.any(String) },
    });

    // Passthrough: the upstream saw the client's bearer, a JWT for it about alice.
    const token = provider.tokens()!.access_token;
    expect(bearerOf(upstream.lastHeaders())).toBe(token);
    expect(upstream.lastHeaders()).not.toHaveProperty("x-litellm-api-key");
    expect(upstream.claims(token)).toMatchObject({ iss: as.issuer, aud: upstream.url, sub: "alice", client_id: upstreamClient?.client_id });
  });

  it("works the same on the /mcp/{server} form (resource = that URL)", async () => {
    const { provider, client, authorized } = await connect("/mcp/dyn", keys.dora);
    expect(authorized).toBe(true);
    expect(provider.discovery?.resourceMetadata?.resource).toBe(`${gateway.url}/mcp/dyn`);
    expect(provider.discovery?.authorizationServerMetadata?.issuer).toBe(`${gateway.url}/dyn`);
    expect(firstText(await client.callTool({ name: "add", arguments: { a: 20, b: 22 } }))).toBe("42");
    expect(upstream.claims(provider.tokens()!.access_token)).toMatchObject({ aud: upstream.url });
  });

  it("refreshes through the gateway's /token (the SDK's auth() and a raw request), always with no-store", async () => {
    const { provider, client } = alice;
    const before = provider.tokens()!;
    expect(before.refresh_token).toEqual(expect.any(String));
    const grants = as.tokenRequests().length;

    await expect(auth(provider, { serverUrl: `${gateway.url}/dyn/mcp` })).resolves.toBe("AUTHORIZED");
    const refreshed = provider.tokens()!;
    secrets.add(refreshed.access_token);
    expect(refreshed.access_token).not.toBe(before.access_token);
    const upstreamGrants = as.tokenRequests().slice(grants);
    expect(upstreamGrants).toHaveLength(1);
    expect(upstreamGrants[0]).toMatchObject({
      grant_type: "refresh_token",
      authMethod: "basic",
      status: 200,
      params: { refresh_token: before.refresh_token, resource: upstream.url },
    });
    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "refreshed" } }))).toBe("refreshed");
    expect(bearerOf(upstream.lastHeaders())).toBe(refreshed.access_token);
    expect(upstream.claims(refreshed.access_token)).toMatchObject({ aud: upstream.url, sub: "alice" });

    const clientId = String(provider.clientInformation()!.client_id);
    const raw = await tokenAt("dyn", { grant_type: "refresh_token", client_id: clientId, refresh_token: refreshed.refresh_token ?? before.refresh_token! });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("cache-control")).toBe("no-store");
    expect(raw.body).toMatchObject({ access_token: expect.any(String), token_type: expect.stringMatching(/^bearer$/i), expires_in: expect.any(Number) });

    const bogus = await tokenAt("dyn", { grant_type: "refresh_token", client_id: clientId, refresh_token: "not-a-refresh-token" });
    expect(bogus).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(bogus.headers.get("cache-control")).toBe("no-store");
    const stranger = await tokenAt("dyn", { grant_type: "refresh_token", client_id: "gh_unknown", refresh_token: before.refresh_token! });
    expect(stranger).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    expect(stranger.headers.get("cache-control")).toBe("no-store");
  });
});

describe("a server with configured authorization_url, token_url and registration_url", () => {
  it("registers the gateway at registration_url and runs the flow against the configured endpoints", async () => {
    const registrations = as2.registrations().length;
    const flow = await rawFlow("conf");
    expect(as2.registrations().slice(registrations)).toMatchObject([{ redirect_uris: [`${gateway.url}/callback`] }]);
    expect(as2.authorizationRequests().at(-1)).toMatchObject({ redirect_uri: `${gateway.url}/callback`, scope: "mcp:read", resource: upstream2.url });
    expect(flow.landed.searchParams.get("iss")).toBe(`${gateway.url}/conf`);
    const answer = await redeem(flow, "conf");
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const token = String(answer.body["access_token"]);
    const called = await callEcho("/conf/mcp", { ...keyHeader(keys.dora), authorization: `Bearer ${token}` }, "configured");
    expect(called.echoed).toBe("configured");
    expect(bearerOf(upstream2.lastHeaders())).toBe(token);
    expect(upstream2.claims(token)).toMatchObject({ aud: upstream2.url, scope: "mcp:read" });
    // No gateway key came with the token request: nothing stored for anyone.
    expect(await repo.getUserToken("conf", "user:dora")).toBeUndefined();
  });
});

// --- per-user token store ---------------------------------------------------------------

describe("the per-user token store", () => {
  it("uses alice's stored token for her calls without a bearer; bob, never connected, gets the challenge", async () => {
    const stored = await repo.getUserToken("dyn", "user:alice");
    expect(stored?.access_token).toEqual(expect.any(String));

    const answer = await callEcho("/dyn/mcp", keyHeader(keys.alice), "from the store");
    expect(answer.status, answer.text).toBe(200);
    expect(answer.echoed).toBe("from the store");
    expect(bearerOf(upstream.lastHeaders())).toBe(stored!.access_token);
    expect(upstream.claims(stored!.access_token)).toMatchObject({ sub: "alice", aud: upstream.url });

    const seen = upstream.requests.length;
    const bob = await callEcho("/dyn/mcp", keyHeader(keys.bob));
    expect(bob.status).toBe(401);
    expect(bob.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/dyn/mcp"`);
    expect(upstream.requests.length).toBe(seen);
  });

  it("gives each user their own token once bob connected as bob, and never crosses them", async () => {
    as.setAccountId("bob");
    try {
      const bob = await connect("/dyn/mcp", keys.bob);
      expect(bob.authorized).toBe(true);
      expect(upstream.claims(bob.provider.tokens()!.access_token)).toMatchObject({ sub: "bob" });
    } finally {
      as.setAccountId("alice");
    }
    const aliceStored = await repo.getUserToken("dyn", "user:alice");
    const bobStored = await repo.getUserToken("dyn", "user:bob");
    expect(aliceStored?.access_token).not.toBe(bobStored?.access_token);

    for (const [user, key] of [["alice", keys.alice], ["bob", keys.bob], ["alice", keys.alice], ["bob", keys.bob]] as const) {
      const answer = await callEcho("/dyn/mcp", keyHeader(key), `for ${user}`);
      expect(answer.echoed).toBe(`for ${user}`);
      const token = bearerOf(upstream.lastHeaders())!;
      expect(token).toBe(user === "alice" ? aliceStored!.access_token : bobStored!.access_token);
      expect(upstream.claims(token)?.sub).toBe(user);
    }
    // A user's bearer is theirs; a foreign stored token is never reached through another key.
    expect(await repo.getUserToken("dyn", "user:carol")).toBeUndefined();
    const carol = await callEcho("/dyn/mcp", keyHeader(keys.carol));
    expect(carol.status).toBe(401);
  });

  it("never forwards a gateway key sent in Authorization", async () => {
    const aliceStored = await repo.getUserToken("dyn", "user:alice");
    const seen = upstream.requests.length;
    const answer = await callEcho("/dyn/mcp", { authorization: `Bearer ${keys.alice}` }, "key in authorization");
    expect(answer.status, answer.text).toBe(200);
    expect(answer.echoed).toBe("key in authorization");
    expect(bearerOf(upstream.lastHeaders())).toBe(aliceStored!.access_token);

    // Not connected to gh: the gateway key must not go upstream as a bearer either.
    const gh = await callEcho("/gh/mcp", { authorization: `Bearer ${keys.bob}` });
    expect(gh.status).toBe(401);
    expect(gh.headers.get("www-authenticate")).toContain("resource_metadata=");
    const sent = upstream.requests.slice(seen);
    expect(sent).toHaveLength(1);
    for (const request of upstream.requests) {
      const values = Object.values(request.headers).join("\n");
      for (const key of [...Object.values(keys), gateway.masterKey]) expect(values).not.toContain(key);
    }
  });

  it("keeps the stored tokens sealed in the database", async () => {
    const stored = await repo.getUserToken("dyn", "user:alice");
    const bytes = await databaseBytes();
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes).not.toContain(stored!.access_token);
    expect(bytes).not.toContain(stored!.refresh_token!);
  });
});

// --- (b) pre-stored client_id/client_secret: consent ---------------------------------------

describe("a server with a pre-stored client_id/client_secret (consent page)", () => {
  it("shows a consent page the browser submits, then runs the flow with the shared client; no secret handed out", async () => {
    const registrations = as.registrations().length;
    const authorizations = as.authorizationRequests().length;
    const { provider, client, authorized } = await connect("/gh/mcp", keys.alice);
    expect(authorized).toBe(true);
    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "via consent" } }))).toBe("via consent");

    const information = provider.clientInformation() as Record<string, unknown>;
    expect(information["client_id"]).not.toBe(GH.client_id);
    expect(information).not.toHaveProperty("client_secret");
    expect(as.registrations()).toHaveLength(registrations);

    const sent = as.authorizationRequests().slice(authorizations);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      client_id: GH.client_id,
      redirect_uri: `${gateway.url}/callback`,
      scope: "mcp:read",
      resource: upstream.url,
      code_challenge_method: "S256",
    });
    const exchange = as.tokenRequests().findLast((record) => record.grant_type === "authorization_code");
    expect(exchange).toMatchObject({ authMethod: "basic", status: 200, params: { resource: upstream.url } });
    const token = provider.tokens()!.access_token;
    expect(upstream.claims(token)).toMatchObject({ aud: upstream.url, sub: "alice", client_id: GH.client_id, scope: "mcp:read" });
    expect((await repo.getUserToken("gh", "user:alice"))?.access_token).toBe(token);
  });

  it("protects the consent form against CSRF and framing", async () => {
    const redirectUri = loopbackRedirect();
    const { client_id: clientId } = await register("gh", redirectUri);
    const { challenge } = pkce();
    const url = authorizeUrl("gh", { client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: "consent-state" });
    const authorizations = as.authorizationRequests().length;

    const jar = new CookieJar();
    const response = await fetchWithCookies(url, jar);
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("set-cookie")).toMatch(/HttpOnly/);
    expect(jar.names(gateway.url)).toContain("gatehouse_consent");
    expect(html).toContain("raw-client");
    expect(html).not.toContain(GH.client_secret);
    expect(html).not.toMatch(/<script/i);
    const form = findSingleForm(html, url);
    expect(form?.action.href).toBe(`${gateway.url}/gh/authorize`);
    expect(form?.fields).toMatchObject({ client_id: clientId, redirect_uri: redirectUri, state: "consent-state", decision: "allow", csrf: expect.any(String) });

    // Without the cookie (a cross-site POST), with a forged token, with an altered field: refused.
    for (const [jarUsed, fields] of [
      [new CookieJar(), {}],
      [jar, { csrf: "A".repeat(43) }],
      [jar, { state: "attacker-state" }],
    ] as const) {
      const { response: refused } = await submitSingleForm(html, url, jarUsed, { fields });
      const text = await page(refused);
      expectFriendlyPage(refused, text, 403);
    }
    // Another consent page's cookie does not validate this form.
    const otherJar = new CookieJar();
    await (await fetchWithCookies(url, otherJar)).body?.cancel();
    const { response: crossed } = await submitSingleForm(html, url, otherJar);
    expect(crossed.status).toBe(403);
    await crossed.body?.cancel();
    expect(as.authorizationRequests()).toHaveLength(authorizations);

    // Deny: back to the client with access_denied and its state, nothing sent upstream.
    const { response: denied } = await submitSingleForm(html, url, jar, { fields: { decision: "deny" } });
    expect(denied.status).toBe(302);
    const deniedAt = new URL(denied.headers.get("location")!);
    expect(`${deniedAt.origin}${deniedAt.pathname}`).toBe(redirectUri);
    expect(Object.fromEntries(deniedAt.searchParams)).toMatchObject({ error: "access_denied", state: "consent-state", iss: `${gateway.url}/gh` });
    expect(as.authorizationRequests()).toHaveLength(authorizations);

    // Allow, with a fresh page's cookie: upstream, with the shared client.
    const fresh = new CookieJar();
    const again = await fetchWithCookies(url, fresh);
    const { response: allowed } = await submitSingleForm(await again.text(), url, fresh);
    expect(allowed.status).toBe(302);
    const upstreamAt = new URL(allowed.headers.get("location")!);
    expect(`${upstreamAt.origin}${upstreamAt.pathname}`).toBe(as.authorizationEndpoint);
    expect(upstreamAt.searchParams.get("client_id")).toBe(GH.client_id);
  });
});

// --- token_validation ---------------------------------------------------------------------

describe("token_validation", () => {
  it("passes when the rules match the token response and the JWT claims; stores for token_storage_ttl_seconds", async () => {
    const flow = await rawFlow("tvpass");
    expect(flow.landed.searchParams.get("state")).toBe(flow.state);
    expect(flow.landed.searchParams.get("iss")).toBe(`${gateway.url}/tvpass`);
    const before = Date.now();
    const answer = await redeem(flow, "tvpass", keys.alice);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.body).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String), scope: "mcp:read mcp:write" });
    const stored = await repo.getUserToken("tvpass", "user:alice");
    expect(stored?.access_token).toBe(answer.body["access_token"]);
    expect(stored?.expiresAt).toBeGreaterThanOrEqual(before + 7_200_000);
    expect(stored?.expiresAt).toBeLessThanOrEqual(Date.now() + 7_200_000);
  });

  it("fails with 403 token_validation_failed, echoing no token or secret, and stores nothing", async () => {
    const flow = await rawFlow("tvfail");
    const issued = as.issuedTokens().length;
    const answer = await redeem(flow, "tvfail", keys.alice);
    expect(answer.status).toBe(403);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.body).toMatchObject({ error: "token_validation_failed", error_description: expect.stringContaining("'sub'") });
    // The upstream did issue a token; it stays in the gateway.
    const token = as.issuedTokens().slice(issued)[0];
    expect(token).toEqual(expect.any(String));
    secrets.add(token!);
    const text = JSON.stringify(answer.body);
    expect(text).not.toContain(token);
    expect(text).not.toContain("alice");
    expect(text).not.toMatch(/eyJ/);
    expect(await repo.getUserToken("tvfail", "user:alice")).toBeUndefined();
  });
});

// --- what the facade refuses --------------------------------------------------------------

describe("refusals at /authorize", () => {
  let clientId: string;
  let redirectUri: string;
  const { challenge } = pkce();

  beforeAll(async () => {
    redirectUri = loopbackRedirect();
    clientId = (await register("dyn", redirectUri)).client_id;
  });

  it("sends a valid request straight upstream (no consent page without a shared client)", async () => {
    const response = await fetch(authorizeUrl("dyn", { client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256" }), { redirect: "manual" });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(as.authorizationEndpoint);
    expect(location.searchParams.get("redirect_uri")).toBe(`${gateway.url}/callback`);
  });

  it("answers an unregistered redirect_uri with an HTML page, never a redirect", async () => {
    const authorizations = as.authorizationRequests().length;
    for (const other of ["http://127.0.0.1:1/elsewhere", `${redirectUri}/x`, "https://attacker.example/cb"]) {
      const response = await fetch(authorizeUrl("dyn", { client_id: clientId, redirect_uri: other, code_challenge: challenge, code_challenge_method: "S256", state: "s" }), { redirect: "manual" });
      expectFriendlyPage(response, await page(response), 400);
    }
    expect(as.authorizationRequests()).toHaveLength(authorizations);
  });

  it("answers an unknown client_id, or one registered for another server, with an HTML page", async () => {
    for (const [server, id] of [["dyn", "gh_not-registered"], ["gh", clientId]] as const) {
      const response = await fetch(authorizeUrl(server, { client_id: id, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256" }), { redirect: "manual" });
      const text = await page(response);
      expectFriendlyPage(response, text, 400);
      expect(text).toMatch(/not registered/);
    }
  });

  // Issue 15 item 12: before its first completed flow a client is anyone's, and so is its redirect_uri (RFC 9700 §4.11.2).
  it("refuses plain PKCE (and no PKCE): with an HTML page for a client that never completed a flow, with a redirect carrying error=invalid_request, the state and iss for one that did", async () => {
    const completed = await rawFlow("dyn");
    expect((await redeem(completed, "dyn")).status).toBe(200);
    const authorizations = as.authorizationRequests().length;
    const cases: Array<Record<string, string>> = [{ code_challenge: pkce().verifier, code_challenge_method: "plain" }, { code_challenge: challenge }, {}];
    for (const params of cases) {
      const untrusted = await fetch(authorizeUrl("dyn", { client_id: clientId, redirect_uri: redirectUri, state: "pkce-state", ...params }), { redirect: "manual" });
      const text = await page(untrusted);
      expectFriendlyPage(untrusted, text, 400);
      expect(text).toContain("invalid_request");

      const response = await fetch(authorizeUrl("dyn", { client_id: completed.clientId, redirect_uri: completed.redirectUri, state: "pkce-state", ...params }), { redirect: "manual" });
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location")!);
      expect(`${location.origin}${location.pathname}`).toBe(completed.redirectUri);
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: "invalid_request", state: "pkce-state", iss: `${gateway.url}/dyn` });
      expect(location.searchParams.get("code")).toBeNull();
    }
    expect(as.authorizationRequests()).toHaveLength(authorizations);
  });
});

describe("refusals at /callback", () => {
  it("answers an unknown or missing state with a page that says what to do", async () => {
    for (const query of ["?state=never-issued&code=abc", "?code=abc"]) {
      const response = await fetch(`${gateway.url}/callback${query}`, { redirect: "manual" });
      expectFriendlyPage(response, await page(response), 400);
    }
  });

  it("answers an expired state (older than 10 minutes) with a page, not a redirect", async () => {
    const redirectUri = loopbackRedirect();
    const { client_id: clientId } = await register("dyn", redirectUri);
    const state = randomBytes(16).toString("base64url");
    const flow: PendingFlow = { clientId, redirectUri, clientState: "client-state", codeChallenge: pkce().challenge, upstreamVerifier: pkce().verifier, origin: gateway.url, browserBinding: "unused: the flow is expired" };
    await repo.putSingleUse("flow", state, "dyn", flow, -1000);
    const response = await fetch(`${gateway.url}/callback?state=${state}&code=upstream-code&iss=${encodeURIComponent(as.issuer)}`, { redirect: "manual" });
    const text = await page(response);
    expectFriendlyPage(response, text, 400);
    expect(text).toMatch(/expired/i);
  });

  it("relays the code once; the same /callback URL a second time gets a page", async () => {
    const redirectUri = loopbackRedirect();
    const { client_id: clientId } = await register("dyn", redirectUri);
    const { challenge } = pkce();
    const start = authorizeUrl("dyn", { client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: "replay-state" });
    const jar = new CookieJar();
    const callback = await followRedirects(start, { until: landsOn(`${gateway.url}/callback`), cookies: jar });
    expect(callback.searchParams.get("code")).toEqual(expect.any(String));

    const first = await fetchWithCookies(callback, jar, { redirect: "manual" });
    expect(first.status).toBe(302);
    const relayed = new URL(first.headers.get("location")!);
    expect(`${relayed.origin}${relayed.pathname}`).toBe(redirectUri);
    expect(Object.fromEntries(relayed.searchParams)).toMatchObject({ code: expect.any(String), state: "replay-state", iss: `${gateway.url}/dyn` });
    // The gateway's own code, not the upstream's.
    expect(relayed.searchParams.get("code")).not.toBe(callback.searchParams.get("code"));

    const replay = await fetchWithCookies(callback, jar, { redirect: "manual" });
    const text = await page(replay);
    expectFriendlyPage(replay, text, 400);
    expect(text).toMatch(/already used/i);
  });

  it("refuses a /callback from a browser other than the one that started the sign-in (confused deputy)", async () => {
    const redirectUri = loopbackRedirect();
    const { client_id: clientId } = await register("dyn", redirectUri);
    const { challenge } = pkce();
    const start = authorizeUrl("dyn", { client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: "deputy-state" });
    // The attacker's browser runs the flow up to the upstream's redirect...
    const callback = await followRedirects(start, { until: landsOn(`${gateway.url}/callback`), cookies: new CookieJar() });
    // ...and the victim's browser, without the flow cookie, is made to open the callback.
    const victim = await fetch(callback, { redirect: "manual" });
    const text = await page(victim);
    expectFriendlyPage(victim, text, 400);
    expect(text).toMatch(/another browser/i);
    expect(victim.headers.get("location")).toBeNull();
  });
});

describe("refusals at /token", () => {
  it("redeems a code once: a replay is invalid_grant and the upstream code is not redeemed again", async () => {
    const flow = await rawFlow("dyn");
    const exchanges = as.tokenRequests().filter((record) => record.grant_type === "authorization_code").length;
    const first = await redeem(flow, "dyn");
    expect(first.status).toBe(200);
    expect(first.headers.get("cache-control")).toBe("no-store");
    const replay = await redeem(flow, "dyn");
    expect(replay).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    expect(replay.headers.get("cache-control")).toBe("no-store");
    expect(as.tokenRequests().filter((record) => record.grant_type === "authorization_code")).toHaveLength(exchanges + 1);
  });

  it("refuses a wrong code_verifier, another redirect_uri or another client with invalid_grant", async () => {
    const cases: Array<Record<string, string>> = [{ code_verifier: pkce().verifier }, { redirect_uri: loopbackRedirect() }, { client_id: "gh_someone-else" }];
    for (const overrides of cases) {
      const flow = await rawFlow("dyn");
      const exchanges = as.tokenRequests().length;
      const answer = await redeem(flow, "dyn", undefined, overrides);
      expect(answer, JSON.stringify(overrides)).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
      expect(answer.headers.get("cache-control")).toBe("no-store");
      expect(as.tokenRequests()).toHaveLength(exchanges);
    }
  });

  it("refuses an invalid gateway key before touching the code", async () => {
    const flow = await rawFlow("dyn");
    const refused = await redeem(flow, "dyn", "sk-not-a-gateway-key");
    expect(refused).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    const redeemed = await redeem(flow, "dyn");
    expect(redeemed.status).toBe(200);
  });

  it("refuses an expired gateway code, a code of another server and a bad grant_type", async () => {
    const code = randomBytes(32).toString("base64url");
    const { verifier, challenge } = pkce();
    const issued: IssuedCode = {
      clientId: "gh_expired",
      redirectUri: "http://127.0.0.1:9/cb",
      codeChallenge: challenge,
      upstreamVerifier: verifier,
      origin: gateway.url,
      browserBinding: "unused: the code is expired",
      upstreamCallback: "code=x&state=y",
      upstreamState: "y",
    };
    await repo.putSingleUse("code", code, "dyn", issued, -1000);
    const expired = await tokenAt("dyn", { grant_type: "authorization_code", code, code_verifier: verifier });
    expect(expired).toMatchObject({ status: 400, body: { error: "invalid_grant" } });

    const flow = await rawFlow("dyn");
    const elsewhere = await redeem(flow, "tvpass");
    expect(elsewhere).toMatchObject({ status: 400, body: { error: "invalid_grant" } });

    const grant = await tokenAt("dyn", { grant_type: "password", username: "a", password: "b" });
    expect(grant).toMatchObject({ status: 400, body: { error: "unsupported_grant_type" } });
    expect(grant.headers.get("cache-control")).toBe("no-store");
  });
});

// --- refresh of stored tokens -------------------------------------------------------------

describe("stored tokens that are about to expire", () => {
  const refreshGrants = () => as2.tokenRequests().filter((record) => record.grant_type === "refresh_token");

  it("stores a connected user's token for expires_in seconds", async () => {
    const before = Date.now();
    as2.setAccountId("carol");
    const { provider, authorized } = await connect("/short/mcp", keys.carol);
    expect(authorized).toBe(true);
    const stored = await repo.getUserToken("short", "user:carol");
    expect(stored?.access_token).toBe(provider.tokens()!.access_token);
    expect(stored?.refresh_token).toEqual(expect.any(String));
    expect(stored?.expiresAt).toBeGreaterThanOrEqual(before + 61_000);
    expect(stored?.expiresAt).toBeLessThanOrEqual(Date.now() + 61_000);
  });

  it("refreshes once, single-flight, when 10 calls arrive within 60 s of expiry", async () => {
    const stored = (await repo.getUserToken("short", "user:carol"))!;
    // As if 31 s of the 61 had passed: inside the 60 s refresh margin.
    await repo.saveUserToken("short", "user:carol", { ...stored, expiresAt: Date.now() + 30_000 });
    const grants = refreshGrants().length;
    const seen = upstream2.requests.length;

    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => callEcho("/short/mcp", keyHeader(keys.carol), `call ${i}`)));
    expect(answers.map((answer) => answer.echoed)).toEqual(Array.from({ length: 10 }, (_, i) => `call ${i}`));

    const refreshes = refreshGrants().slice(grants);
    expect(refreshes).toHaveLength(1);
    expect(refreshes[0]).toMatchObject({ authMethod: "basic", status: 200, params: { refresh_token: stored.refresh_token, resource: upstream2.url } });
    const fresh = as2.issuedTokens().at(-1)!;
    secrets.add(fresh);
    expect(fresh).not.toBe(stored.access_token);
    // POSTs only: the SDK client of the previous test may open its GET stream at any moment.
    const bearers = upstream2.requests
      .slice(seen)
      .filter((request) => request.method === "POST")
      .map((request) => bearerOf(request.headers));
    expect(bearers).toHaveLength(10);
    expect(new Set(bearers)).toEqual(new Set([fresh]));
    expect(upstream2.claims(fresh)).toMatchObject({ sub: "carol", aud: upstream2.url });
    expect((await repo.getUserToken("short", "user:carol"))?.access_token).toBe(fresh);
  });

  it("refreshes an expired stored token on the next call", async () => {
    const stored = (await repo.getUserToken("short", "user:carol"))!;
    await repo.saveUserToken("short", "user:carol", { ...stored, expiresAt: Date.now() - 1_000 });
    const grants = refreshGrants().length;
    const answer = await callEcho("/short/mcp", keyHeader(keys.carol), "after expiry");
    expect(answer.echoed).toBe("after expiry");
    expect(refreshGrants().slice(grants)).toHaveLength(1);
    const fresh = as2.issuedTokens().at(-1)!;
    secrets.add(fresh);
    expect(bearerOf(upstream2.lastHeaders())).toBe(fresh);
  });

  it("forgets the tokens when the upstream refuses the refresh token, and challenges the user again", async () => {
    const stored = (await repo.getUserToken("short", "user:carol"))!;
    await repo.saveUserToken("short", "user:carol", { ...stored, refresh_token: "revoked-refresh-token", expiresAt: Date.now() - 1_000 });
    const grants = refreshGrants().length;
    const answer = await callEcho("/short/mcp", keyHeader(keys.carol));
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/short/mcp"`);
    expect(refreshGrants().slice(grants)).toMatchObject([{ status: 400 }]);
    expect(await repo.getUserToken("short", "user:carol")).toBeUndefined();
  });
});

// --- secrets ------------------------------------------------------------------------------

describe("secrets", () => {
  it("appear in no error body, page or log line", () => {
    expect(errorBodies.length).toBeGreaterThan(10);
    expect(gateway.logs.length).toBeGreaterThan(0);
    const logText = gateway.logs.map((line) => JSON.stringify(line));
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      for (const body of errorBodies) expect(body).not.toContain(secret);
      for (const line of logText) expect(line).not.toContain(secret);
    }
  });

  it("are stored only sealed (tokens, the gateway's upstream client secrets, the clients' states)", async () => {
    const bytes = await databaseBytes();
    for (const secret of secrets) expect(bytes).not.toContain(secret);
    expect(bytes).not.toContain("replay-state");
  });
});

describe("a stored token the upstream refuses", () => {
  it("is forgotten, and the user gets the gateway's own challenge to connect again", async () => {
    await repo.saveUserToken("dyn", "user:dora", { clientId: "unused", access_token: "revoked-or-forged-token", token_type: "Bearer", expiresAt: Date.now() + 3_600_000 });
    const refused = await callEcho("/dyn/mcp", keyHeader(keys.dora));
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/dyn/mcp"`);
    expect(refused.text).toContain("refused the upstream token");
    expect(await repo.getUserToken("dyn", "user:dora")).toBeUndefined();
    // Nothing stored any more: the next call is the plain challenge, the upstream not even asked.
    const again = await callEcho("/dyn/mcp", keyHeader(keys.dora));
    expect(again.status).toBe(401);
    expect(again.text).toContain("needs your authorization");
  });
});
