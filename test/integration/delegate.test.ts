/**
 * `delegate_auth_to_upstream: true` (seed "Delegate Auth to Upstream"): on an
 * `auth_type: oauth2` server with the interactive flow the gateway stops checking its own
 * key for requests that target only such servers, forwards the client's Authorization
 * untouched, relays the upstream's own 401 (its challenge pointed at the gateway's copy of
 * the upstream's RFC 9728 metadata, whose `resource` is the gateway URL the client called),
 * and lets the client's PKCE flow run with the upstream's authorization server directly.
 *
 * Upstreams: `startChallengeUpstream` (below) is the SDK fixture behind an `authorize` hook
 * that accepts one bearer token and answers anything else with a 401 whose challenge and
 * body the test chose, and serves RFC 9728 documents at paths the test chose. The end-to-end
 * tests use oidc-provider (`interactive-as.ts`) with the official SDK client
 * (`connectWithOAuth`).
 *
 * The stock `protected-resource-upstream.ts` accepts only tokens whose audience is its own
 * URL, while an RFC 8707 client asks for the gateway URL the metadata names: the main
 * end-to-end tests use an upstream that accepts the gateway URL as audience, and two more
 * show what happens with the strict one.
 *
 * Every test starts its own gateway and upstreams; afterEach closes them.
 */
import { randomBytes } from "node:crypto";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway, type TestGatewayOptions } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, TestOAuthClientProvider } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { startUpstream, type CannedResponse, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

// --- lifecycle ------------------------------------------------------------------------------

const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function track<T extends { close(): Promise<unknown> }>(resource: T): T {
  cleanups.push(() => resource.close());
  return resource;
}

async function gatewayWith(options: TestGatewayOptions): Promise<TestGateway> {
  return track(await startTestGateway(options));
}

// --- an upstream that is its own OAuth protected resource -------------------------------------

const WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource/mcp";
/** The upstream's own authorization server: named in its metadata, never contacted by these tests. */
const UPSTREAM_AS = "https://idp.upstream.example";
const OTHER_AS = "https://named-by-challenge.upstream.example";
const UNAUTHORIZED_BODY = JSON.stringify({ error: "unauthorized", error_description: "upstream: sign in with idp.upstream.example" });

interface ChallengeUpstream extends Upstream {
  /** The one bearer token this upstream accepts (until `rotate`). */
  readonly token: string;
  /** Accept a new token from now on; the old one is refused (expired or revoked upstream). */
  rotate(): void;
  /** The exact WWW-Authenticate of its 401. */
  challenge: string;
  /** Its RFC 9728 document at the well-known URL (when it serves one). */
  wellKnownDocument: Record<string, unknown>;
  /** Requests other than metadata fetches: what reached the MCP endpoint. */
  mcpRequests(): RecordedRequest[];
  /** GETs of metadata documents, by path. */
  metadataFetches(): string[];
}

interface ChallengeUpstreamOptions {
  /** The WWW-Authenticate of a 401, given the upstream's origin; default: realm, resource_metadata (well-known), scope. */
  challenge?: (origin: string) => string;
  /** Metadata documents by path, given the origin; default: the well-known document only. */
  documents?: (origin: string, wellKnown: Record<string, unknown>) => Record<string, Record<string, unknown>>;
}

const defaultChallenge = (origin: string) => `Bearer realm="upstream-realm", resource_metadata="${origin}${WELL_KNOWN_PATH}", scope="mcp:read mcp:write"`;

async function startChallengeUpstream(options: ChallengeUpstreamOptions = {}): Promise<ChallengeUpstream> {
  const newToken = () => `upt_${randomBytes(24).toString("base64url")}`;
  let token = newToken();
  let challenge = "";
  let documents: Record<string, Record<string, unknown>> = {};
  const isMetadata = (request: RecordedRequest) => request.path.startsWith("/.well-known/") || documents[request.path.split("?")[0]!] !== undefined;
  const upstream = await startUpstream({
    name: "delegating-upstream",
    authorize(request): CannedResponse | undefined {
      const path = request.path.split("?")[0]!;
      const document = documents[path];
      if (document !== undefined) return request.method === "GET" ? { status: 200, body: document } : { status: 405, body: "GET only" };
      if (path.startsWith("/.well-known/")) return { status: 404, body: "not found" };
      if (request.headers["authorization"] === `Bearer ${token}`) return undefined;
      return { status: 401, headers: { "www-authenticate": challenge, "content-type": "application/json" }, body: UNAUTHORIZED_BODY };
    },
  });
  const wellKnownDocument = {
    resource: upstream.url,
    authorization_servers: [UPSTREAM_AS],
    scopes_supported: ["mcp:read", "mcp:write"],
    bearer_methods_supported: ["header"],
    resource_name: "delegating upstream",
  };
  challenge = (options.challenge ?? defaultChallenge)(upstream.origin);
  documents = options.documents?.(upstream.origin, wellKnownDocument) ?? { [WELL_KNOWN_PATH]: wellKnownDocument };
  track(upstream);
  // Object.assign would copy the getter's value once: define it.
  Object.defineProperty(upstream, "token", { get: () => token, enumerable: true });
  return Object.assign(upstream as Upstream & { readonly token: string }, {
    rotate() {
      token = newToken();
    },
    challenge,
    wellKnownDocument,
    mcpRequests: () => upstream.requests.filter((request) => !isMetadata(request)),
    metadataFetches: () => upstream.requests.filter(isMetadata).map((request) => request.path),
  });
}

const delegated = (upstream: Upstream, extra: Record<string, unknown> = {}) => ({
  url: upstream.url,
  auth_type: "oauth2",
  delegate_auth_to_upstream: true,
  ...extra,
});

// --- requests -------------------------------------------------------------------------------

const PASS_THROUGH = [
  { form: "/{server}/mcp", path: (server: string) => `/${server}/mcp`, prm: (server: string) => `/.well-known/oauth-protected-resource/${server}/mcp` },
  { form: "/mcp/{server}", path: (server: string) => `/mcp/${server}`, prm: (server: string) => `/.well-known/oauth-protected-resource/mcp/${server}` },
] as const;

interface JsonRpcAnswer {
  jsonrpc?: string;
  id?: unknown;
  result?: { tools?: Array<{ name: string }>; content?: Array<{ type: string; text?: string }> };
  error?: { code: number; message: string; data?: { code?: string; server?: string } };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json(): JsonRpcAnswer;
}

/** A JSON-RPC POST without a gateway key unless `headers` carries one. */
async function post(gateway: TestGateway, path: string, headers: Record<string, string> = {}, body = rpc("tools/list")): Promise<Answer> {
  const response = await gateway.fetch(path, { method: "POST", key: null, headers: { ...MCP_ACCEPT, ...headers }, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as JsonRpcAnswer };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const toolNames = (answer: Answer) => (answer.json().result?.tools ?? []).map((tool) => tool.name).sort();
const DEFAULT_TOOLS = ["add", "echo", "progress", "secret_admin", "slow", "whoami"];

/** The gateway's own "no or invalid key" answer: a JSON-RPC error, no challenge. */
function expectGatewayUnauthorized(answer: Answer, label: string): void {
  expect(answer.status, `${label}: ${answer.text}`).toBe(401);
  expect(answer.headers.get("content-type"), label).toContain("application/json");
  expect(answer.headers.get("www-authenticate"), label).toBeNull();
  const body = answer.json();
  expect(body.jsonrpc, label).toBe("2.0");
  expect(body.error?.data?.code, label).toBe("unauthorized");
  expect(body.error?.message, label).toMatch(/gateway key/);
}

function warnings(gateway: TestGateway, fragment: string): Array<Record<string, unknown>> {
  return gateway.logs.filter((line) => line["level"] === 40 && typeof line["msg"] === "string" && line["msg"].includes(fragment));
}

// --- 1, 2: the bypass on pass-through ------------------------------------------------------------

describe("pass-through to a delegating server without a gateway key", () => {
  for (const route of PASS_THROUGH) {
    it(`forwards the client's Authorization untouched and answers 200 (${route.form})`, async () => {
      const upstream = await startChallengeUpstream();
      const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

      const answer = await post(gateway, route.path("deleg"), bearer(upstream.token));
      expect(answer.status, answer.text).toBe(200);
      expect(toolNames(answer)).toEqual(DEFAULT_TOOLS);

      const seen = upstream.mcpRequests();
      expect(seen).toHaveLength(1);
      expect(seen[0]!.headers["authorization"]).toBe(`Bearer ${upstream.token}`);
      expect(seen[0]!.headers["x-litellm-api-key"]).toBeUndefined();
    });

    it(`relays the upstream's 401 as it came, resource_metadata pointed at the gateway (${route.form})`, async () => {
      const upstream = await startChallengeUpstream({
        challenge: (origin) => `Bearer realm="upstream-realm", error="invalid_token", resource_metadata="${origin}${WELL_KNOWN_PATH}", scope="mcp:read mcp:write"`,
      });
      const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

      const answer = await post(gateway, route.path("deleg"));
      expect(answer.status).toBe(401);
      expect(answer.text).toBe(UNAUTHORIZED_BODY);
      expect(answer.headers.get("content-type")).toBe("application/json");
      expect(answer.headers.get("www-authenticate")).toBe(
        `Bearer realm="upstream-realm", error="invalid_token", resource_metadata="${gateway.url}${route.prm("deleg")}", scope="mcp:read mcp:write"`,
      );
      // The gateway's own challenge (upstream_authorization_required) never appears.
      expect(answer.text).not.toMatch(/upstream_authorization_required|needs your authorization/);

      const seen = upstream.mcpRequests();
      expect(seen).toHaveLength(1);
      expect(seen[0]!.headers["authorization"]).toBeUndefined();
    });
  }

  it("relays the 401 for a token the upstream refuses, once (no retry), with the client's token forwarded as sent", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const stale = `stale_${randomBytes(16).toString("base64url")}`;

    // A lowercase scheme is the client's business: forwarded byte for byte.
    const answer = await post(gateway, "/deleg/mcp", { authorization: `bearer ${stale}` });
    expect(answer.status).toBe(401);
    expect(answer.text).toBe(UNAUTHORIZED_BODY);
    expect(answer.headers.get("www-authenticate")).toBe(
      `Bearer realm="upstream-realm", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/deleg/mcp", scope="mcp:read mcp:write"`,
    );
    expect(upstream.mcpRequests().map((request) => request.headers["authorization"])).toEqual([`bearer ${stale}`]);
  });

  it("relays a challenge without resource_metadata byte for byte", async () => {
    const challenge = `Bearer realm="upstream-realm", error="invalid_token", error_description="token required", scope="repo read:org"`;
    const upstream = await startChallengeUpstream({ challenge: () => challenge });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

    for (const route of PASS_THROUGH) {
      const answer = await post(gateway, route.path("deleg"));
      expect(answer.status, route.form).toBe(401);
      expect(answer.headers.get("www-authenticate"), route.form).toBe(challenge);
      expect(answer.text, route.form).toBe(UNAUTHORIZED_BODY);
    }
  });

  it("points an unquoted resource_metadata at the gateway and leaves the other parameters as sent", async () => {
    const upstream = await startChallengeUpstream({
      challenge: (origin) => `Bearer resource_metadata=${origin}${WELL_KNOWN_PATH}, realm="r", scope="mcp:read"`,
    });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/mcp/deleg");
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp/deleg", realm="r", scope="mcp:read"`,
    );
  });

  it("relays the upstream's challenge, not the gateway's own, even for a caller with a gateway key and no upstream token", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/deleg/mcp", { "x-litellm-api-key": `Bearer ${MASTER_KEY}` });
    expect(answer.status).toBe(401);
    expect(answer.text).toBe(UNAUTHORIZED_BODY);
    expect(answer.headers.get("www-authenticate")).toBe(
      `Bearer realm="upstream-realm", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/deleg/mcp", scope="mcp:read mcp:write"`,
    );
    expect(upstream.mcpRequests()).toHaveLength(1);
    expect(upstream.mcpRequests()[0]!.headers["authorization"]).toBeUndefined();
    expect(JSON.stringify(upstream.requests)).not.toContain(MASTER_KEY);
  });

  it("calls a tool with the client's token (the upstream sees exactly that Authorization)", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/deleg/mcp", bearer(upstream.token), rpc("tools/call", { name: "whoami", arguments: {} }, 3));
    expect(answer.status, answer.text).toBe(200);
    // What the upstream recorded: the tool's own report of it is scrubbed of the credential (issue 15 item 11).
    const seen = upstream.mcpRequests().at(-1)!.headers;
    expect(seen["authorization"]).toBe(`Bearer ${upstream.token}`);
    expect(seen["x-litellm-api-key"]).toBeUndefined();
    expect(answer.text).not.toContain(upstream.token);
  });
});

// --- 3: protected resource metadata ------------------------------------------------------------

async function getJson(gateway: TestGateway, path: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await gateway.fetch(path, { key: null });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

describe("protected resource metadata of a delegating server", () => {
  it("is the upstream's own document (discovered at its RFC 9728 well-known URL) with resource set to each gateway URL", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

    for (const route of PASS_THROUGH) {
      const answer = await getJson(gateway, route.prm("deleg"));
      expect(answer.status, route.form).toBe(200);
      expect(answer.headers.get("access-control-allow-origin")).toBe("*");
      expect(answer.body, route.form).toEqual({ ...upstream.wellKnownDocument, resource: `${gateway.url}${route.path("deleg")}` });
    }
    expect(upstream.metadataFetches()).toContain(WELL_KNOWN_PATH);
    expect(upstream.mcpRequests()).toHaveLength(0);
  });

  it("after a relayed 401, is the document at the same-origin URL the upstream's challenge named", async () => {
    const upstream = await startChallengeUpstream({
      challenge: (origin) => `Bearer resource_metadata="${origin}/auth/custom-prm.json", scope="mcp:read"`,
      documents: (origin, wellKnown) => ({
        [WELL_KNOWN_PATH]: wellKnown,
        "/auth/custom-prm.json": { resource: `${origin}/mcp`, authorization_servers: [OTHER_AS], scopes_supported: ["mcp:read"] },
      }),
    });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

    const refused = await post(gateway, "/deleg/mcp");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/deleg/mcp", scope="mcp:read"`);

    const answer = await getJson(gateway, "/.well-known/oauth-protected-resource/deleg/mcp");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ resource: `${gateway.url}/deleg/mcp`, authorization_servers: [OTHER_AS], scopes_supported: ["mcp:read"] });
    expect(upstream.metadataFetches()).toEqual(["/auth/custom-prm.json"]);
  });

  it("serves the named document when the upstream publishes nothing at the well-known URL", async () => {
    const upstream = await startChallengeUpstream({
      challenge: (origin) => `Bearer resource_metadata="${origin}/prm/only-here"`,
      documents: (origin) => ({ "/prm/only-here": { resource: `${origin}/mcp`, authorization_servers: [OTHER_AS] } }),
    });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

    // Before any 401 there is nothing to serve: 502, and the failure is not cached.
    const early = await gateway.fetch("/.well-known/oauth-protected-resource/deleg/mcp", { key: null });
    expect(early.status).toBe(502);
    const earlyText = await early.text();
    expect((JSON.parse(earlyText) as { error?: string }).error).toBe("upstream_metadata_unavailable");
    // An anonymous caller is told the server, not the upstream's address (second attack review of issue 15).
    expect(earlyText).not.toContain(new URL(upstream.url).host);

    expect((await post(gateway, "/mcp/deleg")).status).toBe(401);
    const answer = await getJson(gateway, "/.well-known/oauth-protected-resource/mcp/deleg");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ resource: `${gateway.url}/mcp/deleg`, authorization_servers: [OTHER_AS] });
  });

  it("ignores a cross-origin resource_metadata in the challenge (never fetched; the well-known document is served)", async () => {
    const elsewhere = track(
      await startUpstream({
        authorize: (request) => ({ status: 200, body: { resource: request.path, authorization_servers: ["https://attacker.example"] } }),
      }),
    );
    const upstream = await startChallengeUpstream({ challenge: () => `Bearer resource_metadata="${elsewhere.origin}/evil-prm", realm="x"` });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

    const refused = await post(gateway, "/deleg/mcp");
    expect(refused.status).toBe(401);
    // The client is still pointed at the gateway (which serves the upstream's real document).
    expect(refused.headers.get("www-authenticate")).toBe(`Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/deleg/mcp", realm="x"`);

    const answer = await getJson(gateway, "/.well-known/oauth-protected-resource/deleg/mcp");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ ...upstream.wellKnownDocument, resource: `${gateway.url}/deleg/mcp` });
    expect(elsewhere.requests).toHaveLength(0);
  });
});

// --- 4: end to end with the official SDK client ------------------------------------------------

/**
 * An upstream whose tokens come from `as` and must carry `audience`: the gateway URL the
 * client called, which is what an RFC 8707 client asks for once the gateway's metadata
 * names that URL as the resource.
 */
async function startAudienceUpstream(): Promise<{ upstream: Upstream; trust(as: InteractiveAuthorizationServer, audience: string): void; accepted: string[] }> {
  let trusted: { issuer: string; audience: string; jwks: ReturnType<typeof createRemoteJWKSet> } | undefined;
  const accepted: string[] = [];
  // Known once listening; the hook runs only for requests, which come after.
  let resource = "";
  let metadataUrl = "";
  const upstream = track(
    await startUpstream({
      name: "audience-upstream",
      async authorize(request): Promise<CannedResponse | undefined> {
        if (request.path.split("?")[0] === WELL_KNOWN_PATH) {
          return trusted === undefined
            ? { status: 404, body: "not found" }
            : { status: 200, body: { resource, authorization_servers: [trusted.issuer], scopes_supported: ["mcp:read", "mcp:write"] } };
        }
        const challenge = { status: 401, headers: { "www-authenticate": `Bearer resource_metadata="${metadataUrl}", scope="mcp:read mcp:write"` }, body: "sign in" };
        const match = /^Bearer (\S+)$/.exec(request.headers["authorization"] ?? "");
        if (match === null || trusted === undefined) return challenge;
        try {
          await jwtVerify(match[1]!, trusted.jwks, { issuer: trusted.issuer, audience: trusted.audience });
          accepted.push(match[1]!);
          return undefined;
        } catch {
          return challenge;
        }
      },
    }),
  );
  resource = upstream.url;
  metadataUrl = `${upstream.origin}${WELL_KNOWN_PATH}`;
  return {
    upstream,
    accepted,
    trust(as, audience) {
      trusted = { issuer: as.issuer, audience, jwks: createRemoteJWKSet(new URL(as.jwksUri)) };
    },
  };
}

function firstText(result: Awaited<ReturnType<Client["callTool"]>>): string | undefined {
  return (result.content as Array<{ text?: string }>)[0]?.text;
}

describe("the official SDK client, end to end", () => {
  it("gets the relayed 401, reads the gateway's metadata, runs PKCE with the upstream's AS directly, and uses tools through the gateway", async () => {
    const { upstream, trust, accepted } = await startAudienceUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const resource = `${gateway.url}/deleg/mcp`;
    const as = track(await startInteractiveAuthorizationServer({ resource }));
    trust(as, resource);

    const connection = await connectWithOAuth(resource);
    cleanups.push(() => connection.client.close());
    const { client, provider } = connection;
    expect(connection.authorized).toBe(true);

    // Discovery: the gateway's copy of the upstream's metadata, then the upstream's AS itself.
    expect(provider.discovery?.resourceMetadata?.resource).toBe(resource);
    expect(provider.discovery?.resourceMetadata?.authorization_servers).toEqual([as.issuer]);
    expect(provider.discovery?.authorizationServerUrl).toBe(as.issuer);
    expect(provider.authorizationUrls).toHaveLength(1);
    expect(provider.authorizationUrls[0]!.origin).toBe(as.issuer);
    expect(provider.authorizationUrls[0]!.searchParams.get("code_challenge_method")).toBe("S256");
    expect(provider.authorizationUrls[0]!.searchParams.get("resource")).toBe(resource);
    expect(as.registrations()).toHaveLength(1);
    expect(as.tokenRequests().map((request) => [request.grant_type, request.status])).toEqual([["authorization_code", 200]]);

    const token = provider.tokens()!.access_token;
    const tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
    expect(tools).toEqual(DEFAULT_TOOLS);
    expect(firstText(await client.callTool({ name: "echo", arguments: { message: "through the gateway" } }))).toBe("through the gateway");
    await client.callTool({ name: "whoami", arguments: {} });
    // What the upstream recorded: the tool's own report of it is scrubbed of the credential (issue 15 item 11).
    const whoamiCall = upstream.requests.filter((request) => (request.body as { params?: { name?: string } } | undefined)?.params?.name === "whoami").at(-1);
    expect(whoamiCall?.headers["authorization"]).toBe(`Bearer ${token}`);
    expect(accepted).toContain(token);
    // The code came to the client's own redirect_uri, not to the gateway's /callback.
    expect(as.authorizationRequests().map((request) => request["redirect_uri"])).toEqual([provider.redirectUrl]);
  });

  it("does the same on the aggregate /mcp with x-mcp-servers, where the metadata's resource is {origin}/mcp", async () => {
    const { upstream, trust, accepted } = await startAudienceUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const resource = `${gateway.url}/mcp`;
    const as = track(await startInteractiveAuthorizationServer({ resource }));
    trust(as, resource);

    const connection = await connectWithOAuth(resource, { "x-mcp-servers": "deleg" });
    cleanups.push(() => connection.client.close());
    expect(connection.authorized).toBe(true);
    expect(connection.provider.discovery?.resourceMetadataUrl).toBe(`${gateway.url}/.well-known/oauth-protected-resource/mcp?server=deleg`);
    expect(connection.provider.discovery?.resourceMetadata?.resource).toBe(resource);
    expect(connection.provider.authorizationUrls[0]!.origin).toBe(as.issuer);

    const tools = (await connection.client.listTools()).tools.map((tool) => tool.name).sort();
    expect(tools).toEqual(DEFAULT_TOOLS.map((tool) => `deleg-${tool}`));
    expect(firstText(await connection.client.callTool({ name: "deleg-echo", arguments: { message: "aggregated" } }))).toBe("aggregated");
    expect(accepted).toContain(connection.provider.tokens()!.access_token);
  });

  it("with an upstream whose tokens must name its own URL, the client's RFC 8707 resource (the gateway URL) is refused by the AS: invalid_target", async () => {
    // The stock fixtures: the AS issues tokens only for the upstream's URL, the upstream checks that audience.
    const upstream = track(await startProtectedResourceUpstream({ name: "strict-audience" }));
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const as = track(await startInteractiveAuthorizationServer({ resource: upstream.url }));
    upstream.trust(as);

    const provider = new TestOAuthClientProvider();
    await expect(connectWithOAuth(`${gateway.url}/deleg/mcp`, {}, { provider })).rejects.toThrow(/invalid_target/);
    // The SDK accepted the gateway's metadata and asked the upstream's AS for the gateway URL.
    expect(provider.discovery?.resourceMetadata?.resource).toBe(`${gateway.url}/deleg/mcp`);
    expect(as.authorizationRequests().map((request) => request["resource"])).toEqual([`${gateway.url}/deleg/mcp`]);
    expect(upstream.acceptedTokens()).toHaveLength(0);
  });

  it("with the same strict upstream, a client that asks for the upstream's own resource completes the flow through the gateway", async () => {
    const upstream = track(await startProtectedResourceUpstream({ name: "strict-audience" }));
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const as = track(await startInteractiveAuthorizationServer({ resource: upstream.url }));
    upstream.trust(as);

    class UpstreamResourceProvider extends TestOAuthClientProvider {
      validateResourceURL(): Promise<URL | undefined> {
        return Promise.resolve(new URL(upstream.url));
      }
    }
    const provider = new UpstreamResourceProvider();
    const connection = await connectWithOAuth(`${gateway.url}/deleg/mcp`, {}, { provider });
    cleanups.push(() => connection.client.close());
    expect(connection.authorized).toBe(true);
    expect(firstText(await connection.client.callTool({ name: "echo", arguments: { message: "strict" } }))).toBe("strict");
    const token = provider.tokens()!.access_token;
    expect(upstream.acceptedTokens()).toContain(token);
    expect(upstream.claims(token)).toMatchObject({ aud: upstream.url, sub: "alice" });
  });
});

// --- 5, 9: fail closed, and the load-time warnings -------------------------------------------------

describe("fail closed: normal gateway auth", () => {
  async function failClosedGateway() {
    const target = await startChallengeUpstream();
    const other = await startChallengeUpstream();
    const gateway = await gatewayWith({
      servers: {
        deleg: delegated(target),
        bt: { url: other.url, auth_type: "bearer_token", auth_value: "static-upstream-secret-0123", delegate_auth_to_upstream: true },
        nn: { url: other.url, auth_type: "none", delegate_auth_to_upstream: true },
        cc: {
          url: other.url,
          auth_type: "oauth2",
          token_url: "http://127.0.0.1:9/token",
          client_id: "m2m-client",
          client_secret: "m2m-secret-0123456789",
          delegate_auth_to_upstream: true,
        },
        off: { url: other.url, auth_type: "oauth2", delegate_auth_to_upstream: false },
        absent: { url: other.url, auth_type: "oauth2" },
        plain: { url: other.url },
      },
    });
    return { target, other, gateway };
  }

  it("refuses every request that does not target only delegating servers, with the gateway's own 401; no upstream is contacted", async () => {
    const { target, other, gateway } = await failClosedGateway();
    const cases: Array<{ label: string; path: string; headers?: Record<string, string> }> = [
      { label: "flag on bearer_token", path: "/bt/mcp" },
      { label: "flag on none", path: "/nn/mcp" },
      { label: "flag on oauth2 client_credentials", path: "/cc/mcp" },
      { label: "flag false", path: "/off/mcp" },
      { label: "flag absent", path: "/absent/mcp" },
      { label: "flag on bearer_token (/mcp/{server})", path: "/mcp/bt" },
      { label: "flag on client_credentials (/mcp/{server})", path: "/mcp/cc" },
      { label: "/mcp without x-mcp-servers", path: "/mcp" },
      { label: "/mcp with a delegating and a non-delegating server", path: "/mcp", headers: { "x-mcp-servers": "deleg,plain" } },
      { label: "/mcp with a delegating server and an unknown one", path: "/mcp", headers: { "x-mcp-servers": "deleg,ghost" } },
      { label: "/mcp naming an unknown server only", path: "/mcp", headers: { "x-mcp-servers": "ghost" } },
      { label: "/mcp naming a flag-ignored server", path: "/mcp", headers: { "x-mcp-servers": "cc" } },
      { label: "pass-through to an unknown server", path: "/ghost/mcp" },
      { label: "pass-through to an unknown server (/mcp/{server})", path: "/mcp/ghost" },
      { label: "pass-through to a delegating server, x-mcp-servers naming another", path: "/deleg/mcp", headers: { "x-mcp-servers": "plain" } },
      { label: "pass-through to a delegating server, x-mcp-servers naming it and another", path: "/mcp/deleg", headers: { "x-mcp-servers": "deleg,absent" } },
    ];
    for (const { label, path, headers = {} } of cases) {
      // Without any credential, and with a token meant for the upstream (which is then just an invalid gateway key).
      expectGatewayUnauthorized(await post(gateway, path, headers), `${label}, no Authorization`);
      expectGatewayUnauthorized(await post(gateway, path, { ...headers, ...bearer(target.token) }), `${label}, upstream token`);
    }
    expect(target.requests).toHaveLength(0);
    expect(other.requests).toHaveLength(0);
  });

  it("logs once per server, at load, that the flag is ignored off the interactive oauth2 flow", async () => {
    const { gateway } = await failClosedGateway();
    const ignored = warnings(gateway, "delegate_auth_to_upstream is ignored");
    const byServer = ignored.map((line) => line["server"]).sort();
    expect(byServer).toEqual(["bt", "cc", "nn"]);
    expect(ignored.find((line) => line["server"] === "bt")?.["msg"]).toMatch(/auth_type oauth2.*bearer_token/);
    expect(ignored.find((line) => line["server"] === "nn")?.["msg"]).toMatch(/uses none/);
    expect(ignored.find((line) => line["server"] === "cc")?.["msg"]).toMatch(/client_credentials/);
    expect(warnings(gateway, "mcp_internal_ip_ranges")).toHaveLength(0);
  });
});

describe("the REST API", () => {
  it("is not covered by the bypass: a delegating server's tools need a gateway key there", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const response = await gateway.fetch("/mcp-rest/tools/list?server_name=deleg", { key: null, headers: bearer(upstream.token) });
    expect(response.status).toBe(401);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("available_on_public_internet: false with delegation", () => {
  it("logs the mcp_internal_ip_ranges warning once at load", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { internal: delegated(upstream, { available_on_public_internet: false }), deleg: delegated(upstream) } });
    const logged = warnings(gateway, "mcp_internal_ip_ranges");
    expect(logged).toHaveLength(1);
    expect(logged[0]!["server"]).toBe("internal");
    expect(logged[0]!["msg"]).toMatch(/available_on_public_internet: false with delegate_auth_to_upstream: true/);
    expect(warnings(gateway, "delegate_auth_to_upstream is ignored")).toHaveLength(0);

    // Loopback is internal by default: the bypass works, as the warning says.
    const answer = await post(gateway, "/internal/mcp", bearer(upstream.token));
    expect(answer.status, answer.text).toBe(200);
  });

  it("a caller outside mcp_internal_ip_ranges gets normal gateway auth (the server is hidden from it)", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({
      servers: { internal: delegated(upstream, { available_on_public_internet: false }) },
      general: { mcp_internal_ip_ranges: ["10.0.0.0/8"] },
    });
    expectGatewayUnauthorized(await post(gateway, "/internal/mcp", bearer(upstream.token)), "public caller");
    expectGatewayUnauthorized(await post(gateway, "/mcp", { "x-mcp-servers": "internal", ...bearer(upstream.token) }), "public caller on /mcp");
    expect((await gateway.fetch("/.well-known/oauth-protected-resource/internal/mcp", { key: null })).status).toBe(404);
    expect(upstream.requests).toHaveLength(0);
  });
});

// --- 6: the aggregate /mcp -----------------------------------------------------------------------

describe("aggregate /mcp with x-mcp-servers naming a delegating server", () => {
  it("lists and calls the upstream's tools as {server}-{tool} with the client's token", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const headers = { "x-mcp-servers": "deleg", ...bearer(upstream.token) };

    const list = await post(gateway, "/mcp", headers);
    expect(list.status, list.text).toBe(200);
    expect(toolNames(list)).toEqual(DEFAULT_TOOLS.map((tool) => `deleg-${tool}`));

    const call = await post(gateway, "/mcp", headers, rpc("tools/call", { name: "deleg-whoami", arguments: {} }, 2));
    expect(call.status, call.text).toBe(200);
    // The tool's own report of the headers is scrubbed of the credential (issue 15 item 11); the upstream's record is below.
    expect(call.text).not.toContain(upstream.token);
    for (const request of upstream.mcpRequests()) {
      expect(request.headers["authorization"]).toBe(`Bearer ${upstream.token}`);
      expect(request.headers["x-litellm-api-key"]).toBeUndefined();
    }
  });

  it("answers HTTP 401 with the upstream's challenge pointed at /.well-known/oauth-protected-resource/mcp?server=, which serves resource {origin}/mcp", async () => {
    const upstream = await startChallengeUpstream({
      challenge: (origin) => `Bearer realm="upstream-realm", error="invalid_token", resource_metadata="${origin}${WELL_KNOWN_PATH}", scope="mcp:read"`,
    });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });

    for (const headers of [{}, bearer("not-the-upstream-token-0123")]) {
      const refused = await post(gateway, "/mcp", { "x-mcp-servers": "deleg", ...headers });
      expect(refused.status, refused.text).toBe(401);
      expect(refused.headers.get("www-authenticate")).toBe(
        `Bearer realm="upstream-realm", error="invalid_token", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp?server=deleg", scope="mcp:read"`,
      );
      expect(refused.json().error?.data?.code).toBe("upstream_unauthorized");
      expect(refused.text).not.toMatch(/upstream_authorization_required/);
    }

    const metadata = await getJson(gateway, "/.well-known/oauth-protected-resource/mcp?server=deleg");
    expect(metadata.status).toBe(200);
    expect(metadata.body).toEqual({ ...upstream.wellKnownDocument, resource: `${gateway.url}/mcp` });
  });
});

// --- 7: gateway keys on delegated routes -----------------------------------------------------------

describe("a gateway key on a delegated route", () => {
  it("in x-litellm-api-key is checked: an invalid one is 401 and the upstream sees nothing", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    for (const path of ["/deleg/mcp", "/mcp/deleg"]) {
      const answer = await post(gateway, path, { "x-litellm-api-key": "Bearer sk-not-a-real-key-0123456789", ...bearer(upstream.token) });
      expect(answer.status, path).toBe(401);
      expect(answer.json().error?.data?.code).toBe("unauthorized");
      expect(answer.headers.get("www-authenticate")).toBeNull();
    }
    const aggregate = await post(gateway, "/mcp", { "x-mcp-servers": "deleg", "x-litellm-api-key": "sk-not-a-real-key-0123456789", ...bearer(upstream.token) });
    expect(aggregate.status).toBe(401);
    expect(upstream.requests).toHaveLength(0);
  });

  it("in x-litellm-api-key, valid, admits the caller and is never forwarded; the client's Authorization is", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/deleg/mcp", { "x-litellm-api-key": `Bearer ${MASTER_KEY}`, ...bearer(upstream.token) });
    expect(answer.status, answer.text).toBe(200);
    const aggregate = await post(gateway, "/mcp", { "x-mcp-servers": "deleg", "x-litellm-api-key": MASTER_KEY, ...bearer(upstream.token) });
    expect(aggregate.status, aggregate.text).toBe(200);
    expect(toolNames(aggregate)).toContain("deleg-echo");
    expect(upstream.mcpRequests().length).toBeGreaterThanOrEqual(2);
    for (const request of upstream.mcpRequests()) {
      expect(request.headers["authorization"]).toBe(`Bearer ${upstream.token}`);
      expect(request.headers["x-litellm-api-key"]).toBeUndefined();
    }
    expect(JSON.stringify(upstream.requests)).not.toContain(MASTER_KEY);
  });

  it("sent in both headers is not forwarded in Authorization (LiteLLM #30559)", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/deleg/mcp", { "x-litellm-api-key": `Bearer ${MASTER_KEY}`, ...bearer(MASTER_KEY) });
    expect(answer.status).toBe(401);
    expect(answer.text).toBe(UNAUTHORIZED_BODY);
    expect(upstream.mcpRequests()).toHaveLength(1);
    expect(upstream.mcpRequests()[0]!.headers["authorization"]).toBeUndefined();
    expect(JSON.stringify(upstream.requests)).not.toContain(MASTER_KEY);
  });

  it("in Authorization alone is recognised as a gateway key and not forwarded upstream", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream), other: { url: upstream.url } } });
    const virtual = await gateway.generateKey({ key_alias: "other-only", object_permission: { mcp_servers: ["other"] } });

    // The master key: the caller is the master (debug says the bearer is the gateway key), the upstream gets no Authorization.
    const master = await post(gateway, "/deleg/mcp", { ...bearer(MASTER_KEY), "x-litellm-mcp-debug": "true" });
    expect(master.status).toBe(401);
    expect(master.text).toBe(UNAUTHORIZED_BODY);
    expect(master.headers.get("x-mcp-debug-oauth2-token")).toMatch(/SAME_AS_LITELLM_KEY/);
    expect(master.headers.get("x-mcp-debug-auth-resolution")).toBe("delegated");

    // A virtual key limited to another server: recognised, so its limits apply (not bypassed).
    for (const path of ["/deleg/mcp", "/mcp/deleg"]) {
      const limited = await post(gateway, path, bearer(virtual));
      expect(limited.status, `${path}: ${limited.text}`).toBe(403);
      expect(limited.json().error?.data?.code).toBe("server_not_allowed");
    }

    expect(upstream.mcpRequests()).toHaveLength(1);
    expect(upstream.mcpRequests()[0]!.headers["authorization"]).toBeUndefined();
    const everything = JSON.stringify(upstream.requests);
    expect(everything).not.toContain(MASTER_KEY);
    expect(everything).not.toContain(virtual);
  });

  it("of a virtual key limited to other servers, in x-litellm-api-key, is not bypassed: 403 on pass-through, nothing on /mcp", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream), other: { url: upstream.url } } });
    const virtual = await gateway.generateKey({ key_alias: "other-only", object_permission: { mcp_servers: ["other"] } });

    for (const path of ["/deleg/mcp", "/mcp/deleg"]) {
      const answer = await post(gateway, path, { "x-litellm-api-key": `Bearer ${virtual}`, ...bearer(upstream.token) });
      expect(answer.status, `${path}: ${answer.text}`).toBe(403);
      expect(answer.json().error?.data?.code).toBe("server_not_allowed");
    }
    const aggregate = await post(gateway, "/mcp", { "x-mcp-servers": "deleg", "x-litellm-api-key": virtual, ...bearer(upstream.token) });
    expect(aggregate.status, aggregate.text).toBe(200);
    expect(toolNames(aggregate)).toEqual([]);
    expect(upstream.requests).toHaveLength(0);
  });
});

// --- 8: debug headers ----------------------------------------------------------------------------

describe("debug headers on a delegated anonymous request", () => {
  it("say `delegated` and show the upstream token masked, never as the gateway key, never in clear", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answers = [
      await post(gateway, "/deleg/mcp", { ...bearer(upstream.token), "x-litellm-mcp-debug": "true" }),
      await post(gateway, "/mcp/deleg", { ...bearer(upstream.token), "x-litellm-mcp-debug": "true" }),
      await post(gateway, "/mcp", { ...bearer(upstream.token), "x-mcp-servers": "deleg", "x-litellm-mcp-debug": "true" }),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(200);
      expect(answer.headers.get("x-mcp-debug-auth-resolution")).toBe("delegated");
      expect(answer.headers.get("x-mcp-debug-oauth2-token")).toBe(`Bearer****${upstream.token.slice(-4)}`);
      expect(answer.headers.get("x-mcp-debug-inbound-auth")).toBe(`authorization=Bearer****${upstream.token.slice(-4)}`);
      expect(answer.headers.get("x-mcp-debug-server-auth-type")).toBe("oauth2");
      expect(answer.headers.get("x-mcp-debug-outbound-url")).toBe(upstream.url);
      for (const [name, value] of answer.headers) {
        expect(value, name).not.toContain(upstream.token);
        expect(value, name).not.toContain(upstream.token.slice(4, 16));
      }
      expect(answer.text).not.toContain(upstream.token);
    }
  });

  it("report the relayed 401 as delegated too, with no token", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/deleg/mcp", { "x-litellm-mcp-debug": "true" });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("x-mcp-debug-auth-resolution")).toBe("delegated");
    expect(answer.headers.get("x-mcp-debug-oauth2-token")).toBe("(none)");
    expect(answer.headers.get("x-mcp-debug-inbound-auth")).toBe("(none)");
  });
});

// --- token refused after a session was opened --------------------------------------------------

describe("a token the upstream stops accepting", () => {
  it("on pass-through: the next request gets the upstream's 401, relayed", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const old = upstream.token;
    expect((await post(gateway, "/deleg/mcp", bearer(old))).status).toBe(200);
    upstream.rotate();
    const refused = await post(gateway, "/deleg/mcp", bearer(old));
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe(
      `Bearer realm="upstream-realm", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/deleg/mcp", scope="mcp:read mcp:write"`,
    );
  });

  // Regression: opening sessions first sends nothing on a pooled session, so the refusal came
  // later, inside tools/list (server left out) or tools/call (JSON-RPC error).
  it("on /mcp: the first tools/list after the upstream refuses a pooled session's token is HTTP 401 with the challenge, not 200 with the server's tools missing", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const headers = { "x-mcp-servers": "deleg", ...bearer(upstream.token) };
    const first = await post(gateway, "/mcp", headers);
    expect(toolNames(first)).toContain("deleg-echo");
    upstream.rotate();

    const afterRefusal = await post(gateway, "/mcp", headers);
    expect(afterRefusal.status, afterRefusal.text).toBe(401);
    expect(afterRefusal.headers.get("www-authenticate")).toBe(
      `Bearer realm="upstream-realm", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp?server=deleg", scope="mcp:read mcp:write"`,
    );
  });

  it("on /mcp: the first tools/call after the upstream refuses a pooled session's token is HTTP 401 with the challenge, not 200 with a JSON-RPC error", async () => {
    const upstream = await startChallengeUpstream();
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const headers = { "x-mcp-servers": "deleg", ...bearer(upstream.token) };
    const call = () => post(gateway, "/mcp", headers, rpc("tools/call", { name: "deleg-echo", arguments: { message: "hi" } }, 2));
    const first = await call();
    expect(first.json().result?.content?.[0]?.text).toBe("hi");
    upstream.rotate();

    const afterRefusal = await call();
    expect(afterRefusal.status, afterRefusal.text).toBe(401);
    expect(afterRefusal.headers.get("www-authenticate")).toBe(
      `Bearer realm="upstream-realm", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/mcp?server=deleg", scope="mcp:read mcp:write"`,
    );
  });
});

// --- the challenge's quoted strings ---------------------------------------------------------------

describe("rewriting resource_metadata in a relayed challenge", () => {
  // Regression: the parameter search used to look inside quoted strings.
  it("replaces the resource_metadata parameter, not the text `resource_metadata=` inside another parameter's quoted string", async () => {
    const upstream = await startChallengeUpstream({
      challenge: (origin) =>
        `Bearer error="invalid_token", error_description="expected resource_metadata=${origin}${WELL_KNOWN_PATH} to be read", resource_metadata="${origin}${WELL_KNOWN_PATH}"`,
    });
    const gateway = await gatewayWith({ servers: { deleg: delegated(upstream) } });
    const answer = await post(gateway, "/deleg/mcp");
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(
      `Bearer error="invalid_token", error_description="expected resource_metadata=${upstream.origin}${WELL_KNOWN_PATH} to be read", resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/deleg/mcp"`,
    );
  });
});
