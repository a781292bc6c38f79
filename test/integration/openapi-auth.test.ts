/**
 * OpenAPI servers' credentials (README, "OpenAPI servers", "Calls"): every auth_type, the
 * configured and forwarded headers and per-request `x-mcp-{server}-*` headers, observed as
 * they arrive at a loopback REST API. The OAuth kinds run against real peers: the repo's
 * mock OAuth server (client_credentials), oidc-provider (a user's interactive OAuth,
 * connected through the UI's Connect flow) and the token-exchange fixture (RFC 8693).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, startMockServer, type MockServer } from "../../src/mock-server/mock-server.js";
import { connectThroughUi } from "../fixtures/connect-flow.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { startRestApi, type RestAnswer, type RestApi, type RestRequest } from "../fixtures/rest-api.js";
import { startTokenExchangeServer, type TokenExchangeServer } from "../fixtures/token-exchange-as.js";

/** A small API whose one operation takes header parameters named like the credentials the gateway sends. */
const WHOAMI_SPEC = {
  openapi: "3.0.3",
  info: { title: "whoami", version: "1.0.0" },
  paths: {
    "/whoami": {
      get: {
        operationId: "whoami",
        parameters: [
          { name: "X-API-Key", in: "header", schema: { type: "string" } },
          { name: "X-Tenant", in: "header", schema: { type: "string" } },
          { name: "X-Note", in: "header", schema: { type: "string" } },
        ],
        responses: { "200": { description: "who called" } },
      },
    },
  },
};

const SHARED_CLIENT = { client_id: "gatehouse-openapi-client", client_secret: "openapi-client-secret-51c0a9" };
const OBO_CLIENT = { client_id: "gatehouse-obo", client_secret: "obo-client-secret-7c2e91" };

let dir: string;
let api: RestApi;
let mock: MockServer;
let exchange: TokenExchangeServer;
let as: InteractiveAuthorizationServer;
let gateway: TestGateway;
/** Tokens the API refuses with 401 (as an API whose token was revoked would). */
const refused = new Set<string>();
let aliceKey: string;
let bobKey: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-openapi-auth-"));
  const spec = join(dir, "whoami.json");
  await writeFile(spec, JSON.stringify(WHOAMI_SPEC));
  api = await startRestApi();
  api.respond = (request): RestAnswer => {
    const token = request.headers.authorization?.replace(/^Bearer /, "");
    if (token !== undefined && refused.has(token)) return { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' }, body: "" };
    return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ ok: true }) };
  };
  mock = await startMockServer({ port: 0, host: "127.0.0.1" });
  exchange = await startTokenExchangeServer({ resource: api.url });
  const server = (extra: Record<string, unknown>) => ({ spec_path: spec, url: api.url, ...extra });
  as = await startInteractiveAuthorizationServer({
    resource: `${api.url}/`,
    clients: async (issuer) => {
      gateway = await startTestGateway({
        env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}` },
        servers: {
          open: server({}),
          apikey: server({ auth_type: "api_key", auth_value: "api-key-value-0a1b2c" }),
          bearer: server({ auth_type: "bearer_token", auth_value: "bearer-value-3d4e5f" }),
          basic: server({ auth_type: "basic", auth_value: "ada:lovelace-pw" }),
          authz: server({ auth_type: "authorization", auth_value: "SSWS okta-token-6a7b8c" }),
          tokenauth: server({ auth_type: "token", auth_value: "gh-token-9d0e1f" }),
          headers: server({ static_headers: { "x-tenant": "acme" }, extra_headers: ["x-user-region"] }),
          m2m: server({ auth_type: "oauth2", oauth2_flow: "client_credentials", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET, token_url: `${mock.url}/oauth/token` }),
          user_oauth: server({ auth_type: "oauth2", ...SHARED_CLIENT, token_endpoint_auth_method: "client_secret_post", issuer }),
          obo: server({ auth_type: "oauth2_token_exchange", token_exchange_endpoint: exchange.tokenUrl, ...OBO_CLIENT, audience: api.url }),
        },
      });
      return [{ ...SHARED_CLIENT, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_post" }];
    },
  });
  aliceKey = await gateway.generateKey({ user_id: "alice" });
  bobKey = await gateway.generateKey({ user_id: "bob" });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([api?.close(), mock?.close(), exchange?.close(), as?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Outcome {
  status: number;
  body: { result?: CallToolResult; error?: { code: number; message: string; data?: Record<string, unknown> } };
  headers: Headers;
  /** The request the API received for this call, if any. */
  request: RestRequest | undefined;
}

/** `whoami` on `/{server}/mcp` as one JSON-RPC POST (initialize is not needed: the gateway serves it statelessly). */
async function whoami(server: string, options: { key?: string; headers?: Record<string, string>; args?: Record<string, string> } = {}): Promise<Outcome> {
  const before = api.requests.length;
  const response = await gateway.fetch(`/${server}/mcp`, {
    method: "POST",
    key: null,
    headers: { "x-litellm-api-key": `Bearer ${options.key ?? gateway.masterKey}`, "content-type": "application/json", accept: "application/json, text/event-stream", ...options.headers },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: options.args ?? {} } }),
  });
  const text = await response.text();
  const body = (text.startsWith("{") ? JSON.parse(text) : JSON.parse(/^data: (.*)$/m.exec(text)![1]!)) as Outcome["body"];
  expect(api.requests.length - before).toBeLessThanOrEqual(2);
  return { status: response.status, body, headers: response.headers, request: api.requests.length > before ? api.last() : undefined };
}

/** The call succeeded and reached the API once; the request it made. */
async function arrivedAt(server: string, options?: Parameters<typeof whoami>[1]): Promise<RestRequest> {
  const outcome = await whoami(server, options);
  expect(outcome.body.result, JSON.stringify(outcome.body)).toMatchObject({ structuredContent: { ok: true } });
  return outcome.request!;
}

describe("static auth types: the header the API receives", () => {
  it("none: no Authorization, no x-api-key, and nothing of the client's (its gateway key, its cookie)", async () => {
    const request = await arrivedAt("open", { headers: { cookie: "session=abc", authorization: "Bearer client-own-token" } });
    expect(request.headers.authorization).toBeUndefined();
    expect(request.headers["x-api-key"]).toBeUndefined();
    expect(request.headers["x-litellm-api-key"]).toBeUndefined();
    expect(request.headers.cookie).toBeUndefined();
  });

  it.each([
    ["apikey", "x-api-key", "api-key-value-0a1b2c"],
    ["bearer", "authorization", "Bearer bearer-value-3d4e5f"],
    ["basic", "authorization", `Basic ${Buffer.from("ada:lovelace-pw").toString("base64")}`],
    ["authz", "authorization", "SSWS okta-token-6a7b8c"],
    ["tokenauth", "authorization", "token gh-token-9d0e1f"],
  ])("%s: %s is %s", async (server, header, value) => {
    const request = await arrivedAt(server);
    expect(request.headers[header]).toBe(value);
    expect(request.headers["x-litellm-api-key"]).toBeUndefined();
  });

  it("the credentials win over a header parameter of the same name (the model cannot choose the API key)", async () => {
    const request = await arrivedAt("apikey", { args: { "X-API-Key": "model-chosen-key", "X-Note": "kept" } });
    expect(request.headers["x-api-key"]).toBe("api-key-value-0a1b2c");
    expect(request.headers["x-note"]).toBe("kept");
  });

  it("static_headers are sent and win over a header parameter of the same name; extra_headers are forwarded from the client", async () => {
    const request = await arrivedAt("headers", { headers: { "x-user-region": "eu-west", "x-not-listed": "no" }, args: { "X-Tenant": "evil-corp" } });
    expect(request.headers["x-tenant"]).toBe("acme");
    expect(request.headers["x-user-region"]).toBe("eu-west");
    expect(request.headers["x-not-listed"]).toBeUndefined();
  });

  it("x-mcp-{server}-* per-request headers replace the configured credential for that request only", async () => {
    const request = await arrivedAt("bearer", { headers: { "x-mcp-bearer-authorization": "Bearer per-request-token-77" } });
    expect(request.headers.authorization).toBe("Bearer per-request-token-77");
    expect(request.headers["x-mcp-bearer-authorization"]).toBeUndefined();
    expect((await arrivedAt("bearer")).headers.authorization).toBe("Bearer bearer-value-3d4e5f");
  });

  it("a per-request header for another server is not sent to this one", async () => {
    const request = await arrivedAt("open", { headers: { "x-mcp-bearer-authorization": "Bearer not-for-open" } });
    expect(request.headers.authorization).toBeUndefined();
  });
});

describe("oauth2 client_credentials (the mock OAuth server)", () => {
  it("a token the mock server issued arrives; it is reused for the next call", async () => {
    const issued = mock.tokensIssued();
    const first = await arrivedAt("m2m");
    expect(first.headers.authorization).toMatch(/^Bearer [A-Za-z0-9_-]{43}$/);
    const second = await arrivedAt("m2m");
    expect(second.headers.authorization).toBe(first.headers.authorization);
    expect(mock.tokensIssued()).toBe(issued + (issued === 0 ? 1 : 0));
  });

  it("the API's 401 makes the gateway fetch a new token and send the call again, once (and no longer crashes the process: the unread 401 body's abort had no listener)", async () => {
    const old = (await arrivedAt("m2m")).headers.authorization!;
    refused.add(old.slice("Bearer ".length));
    const issued = mock.tokensIssued();
    const before = api.requests.length;
    const outcome = await whoami("m2m");
    expect(outcome.body.result).toMatchObject({ structuredContent: { ok: true } });
    expect(api.requests.slice(before).map((request) => request.headers.authorization)).toEqual([old, expect.not.stringMatching(old)]);
    expect(mock.tokensIssued()).toBe(issued + 1);
  });
});

describe("per-user interactive OAuth (oidc-provider, the UI's Connect flow)", () => {
  const challenge = () => `Bearer resource_metadata="${gateway.url}/.well-known/oauth-protected-resource/user_oauth/mcp"`;

  it("regression: a user who has not connected gets the 401 challenge MCP clients start OAuth from on /{server}/mcp (it was a JSON-RPC error in a 200); nothing reaches the API", async () => {
    const outcome = await whoami("user_oauth", { key: bobKey });
    expect(outcome.status).toBe(401);
    expect(outcome.headers.get("www-authenticate")).toBe(challenge());
    expect(outcome.body.error?.data).toMatchObject({ code: "upstream_authorization_required", server: "user_oauth" });
    expect(outcome.request).toBeUndefined();
  });

  it("on /mcp (many servers) the same refusal is the call's JSON-RPC error, naming the server", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      key: bobKey,
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "user_oauth-whoami", arguments: {} } }),
    });
    expect(await response.json()).toMatchObject({ error: { data: { code: "upstream_authorization_required", server: "user_oauth" } } });
  });

  it("after alice connects through the UI, her own token arrives at the API, and only hers", async () => {
    const landed = await connectThroughUi(gateway.url, aliceKey, "user_oauth", "alice", as);
    expect(landed.searchParams.get("connected")).toBe("user_oauth");
    const request = await arrivedAt("user_oauth", { key: aliceKey });
    const token = request.headers.authorization!.replace(/^Bearer /, "");
    expect(as.issuedTokens()).toContain(token);
    expect(decodeJwt(token)).toMatchObject({ sub: "alice" });
    expect((await whoami("user_oauth", { key: bobKey })).request).toBeUndefined();
  });

  it("regression: the API refusing her token (401) dropped nothing and said 'answered HTTP 401'; now it is dropped, she is told to authorize again, then challenged", async () => {
    const current = (await arrivedAt("user_oauth", { key: aliceKey })).headers.authorization!;
    refused.add(current.replace(/^Bearer /, ""));
    const refusal = await whoami("user_oauth", { key: aliceKey });
    expect(refusal.request?.headers.authorization).toBe(current);
    expect(refusal.body.error).toMatchObject({ message: expect.stringContaining("refused the upstream token: authorize again"), data: { code: "upstream_authorization_required" } });
    const next = await whoami("user_oauth", { key: aliceKey });
    expect(next.status).toBe(401);
    expect(next.headers.get("www-authenticate")).toBe(challenge());
    expect(next.request).toBeUndefined();
  });
});

describe("oauth2_token_exchange (RFC 8693)", () => {
  it("the caller's subject token is exchanged and the exchanged token, for the caller, arrives at the API", async () => {
    const subject = await exchange.mintSubjectToken({ sub: "carol" });
    const request = await arrivedAt("obo", { headers: { authorization: `Bearer ${subject}` } });
    const token = request.headers.authorization!.replace(/^Bearer /, "");
    expect(token).not.toBe(subject);
    expect(exchange.issuedTokens()).toContain(token);
    expect(decodeJwt(token)).toMatchObject({ sub: "carol" });
    expect(exchange.lastTokenRequest()?.params).toMatchObject({ subject_token: subject, audience: api.url });
  });

  it("without a subject token: refused (subject_token_required), nothing reaches the API", async () => {
    const outcome = await whoami("obo");
    expect(outcome.request).toBeUndefined();
    expect(JSON.stringify(outcome.body)).toContain("subject_token_required");
  });
});
