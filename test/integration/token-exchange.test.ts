/**
 * On-behalf-of upstream auth (`auth_type: oauth2_token_exchange`, RFC 8693) through a real
 * gateway, against a real authorization server (oidc-provider with a registered
 * token-exchange grant, ../fixtures/token-exchange-as.ts) and a real upstream MCP server
 * that verifies the exchanged JWTs with jose (../fixtures/jwt-upstream.ts).
 *
 * The caller sends its own token in `Authorization: Bearer <subject>` and the gateway key
 * in `x-litellm-api-key`. Every behaviour is checked on the three ways in: `/{server}/mcp`,
 * `/mcp` (tools named `{server}-{tool}`) and `/mcp-rest/tools/call`. Token requests are
 * counted by the authorization server itself; what reached the upstream is what the
 * upstream recorded.
 *
 * No test sleeps: the cache lifetime bound by the subject JWT's `exp` is proved on a fake
 * clock in test/unit/auth/keyed-token-cache.test.ts; here, an already expired subject.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type * as JoseDecode from "jose/jwt/decode";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startJwtUpstream, type JwtUpstream } from "../fixtures/jwt-upstream.js";
import {
  ACCESS_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  startTokenExchangeServer,
  TOKEN_EXCHANGE_GRANT,
  type TokenExchangeServer,
  type TokenExchangeServerOptions,
} from "../fixtures/token-exchange-as.js";

/**
 * Every subject token the gateway decodes (token-exchange.ts reads a subject JWT's `exp`
 * with jose's decodeJwt, then looks the cache up in the same synchronous step): lets the
 * concurrency test know that every request has reached the cache before it releases the
 * one token request the authorization server holds. The gateway imports decodeJwt alone
 * (jose/jwt/decode), so the rest of jose, which the test's own peers use, is the real one.
 */
const decoded = vi.hoisted(() => {
  const tokens: string[] = [];
  const waiters = new Set<() => void>();
  return {
    tokens,
    record(token: string) {
      tokens.push(token);
      for (const check of [...waiters]) check();
    },
    /** Resolves once `token` was decoded at least `count` times. */
    whenDecoded(token: string, count: number): Promise<void> {
      return new Promise((resolve) => {
        const check = (): void => {
          if (tokens.filter((seen) => seen === token).length < count) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
});

vi.mock("jose/jwt/decode", async (importOriginal) => {
  const actual = await importOriginal<typeof JoseDecode>();
  return {
    decodeJwt: (token: string) => {
      decoded.record(token);
      return actual.decodeJwt(token);
    },
  };
});

const SERVER = "obo";
const SECOND = "obotwo";
const CLIENT_ID = "gatehouse-obo";
const SECRET = "obo-client-secret-7c2e91";
const WRONG_SECRET = "wrong-obo-secret-never-shown-5c1f";
/** The AS fixture's description for a refused subject token: must never reach the client. */
const AS_REFUSAL_DESCRIPTION = "subject token is invalid or expired";
const ROUTES = ["passthrough", "aggregate", "rest"] as const;
type Route = (typeof ROUTES)[number];

interface Stack {
  upstream: JwtUpstream;
  as: TokenExchangeServer;
  gateway: TestGateway;
}

type ServerOverrides = Record<string, unknown> | ((upstream: JwtUpstream, as: TokenExchangeServer) => Record<string, unknown>);

interface StackOptions {
  /** Extra or replaced keys of the server's config. */
  server?: ServerOverrides;
  /** Also configure a second server on the same upstream and authorization server. */
  second?: boolean;
  as?: Partial<TokenExchangeServerOptions>;
}

const stacks: Stack[] = [];

afterEach(async () => {
  for (const stack of stacks.splice(0)) {
    await stack.gateway.close();
    await Promise.all([stack.upstream.close(), stack.as.close()]);
  }
  decoded.tokens.length = 0;
});

function serverConfig(upstream: JwtUpstream, as: TokenExchangeServer, overrides: ServerOverrides | undefined): Record<string, unknown> {
  return {
    url: upstream.url,
    auth_type: "oauth2_token_exchange",
    token_exchange_endpoint: as.tokenUrl,
    client_id: CLIENT_ID,
    client_secret: "os.environ/OBO_CLIENT_SECRET",
    ...(typeof overrides === "function" ? overrides(upstream, as) : overrides),
  };
}

/** Upstream first (the authorization server needs its URL as audience), then the AS, then the gateway. */
async function startStack(options: StackOptions = {}): Promise<Stack> {
  const upstream = await startJwtUpstream({});
  let as: TokenExchangeServer;
  try {
    as = await startTokenExchangeServer({ resource: upstream.url, ...options.as });
  } catch (error) {
    await upstream.close();
    throw error;
  }
  upstream.trust(as);
  let gateway: TestGateway;
  try {
    gateway = await startTestGateway({
      servers: {
        [SERVER]: serverConfig(upstream, as, options.server),
        ...(options.second ? { [SECOND]: serverConfig(upstream, as, options.server) } : {}),
      },
      env: { OBO_CLIENT_SECRET: SECRET },
    });
  } catch (error) {
    await Promise.all([upstream.close(), as.close()]);
    throw error;
  }
  const stack = { upstream, as, gateway };
  stacks.push(stack);
  return stack;
}

/** What the server asks for at the token endpoint when it is fully configured. */
const FULL_TARGET = (upstream: JwtUpstream) => ({ audience: upstream.url, resource: upstream.url, scopes: ["mcp:read", "mcp:write"] });

interface CallOptions {
  /** The caller's own token, sent in Authorization. */
  subject?: string;
  /** Replaces the default headers (gateway key in x-litellm-api-key, subject in Authorization). */
  headers?: Record<string, string>;
  server?: string;
  id?: number;
  debug?: boolean;
}

interface Outcome {
  status: number;
  /** The raw response body and headers, to prove what they do not contain. */
  text: string;
  headers: Headers;
  headerText: string;
  result?: { content?: Array<{ type: string; text?: string }>; isError?: boolean };
  error?: { code: number; message: string; data?: Record<string, unknown> };
  rest?: { detail?: string; error?: string; server?: string; oauth_error?: string };
}

function callerHeaders(options: CallOptions): Record<string, string> {
  if (options.headers !== undefined) return options.headers;
  return {
    "x-litellm-api-key": `Bearer ${MASTER_KEY}`,
    ...(options.subject === undefined ? {} : { authorization: `Bearer ${options.subject}` }),
  };
}

/** One `echo` call on a route, as a raw HTTP request with exactly the headers given. */
async function callEcho(gateway: TestGateway, route: Route, message: string, options: CallOptions = {}): Promise<Outcome> {
  const server = options.server ?? SERVER;
  const headers = { ...callerHeaders(options), ...(options.debug ? { "x-litellm-mcp-debug": "true" } : {}) };
  const response =
    route === "rest"
      ? await gateway.fetch("/mcp-rest/tools/call", {
          key: null,
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ server_name: server, name: "echo", arguments: { message } }),
        })
      : await gateway.fetch(route === "passthrough" ? `/${server}/mcp` : "/mcp", {
          key: null,
          method: "POST",
          headers: { ...MCP_ACCEPT, ...headers },
          body: rpc("tools/call", { name: route === "passthrough" ? "echo" : `${server}-echo`, arguments: { message } }, options.id ?? 1),
        });
  const text = await response.text();
  const headerText = [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
  const outcome: Outcome = { status: response.status, text, headers: response.headers, headerText };
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return outcome;
  }
  if (route === "rest") {
    if (response.status === 200) outcome.result = body as Outcome["result"];
    else outcome.rest = body as Outcome["rest"];
  } else {
    outcome.result = body["result"] as Outcome["result"];
    outcome.error = body["error"] as Outcome["error"];
  }
  return outcome;
}

function echoed(outcome: Outcome): string | undefined {
  return outcome.result?.content?.[0]?.text;
}

/** The gateway's error code and message, whichever the route's error style. */
function failure(outcome: Outcome): { code: unknown; message: string | undefined; data: Record<string, unknown> | undefined } {
  if (outcome.rest !== undefined) return { code: outcome.rest.error, message: outcome.rest.detail, data: outcome.rest as Record<string, unknown> };
  return { code: outcome.error?.data?.["code"], message: outcome.error?.message, data: outcome.error?.data };
}

async function sdkEcho(client: Client, name: string, message: string): Promise<string | undefined> {
  const result = (await client.callTool({ name, arguments: { message } })) as Outcome["result"];
  return result?.content?.[0]?.text;
}

/** Neither the body nor any header value contains any of these strings. */
function expectAbsent(outcome: Outcome, ...forbidden: string[]): void {
  for (const text of forbidden) {
    expect(outcome.text, "response body").not.toContain(text);
    for (const [name, value] of outcome.headers) expect(value, `response header ${name}`).not.toContain(text);
  }
}

function expectLogsClean(gateway: TestGateway, ...forbidden: string[]): void {
  const logged = JSON.stringify(gateway.logs);
  for (const text of [SECRET, WRONG_SECRET, ...forbidden]) expect(logged, "gateway log").not.toContain(text);
}

/** The upstream saw the exchanged token and nothing of the caller's own credentials. */
function expectUpstreamSawOnly(upstream: JwtUpstream, exchanged: string, ...forbidden: string[]): void {
  expect(upstream.requests.length).toBeGreaterThan(0);
  for (const request of upstream.requests) {
    expect(request.headers["authorization"]).toBe(`Bearer ${exchanged}`);
    expect(request.headers["x-litellm-api-key"]).toBeUndefined();
    for (const [name, value] of Object.entries(request.headers)) {
      for (const text of forbidden) expect(value, `upstream request header ${name}`).not.toContain(text);
    }
  }
}

describe("on-behalf-of: what the upstream receives", () => {
  it.each(ROUTES)("via %s: a JWT for the user (sub), acted by the gateway (act.sub), never the subject token", async (route) => {
    const { upstream, as, gateway } = await startStack({ server: FULL_TARGET });
    const subject = await as.mintSubjectToken({ sub: "alice@example.com" });

    const outcome = await callEcho(gateway, route, `hello via ${route}`, { subject });
    expect(outcome.status, outcome.text).toBe(200);
    expect(echoed(outcome)).toBe(`hello via ${route}`);

    expect(as.tokenRequests()).toBe(1);
    const [exchanged] = as.issuedTokens();
    expect(upstream.acceptedTokens()).toEqual([exchanged]);
    expect(upstream.acceptedTokens()).not.toContain(subject);
    expect(upstream.claims(exchanged!)).toMatchObject({
      sub: "alice@example.com",
      act: { sub: CLIENT_ID },
      aud: upstream.url,
      iss: as.issuer,
      scope: "mcp:read mcp:write",
    });
    expectUpstreamSawOnly(upstream, exchanged!, subject, MASTER_KEY, SECRET);

    const request = as.lastTokenRequest()!;
    expect(request.params).toMatchObject({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: upstream.url,
      resource: upstream.url,
      scope: "mcp:read mcp:write",
    });
    // oidc-provider's metadata lists client_secret_basic first, and the client is registered for it.
    expect(request.authMethod).toBe("basic");
    expect(request.params).not.toHaveProperty("actor_token");
    expectAbsent(outcome, subject, exchanged!, SECRET);
    expectLogsClean(gateway, subject, exchanged!);
  });

  it("through SDK clients on /{server}/mcp and /mcp: initialize, list and call all use one exchanged token", async () => {
    const { upstream, as, gateway } = await startStack({ server: FULL_TARGET });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    const direct = await gateway.connect(`/${SERVER}/mcp`, { authorization: `Bearer ${subject}` });
    const aggregate = await gateway.connect("/mcp", { authorization: `Bearer ${subject}` });

    expect((await direct.listTools()).tools.map((tool) => tool.name)).toContain("echo");
    expect((await aggregate.listTools()).tools.map((tool) => tool.name)).toContain(`${SERVER}-echo`);
    for (let i = 0; i < 5; i++) {
      expect(await sdkEcho(direct, "echo", `d${i}`)).toBe(`d${i}`);
      expect(await sdkEcho(aggregate, `${SERVER}-echo`, `a${i}`)).toBe(`a${i}`);
    }
    expect(as.tokenRequests()).toBe(1);
    expect(upstream.acceptedTokens()).toEqual(as.issuedTokens());
    expect(upstream.claims(as.issuedTokens()[0]!)).toMatchObject({ sub: "alice", act: { sub: CLIENT_ID } });
    expectUpstreamSawOnly(upstream, as.issuedTokens()[0]!, subject, MASTER_KEY);
  });

  it("without audience, scopes or resource configured, none is sent; subject_token_type defaults to access_token", async () => {
    const { as, gateway } = await startStack();
    const subject = await as.mintSubjectToken({ sub: "alice" });
    expect(echoed(await callEcho(gateway, "rest", "plain", { subject }))).toBe("plain");
    const params = as.lastTokenRequest()!.params;
    expect(params["subject_token_type"]).toBe(ACCESS_TOKEN_TYPE);
    expect(params).not.toHaveProperty("audience");
    expect(params).not.toHaveProperty("scope");
    expect(params).not.toHaveProperty("resource");
  });

  it("a configured subject_token_type and a single scope are sent as configured", async () => {
    const { upstream, as, gateway } = await startStack({ server: { subject_token_type: JWT_TOKEN_TYPE, scopes: ["mcp:read"] } });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    expect(echoed(await callEcho(gateway, "passthrough", "typed", { subject }))).toBe("typed");
    expect(as.lastTokenRequest()?.params).toMatchObject({ subject_token_type: JWT_TOKEN_TYPE, scope: "mcp:read" });
    expect(upstream.claims(as.issuedTokens()[0]!)).toMatchObject({ scope: "mcp:read", subject_token_type: JWT_TOKEN_TYPE });
  });

  it("token_endpoint_auth_method client_secret_post is honoured", async () => {
    const postClient = { client_id: "gatehouse-obo-post", client_secret: SECRET, token_endpoint_auth_method: "client_secret_post" as const };
    const { upstream, as, gateway } = await startStack({
      as: { clients: [postClient] },
      server: { client_id: postClient.client_id, token_endpoint_auth_method: "client_secret_post" },
    });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    expect(echoed(await callEcho(gateway, "aggregate", "post", { subject }))).toBe("post");
    expect(as.lastTokenRequest()?.authMethod).toBe("post");
    expect(as.lastTokenRequest()?.params["client_id"]).toBe(postClient.client_id);
    expect(upstream.claims(as.issuedTokens()[0]!)).toMatchObject({ act: { sub: postClient.client_id } });
  });

  it("an opaque subject token is exchanged too (it has no exp to bound the cache)", async () => {
    const { upstream, as, gateway } = await startStack();
    const subject = as.mintOpaqueSubjectToken("dora");
    expect(echoed(await callEcho(gateway, "passthrough", "opaque", { subject }))).toBe("opaque");
    expect(echoed(await callEcho(gateway, "rest", "opaque again", { subject }))).toBe("opaque again");
    expect(as.tokenRequests()).toBe(1);
    expect(upstream.claims(as.issuedTokens()[0]!)).toMatchObject({ sub: "dora", act: { sub: CLIENT_ID } });
    expectUpstreamSawOnly(upstream, as.issuedTokens()[0]!, subject);
  });
});

describe("the exchanged-token cache", () => {
  it("the same subject on any route is exchanged once; another subject gets its own exchange", async () => {
    const { upstream, as, gateway } = await startStack();
    const alice = await as.mintSubjectToken({ sub: "alice" });
    const bob = await as.mintSubjectToken({ sub: "bob" });

    for (const route of ROUTES) expect(echoed(await callEcho(gateway, route, `alice ${route}`, { subject: alice }))).toBe(`alice ${route}`);
    expect(echoed(await callEcho(gateway, "passthrough", "alice again", { subject: alice }))).toBe("alice again");
    expect(as.tokenRequests()).toBe(1);

    for (const route of ROUTES) expect(echoed(await callEcho(gateway, route, `bob ${route}`, { subject: bob }))).toBe(`bob ${route}`);
    expect(as.tokenRequests()).toBe(2);

    expect(echoed(await callEcho(gateway, "rest", "alice last", { subject: alice }))).toBe("alice last");
    expect(as.tokenRequests()).toBe(2);

    const [aliceToken, bobToken] = as.issuedTokens();
    expect(upstream.claims(aliceToken!)?.sub).toBe("alice");
    expect(upstream.claims(bobToken!)?.sub).toBe("bob");
    expect(upstream.acceptedTokens()).toEqual([aliceToken, bobToken]);
  });

  it("the same subject on two servers (same upstream, same authorization server) is exchanged once per server", async () => {
    const { upstream, as, gateway } = await startStack({ second: true });
    const alice = await as.mintSubjectToken({ sub: "alice" });

    expect(echoed(await callEcho(gateway, "passthrough", "one", { subject: alice }))).toBe("one");
    expect(as.tokenRequests()).toBe(1);
    expect(echoed(await callEcho(gateway, "passthrough", "two", { subject: alice, server: SECOND }))).toBe("two");
    expect(as.tokenRequests()).toBe(2);

    for (const route of ROUTES) {
      expect(echoed(await callEcho(gateway, route, `one ${route}`, { subject: alice }))).toBe(`one ${route}`);
      expect(echoed(await callEcho(gateway, route, `two ${route}`, { subject: alice, server: SECOND }))).toBe(`two ${route}`);
    }
    expect(as.tokenRequests()).toBe(2);
    expect(upstream.acceptedTokens()).toEqual(as.issuedTokens());
    expect(new Set(as.issuedTokens()).size).toBe(2);
  });

  it("20 concurrent first calls with the same subject over the three routes: exactly one token request", async () => {
    const { upstream, as, gateway } = await startStack();
    const alice = await as.mintSubjectToken({ sub: "alice" });
    const hold = as.hold();

    const calls = Array.from({ length: 20 }, (_, i) => callEcho(gateway, ROUTES[i % 3]!, `cold ${i}`, { subject: alice, id: i }));
    await hold.whenWaiting(1);
    // Every call has looked the cache up (the subject is decoded right before) while the one exchange is parked.
    await decoded.whenDecoded(alice, 20);
    expect(as.tokenRequests()).toBe(1);
    expect(hold.waiting()).toBe(1);
    hold.end();

    const outcomes = await Promise.all(calls);
    outcomes.forEach((outcome, i) => {
      expect({ status: outcome.status, text: echoed(outcome) }, `call ${i} via ${ROUTES[i % 3]}: ${outcome.text}`).toEqual({ status: 200, text: `cold ${i}` });
    });
    expect(as.tokenRequests()).toBe(1);
    expect(upstream.acceptedTokens()).toEqual(as.issuedTokens());
    expect(upstream.acceptedTokens()).toHaveLength(1);
  });

  it("concurrent first calls of 5 subjects, 4 each: one token request per subject", async () => {
    const { upstream, as, gateway } = await startStack();
    const subjects = await Promise.all(["u0", "u1", "u2", "u3", "u4"].map((sub) => as.mintSubjectToken({ sub })));
    const hold = as.hold();
    const calls = Array.from({ length: 20 }, (_, i) => callEcho(gateway, ROUTES[i % 3]!, `m${i}`, { subject: subjects[i % 5]!, id: i }));
    await hold.whenWaiting(5);
    await Promise.all(subjects.map((subject) => decoded.whenDecoded(subject, 4)));
    expect(as.tokenRequests()).toBe(5);
    hold.end();
    const outcomes = await Promise.all(calls);
    outcomes.forEach((outcome, i) => expect(echoed(outcome), `call ${i}: ${outcome.text}`).toBe(`m${i}`));
    expect(as.tokenRequests()).toBe(5);
    expect(new Set(upstream.acceptedTokens().map((token) => upstream.claims(token)?.sub))).toEqual(new Set(["u0", "u1", "u2", "u3", "u4"]));
  });
});

describe("subject tokens the gateway refuses itself", () => {
  it.each(ROUTES)("via %s: an expired subject JWT is 401 subject_token_expired, with no token request", async (route) => {
    const { upstream, as, gateway } = await startStack();
    const subject = await as.mintSubjectToken({ sub: "alice", expiresInSeconds: -10 });
    const outcome = await callEcho(gateway, route, "late", { subject, id: 3 });
    if (route !== "aggregate") {
      expect(outcome.status).toBe(401);
      expect(outcome.headers.get("www-authenticate")).toContain('error="invalid_token"');
    }
    expect(failure(outcome).code).toBe("subject_token_expired");
    expect(failure(outcome).message).toContain(`'${SERVER}'`);
    expect(failure(outcome).message).toContain("expired");
    expect(as.tokenRequests()).toBe(0);
    expect(upstream.requests).toHaveLength(0);
    expectAbsent(outcome, subject, SECRET);
    expectLogsClean(gateway, subject);
  });

  it.each(ROUTES)("via %s: no subject token (gateway key in x-litellm-api-key only) is 401 subject_token_required", async (route) => {
    const { upstream, as, gateway } = await startStack();
    const outcome = await callEcho(gateway, route, "anonymous", { id: 4 });
    if (route !== "aggregate") {
      expect(outcome.status).toBe(401);
      expect(outcome.headers.get("www-authenticate")).toContain('error="invalid_request"');
    }
    const { code, message } = failure(outcome);
    expect(code).toBe("subject_token_required");
    expect(message).toContain(`'${SERVER}'`);
    expect(message).toContain("send your own access token in 'Authorization: Bearer <token>'");
    expect(as.tokenRequests()).toBe(0);
    expect(upstream.requests).toHaveLength(0);
  });

  it.each(ROUTES)("via %s: the gateway key in Authorization only is 401 subject_token_required telling to move it to x-litellm-api-key", async (route) => {
    const { upstream, as, gateway } = await startStack();
    const outcome = await callEcho(gateway, route, "key in authorization", { headers: { authorization: `Bearer ${MASTER_KEY}` }, id: 5 });
    if (route !== "aggregate") expect(outcome.status).toBe(401);
    const { code, message } = failure(outcome);
    expect(code).toBe("subject_token_required");
    expect(message).toContain("move the gateway key to 'x-litellm-api-key: Bearer <key>'");
    // The gateway key is never sent to the authorization server as a subject token.
    expect(as.tokenRequests()).toBe(0);
    expect(upstream.requests).toHaveLength(0);
    expectAbsent(outcome, MASTER_KEY);
  });

  it("the gateway key in both headers is not a subject token either", async () => {
    const { as, gateway } = await startStack();
    for (const route of ROUTES) {
      const outcome = await callEcho(gateway, route, "twice", { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}`, authorization: `Bearer ${MASTER_KEY}` } });
      expect(failure(outcome).code, route).toBe("subject_token_required");
    }
    expect(as.tokenRequests()).toBe(0);
  });
});

describe("an exchange the authorization server refuses", () => {
  const refusedSubjects = {
    "an unknown opaque token": async () => "opaque-never-issued-8d1e3b7a90c4f2",
    "a JWT for another audience": (as: TokenExchangeServer) => as.mintSubjectToken({ sub: "alice", audience: "other" }),
  } as const;

  for (const [name, mint] of Object.entries(refusedSubjects)) {
    it.each(ROUTES)(`${name} via %s: 401 subject_token_rejected naming invalid_grant, without the token or the server's description`, async (route) => {
      const { upstream, as, gateway } = await startStack();
      const subject = await mint(as);
      const outcome = await callEcho(gateway, route, "refused", { subject, id: 6 });
      if (route !== "aggregate") {
        expect(outcome.status).toBe(401);
        expect(outcome.headers.get("www-authenticate")).toContain('error="invalid_token"');
      }
      const { code, message, data } = failure(outcome);
      expect(code).toBe("subject_token_rejected");
      expect(message).toContain("invalid_grant");
      expect(message).toContain(`'${SERVER}'`);
      expect(data?.["oauth_error"]).toBe("invalid_grant");
      expect(as.tokenRequests()).toBe(1);
      expect(as.issuedTokens()).toHaveLength(0);
      expect(upstream.requests).toHaveLength(0);
      expectAbsent(outcome, subject, AS_REFUSAL_DESCRIPTION, SECRET);
      expectLogsClean(gateway, subject);

      // A refusal is not cached: the next call asks again.
      await callEcho(gateway, route, "refused again", { subject, id: 7 });
      expect(as.tokenRequests()).toBe(2);
    });
  }

  // Regression: the invalid_grant branch built its error without a log detail, so the
  // authorization server's error_description never reached the log.
  it.each(["passthrough", "rest"] as const)("via %s: an invalid_grant refusal logs the authorization server's error_description (README), never the subject token", async (route) => {
    const { as, gateway } = await startStack();
    const subject = await as.mintSubjectToken({ sub: "alice", audience: "other" });
    const outcome = await callEcho(gateway, route, "refused", { subject });
    expect(failure(outcome).code).toBe("subject_token_rejected");
    expectAbsent(outcome, AS_REFUSAL_DESCRIPTION);
    expectLogsClean(gateway, subject);
    expect(JSON.stringify(gateway.logs), "the gateway log").toContain(AS_REFUSAL_DESCRIPTION);
  });

  it.each(ROUTES)("via %s: a wrong client secret is 502 upstream_token_exchange_error (invalid_client), the secret shown nowhere", async (route) => {
    const { upstream, as, gateway } = await startStack({ server: { client_secret: WRONG_SECRET } });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    const outcome = await callEcho(gateway, route, "bad client", { subject, id: 8 });
    if (route !== "aggregate") expect(outcome.status).toBe(502);
    const { code, message, data } = failure(outcome);
    expect(code).toBe("upstream_token_exchange_error");
    expect(data?.["oauth_error"]).toBe("invalid_client");
    expect(message).toContain("invalid_client");
    expect(message).toContain(`'${SERVER}'`);
    expect(as.tokenRequests()).toBe(1);
    expect(upstream.requests).toHaveLength(0);
    expectAbsent(outcome, WRONG_SECRET, SECRET, subject);
    expectLogsClean(gateway, subject);
    // The log has what the operator needs.
    expect(JSON.stringify(gateway.logs)).toContain("error=invalid_client");
  });

  it.each(ROUTES)("via %s: a 503 with a text body is 502 naming HTTP 503, the body not echoed", async (route) => {
    const { upstream, as, gateway } = await startStack();
    const body = "AS-MAINTENANCE-MARKER-61c0 back soon";
    as.setFault({ status: 503, body, contentType: "text/plain" });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    const outcome = await callEcho(gateway, route, "down", { subject, id: 9 });
    if (route !== "aggregate") expect(outcome.status).toBe(502);
    const { code, message } = failure(outcome);
    expect(code).toBe("upstream_token_exchange_error");
    expect(message).toContain("HTTP 503");
    expect(message).toContain(`'${SERVER}'`);
    expect(as.tokenRequests()).toBe(1);
    expect(upstream.requests).toHaveLength(0);
    expectAbsent(outcome, "AS-MAINTENANCE-MARKER-61c0", subject, SECRET);
    expectLogsClean(gateway, subject, "AS-MAINTENANCE-MARKER-61c0");

    // Not cached either: once the server recovers, the call goes through.
    as.setFault(undefined);
    expect(echoed(await callEcho(gateway, route, "up", { subject, id: 10 }))).toBe("up");
    expect(as.tokenRequests()).toBe(2);
  });
});

describe("an upstream 401 to an exchanged token", () => {
  it.each(ROUTES)("via %s: that token is dropped, exactly one new exchange, and the call succeeds", async (route) => {
    const { upstream, as, gateway } = await startStack();
    const alice = await as.mintSubjectToken({ sub: "alice" });
    const bob = await as.mintSubjectToken({ sub: "bob" });
    expect(echoed(await callEcho(gateway, route, "alice before", { subject: alice }))).toBe("alice before");
    expect(echoed(await callEcho(gateway, route, "bob before", { subject: bob }))).toBe("bob before");
    expect(as.tokenRequests()).toBe(2);
    const [aliceToken, bobToken] = as.issuedTokens();

    upstream.revoke(aliceToken!);
    const after = await callEcho(gateway, route, "alice after revoke", { subject: alice, id: 2 });
    expect(after.status, after.text).toBe(200);
    expect(echoed(after)).toBe("alice after revoke");
    expect(as.tokenRequests()).toBe(3);
    expect(upstream.rejected()).toBe(1);
    const fresh = as.issuedTokens()[2]!;
    expect(fresh).not.toBe(aliceToken);
    expect(upstream.claims(fresh)).toMatchObject({ sub: "alice", act: { sub: CLIENT_ID } });

    // The new token is cached in turn, and bob's was never touched.
    expect(echoed(await callEcho(gateway, route, "alice later", { subject: alice, id: 3 }))).toBe("alice later");
    expect(echoed(await callEcho(gateway, route, "bob later", { subject: bob, id: 4 }))).toBe("bob later");
    expect(as.tokenRequests()).toBe(3);
    expect(upstream.acceptedTokens()).toEqual([aliceToken, bobToken, fresh]);
  });
});

describe("an upstream 401 to an exchanged token, under load", () => {
  it("30 concurrent calls that meet the revoked token share one new exchange, and all succeed", async () => {
    const { upstream, as, gateway } = await startStack();
    const alice = await as.mintSubjectToken({ sub: "alice" });
    expect(echoed(await callEcho(gateway, "rest", "warm", { subject: alice }))).toBe("warm");
    upstream.revoke(as.issuedTokens()[0]!);
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => callEcho(gateway, ROUTES[i % 3]!, `c${i}`, { subject: alice, id: i })));
    outcomes.forEach((outcome, i) => expect(echoed(outcome), `call ${i}: ${outcome.status} ${outcome.text}`).toBe(`c${i}`));
    expect(as.tokenRequests()).toBe(2);
    expect(upstream.claims(as.issuedTokens()[1]!)).toMatchObject({ sub: "alice" });
  });
});

describe("debug headers", () => {
  it.each(ROUTES)("via %s: token-exchange / oauth2_token_exchange, and no secret unmasked in any header", async (route) => {
    const { as, gateway } = await startStack({ server: FULL_TARGET });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    const outcome = await callEcho(gateway, route, "debugged", { subject, debug: true });
    expect(echoed(outcome)).toBe("debugged");
    expect(outcome.headers.get("x-mcp-debug-auth-resolution")).toBe("token-exchange");
    expect(outcome.headers.get("x-mcp-debug-server-auth-type")).toBe("oauth2_token_exchange");
    expect(outcome.headers.get("x-mcp-debug-oauth2-token")).toBe(`Bearer****${subject.slice(-4)}`);
    const exchanged = as.issuedTokens()[0]!;
    for (const secret of [subject, exchanged, MASTER_KEY, SECRET]) {
      for (const [name, value] of outcome.headers) {
        expect(value, `header ${name}`).not.toContain(secret);
        // Masked values show the last 4 characters only.
        expect(value, `header ${name}`).not.toContain(secret.slice(-8));
      }
    }
    expectAbsent(outcome, exchanged, SECRET);
  });

  it("a refused request still reports the mode and why no credential was used", async () => {
    const { gateway } = await startStack();
    const outcome = await callEcho(gateway, "passthrough", "no subject", { debug: true });
    expect(outcome.status).toBe(401);
    expect(outcome.headers.get("x-mcp-debug-auth-resolution")).toBe("(none: subject_token_required)");
    expect(outcome.headers.get("x-mcp-debug-server-auth-type")).toBe("oauth2_token_exchange");
    expect(outcome.headers.get("x-mcp-debug-oauth2-token")).toBe("(none)");
    expectAbsent(outcome, MASTER_KEY, MASTER_KEY.slice(-8), SECRET);
  });
});

describe("configuration", () => {
  it("auth_type oauth2_token_exchange without client_id fails at startup, naming client_id", async () => {
    const upstream = await startJwtUpstream({});
    try {
      await expect(
        startTestGateway({
          servers: { [SERVER]: { url: upstream.url, auth_type: "oauth2_token_exchange", token_exchange_endpoint: "http://127.0.0.1:1/token", client_secret: SECRET } },
        }),
      ).rejects.toThrow(/client_id/);
    } finally {
      await upstream.close();
    }
  });

  it("without token_exchange_endpoint or token_url it fails at startup, naming token_exchange_endpoint", async () => {
    const upstream = await startJwtUpstream({});
    try {
      await expect(
        startTestGateway({ servers: { [SERVER]: { url: upstream.url, auth_type: "oauth2_token_exchange", client_id: CLIENT_ID, client_secret: SECRET } } }),
      ).rejects.toThrow(/token_exchange_endpoint/);
    } finally {
      await upstream.close();
    }
  });

  it("token_url is used when token_exchange_endpoint is absent", async () => {
    const { upstream, as, gateway } = await startStack({ server: (_up, server) => ({ token_exchange_endpoint: undefined, token_url: server.tokenUrl }) });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    expect(echoed(await callEcho(gateway, "passthrough", "via token_url", { subject }))).toBe("via token_url");
    expect(as.tokenRequests()).toBe(1);
    expect(as.lastTokenRequest()?.params["grant_type"]).toBe(TOKEN_EXCHANGE_GRANT);
    expect(upstream.claims(as.issuedTokens()[0]!)).toMatchObject({ sub: "alice", act: { sub: CLIENT_ID } });
  });

  it("token_exchange_endpoint wins over token_url when both are set", async () => {
    const { as, gateway } = await startStack({ server: { token_url: "http://127.0.0.1:1/not-this-one" } });
    const subject = await as.mintSubjectToken({ sub: "alice" });
    expect(echoed(await callEcho(gateway, "rest", "endpoint wins", { subject }))).toBe("endpoint wins");
    expect(as.tokenRequests()).toBe(1);
  });
});
