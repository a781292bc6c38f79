/**
 * The gateway's public origin and the Connect flow's redirect_uri check, through real
 * gateways (LiteLLM's "Reverse proxy and ingress configuration"; README, "Behind a reverse
 * proxy: the public origin").
 *
 * Which peer a request comes from is controlled by binding the client socket: every gateway
 * listens on 127.0.0.1, and Linux routes all of 127/8 to lo, so a request sent with
 * `localAddress: "127.0.0.2"` reaches the gateway from the peer 127.0.0.2. The gateways
 * that trust a proxy trust 127.0.0.2/32 only; 127.0.0.1 plays the attacker who sends the
 * same X-Forwarded-* headers directly.
 *
 * Servers:
 * - `gh` (every gateway but the last): interactive oauth2 with a pre-stored client and
 *   configured authorization/token URLs that are never contacted, enough for the discovery
 *   documents, the 401 challenge and the Connect redirect; its MCP URL refuses connections.
 * - `conn` / `other` (the last gateway): interactive oauth2 against oidc-provider
 *   (`interactive-as.ts`) and an upstream that verifies the JWT (`protected-resource-upstream.ts`),
 *   for the whole Connect flow.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, followRedirects } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { rawJson, rawRequest, type RawRequest } from "../fixtures/raw-http.js";

const TRUSTED_PEER = "127.0.0.2";
const DIRECT_PEER = "127.0.0.1";
type Peer = typeof TRUSTED_PEER | typeof DIRECT_PEER;

const AUTHORIZATION_URL = "https://auth.upstream.example/oauth/authorize";
const GH = {
  url: "http://127.0.0.1:1/mcp",
  auth_type: "oauth2",
  client_id: "gatehouse-ui-client",
  client_secret: "gh-ui-secret-8c1d3e5f7a9b",
  authorization_url: AUTHORIZATION_URL,
  token_url: "https://auth.upstream.example/oauth/token",
  scopes: ["repo", "read:org"],
};
const FORWARDED = { "x-forwarded-proto": "https", "x-forwarded-host": "llm.example.com" };
const PUBLIC = "https://llm.example.com";
const UI_CALLBACK = "/ui/mcp/oauth/callback";

const gateways: TestGateway[] = [];
async function gatewayWith(options: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  const gateway = await startTestGateway(options);
  gateways.push(gateway);
  return gateway;
}

afterAll(async () => {
  await Promise.allSettled(gateways.splice(0).map((gateway) => gateway.close()));
});

// --- helpers ------------------------------------------------------------------------------


/** One HTTP request from a chosen local address (the peer the gateway sees); no keep-alive. */
const send = (url: string, from: Peer, init: Omit<Partial<RawRequest>, "localAddress"> = {}) => rawRequest(url, { ...init, method: init.method ?? "GET", localAddress: from });

const json = rawJson;
const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

/** What the three origin-bearing answers of `gh` say, fetched from `from` with `headers`. */
async function originEvidence(gateway: TestGateway, from: Peer, headers: Record<string, string>) {
  const prm = await send(`${gateway.url}/.well-known/oauth-protected-resource/gh/mcp`, from, { headers });
  const prmMcpFirst = await send(`${gateway.url}/.well-known/oauth-protected-resource/mcp/gh`, from, { headers });
  const asMetadata = await send(`${gateway.url}/.well-known/oauth-authorization-server/gh`, from, { headers });
  const openid = await send(`${gateway.url}/.well-known/openid-configuration/gh`, from, { headers });
  const challenge = await send(`${gateway.url}/gh/mcp`, from, {
    method: "POST",
    headers: { ...headers, ...MCP_ACCEPT, ...keyHeader(gateway.masterKey) },
    body: rpc("tools/list"),
  });
  for (const answer of [prm, prmMcpFirst, asMetadata, openid]) expect(answer.status, answer.text).toBe(200);
  expect(challenge.status, challenge.text).toBe(401);
  return { prm: json(prm), prmMcpFirst: json(prmMcpFirst), as: json(asMetadata), openid: json(openid), wwwAuthenticate: challenge.headers["www-authenticate"] };
}

/** Asserts that every document and the challenge were built from `origin`. */
async function expectOrigin(gateway: TestGateway, from: Peer, headers: Record<string, string>, origin: string): Promise<void> {
  const seen = await originEvidence(gateway, from, headers);
  expect(seen.prm).toMatchObject({ resource: `${origin}/gh/mcp`, authorization_servers: [`${origin}/gh`] });
  expect(seen.prmMcpFirst).toMatchObject({ resource: `${origin}/mcp/gh`, authorization_servers: [`${origin}/gh`] });
  const issuer = `${origin}/gh`;
  for (const document of [seen.as, seen.openid]) {
    expect(document).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      registration_endpoint: `${issuer}/register`,
    });
  }
  expect(seen.wwwAuthenticate).toBe(`Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/gh/mcp", scope="repo read:org"`);
}

function connectUrl(gateway: TestGateway, server: string, redirectUri?: string, state?: string): string {
  const url = new URL(`${gateway.url}/v1/mcp/server/oauth/${server}/authorize`);
  if (redirectUri !== undefined) url.searchParams.set("redirect_uri", redirectUri);
  if (state !== undefined) url.searchParams.set("state", state);
  return url.href;
}

const warnings = (gateway: TestGateway, pattern: RegExp) => gateway.logs.filter((line) => line["level"] === 40 && pattern.test(String(line["msg"])));

// --- (a) X-Forwarded-* from a trusted proxy only -----------------------------------------

describe("X-Forwarded-* with use_x_forwarded_for and mcp_trusted_proxy_ranges [127.0.0.2/32]", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await gatewayWith({
      servers: { gh: GH },
      general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: [`${TRUSTED_PEER}/32`] },
      env: { MCP_TRUSTED_REDIRECT_ORIGINS: "app.example.com,*.tools.example.com" },
    });
  });

  it("starts without origin warnings", () => {
    expect(warnings(gateway, /PROXY_BASE_URL|mcp_trusted_proxy_ranges|use_x_forwarded_for|MCP_TRUSTED_REDIRECT_ORIGINS/)).toEqual([]);
  });

  it.each<[string, Record<string, string>, string]>([
    ["proto + host", FORWARDED, PUBLIC],
    ["a non-default X-Forwarded-Port, appended", { ...FORWARDED, "x-forwarded-port": "8443" }, "https://llm.example.com:8443"],
    ["the default https port, normalised away", { ...FORWARDED, "x-forwarded-port": "443" }, PUBLIC],
    ["the default http port, normalised away", { "x-forwarded-proto": "http", "x-forwarded-host": "llm.example.com", "x-forwarded-port": "80" }, "http://llm.example.com"],
    ["a port inside X-Forwarded-Host", { ...FORWARDED, "x-forwarded-host": "llm.example.com:9443" }, "https://llm.example.com:9443"],
    ["an IPv6 literal host with X-Forwarded-Port", { "x-forwarded-proto": "https", "x-forwarded-host": "[2001:db8::1]", "x-forwarded-port": "8443" }, "https://[2001:db8::1]:8443"],
    ["an IPv6 literal host with its port inside", { "x-forwarded-proto": "https", "x-forwarded-host": "[2001:db8::1]:9443", "x-forwarded-port": "8443" }, "https://[2001:db8::1]:9443"],
    ["lists of values (the first hop wins)", { "x-forwarded-proto": "https, http", "x-forwarded-host": "llm.example.com, 10.0.0.5:4000" }, PUBLIC],
  ])("honours %s from the trusted peer in RFC 9728, RFC 8414 and the 401 challenge", async (_label, headers, origin) => {
    await expectOrigin(gateway, TRUSTED_PEER, headers, origin);
  });

  it("falls back to the request's own URL from the trusted peer when no header is sent", async () => {
    await expectOrigin(gateway, TRUSTED_PEER, {}, gateway.url);
  });

  it.each<[string, Record<string, string>]>([
    ["a host with a path", { "x-forwarded-proto": "https", "x-forwarded-host": "llm.example.com/evil" }],
    ["a host with userinfo", { "x-forwarded-proto": "https", "x-forwarded-host": "llm.example.com@evil.example" }],
    ["a scheme that is not http(s)", { "x-forwarded-proto": "javascript", "x-forwarded-host": "llm.example.com" }],
  ])("falls back to the request's own URL when the trusted peer forwards %s", async (_label, headers) => {
    await expectOrigin(gateway, TRUSTED_PEER, headers, gateway.url);
  });

  it.each<[string, Record<string, string>]>([
    ["proto + host", FORWARDED],
    ["proto + host + port", { ...FORWARDED, "x-forwarded-port": "8443" }],
    ["an attacker's host", { "x-forwarded-proto": "https", "x-forwarded-host": "evil.example" }],
  ])("ignores %s from an untrusted peer (the request's own URL)", async (_label, headers) => {
    await expectOrigin(gateway, DIRECT_PEER, headers, gateway.url);
  });
});

// --- (b) use_x_forwarded_for without (valid) ranges --------------------------------------

describe("use_x_forwarded_for without mcp_trusted_proxy_ranges", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await gatewayWith({ servers: { gh: GH }, general: { use_x_forwarded_for: true } });
  });

  it("trusts nobody, 127.0.0.2 included", async () => {
    await expectOrigin(gateway, TRUSTED_PEER, { ...FORWARDED, "x-forwarded-port": "8443" }, gateway.url);
    await expectOrigin(gateway, DIRECT_PEER, FORWARDED, gateway.url);
  });

  it("says so exactly once in the log, at startup", async () => {
    await expectOrigin(gateway, TRUSTED_PEER, FORWARDED, gateway.url);
    const said = warnings(gateway, /use_x_forwarded_for is true but mcp_trusted_proxy_ranges is empty/);
    expect(said).toHaveLength(1);
    expect(gateway.logs.indexOf(said[0]!)).toBeLessThan(gateway.logs.findIndex((line) => line["msg"] === "gatehouse is listening"));
  });
});

describe("malformed mcp_trusted_proxy_ranges", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await gatewayWith({
      servers: { gh: GH },
      general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: ["127.0.0.2/", "127.0.0.2/33", "not-a-cidr", "127.0.0.2/1e1", "127.0.0.2/32/8"] },
    });
  });

  it("are each ignored with a warning, and trust nobody", async () => {
    const said = warnings(gateway, /mcp_trusted_proxy_ranges: '.*' is not an IPv4 or IPv6 CIDR/);
    expect(said.map((line) => line["msg"])).toEqual([
      expect.stringContaining("'127.0.0.2/'"),
      expect.stringContaining("'127.0.0.2/33'"),
      expect.stringContaining("'not-a-cidr'"),
      expect.stringContaining("'127.0.0.2/1e1'"),
      expect.stringContaining("'127.0.0.2/32/8'"),
    ]);
    await expectOrigin(gateway, TRUSTED_PEER, FORWARDED, gateway.url);
    await expectOrigin(gateway, DIRECT_PEER, FORWARDED, gateway.url);
  });
});

// --- (c) PROXY_BASE_URL ----------------------------------------------------------------------

describe("PROXY_BASE_URL", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await gatewayWith({
      servers: { gh: GH },
      general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: ["127.0.0.0/8"] },
      env: { PROXY_BASE_URL: "https://gw.example.com:443" },
    });
  });

  it("wins over trusted X-Forwarded-* headers and the request's URL, default port normalised", async () => {
    await expectOrigin(gateway, TRUSTED_PEER, { ...FORWARDED, "x-forwarded-port": "8443" }, "https://gw.example.com");
    await expectOrigin(gateway, DIRECT_PEER, {}, "https://gw.example.com");
    expect(warnings(gateway, /PROXY_BASE_URL/)).toEqual([]);
  });

  it("is the origin the Connect check compares with", async () => {
    const accepted = await send(connectUrl(gateway, "gh", `https://gw.example.com${UI_CALLBACK}`), TRUSTED_PEER, { headers: { ...FORWARDED, ...keyHeader(gateway.masterKey) } });
    expect(accepted.status, accepted.text).toBe(302);
    expect(new URL(accepted.headers.location!).searchParams.get("redirect_uri")).toBe("https://gw.example.com/callback");
    const refused = await send(connectUrl(gateway, "gh", `${PUBLIC}${UI_CALLBACK}`), TRUSTED_PEER, { headers: { ...FORWARDED, ...keyHeader(gateway.masterKey) } });
    expect(refused.status).toBe(400);
    expect(json(refused)["hint"]).toContain("https://gw.example.com");
  });

  it.each(["https://gw.example.com/", "https://gw.example.com/ui", "https://gw.example.com/.", "https://gw.example.com?", "https://gw.example.com#", "gw.example.com", "ftp://gw.example.com", "https://user@gw.example.com"])(
    "an invalid value (%s) is ignored with exactly one warning at startup",
    async (value) => {
      const invalid = await gatewayWith({
        servers: { gh: GH },
        general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: [`${TRUSTED_PEER}/32`] },
        env: { PROXY_BASE_URL: value },
      });
      // The next rule applies: trusted headers, else the request's URL.
      await expectOrigin(invalid, TRUSTED_PEER, FORWARDED, PUBLIC);
      await expectOrigin(invalid, DIRECT_PEER, FORWARDED, invalid.url);
      const said = warnings(invalid, /PROXY_BASE_URL/);
      expect(said).toHaveLength(1);
      expect(said[0]!["msg"]).toContain(JSON.stringify(value));
      expect(said[0]!["msg"]).toMatch(/ignored/);
      await invalid.close();
    },
  );
});

// --- (d) the Connect endpoint -----------------------------------------------------------

describe("GET /v1/mcp/server/oauth/{server_id}/authorize", () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await gatewayWith({
      servers: { gh: GH },
      general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: [`${TRUSTED_PEER}/32`] },
      env: { MCP_TRUSTED_REDIRECT_ORIGINS: "app.example.com,*.tools.example.com" },
    });
  });

  it("needs a gateway key: 401 without one or with a wrong one, for known and unknown servers alike", async () => {
    for (const [server, headers] of [
      ["gh", {}],
      ["gh", keyHeader("sk-not-a-key")],
      ["no-such-server", {}],
    ] as const) {
      const answer = await send(connectUrl(gateway, server, "http://localhost:3000/cb"), DIRECT_PEER, { headers });
      expect(answer.status, `${server} ${JSON.stringify(headers)}`).toBe(401);
      expect(answer.headers.location).toBeUndefined();
    }
  });

  it("refuses a foreign redirect_uri: 400 invalid_request with a hint, and one warn line with the forwarded headers", async () => {
    const before = gateway.logs.length;
    const redirectUri = "https://evil.example/ui/mcp/oauth/callback";
    const headers = { ...FORWARDED, "x-forwarded-port": "8443", ...keyHeader(gateway.masterKey) };
    const answer = await send(connectUrl(gateway, "gh", redirectUri), TRUSTED_PEER, { headers });
    expect(answer.status).toBe(400);
    expect(answer.headers["content-type"]).toMatch(/^application\/json/);
    expect(answer.headers.location).toBeUndefined();
    const body = json(answer);
    expect(body["detail"]).toBe("invalid_request");
    expect(body["error_description"]).toEqual(expect.stringContaining("https://evil.example"));
    const hint = String(body["hint"]);
    expect(hint).toContain("https://llm.example.com:8443");
    expect(hint).toContain("PROXY_BASE_URL");
    expect(hint).toContain("MCP_TRUSTED_REDIRECT_ORIGINS");

    const lines = gateway.logs.slice(before).filter((line) => (line["level"] as number) >= 40);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      redirect_uri: redirectUri,
      resolved_origin: "https://llm.example.com:8443",
      peer: TRUSTED_PEER,
      forwarded: { "x-forwarded-proto": "https", "x-forwarded-host": "llm.example.com", "x-forwarded-port": "8443" },
    });
    expect(JSON.stringify(lines[0])).not.toContain(gateway.masterKey);
  });

  it("names the request's own origin in the hint when the same headers come from an untrusted peer", async () => {
    const before = gateway.logs.length;
    const answer = await send(connectUrl(gateway, "gh", `${PUBLIC}${UI_CALLBACK}`), DIRECT_PEER, { headers: { ...FORWARDED, ...keyHeader(gateway.masterKey) } });
    expect(answer.status).toBe(400);
    expect(json(answer)).toMatchObject({ detail: "invalid_request", hint: expect.stringContaining(`as ${gateway.url};`) });
    const lines = gateway.logs.slice(before).filter((line) => (line["level"] as number) >= 40);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ resolved_origin: gateway.url, peer: DIRECT_PEER, forwarded: { "x-forwarded-host": "llm.example.com" } });
  });

  it("refuses a missing redirect_uri and the classic tricks the same way", async () => {
    for (const redirectUri of [undefined, "https://llm.example.com@evil.example/cb", `${PUBLIC}${UI_CALLBACK}#x`, "javascript:alert(1)", "http://app.example.com/cb", "https://tools.example.com/cb"]) {
      const answer = await send(connectUrl(gateway, "gh", redirectUri), TRUSTED_PEER, { headers: { ...FORWARDED, ...keyHeader(gateway.masterKey) } });
      expect(answer.status, String(redirectUri)).toBe(400);
      expect(json(answer), String(redirectUri)).toMatchObject({ detail: "invalid_request", error_description: expect.any(String), hint: expect.stringContaining(PUBLIC) });
    }
  });

  it("accepts an MCP_TRUSTED_REDIRECT_ORIGINS origin: 302 to the upstream authorization endpoint", async () => {
    for (const redirectUri of ["https://app.example.com/oauth/done", "https://a.tools.example.com/cb"]) {
      const answer = await send(connectUrl(gateway, "gh", redirectUri, "ui-state"), DIRECT_PEER, { headers: keyHeader(gateway.masterKey) });
      expect(answer.status, answer.text).toBe(302);
      const location = new URL(answer.headers.location!);
      expect(`${location.origin}${location.pathname}`).toBe(AUTHORIZATION_URL);
      expect(Object.fromEntries(location.searchParams)).toMatchObject({
        response_type: "code",
        client_id: GH.client_id,
        redirect_uri: `${gateway.url}/callback`,
        code_challenge_method: "S256",
        scope: "repo read:org",
      });
      // The client's state stays at the gateway; the upstream gets the gateway's own.
      expect(location.searchParams.get("state")).not.toBe("ui-state");
      expect(answer.headers["cache-control"]).toBe("no-store");
    }
  });

  it("accepts loopback redirect_uris whatever the resolved origin", async () => {
    for (const redirectUri of ["http://localhost:5173/cb", "http://127.0.0.1:8976/cb", "http://[::1]:8080/cb"]) {
      const answer = await send(connectUrl(gateway, "gh", redirectUri), TRUSTED_PEER, { headers: { ...FORWARDED, ...keyHeader(gateway.masterKey) } });
      expect(answer.status, `${redirectUri}: ${answer.text}`).toBe(302);
      expect(new URL(answer.headers.location!).searchParams.get("redirect_uri")).toBe(`${PUBLIC}/callback`);
    }
  });

  it("behind the trusted proxy accepts the public UI callback and sends the upstream the public /callback", async () => {
    const answer = await send(connectUrl(gateway, "gh", `${PUBLIC}${UI_CALLBACK}`), TRUSTED_PEER, { headers: { ...FORWARDED, ...keyHeader(gateway.masterKey) } });
    expect(answer.status, answer.text).toBe(302);
    const location = new URL(answer.headers.location!);
    expect(`${location.origin}${location.pathname}`).toBe(AUTHORIZATION_URL);
    expect(location.searchParams.get("redirect_uri")).toBe(`${PUBLIC}/callback`);
  });

  it("the /register sibling applies the same check", async () => {
    const register = (from: Peer, redirectUris: string[]) =>
      send(`${gateway.url}/v1/mcp/server/oauth/gh/register`, from, {
        method: "POST",
        headers: { ...FORWARDED, ...keyHeader(gateway.masterKey), "content-type": "application/json" },
        body: JSON.stringify({ client_name: "ui", redirect_uris: redirectUris }),
      });
    const refused = await register(TRUSTED_PEER, [`${PUBLIC}${UI_CALLBACK}`, "https://evil.example/cb"]);
    expect(refused.status).toBe(400);
    expect(json(refused)).toMatchObject({ detail: "invalid_request", hint: expect.stringContaining(PUBLIC) });
    const untrusted = await register(DIRECT_PEER, [`${PUBLIC}${UI_CALLBACK}`]);
    expect(untrusted.status).toBe(400);
    const accepted = await register(TRUSTED_PEER, [`${PUBLIC}${UI_CALLBACK}`]);
    expect(accepted.status, accepted.text).toBe(201);
    expect(json(accepted)).toMatchObject({ client_id: expect.any(String), redirect_uris: [`${PUBLIC}${UI_CALLBACK}`] });
    const anonymous = await send(`${gateway.url}/v1/mcp/server/oauth/gh/register`, DIRECT_PEER, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: ["http://localhost:3000/cb"] }),
    });
    expect(anonymous.status).toBe(401);
  });
});

// --- (e) the whole Connect flow -----------------------------------------------------------

describe("the Connect flow end to end (oidc-provider)", () => {
  let upstream: ProtectedResourceUpstream;
  let as: InteractiveAuthorizationServer;
  let gateway: TestGateway;
  const keys = { alice: "", bob: "", carol: "" };

  beforeAll(async () => {
    upstream = await startProtectedResourceUpstream({ name: "connect-upstream" });
    as = await startInteractiveAuthorizationServer({ resource: upstream.url });
    upstream.trust(as);
    const server = {
      url: upstream.url,
      auth_type: "oauth2",
      authorization_url: as.authorizationEndpoint,
      token_url: as.tokenEndpoint,
      registration_url: as.registrationEndpoint,
      scopes: ["mcp:read"],
    };
    gateway = await gatewayWith({ servers: { conn: server, other: server } });
    for (const user of Object.keys(keys) as Array<keyof typeof keys>) {
      keys[user] = await gateway.generateKey({ user_id: user, key_alias: `${user}-key` });
    }
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([as?.close(), upstream?.close()]);
  });

  const uiCallback = () => `${gateway.url}${UI_CALLBACK}`;
  const landsOnUiCallback = (candidate: URL) => `${candidate.origin}${candidate.pathname}` === uiCallback();

  /** Presses Connect as `key`, logs in at the AS as `account`, and stops at the UI callback (not fetched). */
  async function connectAs(server: string, key: string, account: string, state = "ui-state"): Promise<URL> {
    as.setAccountId(account);
    const start = await fetch(connectUrl(gateway, server, uiCallback(), state), { headers: keyHeader(key), redirect: "manual" });
    expect(start.status, await start.clone().text()).toBe(302);
    const location = new URL(start.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(as.authorizationEndpoint);
    // The browser keeps the flow cookie the gateway set on its way upstream.
    const jar = new CookieJar();
    jar.store(connectUrl(gateway, server, uiCallback(), state), start);
    const landed = await followRedirects(location, { until: landsOnUiCallback, cookies: jar });
    expect(landed.searchParams.get("state")).toBe(state);
    expect(landed.searchParams.get("iss")).toBe(`${gateway.url}/${server}`);
    expect(landed.searchParams.get("code")).toEqual(expect.any(String));
    return landed;
  }

  async function callEcho(server: string, key: string, message: string) {
    const response = await fetch(`${gateway.url}/${server}/mcp`, {
      method: "POST",
      headers: { ...MCP_ACCEPT, ...keyHeader(key) },
      body: rpc("tools/call", { name: "echo", arguments: { message } }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  }

  const bearerOf = (headers: Record<string, string>) => /^Bearer (\S+)$/.exec(headers["authorization"] ?? "")?.[1];

  const challengeOf = (server: string) => `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/${server}/mcp", scope="mcp:read"`;

  /** POST /v1/mcp/server/oauth/{server}/token, the UI's JSON sibling of /ui/mcp/oauth/callback. */
  const redeemAt = (server: string, key: string | null, body: unknown) =>
    fetch(`${gateway.url}/v1/mcp/server/oauth/${server}/token`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key === null ? {} : keyHeader(key)) },
      body: JSON.stringify(body),
    });

  it("a user without a stored token gets the 401 challenge at first", async () => {
    const answer = await callEcho("conn", keys.alice, "before");
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(challengeOf("conn"));
  });

  it("master key: Connect → AS → /callback → /ui/mcp/oauth/callback (303 to the server page); the stored token is used; a replay is a 400 page", async () => {
    const authorizations = as.authorizationRequests().length;
    const landed = await connectAs("other", gateway.masterKey, "as-admin");
    expect(as.authorizationRequests()[authorizations]).toMatchObject({ redirect_uri: `${gateway.url}/callback`, resource: upstream.url, code_challenge_method: "S256", scope: "mcp:read" });

    const finished = await fetch(landed, { redirect: "manual" });
    expect(finished.status).toBe(303);
    expect(finished.headers.get("location")).toBe("/ui/mcp/servers/other?connected=1");
    expect(finished.headers.get("cache-control")).toBe("no-store");

    // A plain call with the same key and no bearer: the stored per-user token goes upstream.
    const answer = await callEcho("other", gateway.masterKey, "admin connected");
    expect(answer.status, answer.text).toBe(200);
    expect(answer.text).toContain("admin connected");
    const token = bearerOf(upstream.lastHeaders());
    expect(token).toBe(as.issuedTokens().at(-1));
    expect(upstream.claims(token!)).toMatchObject({ sub: "as-admin", aud: upstream.url });
    expect(JSON.stringify(upstream.lastHeaders())).not.toContain(gateway.masterKey);

    // Another key, and the same key at another server, are still challenged.
    const carol = await callEcho("other", keys.carol, "carol");
    expect(carol.status).toBe(401);
    expect(carol.headers.get("www-authenticate")).toBe(challengeOf("other"));
    expect((await callEcho("conn", gateway.masterKey, "admin")).status).toBe(401);

    // The UI callback URL works once.
    const exchanges = as.tokenRequests().length;
    const replay = await fetch(landed, { redirect: "manual" });
    expect(replay.status).toBe(400);
    expect(replay.headers.get("content-type")).toMatch(/^text\/html/);
    expect(replay.headers.get("location")).toBeNull();
    expect(await replay.text()).toMatch(/Connect again/);
    expect(as.tokenRequests()).toHaveLength(exchanges);
  });

  it("the /token sibling refuses a code of another server without redeeming it upstream or storing anything", async () => {
    const landed = await connectAs("conn", gateway.masterKey, "as-admin");
    const exchanges = as.tokenRequests().length;
    const answer = await redeemAt("other", gateway.masterKey, { code: landed.searchParams.get("code") });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: "invalid_grant" });
    expect(as.tokenRequests()).toHaveLength(exchanges);
    expect((await callEcho("conn", gateway.masterKey, "admin")).status).toBe(401);
  });

  it("a denial at the authorization server ends on the UI callback with a 400 page, storing nothing", async () => {
    as.setDecision("deny");
    let landed: URL;
    try {
      const start = await fetch(connectUrl(gateway, "conn", uiCallback(), "deny-state"), { headers: keyHeader(gateway.masterKey), redirect: "manual" });
      expect(start.status).toBe(302);
      const jar = new CookieJar();
      jar.store(connectUrl(gateway, "conn", uiCallback(), "deny-state"), start);
      landed = await followRedirects(start.headers.get("location")!, { until: landsOnUiCallback, cookies: jar });
    } finally {
      as.setDecision("approve");
    }
    expect(Object.fromEntries(landed.searchParams)).toMatchObject({ error: "access_denied", state: "deny-state", iss: `${gateway.url}/conn` });
    expect(landed.searchParams.get("code")).toBeNull();
    const page = await fetch(landed, { redirect: "manual" });
    expect(page.status).toBe(400);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("access_denied");
    expect((await callEcho("conn", gateway.masterKey, "admin")).status).toBe(401);
  });

  it("the /token sibling redeems a Connect code as JSON, with a key, once", async () => {
    const landed = await connectAs("conn", gateway.masterKey, "as-admin-2");
    const code = landed.searchParams.get("code")!;
    expect((await redeemAt("conn", null, { code })).status).toBe(401);
    const missing = await redeemAt("conn", gateway.masterKey, {});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });

    const redeemed = await redeemAt("conn", gateway.masterKey, { code });
    expect(redeemed.status).toBe(200);
    expect(redeemed.headers.get("cache-control")).toBe("no-store");
    const body = (await redeemed.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ connected: true, server_id: "conn", server_name: "conn", expires_in: expect.any(Number) });
    // The upstream's tokens stay in the gateway.
    expect(JSON.stringify(body)).not.toMatch(/eyJ|access_token|refresh_token/);

    const answer = await callEcho("conn", gateway.masterKey, "admin at conn");
    expect(answer.status, answer.text).toBe(200);
    expect(upstream.claims(bearerOf(upstream.lastHeaders())!)).toMatchObject({ sub: "as-admin-2" });

    const replay = await redeemAt("conn", gateway.masterKey, { code });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_grant" });
  });

  // Virtual keys with a user_id: the seed's signed-in users. The Connect endpoint must not be
  // a master-only admin route.
  it("a virtual key with user_id connects through /ui/mcp/oauth/callback; its token is its own", async () => {
    const landed = await connectAs("conn", keys.alice, "as-alice");
    const finished = await fetch(landed, { redirect: "manual" });
    expect(finished.status).toBe(303);
    expect(finished.headers.get("location")).toBe("/ui/mcp/servers/conn?connected=1");

    const answer = await callEcho("conn", keys.alice, "alice connected");
    expect(answer.status, answer.text).toBe(200);
    expect(upstream.claims(bearerOf(upstream.lastHeaders())!)).toMatchObject({ sub: "as-alice", aud: upstream.url });
    expect(JSON.stringify(upstream.lastHeaders())).not.toContain(keys.alice);

    const bob = await callEcho("conn", keys.bob, "bob");
    expect(bob.status).toBe(401);
    expect(bob.headers.get("www-authenticate")).toBe(challengeOf("conn"));
  });

  it("a virtual key with user_id connects through the /token sibling", async () => {
    const landed = await connectAs("conn", keys.bob, "as-bob");
    const redeemed = await redeemAt("conn", keys.bob, { code: landed.searchParams.get("code") });
    expect(redeemed.status).toBe(200);
    expect(await redeemed.json()).toMatchObject({ connected: true, server_id: "conn" });
    const answer = await callEcho("conn", keys.bob, "bob connected");
    expect(answer.status, answer.text).toBe(200);
    expect(upstream.claims(bearerOf(upstream.lastHeaders())!)).toMatchObject({ sub: "as-bob" });
    expect((await callEcho("conn", keys.carol, "carol")).status).toBe(401);
  });
});
