/**
 * Machine-to-machine OAuth through a real gateway, against a real authorization server
 * (oidc-provider, client_credentials, JWT access tokens whose audience is the upstream)
 * and a real upstream MCP server that verifies those JWTs with jose. Every behaviour is
 * checked on the three ways in: `/{server}/mcp`, `/mcp` and `/mcp-rest/tools/call`.
 * Token requests are counted by the authorization server itself.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startJwtUpstream, type JwtUpstream } from "../fixtures/jwt-upstream.js";
import { startAuthorizationServer, type AuthorizationServer, type AuthorizationServerOptions } from "../fixtures/oidc-provider.js";

const SERVER = "m2m";
const CLIENT_ID = "gatehouse-m2m";
const SECRET = "m2m-secret-do-not-leak-4e7b19c2";
const WRONG_SECRET = "wrong-secret-never-shown-0d5a";
const ROUTES = ["passthrough", "aggregate", "rest"] as const;
type Route = (typeof ROUTES)[number];

interface Stack {
  upstream: JwtUpstream;
  as: AuthorizationServer;
  gateway: TestGateway;
}

interface StackOptions {
  /** Extra or replaced keys of the server's config (a function when they need the upstream's URL). */
  server?: Record<string, unknown> | ((upstream: JwtUpstream) => Record<string, unknown>);
  as?: Partial<AuthorizationServerOptions>;
  /** The audience the upstream demands (default: its own URL, which the provider issues). */
  upstreamAudience?: string;
}

const stacks: Stack[] = [];

afterEach(async () => {
  for (const stack of stacks.splice(0)) {
    await stack.gateway.close();
    await Promise.all([stack.upstream.close(), stack.as.close()]);
  }
});

/** Upstream first (the provider needs its URL as audience), then the provider, then the gateway. */
async function startStack(options: StackOptions = {}): Promise<Stack> {
  const upstream = await startJwtUpstream(options.upstreamAudience === undefined ? {} : { audience: options.upstreamAudience });
  const as = await startAuthorizationServer({
    resource: upstream.url,
    clients: [{ client_id: CLIENT_ID, client_secret: SECRET }],
    ...options.as,
  });
  upstream.trust(as);
  const gateway = await startTestGateway({
    servers: {
      [SERVER]: {
        url: upstream.url,
        auth_type: "oauth2",
        client_id: CLIENT_ID,
        client_secret: "os.environ/M2M_CLIENT_SECRET",
        token_url: as.tokenUrl,
        ...(typeof options.server === "function" ? options.server(upstream) : options.server),
      },
    },
    env: { M2M_CLIENT_SECRET: SECRET },
  });
  const stack = { upstream, as, gateway };
  stacks.push(stack);
  return stack;
}

interface Outcome {
  status: number;
  /** The raw response body and headers, to prove what they do not contain. */
  text: string;
  headers: string;
  /** The CallToolResult (REST) or JSON-RPC result. */
  result?: { content?: Array<{ type: string; text?: string }>; isError?: boolean };
  error?: { code: number; message: string; data?: Record<string, unknown> };
  /** A REST error body. */
  rest?: { detail?: string; error?: string; server?: string; oauth_error?: string; upstream_status?: number };
}

/** One `echo` call on a route, as a raw HTTP request. */
async function callEcho(gateway: TestGateway, route: Route, message: string, id = 1): Promise<Outcome> {
  const response =
    route === "rest"
      ? await gateway.fetch("/mcp-rest/tools/call", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ server_name: SERVER, name: "echo", arguments: { message } }),
        })
      : await gateway.fetch(route === "passthrough" ? `/${SERVER}/mcp` : "/mcp", {
          method: "POST",
          headers: MCP_ACCEPT,
          body: rpc("tools/call", { name: route === "passthrough" ? "echo" : `${SERVER}-echo`, arguments: { message } }, id),
        });
  const text = await response.text();
  const headers = [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
  const outcome: Outcome = { status: response.status, text, headers };
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

async function sdkEcho(client: Client, name: string, message: string): Promise<string | undefined> {
  const result = (await client.callTool({ name, arguments: { message } })) as Outcome["result"];
  return result?.content?.[0]?.text;
}

/** The response never shows the secret or a marker of the authorization server's body. */
function expectNothingLeaked(outcome: Outcome, ...forbidden: string[]): void {
  for (const text of [SECRET, ...forbidden]) {
    expect(outcome.text, "response body").not.toContain(text);
    expect(outcome.headers, "response headers").not.toContain(text);
  }
}

function loggedText(gateway: TestGateway): string {
  return JSON.stringify(gateway.logs);
}

describe("M2M client_credentials against oidc-provider", () => {
  it("the first call fetches a token; the next 200 calls on all three routes reuse it", async () => {
    const { upstream, as, gateway } = await startStack();

    const first = await callEcho(gateway, "rest", "first");
    expect(first.status).toBe(200);
    expect(echoed(first)).toBe("first");
    expect(as.tokenRequests()).toBe(1);

    const direct = await gateway.connect(`/${SERVER}/mcp`);
    const aggregate = await gateway.connect("/mcp");
    let calls = 0;
    for (let i = 0; i < 50; i++) {
      expect(await sdkEcho(direct, "echo", `direct ${i}`)).toBe(`direct ${i}`);
      expect(await sdkEcho(aggregate, `${SERVER}-echo`, `aggregate ${i}`)).toBe(`aggregate ${i}`);
      expect(echoed(await callEcho(gateway, "rest", `rest ${i}`))).toBe(`rest ${i}`);
      expect(echoed(await callEcho(gateway, "passthrough", `raw ${i}`, i))).toBe(`raw ${i}`);
      calls += 4;
    }
    expect(calls).toBe(200);

    expect(as.tokenRequests()).toBe(1);
    // The one token the provider issued is the one the upstream verified, on every request.
    expect(as.issuedTokens()).toHaveLength(1);
    expect(upstream.acceptedTokens()).toEqual(as.issuedTokens());
    expect(upstream.rejected()).toBe(0);
    const token = as.issuedTokens()[0]!;
    expect(upstream.claims(token)).toMatchObject({ aud: upstream.url, iss: as.issuer, client_id: CLIENT_ID });
    for (const request of upstream.requests) {
      expect(request.headers["authorization"]).toBe(`Bearer ${token}`);
      expect(request.headers["x-litellm-api-key"]).toBeUndefined();
    }
    expect(as.lastTokenRequest()?.params["grant_type"]).toBe("client_credentials");
  });

  it("500 concurrent cold calls over the three routes cause exactly one token request, and all succeed", async () => {
    const { upstream, as, gateway } = await startStack();
    const outcomes = await Promise.all(Array.from({ length: 500 }, (_, i) => callEcho(gateway, ROUTES[i % 3]!, `cold ${i}`, i)));
    outcomes.forEach((outcome, i) => {
      expect({ status: outcome.status, text: echoed(outcome) }, `call ${i} via ${ROUTES[i % 3]}`).toEqual({ status: 200, text: `cold ${i}` });
    });
    expect(as.tokenRequests()).toBe(1);
    expect(upstream.acceptedTokens()).toHaveLength(1);
  });

  describe("what reaches the provider", () => {
    it("scopes are sent space-separated and the JWT carries them", async () => {
      const { upstream, as, gateway } = await startStack({ server: { scopes: ["mcp:read", "mcp:write"] } });
      expect(echoed(await callEcho(gateway, "rest", "scoped"))).toBe("scoped");
      expect(as.lastTokenRequest()?.params["scope"]).toBe("mcp:read mcp:write");
      expect(upstream.claims(upstream.acceptedTokens()[0]!)?.["scope"]).toBe("mcp:read mcp:write");
    });

    it("one scope is one scope; none sends no scope parameter", async () => {
      const narrow = await startStack({ server: { scopes: ["mcp:read"] } });
      expect(echoed(await callEcho(narrow.gateway, "passthrough", "narrow"))).toBe("narrow");
      expect(narrow.as.lastTokenRequest()?.params["scope"]).toBe("mcp:read");
      expect(narrow.upstream.claims(narrow.upstream.acceptedTokens()[0]!)?.["scope"]).toBe("mcp:read");

      const none = await startStack();
      expect(echoed(await callEcho(none.gateway, "passthrough", "unscoped"))).toBe("unscoped");
      expect(none.as.lastTokenRequest()?.params).not.toHaveProperty("scope");
    });

    it("a configured resource (RFC 8707) and audience are sent with the token request", async () => {
      const { upstream, as, gateway } = await startStack({
        server: (up) => ({ resource: up.url, audience: "https://api.example.test/mcp" }),
      });
      expect(echoed(await callEcho(gateway, "aggregate", "with resource"))).toBe("with resource");
      expect(as.lastTokenRequest()?.params).toMatchObject({ resource: upstream.url, audience: "https://api.example.test/mcp" });
      expect(upstream.claims(upstream.acceptedTokens()[0]!)?.aud).toBe(upstream.url);
    });

    it("without resource or audience configured, neither is sent", async () => {
      const { as, gateway } = await startStack();
      expect(echoed(await callEcho(gateway, "rest", "plain"))).toBe("plain");
      expect(as.lastTokenRequest()?.params).not.toHaveProperty("resource");
      expect(as.lastTokenRequest()?.params).not.toHaveProperty("audience");
    });
  });

  describe("client authentication", () => {
    it.each([
      ["client_secret_basic", "basic"],
      ["client_secret_post", "post"],
    ] as const)("token_endpoint_auth_method %s is honoured", async (method, seen) => {
      const { as, gateway } = await startStack({ server: { token_endpoint_auth_method: method } });
      expect(echoed(await callEcho(gateway, "rest", method))).toBe(method);
      expect(as.lastTokenRequest()?.authMethod).toBe(seen);
      // The fixture strips client_secret from what it records; client_id is in the form only for post.
      expect(as.lastTokenRequest()?.params["client_id"]).toBe(seen === "post" ? CLIENT_ID : undefined);
    });

    it("without it, the gateway uses what the provider's metadata lists first (basic, oidc-provider's default)", async () => {
      const { as, gateway } = await startStack();
      const discovery = (await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint_auth_methods_supported: string[] };
      expect(discovery.token_endpoint_auth_methods_supported[0]).toBe("client_secret_basic");
      expect(echoed(await callEcho(gateway, "passthrough", "default"))).toBe("default");
      expect(as.lastTokenRequest()?.authMethod).toBe("basic");
    });

    it("without it, the gateway uses what the provider's metadata lists first (post, when listed first)", async () => {
      const { as, gateway } = await startStack({ as: { clientAuthMethods: ["client_secret_post", "client_secret_basic"] } });
      const discovery = (await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint_auth_methods_supported: string[] };
      expect(discovery.token_endpoint_auth_methods_supported).toEqual(["client_secret_post", "client_secret_basic"]);
      expect(echoed(await callEcho(gateway, "aggregate", "default"))).toBe("default");
      expect(as.lastTokenRequest()?.authMethod).toBe("post");
    });

    it("client_id from os.environ/ works too", async () => {
      const upstream = await startJwtUpstream({});
      const as = await startAuthorizationServer({ resource: upstream.url, clients: [{ client_id: "from-env-client", client_secret: SECRET }] });
      upstream.trust(as);
      const gateway = await startTestGateway({
        servers: {
          [SERVER]: { url: upstream.url, auth_type: "oauth2", client_id: "os.environ/M2M_ID", client_secret: "os.environ/M2M_SECRET", token_url: as.tokenUrl },
        },
        env: { M2M_ID: "from-env-client", M2M_SECRET: SECRET },
      });
      stacks.push({ upstream, as, gateway });
      expect(echoed(await callEcho(gateway, "rest", "env"))).toBe("env");
      expect(upstream.claims(upstream.acceptedTokens()[0]!)?.["client_id"]).toBe("from-env-client");
    });
  });

  describe("an upstream 401 to the cached token", () => {
    it.each(ROUTES)("via %s: the token is dropped, exactly one new one is fetched, and the call succeeds", async (route) => {
      const { upstream, as, gateway } = await startStack();
      expect(echoed(await callEcho(gateway, route, "before"))).toBe("before");
      expect(as.tokenRequests()).toBe(1);
      const revoked = upstream.acceptedTokens()[0]!;

      upstream.revoke(revoked);
      const after = await callEcho(gateway, route, "after revoke");
      expect(after.status).toBe(200);
      expect(echoed(after)).toBe("after revoke");
      expect(as.tokenRequests()).toBe(2);
      expect(upstream.rejected()).toBe(1);
      expect(upstream.acceptedTokens()).toHaveLength(2);
      expect(upstream.acceptedTokens()[1]).not.toBe(revoked);

      // The new token is cached in turn.
      expect(echoed(await callEcho(gateway, route, "later"))).toBe("later");
      expect(as.tokenRequests()).toBe(2);
    });

    it("via the SDK clients on /{server}/mcp and /mcp, too", async () => {
      const { upstream, as, gateway } = await startStack();
      const direct = await gateway.connect(`/${SERVER}/mcp`);
      const aggregate = await gateway.connect("/mcp");
      expect(await sdkEcho(direct, "echo", "d1")).toBe("d1");
      expect(await sdkEcho(aggregate, `${SERVER}-echo`, "a1")).toBe("a1");
      expect(as.tokenRequests()).toBe(1);

      upstream.revoke(upstream.acceptedTokens().at(-1)!);
      expect(await sdkEcho(direct, "echo", "d2")).toBe("d2");
      expect(as.tokenRequests()).toBe(2);

      upstream.revoke(upstream.acceptedTokens().at(-1)!);
      expect(await sdkEcho(aggregate, `${SERVER}-echo`, "a2")).toBe("a2");
      expect(as.tokenRequests()).toBe(3);
    });

    it("30 concurrent calls that meet the revoked token share one new token, and none fails with 'Connection closed' when a sibling drops their session", async () => {
      const { upstream, as, gateway } = await startStack();
      expect(echoed(await callEcho(gateway, "rest", "warm"))).toBe("warm");
      upstream.revoke(upstream.acceptedTokens()[0]!);
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => callEcho(gateway, ROUTES[i % 3]!, `c${i}`, i)));
      outcomes.forEach((outcome, i) => expect(echoed(outcome), `call ${i}: ${outcome.status} ${outcome.text}`).toBe(`c${i}`));
      expect(as.tokenRequests()).toBe(2);
    });
  });

  describe("an upstream that refuses every token (wrong audience)", () => {
    it.each(ROUTES)("via %s: one refetch per call, never a loop, and the client gets the gateway's 502 upstream_auth_failed (not the upstream's 401)", async (route) => {
      const { upstream, as, gateway } = await startStack({ upstreamAudience: "https://some-other-resource.example.test/mcp" });

      const first = await callEcho(gateway, route, "refused");
      // The cold fetch, then exactly one refetch for the one retry.
      expect(as.tokenRequests()).toBe(2);
      expect(upstream.rejected()).toBe(2);
      expectRefused(route, first);

      for (let call = 1; call <= 3; call++) {
        const outcome = await callEcho(gateway, route, `refused ${call}`, call + 1);
        expectRefused(route, outcome);
        expect(as.tokenRequests(), `token requests after call ${call + 1}`).toBe(2 + call);
        expect(upstream.rejected(), `upstream 401s after call ${call + 1}`).toBe(2 + 2 * call);
      }
      expect(upstream.acceptedTokens()).toEqual([]);
    });
  });

  describe("token endpoint failures", () => {
    const MARKER = "AS-BODY-MARKER-92f1";
    const faults = [
      { name: "401 invalid_client (wrong secret)", wrongSecret: true, code: "invalid_client", says: "refused the token request: invalid_client", logged: "HTTP 401 error=invalid_client" },
      {
        name: "500 with an HTML body",
        fault: { status: 500, body: `<html><body><h1>Internal Server Error</h1><p>${MARKER}</p></body></html>`, contentType: "text/html" },
        says: "answered HTTP 500",
        logged: "HTTP 500",
      },
      {
        name: "200 with garbage JSON",
        fault: { status: 200, body: `{"access_token": ${MARKER}`, contentType: "application/json" },
        says: "sent an invalid token response",
        logged: "failed to parse",
      },
      // The token request's timeout is min(server timeout, 10 s).
      { name: "no answer (timeout)", fault: "hang" as const, timeout: 1, says: "did not answer within 1 s", logged: "TimeoutError" },
    ];

    for (const scenario of faults) {
      describe(scenario.name, () => {
        async function failingStack(): Promise<Stack> {
          const stack = await startStack({
            server: {
              ...(scenario.wrongSecret ? { client_secret: WRONG_SECRET } : {}),
              ...(scenario.timeout === undefined ? {} : { timeout: scenario.timeout }),
            },
          });
          stack.as.setFault(scenario.fault);
          return stack;
        }

        it("REST: 502 naming the server and the OAuth error, nothing leaked", async () => {
          const { as, upstream, gateway } = await failingStack();
          const outcome = await callEcho(gateway, "rest", "x");
          expect(outcome.status).toBe(502);
          expect(outcome.rest?.detail).toContain(`'${SERVER}'`);
          expect(outcome.rest?.server).toBe(SERVER);
          expect(outcome.rest?.detail).toContain(scenario.says);
          if (scenario.code !== undefined) {
            expect(outcome.rest?.detail).toContain(scenario.code);
            expect(outcome.rest?.oauth_error).toBe(scenario.code);
          }
          expectNothingLeaked(outcome, MARKER, WRONG_SECRET);
          expectLogs(gateway, scenario.logged);
          expect(as.tokenRequests()).toBe(1);
          expect(upstream.requests).toHaveLength(0);
        });

        it("/{server}/mcp: 502 with a JSON-RPC error naming the server, nothing leaked", async () => {
          const { as, gateway } = await failingStack();
          const outcome = await callEcho(gateway, "passthrough", "x", 7);
          expect(outcome.status).toBe(502);
          expect(JSON.parse(outcome.text)).toMatchObject({ jsonrpc: "2.0", id: 7 });
          expect(outcome.error?.message).toContain(`'${SERVER}'`);
          expect(outcome.error?.message).toContain(scenario.says);
          if (scenario.code !== undefined) expect(outcome.error?.message).toContain(scenario.code);
          expectNothingLeaked(outcome, MARKER, WRONG_SECRET);
          expectLogs(gateway, scenario.logged);
          expect(as.tokenRequests()).toBe(1);
        });

        it("/mcp: a JSON-RPC error naming the server, nothing leaked", async () => {
          const { as, gateway } = await failingStack();
          const outcome = await callEcho(gateway, "aggregate", "x", 9);
          expect(JSON.parse(outcome.text)).toMatchObject({ jsonrpc: "2.0", id: 9 });
          expect(outcome.error?.message).toContain(`'${SERVER}'`);
          expect(outcome.error?.message).toContain(scenario.says);
          if (scenario.code !== undefined) expect(outcome.error?.message).toContain(scenario.code);
          expectNothingLeaked(outcome, MARKER, WRONG_SECRET);
          expectLogs(gateway, scenario.logged);
          expect(as.tokenRequests()).toBe(1);
        });
      });
    }

    it("the token is fetched again once the authorization server recovers (errors are not cached)", async () => {
      const { as, gateway } = await startStack();
      as.setFault({ status: 503, body: "maintenance", contentType: "text/plain" });
      expect((await callEcho(gateway, "rest", "down")).status).toBe(502);
      as.setFault(undefined);
      expect(echoed(await callEcho(gateway, "rest", "up"))).toBe("up");
      expect(as.tokenRequests()).toBe(2);
    });
  });

  describe("oauth2_flow", () => {
    it("explicit client_credentials wins over an authorization_url (a legacy row with both)", async () => {
      const { upstream, as, gateway } = await startStack({
        server: { oauth2_flow: "client_credentials", authorization_url: "http://127.0.0.1:1/authorize" },
      });
      expect(echoed(await callEcho(gateway, "passthrough", "explicit"))).toBe("explicit");
      expect(as.tokenRequests()).toBe(1);
      expect(upstream.acceptedTokens()).toHaveLength(1);
    });

    it("inferred from token_url + client_id + client_secret alone", async () => {
      const { as, gateway } = await startStack();
      expect(echoed(await callEcho(gateway, "aggregate", "inferred"))).toBe("inferred");
      expect(as.tokenRequests()).toBe(1);
    });

    it("an authorization_url without oauth2_flow means interactive: no client_credentials request", async () => {
      const { upstream, as, gateway } = await startStack({ server: { authorization_url: "http://127.0.0.1:1/authorize" } });
      const outcome = await callEcho(gateway, "rest", "interactive");
      expect(outcome.status).not.toBe(200);
      expect(as.tokenRequests()).toBe(0);
      expect(upstream.acceptedTokens()).toEqual([]);
    });

    it("explicit authorization_code means interactive even with client credentials configured", async () => {
      const { as, gateway } = await startStack({ server: { oauth2_flow: "authorization_code" } });
      const outcome = await callEcho(gateway, "passthrough", "interactive");
      expect(outcome.status).not.toBe(200);
      expect(as.tokenRequests()).toBe(0);
    });
  });
});


/**
 * The token is the gateway's, so its refusal is the gateway's 502 on every route (issue 15
 * item 13): relaying the upstream's 401 and challenge would send MCP clients into an OAuth
 * flow against the upstream's authorization server.
 */
function expectRefused(route: Route, outcome: Outcome): void {
  expect(outcome.headers).not.toContain("www-authenticate");
  if (route === "rest") {
    expect(outcome.status).toBe(502);
    expect(outcome.rest).toMatchObject({ error: "upstream_auth_failed", server: SERVER, upstream_status: 401 });
    expect(outcome.rest?.detail).toContain(`'${SERVER}'`);
  } else {
    if (route === "passthrough") expect(outcome.status).toBe(502);
    expect(outcome.error?.data).toMatchObject({ code: "upstream_auth_failed", server: SERVER });
    expect(outcome.error?.message).toContain(`'${SERVER}'`);
    expect(outcome.error?.message).toContain("401");
  }
  expectNothingLeaked(outcome);
}

function expectLogs(gateway: TestGateway, detail: string): void {
  const logged = loggedText(gateway);
  expect(logged).not.toContain(SECRET);
  expect(logged).not.toContain(WRONG_SECRET);
  expect(gateway.logs.some((line) => JSON.stringify(line).includes(detail)), `a log line mentions ${detail}`).toBe(true);
}
