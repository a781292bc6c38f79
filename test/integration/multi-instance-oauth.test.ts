/**
 * Interactive OAuth (authorization code + PKCE, per-user token store) on two gateway
 * instances that share one database, behind one public origin: what a deployment behind
 * a load balancer without sticky sessions sees. Once on PostgreSQL (skipped with the
 * fixture's message when no server answers; an error under CI=true), once on one SQLite file.
 *
 * Setup (`two-gateways.ts`): a loopback proxy is the balancer and the public origin
 * (`PROXY_BASE_URL` of both instances, so `{origin}/callback` is the same wherever a flow
 * started); each test routes requests to instance A or B by path, or round-robin. Both
 * instances are in-process gateways with the same config, master key and salt key.
 *
 * Peers: oidc-provider (`interactive-as.ts`) and an SDK MCP server that verifies the JWT
 * access tokens (`jwt-upstream.ts`). Two interactive servers point at them:
 * - `dyn`: configured authorization/token/registration URLs, no client_id: the gateway
 *   registers itself at the authorization server (a confidential client) per MCP client;
 * - `rot`: a pre-registered *public* upstream client (no secret; consent page first). For
 *   public clients oidc-provider rotates refresh tokens on every use (its default
 *   `rotateRefreshToken`), and treats a second use of a rotated refresh token as theft:
 *   `invalid_grant`, and the whole grant revoked (OAuth 2.1 §4.3.1 reuse detection).
 * The token URL of both goes through a second loopback proxy in front of the
 * authorization server's token endpoint, so a test can make it answer slowly.
 *
 * The test opens the database itself (same salt key) to read the stored per-user tokens
 * and to move their expiry into the past: the clock cannot be made to pass an hour.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { oauthRepository, type OauthRepository, type StoredUserToken } from "../../src/store/oauth-repository.js";
import { createSecretBox } from "../../src/store/secret-box.js";
import { createTestDatabase, postgresAvailable, type TestDatabase } from "../fixtures/databases.js";
import { MCP_ACCEPT, rpc } from "../fixtures/gateway.js";
import { CookieJar, followRedirects } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer, type TokenRequestRecord } from "../fixtures/interactive-as.js";
import { startJwtUpstream, type JwtUpstream } from "../fixtures/jwt-upstream.js";
import { connectWithOAuth, type OAuthConnection } from "../fixtures/mcp-oauth-client.js";
import { startGatewayPair, startLoopbackProxy, type GatewayPair, type LoopbackProxy, type ProxiedRequest } from "../fixtures/two-gateways.js";
import { loopbackRedirectUri as loopbackRedirect, pkcePair as pkce } from "../fixtures/mcp-oauth-client.js";

const SALT = "multi-instance-oauth-salt";
/** The gateway's pre-registered public client at the authorization server (no secret: refresh tokens rotate). */
const PUBLIC_CLIENT = "gatehouse-public-client";
/**
 * How long the slow token endpoint holds the first spend of a refresh token while waiting for
 * a second spend of the same token. A gateway that never spends a refresh token twice pays
 * this once; the hold ends as soon as the second spend arrives otherwise.
 */
const HOLD_LIMIT_MS = 5_000;

type User = "alice" | "bob" | "carol" | "dora";

interface McpAnswer {
  status: number;
  text: string;
  wwwAuthenticate: string | null;
  /** The echo's text, when the call succeeded. */
  echoed?: string;
}

interface RawFlow {
  clientId: string;
  redirectUri: string;
  verifier: string;
  /** Where the browser came back to the MCP client: code, state, iss. */
  landed: URL;
}

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });

/** The bearer token of an upstream request. */
function bearerOf(headers: Record<string, string>): string | undefined {
  return /^Bearer (\S+)$/.exec(headers["authorization"] ?? "")?.[1];
}

/** `METHOD /path → backend` of a proxied request (no query). */
const servedBy = (request: ProxiedRequest) => `${request.method} ${request.path.split("?")[0]} → ${request.backend}`;

function describeGatewayPair(dialect: "postgres" | "sqlite"): void {
  let database: TestDatabase;
  let upstream: JwtUpstream;
  let as: InteractiveAuthorizationServer;
  /** The balancer in front of both instances: the public origin. */
  let front: LoopbackProxy;
  /** In front of the authorization server's token endpoint. */
  let tokenProxy: LoopbackProxy;
  let pair: GatewayPair;
  let store: Database;
  let repo: OauthRepository;
  const keys = {} as Record<User, string>;
  const connections: OAuthConnection[] = [];

  beforeAll(async () => {
    [database, upstream, front] = await Promise.all([createTestDatabase(dialect), startJwtUpstream({ name: "protected" }), startLoopbackProxy()]);
    // The public client may redirect only to the balancer's /callback: both instances use that one.
    as = await startInteractiveAuthorizationServer({ resource: upstream.url, clients: [{ client_id: PUBLIC_CLIENT, redirect_uris: [`${front.url}/callback`] }] });
    upstream.trust(as);
    tokenProxy = await startLoopbackProxy({ backends: { as: as.issuer } });
    const endpoints = { authorization_url: as.authorizationEndpoint, token_url: `${tokenProxy.url}/token` };
    pair = await startGatewayPair({
      front,
      databaseUrl: database.url,
      env: { GATEHOUSE_SALT_KEY: SALT },
      servers: {
        dyn: { url: upstream.url, auth_type: "oauth2", ...endpoints, registration_url: as.registrationEndpoint },
        rot: { url: upstream.url, auth_type: "oauth2", client_id: PUBLIC_CLIENT, ...endpoints },
      },
    });
    store = await openDatabase(database.url);
    repo = oauthRepository(store.db, createSecretBox(SALT));
    for (const user of ["alice", "bob", "carol", "dora"] as const) keys[user] = await pair.a.generateKey({ user_id: user, key_alias: `${user}-${dialect}` });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(connections.map((connection) => connection.client.close()));
    await pair?.close();
    await store?.close();
    await Promise.allSettled([front?.close(), tokenProxy?.close(), as?.close(), upstream?.close()]);
    await database?.drop();
  });

  // --- helpers ----------------------------------------------------------------------------

  async function register(server: string, redirectUri: string): Promise<string> {
    const response = await fetch(`${front.url}/${server}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: `multi-instance ${dialect}`,
        redirect_uris: [redirectUri],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(201);
    return (JSON.parse(text) as { client_id: string }).client_id;
  }

  /** A hand-made MCP client through the balancer: register, then the browser from /authorize to the redirect_uri. */
  async function authorizeFlow(server: string, user: User): Promise<RawFlow> {
    as.setAccountId(user);
    const redirectUri = loopbackRedirect();
    const clientId = await register(server, redirectUri);
    const { verifier, challenge } = pkce();
    const url = new URL(`${front.url}/${server}/authorize`);
    for (const [name, value] of Object.entries({ response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: `state-${user}` })) {
      url.searchParams.set(name, value);
    }
    const target = new URL(redirectUri);
    // A fresh browser profile: the authorization server logs this user in.
    const landed = await followRedirects(url, { until: (candidate) => candidate.origin === target.origin && candidate.pathname === target.pathname, cookies: new CookieJar() });
    return { clientId, redirectUri, verifier, landed };
  }

  async function redeem(server: string, flow: RawFlow, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${front.url}/${server}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", ...keyHeader(key) },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: flow.landed.searchParams.get("code") ?? "",
        client_id: flow.clientId,
        redirect_uri: flow.redirectUri,
        code_verifier: flow.verifier,
      }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** A user connects through the balancer (round-robin); returns the tokens the gateway stored for them. */
  async function connectUser(server: string, user: User): Promise<StoredUserToken> {
    front.roundRobin();
    const flow = await authorizeFlow(server, user);
    const answer = await redeem(server, flow, keys[user]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const stored = await repo.getUserToken(server, `user:${user}`);
    expect(stored?.access_token).toBe(answer.body.access_token);
    expect(stored?.refresh_token).toEqual(expect.any(String));
    return stored!;
  }

  /** The stored access token has expired (for the gateway: expiry in the past; for the upstream: refused from now on). */
  async function expireStored(server: string, user: User): Promise<StoredUserToken> {
    const stored = await repo.getUserToken(server, `user:${user}`);
    expect(stored, `a stored token for ${user} on ${server}`).toBeDefined();
    upstream.revoke(stored!.access_token);
    await repo.saveUserToken(server, `user:${user}`, { ...stored!, expiresAt: Date.now() - 1_000 });
    return stored!;
  }

  /** tools/call echo at `{instance}/{server}/mcp`, with exactly these auth headers. */
  async function callEcho(instance: string, server: string, headers: Record<string, string>, message: string): Promise<McpAnswer> {
    const response = await fetch(`${instance}/${server}/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message } }) });
    const text = await response.text();
    const answer: McpAnswer = { status: response.status, text, wwwAuthenticate: response.headers.get("www-authenticate") };
    if (response.status === 200) {
      const echoed = (JSON.parse(text) as { result?: { content?: Array<{ text?: string }> } }).result?.content?.[0]?.text;
      if (echoed !== undefined) answer.echoed = echoed;
    }
    return answer;
  }

  const refreshGrants = (): TokenRequestRecord[] => as.tokenRequests().filter((record) => record.grant_type === "refresh_token");

  // --- tests ------------------------------------------------------------------------------

  it("a flow registered and authorized on A comes back to B's /callback and is redeemed on B; the token works on A and on B", async () => {
    const seen = front.requests.length;
    front.setRoute(({ path }) => (path.startsWith("/callback") || path.startsWith("/dyn/token") ? "b" : "a"));
    const flow = await authorizeFlow("dyn", "alice");
    const answer = await redeem("dyn", flow, keys.alice);
    front.roundRobin();

    expect(front.requests.slice(seen).map(servedBy)).toEqual(["POST /dyn/register → a", "GET /dyn/authorize → a", "GET /callback → b", "POST /dyn/token → b"]);
    expect(front.requests.slice(seen).map((request) => request.status)).toEqual([201, 302, 302, 200]);
    // A registered the gateway at the authorization server for the balancer's /callback...
    expect(as.registrations().at(-1)).toMatchObject({ redirect_uris: [`${front.url}/callback`], token_endpoint_auth_method: "client_secret_basic" });
    expect(as.authorizationRequests().at(-1)).toMatchObject({ redirect_uri: `${front.url}/callback`, resource: upstream.url, code_challenge_method: "S256" });
    // ...B relayed the code with the client's state and the public issuer, and redeemed the
    // upstream code with A's registration (read from the database) and A's PKCE verifier.
    expect(Object.fromEntries(flow.landed.searchParams)).toMatchObject({ code: expect.any(String), state: "state-alice", iss: `${front.url}/dyn` });
    expect(as.tokenRequests().filter((record) => record.grant_type === "authorization_code").at(-1)).toMatchObject({
      authMethod: "basic",
      status: 200,
      params: { redirect_uri: `${front.url}/callback`, code_verifier: expect.any(String) },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: expect.stringMatching(/^bearer$/i) });
    const token = answer.body.access_token as string;

    // The MCP client's own bearer, on each instance directly.
    for (const [name, instance] of [["A", pair.a.url], ["B", pair.b.url]] as const) {
      const call = await callEcho(instance, "dyn", { authorization: `Bearer ${token}`, ...keyHeader(keys.alice) }, `bearer via ${name}`);
      expect(call, `${name}: ${call.text}`).toMatchObject({ status: 200, echoed: `bearer via ${name}` });
      expect(bearerOf(upstream.lastHeaders())).toBe(token);
    }
    // B stored the tokens for alice (the token request carried her key): both instances use them.
    expect((await repo.getUserToken("dyn", "user:alice"))?.access_token).toBe(token);
    for (const [name, instance] of [["A", pair.a.url], ["B", pair.b.url]] as const) {
      const call = await callEcho(instance, "dyn", keyHeader(keys.alice), `stored via ${name}`);
      expect(call, `${name}: ${call.text}`).toMatchObject({ status: 200, echoed: `stored via ${name}` });
      expect(bearerOf(upstream.lastHeaders())).toBe(token);
    }
    expect(upstream.claims(token)).toMatchObject({ sub: "alice", aud: upstream.url });
    // Another user, never connected, is challenged with the balancer's metadata URL by either instance.
    for (const instance of [pair.a.url, pair.b.url]) {
      const call = await callEcho(instance, "dyn", keyHeader(keys.bob), "not connected");
      expect(call.status).toBe(401);
      expect(call.wwwAuthenticate).toBe(`Bearer resource_metadata="${front.url}/.well-known/oauth-protected-resource/dyn/mcp"`);
    }
  });

  it("an SDK client behind a round-robin balancer (no stickiness) connects, consents and calls tools on both instances", async () => {
    front.roundRobin();
    as.setAccountId("bob");
    const seen = front.requests.length;
    const connection = await connectWithOAuth(`${front.url}/rot/mcp`, keyHeader(keys.bob));
    connections.push(connection);
    expect(connection.authorized).toBe(true);

    const flow = front.requests.slice(seen);
    const find = (method: string, path: string) => {
      const found = flow.find((request) => request.method === method && request.path.split("?")[0] === path);
      expect(found, `${method} ${path} went through the balancer: ${flow.map(servedBy).join(", ")}`).toBeDefined();
      return found!;
    };
    const consentPage = find("GET", "/rot/authorize");
    const consent = find("POST", "/rot/authorize");
    const callback = find("GET", "/callback");
    const token = find("POST", "/rot/token");
    expect([consentPage.status, consent.status, callback.status, token.status]).toEqual([200, 302, 302, 200]);
    // The consent form shown by one instance was accepted by the other (CSRF key from the salt
    // key), and the flow it started was finished by the other again (flow in the database).
    const trail = flow.map(servedBy).join(", ");
    expect(consent.backend, trail).not.toBe(consentPage.backend);
    expect(callback.backend, trail).not.toBe(consent.backend);
    expect(new Set(flow.map((request) => request.backend))).toEqual(new Set(["a", "b"]));
    // The public client: no secret on the code exchange.
    expect(as.tokenRequests().filter((record) => record.grant_type === "authorization_code").at(-1)).toMatchObject({ authMethod: "none", status: 200, params: { client_id: PUBLIC_CLIENT } });

    const before = front.requests.length;
    for (let i = 0; i < 4; i++) {
      const result = await connection.client.callTool({ name: "echo", arguments: { message: `round robin ${i}` } });
      expect((result.content as Array<{ text?: string }>)[0]?.text).toBe(`round robin ${i}`);
    }
    const calls = front.requests.slice(before).filter((request) => request.method === "POST" && request.path === "/rot/mcp");
    expect(calls.map((request) => request.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(calls.map((request) => request.backend))).toEqual(new Set(["a", "b"]));
    const bearer = connection.provider.tokens()!.access_token;
    expect(bearerOf(upstream.lastHeaders())).toBe(bearer);
    expect(upstream.claims(bearer)).toMatchObject({ sub: "bob", aud: upstream.url });
  });

  it("a per-user token refreshed by A (rotating refresh token) is used by B without a second refresh, and the other way round", async () => {
    const connected = await connectUser("rot", "carol");
    const grants = refreshGrants().length;

    const t0 = await expireStored("rot", "carol");
    const viaA = await callEcho(pair.a.url, "rot", keyHeader(keys.carol), "refreshed by A");
    expect(viaA, viaA.text).toMatchObject({ status: 200, echoed: "refreshed by A" });
    expect(refreshGrants().slice(grants)).toMatchObject([{ status: 200, authMethod: "none", params: { refresh_token: connected.refresh_token, resource: upstream.url, client_id: PUBLIC_CLIENT } }]);
    const t1 = (await repo.getUserToken("rot", "user:carol"))!;
    expect(t1.access_token).not.toBe(t0.access_token);
    // The authorization server rotated the refresh token: the old one is spent.
    expect(t1.refresh_token).toEqual(expect.any(String));
    expect(t1.refresh_token).not.toBe(t0.refresh_token);
    expect(bearerOf(upstream.lastHeaders())).toBe(t1.access_token);

    const viaB = await callEcho(pair.b.url, "rot", keyHeader(keys.carol), "used by B");
    expect(viaB, viaB.text).toMatchObject({ status: 200, echoed: "used by B" });
    expect(refreshGrants().slice(grants), "B refreshed nothing").toHaveLength(1);
    expect(bearerOf(upstream.lastHeaders())).toBe(t1.access_token);

    // And the other way round: B refreshes with the refresh token A stored; A uses the result.
    await expireStored("rot", "carol");
    const refreshedByB = await callEcho(pair.b.url, "rot", keyHeader(keys.carol), "refreshed by B");
    expect(refreshedByB, refreshedByB.text).toMatchObject({ status: 200, echoed: "refreshed by B" });
    expect(refreshGrants().slice(grants)).toMatchObject([{ status: 200 }, { status: 200, params: { refresh_token: t1.refresh_token } }]);
    const t2 = (await repo.getUserToken("rot", "user:carol"))!;
    expect(t2.refresh_token).not.toBe(t1.refresh_token);
    const usedByA = await callEcho(pair.a.url, "rot", keyHeader(keys.carol), "used by A");
    expect(usedByA, usedByA.text).toMatchObject({ status: 200, echoed: "used by A" });
    expect(refreshGrants().slice(grants)).toHaveLength(2);
    expect(bearerOf(upstream.lastHeaders())).toBe(t2.access_token);
    expect(await repo.getUserToken("rot", "user:carol")).toEqual(t2);
  });

  it(
    "two instances refreshing the same expired token at once (rotating refresh token) both succeed, and the user stays connected",
    async () => {
      await connectUser("rot", "dora");
      const t0 = await expireStored("rot", "dora");
      const grants = refreshGrants().length;

      // A slow authorization server: the first spend of t0's refresh token is held until a
      // second spend of it arrives (or HOLD_LIMIT_MS pass); then both are answered, in
      // arrival order. Both instances have then read the store before either saved.
      const spends: ProxiedRequest[] = [];
      let secondSpend!: () => void;
      const second = new Promise<void>((resolve) => (secondSpend = resolve));
      tokenProxy.setBeforeForward(async (request) => {
        const form = new URLSearchParams(request.body.toString("utf8"));
        if (form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== t0.refresh_token) return;
        spends.push(request);
        if (spends.length === 1) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([second, new Promise<void>((resolve) => (timer = setTimeout(resolve, HOLD_LIMIT_MS)))]);
          clearTimeout(timer);
        } else {
          secondSpend();
          await spends[0]!.answered;
        }
      });
      let concurrent: [McpAnswer, McpAnswer];
      try {
        concurrent = await Promise.all([
          callEcho(pair.a.url, "rot", keyHeader(keys.dora), "concurrent on A"),
          callEcho(pair.b.url, "rot", keyHeader(keys.dora), "concurrent on B"),
        ]);
      } finally {
        tokenProxy.setBeforeForward(undefined);
      }
      const storedAfter = await repo.getUserToken("rot", "user:dora");

      // Later, once the current token has expired too: the stored refresh token must still work
      // on either instance, without the user authorizing again.
      if (storedAfter !== undefined) await expireStored("rot", "dora");
      const laterOnA = await callEcho(pair.a.url, "rot", keyHeader(keys.dora), "later on A");
      const laterOnB = await callEcho(pair.b.url, "rot", keyHeader(keys.dora), "later on B");

      const facts = {
        concurrent: concurrent.map((answer) => answer.echoed ?? answer.status),
        tokenStillStored: storedAfter !== undefined,
        later: [laterOnA.echoed ?? laterOnA.status, laterOnB.echoed ?? laterOnB.status],
      };
      const detail = JSON.stringify({
        spendsOfT0RefreshToken: spends.map((spend) => ({ status: spend.status })),
        refreshGrantsAtTheAuthorizationServer: refreshGrants()
          .slice(grants)
          .map((grant) => ({ status: grant.status, spentT0: grant.params.refresh_token === t0.refresh_token })),
        answers: [...concurrent, laterOnA, laterOnB].filter((answer) => answer.status !== 200).map((answer) => answer.text),
        gatewayLogs: (["a", "b"] as const).flatMap((name) =>
          pair[name].logs.filter((line) => line.user === "user:dora" && /per-user/.test(String(line.msg))).map((line) => ({ instance: name, msg: line.msg, reason: line.reason, err: line.err })),
        ),
      });
      expect(facts, detail).toEqual({
        concurrent: ["concurrent on A", "concurrent on B"],
        tokenStillStored: true,
        later: ["later on A", "later on B"],
      });
    },
    HOLD_LIMIT_MS + 20_000,
  );
}

describe.skipIf(!(await postgresAvailable()))("interactive OAuth on two gateway instances sharing one PostgreSQL database", () => {
  describeGatewayPair("postgres");
});

describe("interactive OAuth on two gateway instances sharing one SQLite file", () => {
  describeGatewayPair("sqlite");
});
