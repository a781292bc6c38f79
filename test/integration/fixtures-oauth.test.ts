/**
 * The interactive OAuth fixtures, validated without the gateway: the official SDK client
 * with `TestOAuthClientProvider` runs the MCP authorization flow (RFC 9728 discovery →
 * RFC 8414 metadata → RFC 7591 registration → authorization with PKCE S256 and an RFC 8707
 * resource, auto-approved → token) against the interactive oidc-provider and an upstream
 * that verifies the JWTs; hand-made requests check what the authorization server refuses;
 * a small page checks the headless browser's form submission.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { decodeProtectedHeader, type JWTPayload } from "jose";
import { CookieJar, findSingleForm, followRedirects, submitSingleForm } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, TestOAuthClientProvider } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { pkcePair as pkce } from "../fixtures/mcp-oauth-client.js";

const CONFIDENTIAL = { client_id: "gatehouse-upstream-client", client_secret: "confidential-secret-7c1e0b", redirect_uri: "http://127.0.0.1:9/callback" };

let upstream: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  upstream = await startProtectedResourceUpstream();
  as = await startInteractiveAuthorizationServer({
    resource: upstream.url,
    clients: [{ client_id: CONFIDENTIAL.client_id, client_secret: CONFIDENTIAL.client_secret, redirect_uris: [CONFIDENTIAL.redirect_uri] }],
  });
  upstream.trust(as);
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await Promise.all([upstream?.close(), as?.close()]);
});

async function connected(headers: Record<string, string> = {}, provider = new TestOAuthClientProvider()): Promise<{ client: Client; provider: TestOAuthClientProvider; authorized: boolean }> {
  const connection = await connectWithOAuth(upstream.url, headers, { provider });
  cleanups.push(() => connection.client.close());
  return connection;
}

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string | undefined {
  const [first] = result.content as Array<{ type: string; text?: string }>;
  return first?.text;
}

async function registerPublicClient(redirectUri: string): Promise<string> {
  const response = await fetch(as.registrationEndpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "hand-made",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

/** The claims of `accessToken` once the upstream accepted it for a tools/list. */
async function verifiedByUpstream(accessToken: string): Promise<JWTPayload | undefined> {
  const response = await fetch(upstream.url, {
    method: "POST",
    headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  });
  expect(response.status).toBe(200);
  await response.body?.cancel();
  return upstream.claims(accessToken);
}

/** Sends a browser to the authorization endpoint and returns where it lands on `redirectUri`. */
function authorize(params: Record<string, string>, jar = new CookieJar()): Promise<URL> {
  const url = new URL(as.authorizationEndpoint);
  for (const [name, value] of Object.entries({ response_type: "code", ...params })) url.searchParams.set(name, value);
  const target = new URL(params["redirect_uri"]!);
  return followRedirects(url, { until: (candidate) => candidate.origin === target.origin && candidate.pathname === target.pathname, cookies: jar });
}

async function token(params: Record<string, string>, basic?: { id: string; secret: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  if (basic !== undefined) headers["authorization"] = `Basic ${Buffer.from(`${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`).toString("base64")}`;
  const response = await fetch(as.tokenEndpoint, { method: "POST", headers, body: new URLSearchParams(params) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A code for a freshly registered public client, and what it takes to redeem it. */
async function codeForPublicClient(
  extra: Record<string, string | undefined> = {},
): Promise<{ clientId: string; redirectUri: string; verifier: string; landed: URL }> {
  const redirectUri = new TestOAuthClientProvider().redirectUrl;
  const clientId = await registerPublicClient(redirectUri);
  const { verifier, challenge } = pkce();
  const params: Record<string, string | undefined> = {
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: "mcp:read",
    state: "s-1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: upstream.url,
    ...extra,
  };
  const sent = Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return { clientId, redirectUri, verifier, landed: await authorize(sent) };
}

describe("the SDK client against the interactive authorization server and a protected upstream", () => {
  it("discovers, registers, is auto-approved, exchanges the code and calls echo with a JWT for the upstream", async () => {
    const { client, provider, authorized } = await connected({ "x-test-client": "fixtures-oauth" });
    expect(authorized).toBe(true);
    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "through oauth" } }))).toBe("through oauth");

    // RFC 9728: the 401 named the metadata, which named the authorization server.
    expect(upstream.requests.some((r) => r.method === "GET" && r.path === "/.well-known/oauth-protected-resource/mcp")).toBe(true);
    expect(provider.discovery?.authorizationServerUrl).toBe(as.issuer);
    expect(provider.discovery?.authorizationServerMetadata?.registration_endpoint).toBe(as.registrationEndpoint);

    // RFC 7591: a public native client registered itself.
    const registration = as.registrations().find((body) => JSON.stringify(body["redirect_uris"]) === JSON.stringify([provider.redirectUrl]));
    expect(registration).toMatchObject({
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "gatehouse-test-client",
      scope: "mcp:read mcp:write",
    });
    const clientId = provider.clientInformation()?.client_id;
    expect(clientId).toEqual(expect.any(String));

    // The authorization request: PKCE S256, the upstream as resource, the challenged scope.
    const request = as.authorizationRequests().find((query) => query["client_id"] === clientId);
    expect(request).toMatchObject({
      response_type: "code",
      code_challenge_method: "S256",
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      redirect_uri: provider.redirectUrl,
      resource: upstream.url,
      scope: "mcp:read mcp:write",
    });
    const redirect = provider.lastRedirect();
    expect(redirect).toMatchObject({ code: expect.any(String), iss: as.issuer });
    expect(redirect?.state).toBe(request?.["state"]);
    expect(as.interactions().filter((i) => i.clientId === clientId).map((i) => [i.prompt, i.accountId])).toEqual([
      ["login", "alice"],
      ["consent", "alice"],
    ]);

    // The code exchange: public client, verifier, resource.
    const exchange = as.tokenRequests().find((r) => r.params["client_id"] === clientId && r.grant_type === "authorization_code");
    expect(exchange).toMatchObject({
      authMethod: "none",
      status: 200,
      params: { code: redirect?.code, redirect_uri: provider.redirectUrl, resource: upstream.url, code_verifier: expect.any(String) },
    });

    // RFC 9068: a JWT for the upstream, about alice; and a refresh token came with it.
    const tokens = provider.tokens();
    expect(tokens?.refresh_token).toEqual(expect.any(String));
    expect(tokens?.issuer).toBe(as.issuer);
    const accessToken = tokens!.access_token;
    expect(decodeProtectedHeader(accessToken)).toMatchObject({ typ: "at+jwt", alg: "RS256" });
    expect(upstream.acceptedTokens()).toContain(accessToken);
    expect(upstream.claims(accessToken)).toMatchObject({ iss: as.issuer, aud: upstream.url, sub: "alice", client_id: clientId, scope: "mcp:read mcp:write" });
    expect(as.issuedTokens()).toContain(accessToken);
  });

  it("refreshes through the SDK's auth() and at the token endpoint; a rotated refresh token is refused when replayed", async () => {
    const { provider } = await connected();
    const clientId = provider.clientInformation()!.client_id;
    const first = provider.tokens()!;

    // What the SDK does when it holds a refresh token: grant_type=refresh_token with the resource.
    await expect(auth(provider, { serverUrl: upstream.url })).resolves.toBe("AUTHORIZED");
    const refresh = as.tokenRequests().findLast((r) => r.params["client_id"] === clientId);
    expect(refresh).toMatchObject({ grant_type: "refresh_token", authMethod: "none", status: 200, params: { refresh_token: first.refresh_token, resource: upstream.url } });
    const second = provider.tokens()!;
    expect(second.access_token).not.toBe(first.access_token);
    // oidc-provider rotates the refresh tokens of public clients.
    expect(second.refresh_token).not.toBe(first.refresh_token);

    const direct = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: second.refresh_token! });
    expect(direct.status).toBe(200);
    expect(direct.body).toMatchObject({ token_type: "Bearer", scope: "mcp:read mcp:write", refresh_token: expect.any(String) });
    expect(await verifiedByUpstream(String(direct.body["access_token"]))).toMatchObject({ aud: upstream.url, sub: "alice" });

    const replay = await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: second.refresh_token! });
    expect(replay).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });

  it("connects a returning client on its stored token without another authorization", async () => {
    const { provider } = await connected();
    const { client, authorized } = await connected({}, provider);
    expect(authorized).toBe(false);
    expect(provider.authorizationUrls).toHaveLength(1);
    expect(firstText(await client.callTool({ name: "add", arguments: { a: 2, b: 3 } }))).toBe("5");
  });

  it("logs a fresh browser in as setAccountId's account; a browser with a session stays who it was", async () => {
    const jar = new CookieJar();
    await connected({}, new TestOAuthClientProvider({ cookies: jar }));
    as.setAccountId("bob");
    try {
      const { provider: bob } = await connected();
      expect(upstream.claims(bob.tokens()!.access_token)?.sub).toBe("bob");
      const { provider: sameBrowser } = await connected({}, new TestOAuthClientProvider({ cookies: jar }));
      expect(upstream.claims(sameBrowser.tokens()!.access_token)?.sub).toBe("alice");
      // The session skipped the login; the new client still needed consent.
      const clientId = sameBrowser.clientInformation()!.client_id;
      expect(as.interactions().filter((i) => i.clientId === clientId).map((i) => i.prompt)).toEqual(["consent"]);
    } finally {
      as.setAccountId("alice");
    }
  });

  it("ends with access_denied at the redirect_uri when the user denies, and connectWithOAuth says so", async () => {
    as.setDecision("deny");
    try {
      const provider = new TestOAuthClientProvider();
      await expect(connectWithOAuth(upstream.url, {}, { provider })).rejects.toThrow(/authorization failed: "access_denied"/);
      expect(provider.lastRedirect()).toMatchObject({ error: "access_denied", iss: as.issuer });
      expect(provider.tokens()).toBeUndefined();
    } finally {
      as.setDecision("approve");
    }
  });
});

describe("what the interactive authorization server refuses", () => {
  it("refuses plain PKCE and a request without a code_challenge", async () => {
    const redirectUri = new TestOAuthClientProvider().redirectUrl;
    const clientId = await registerPublicClient(redirectUri);
    const { verifier } = pkce();
    const base = { client_id: clientId, redirect_uri: redirectUri, scope: "mcp:read", state: "s-plain" };

    const plain = await authorize({ ...base, code_challenge: verifier, code_challenge_method: "plain" });
    expect(plain.searchParams.get("error")).toBe("invalid_request");
    expect(plain.searchParams.get("error_description")).toMatch(/code_challenge_method/);
    expect(plain.searchParams.get("code")).toBeNull();

    const none = await authorize(base);
    expect(none.searchParams.get("error")).toBe("invalid_request");
    expect(none.searchParams.get("error_description")).toMatch(/PKCE/i);
    expect(none.searchParams.get("state")).toBe("s-plain");
  });

  it("refuses a wrong code_verifier with invalid_grant", async () => {
    const { clientId, redirectUri, landed } = await codeForPublicClient();
    const code = landed.searchParams.get("code");
    expect(code).toEqual(expect.any(String));
    const wrong = await token({ grant_type: "authorization_code", client_id: clientId, code: code!, redirect_uri: redirectUri, code_verifier: pkce().verifier });
    expect(wrong).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
  });

  it("refuses a resource other than the upstream with invalid_target", async () => {
    const { landed } = await codeForPublicClient({ resource: "http://127.0.0.1:1/elsewhere" });
    expect(landed.searchParams.get("error")).toBe("invalid_target");
  });

  it("gives every scope to a request without scope and an audience to one without resource", async () => {
    const { clientId, redirectUri, verifier, landed } = await codeForPublicClient({ scope: undefined, resource: undefined });
    const sent = as.authorizationRequests().findLast((query) => query["client_id"] === clientId);
    expect(sent).not.toHaveProperty("scope");
    expect(sent).not.toHaveProperty("resource");
    expect(landed.searchParams.get("error")).toBeNull();
    const exchanged = await token({ grant_type: "authorization_code", client_id: clientId, code: landed.searchParams.get("code")!, redirect_uri: redirectUri, code_verifier: verifier });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body["scope"]).toBe("mcp:read mcp:write");
    expect(await verifiedByUpstream(String(exchanged.body["access_token"]))).toMatchObject({ aud: upstream.url, scope: "mcp:read mcp:write" });
  });
});

describe("the interaction URL", () => {
  it("fails with a clear message for a browser that did not keep the authorization server's cookies", async () => {
    const { challenge } = pkce();
    const url = new URL(as.authorizationEndpoint);
    const params = { response_type: "code", client_id: CONFIDENTIAL.client_id, redirect_uri: CONFIDENTIAL.redirect_uri, code_challenge: challenge, code_challenge_method: "S256" };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    const first = await fetch(url, { redirect: "manual" });
    expect(first.status).toBe(303);
    const interaction = new URL(first.headers.get("location")!, as.issuer);
    expect(interaction.pathname).toMatch(/^\/interaction\//);
    await expect(followRedirects(interaction, { until: () => false })).rejects.toThrow(/status 400.*interaction failed: .*_interaction cookie/);
  });
});

describe("a pre-registered confidential client (the gateway's own, GitHub style)", () => {
  it("authorizes without registering and redeems the code with client_secret_basic", async () => {
    const registrations = as.registrations().length;
    const { verifier, challenge } = pkce();
    const landed = await authorize({
      client_id: CONFIDENTIAL.client_id,
      redirect_uri: CONFIDENTIAL.redirect_uri,
      state: "gh-state",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    expect(landed.searchParams.get("state")).toBe("gh-state");
    expect(landed.searchParams.get("iss")).toBe(as.issuer);
    const params = { grant_type: "authorization_code", code: landed.searchParams.get("code")!, redirect_uri: CONFIDENTIAL.redirect_uri, code_verifier: verifier };

    const wrongSecret = await token(params, { id: CONFIDENTIAL.client_id, secret: "not-the-secret" });
    expect(wrongSecret).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    const exchanged = await token(params, { id: CONFIDENTIAL.client_id, secret: CONFIDENTIAL.client_secret });
    expect(exchanged.status).toBe(200);
    expect(exchanged.body["refresh_token"]).toEqual(expect.any(String));
    expect(as.tokenRequests().at(-1)).toMatchObject({ grant_type: "authorization_code", authMethod: "basic", status: 200 });
    expect(JSON.stringify(as.tokenRequests())).not.toContain(CONFIDENTIAL.client_secret);
    expect(as.registrations()).toHaveLength(registrations);
  });
});

describe("the headless browser", () => {
  it("stops at a response_mode=form_post form aimed at the redirect_uri, with its fields as the query", async () => {
    const { landed } = await codeForPublicClient({ response_mode: "form_post", state: "s-form-post" });
    expect(landed.searchParams.get("code")).toEqual(expect.any(String));
    expect(landed.searchParams.get("state")).toBe("s-form-post");
    expect(landed.searchParams.get("iss")).toBe(as.issuer);
  });

  it("submits a consent page's single POST form (hidden fields, first button, cookies) and follows on", async () => {
    const posts: Array<{ cookie: string | undefined; body: string }> = [];
    const page = `<!doctype html><html><body>
      <form method="GET" action="/search"><input name="q"></form>
      <form method="post" action="/consent?tx=1">
        <input type="hidden" name="csrf" value="a&amp;b">
        <input type="checkbox" name="remember">
        <button type="submit" name="decision" value="approve">Allow</button>
        <button type="submit" name="decision" value="deny">Deny</button>
      </form></body></html>`;
    const server = createServer((req, res) => {
      if (req.method === "GET" && req.url === "/start") {
        res.writeHead(200, { "content-type": "text/html", "set-cookie": "consent_tx=t-42; Path=/; HttpOnly" }).end(page);
        return;
      }
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        posts.push({ cookie: req.headers.cookie, body: Buffer.concat(chunks).toString() });
        res.writeHead(303, { location: "http://127.0.0.1:9/callback?code=from-consent" }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    expect(findSingleForm(page, `${origin}/start`)).toEqual({ action: new URL(`${origin}/consent?tx=1`), fields: { csrf: "a&b", decision: "approve" } });
    const landed = await followRedirects(`${origin}/start`, { until: (url) => url.pathname === "/callback" });
    expect(landed.searchParams.get("code")).toBe("from-consent");
    expect(posts).toEqual([{ cookie: "consent_tx=t-42", body: "csrf=a%26b&decision=approve" }]);

    const jar = new CookieJar();
    jar.set(origin, "consent_tx", "t-43");
    const { url, response } = await submitSingleForm(page, `${origin}/start`, jar, { fields: { decision: "deny" } });
    expect(url.href).toBe(`${origin}/consent?tx=1`);
    expect(response.status).toBe(303);
    expect(posts[1]).toEqual({ cookie: "consent_tx=t-43", body: "csrf=a%26b&decision=deny" });

    await expect(followRedirects(`${origin}/start`, { until: () => false, submitForms: false })).rejects.toThrow(
      /neither a redirect nor a single POST form at GET http:\/\/127\.0\.0\.1:\d+\/start \(status 200\); body: Allow Deny$/,
    );
  });
});
