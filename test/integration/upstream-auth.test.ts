/**
 * Upstream credentials on the pass-through, seen where they matter: at a real upstream
 * MCP server. The static `auth_type`s (README, "config.yaml"), `os.environ/` values,
 * `static_headers`, `extra_headers`, and per-request `x-mcp-{server}-{name}` headers
 * (README, "Per-request upstream credentials").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

const basic = (userPass: string) => `Basic ${Buffer.from(userPass, "utf8").toString("base64")}`;

/** README, "config.yaml", one row per static auth_type: the header the upstream must receive. */
const STATIC_AUTH = [
  { authType: "none", value: undefined, header: undefined, expected: undefined },
  { authType: "api_key", value: "ak-123", header: "x-api-key", expected: "ak-123" },
  { authType: "bearer_token", value: "bt-456", header: "authorization", expected: "Bearer bt-456" },
  { authType: "basic", value: "alice:s3cr:et", header: "authorization", expected: basic("alice:s3cr:et") },
  { authType: "authorization", value: "Custom scheme-789", header: "authorization", expected: "Custom scheme-789" },
  { authType: "token", value: "tk-000", header: "authorization", expected: "token tk-000" },
] as const;

/**
 * Issue 17: the other forms LiteLLM configs write credentials in. A pre-encoded basic value
 * is sent as it is (never base64 twice); a scheme already in the value is not doubled.
 */
const LITELLM_FORMS = [
  { name: "basic-bare-base64", authType: "basic", value: "dXNlcjpwYXNz", header: "authorization", expected: "Basic dXNlcjpwYXNz" },
  { name: "basic-with-scheme", authType: "basic", value: "Basic dXNlcjpwYXNz", header: "authorization", expected: "Basic dXNlcjpwYXNz" },
  { name: "basic-scheme-raw", authType: "basic", value: "Basic alice:pw", header: "authorization", expected: basic("alice:pw") },
  { name: "bearer-with-scheme", authType: "bearer_token", value: "Bearer bt-789", header: "authorization", expected: "Bearer bt-789" },
  { name: "token-with-scheme", authType: "token", value: "token tk-111", header: "authorization", expected: "token tk-111" },
] as const;

const CREDENTIAL_HEADERS = ["authorization", "x-api-key"];

let shared: Upstream;
let gh: Upstream;
let ghEnterprise: Upstream;
let gateway: TestGateway;

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

/**
 * The headers the upstream recorded for the one `whoami` call that `call` makes. Not the
 * tool's own report of them: the gateway scrubs its credentials out of upstream answers
 * (issue 15 item 11), so the report shows masks where the credentials were.
 */
async function headersOfWhoami(call: () => Promise<unknown>): Promise<Record<string, string>> {
  const upstreams = [shared, gh, ghEnterprise];
  const before = upstreams.map((upstream) => upstream.requests.length);
  await call();
  const calls = upstreams.flatMap((upstream, index) => upstream.requests.slice(before[index]).filter(isCallOf("whoami")));
  expect(calls).toHaveLength(1);
  return calls[0]!.headers;
}

/** The headers the upstream saw on the request that carried a `whoami` call. */
async function whoami(client: Client): Promise<Record<string, string>> {
  return headersOfWhoami(() => client.callTool({ name: "whoami", arguments: {} }));
}

const KEY_HEADER = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };

/**
 * One raw `whoami` call through the pass-through; returns the headers the upstream saw.
 * The gateway key goes in x-litellm-api-key unless `headers` carry it some other way.
 */
async function rawWhoami(path: string, headers: Record<string, string>, keyHeader: Record<string, string> = KEY_HEADER): Promise<Record<string, string>> {
  return headersOfWhoami(async () => {
    const response = await gateway.fetch(path, {
      method: "POST",
      headers: { ...MCP_ACCEPT, ...keyHeader, ...headers },
      body: rpc("tools/call", { name: "whoami", arguments: {} }),
    });
    expect(response.status).toBe(200);
    await response.text();
  });
}

beforeAll(async () => {
  shared = await startUpstream({ name: "shared", mode: "json" });
  gh = await startUpstream({ name: "gh", mode: "json" });
  ghEnterprise = await startUpstream({ name: "gh-enterprise", mode: "sse" });
  const servers: Record<string, Record<string, unknown>> = {};
  for (const row of STATIC_AUTH) {
    servers[`static-${row.authType}`] = { url: shared.url, auth_type: row.authType, ...(row.value === undefined ? {} : { auth_value: row.value }) };
  }
  for (const row of LITELLM_FORMS) servers[row.name] = { url: shared.url, auth_type: row.authType, auth_value: row.value };
  servers["from-env"] = { url: shared.url, auth_type: "bearer_token", auth_value: "os.environ/UPSTREAM_TOKEN" };
  servers["legacy-alias"] = { url: shared.url, auth_type: "api_key", authentication_token: "os.environ/UPSTREAM_API_KEY" };
  servers["with-headers"] = {
    url: shared.url,
    auth_type: "api_key",
    auth_value: "configured-key",
    static_headers: { "X-Static-Team": "platform", "X-Region": "os.environ/UPSTREAM_REGION" },
    // x-static-team and x-api-key are listed too: a client's value must still lose to the configured ones.
    extra_headers: ["X-Tenant", "x-request-trace", "x-static-team", "x-api-key"],
  };
  servers["gh"] = { url: gh.url, auth_type: "bearer_token", auth_value: "configured-gh" };
  servers["gh-enterprise"] = { url: ghEnterprise.url, auth_type: "token", auth_value: "configured-ghe" };
  gateway = await startTestGateway({
    servers,
    env: { UPSTREAM_TOKEN: "from-the-environment", UPSTREAM_API_KEY: "alias-from-env", UPSTREAM_REGION: "eu-west-1" },
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([shared?.close(), gh?.close(), ghEnterprise?.close()]);
});

describe("static auth_type", () => {
  it.each(STATIC_AUTH)("$authType arrives upstream as the README says", async ({ authType, header, expected }) => {
    const client = await gateway.connect(`/static-${authType}/mcp`);
    const before = shared.requests.length;
    const seen = await whoami(client);
    for (const name of CREDENTIAL_HEADERS) expect(seen[name], name).toBe(name === header ? expected : undefined);
    // Every request of the session carried it, not only the call: initialize and tools/list included.
    await client.listTools();
    const requests = shared.requests.slice(before);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    for (const request of requests) {
      for (const name of CREDENTIAL_HEADERS) expect(request.headers[name], `${request.method} ${name}`).toBe(name === header ? expected : undefined);
    }
    await client.close();
  });

  it.each(LITELLM_FORMS)("$name: $value arrives upstream as $expected", async ({ name, header, expected }) => {
    const client = await gateway.connect(`/${name}/mcp`);
    const seen = await whoami(client);
    for (const credential of CREDENTIAL_HEADERS) expect(seen[credential], credential).toBe(credential === header ? expected : undefined);
    await client.close();
  });

  it("initialize carries the credential too", async () => {
    const before = shared.requests.length;
    const client = await gateway.connect("/mcp/static-basic");
    const initialize = shared.requests.slice(before).find((request) => (request.body as { method?: string } | undefined)?.method === "initialize");
    expect(initialize?.headers["authorization"]).toBe(basic("alice:s3cr:et"));
    await client.close();
  });

  it("auth_value from os.environ/ is resolved before it is sent", async () => {
    const client = await gateway.connect("/from-env/mcp");
    expect((await whoami(client))["authorization"]).toBe("Bearer from-the-environment");
    await client.close();
  });

  it("the authentication_token alias works like auth_value", async () => {
    const client = await gateway.connect("/legacy-alias/mcp");
    const seen = await whoami(client);
    expect(seen["x-api-key"]).toBe("alias-from-env");
    expect(seen["authorization"]).toBeUndefined();
    await client.close();
  });
});

describe("static_headers and extra_headers", () => {
  it("static_headers are sent on every request, beside the credential", async () => {
    const client = await gateway.connect("/with-headers/mcp");
    const seen = await whoami(client);
    expect(seen["x-static-team"]).toBe("platform");
    expect(seen["x-region"]).toBe("eu-west-1");
    expect(seen["x-api-key"]).toBe("configured-key");
    await client.close();
  });

  it("a listed client header is forwarded, an unlisted one is not", async () => {
    const seen = await rawWhoami("/with-headers/mcp", { "x-tenant": "acme", "X-Request-Trace": "trace-1", "x-unlisted": "nope", "x-other-tenant": "nope" });
    expect(seen["x-tenant"]).toBe("acme");
    expect(seen["x-request-trace"]).toBe("trace-1");
    expect(seen["x-unlisted"]).toBeUndefined();
    expect(seen["x-other-tenant"]).toBeUndefined();
    expect(shared.lastHeaders()["x-tenant"]).toBe("acme");
    expect(shared.lastHeaders()["x-unlisted"]).toBeUndefined();
  });

  it("a forwarded client header does not replace a static header or the credential", async () => {
    const seen = await rawWhoami("/with-headers/mcp", { "x-static-team": "spoofed", "x-api-key": "spoofed" });
    expect(seen["x-static-team"]).toBe("platform");
    expect(seen["x-api-key"]).toBe("configured-key");
  });

  it("extra_headers are forwarded on the SDK client's requests too", async () => {
    const client = await gateway.connect("/with-headers/mcp", { "x-tenant": "sdk-tenant" });
    expect((await whoami(client))["x-tenant"]).toBe("sdk-tenant");
    await client.close();
  });
});

describe("per-request x-mcp-{server}-{name} headers", () => {
  const perRequest = { "x-mcp-gh-authorization": "Bearer per-request-gh", "x-mcp-gh-enterprise-authorization": "token per-request-ghe" };

  it("override the configured credential of the server they name, and only that one", async () => {
    const toGh = await rawWhoami("/gh/mcp", perRequest);
    expect(toGh["authorization"]).toBe("Bearer per-request-gh");
    // gh is a prefix of gh-enterprise: the longest name wins, so gh never gets "enterprise-authorization".
    expect(toGh["enterprise-authorization"]).toBeUndefined();
    for (const name of Object.keys(toGh)) expect(name.startsWith("x-mcp-"), name).toBe(false);

    const client = await gateway.connect("/gh-enterprise/mcp", perRequest);
    const toGhe = await whoami(client);
    expect(toGhe["authorization"]).toBe("token per-request-ghe");
    for (const name of Object.keys(toGhe)) expect(name.startsWith("x-mcp-"), name).toBe(false);
    await client.close();

    // Nothing meant for one server ever reached the other.
    expect(gh.requests.length).toBeGreaterThan(0);
    expect(ghEnterprise.requests.length).toBeGreaterThan(0);
    expect(gh.requests.flatMap((request) => Object.values(request.headers))).not.toContain("token per-request-ghe");
    expect(ghEnterprise.requests.flatMap((request) => Object.values(request.headers))).not.toContain("Bearer per-request-gh");
  });

  it("another server's header leaves the configured credential in place", async () => {
    const toGh = await rawWhoami("/gh/mcp", { "x-mcp-gh-enterprise-authorization": "token per-request-ghe" });
    expect(toGh["authorization"]).toBe("Bearer configured-gh");
    expect(toGh["enterprise-authorization"]).toBeUndefined();

    const toGhe = await rawWhoami("/mcp/gh-enterprise", { "x-mcp-gh-authorization": "Bearer per-request-gh" });
    expect(toGhe["authorization"]).toBe("token configured-ghe");
  });

  it("match server names case-insensitively, as HTTP header names are", async () => {
    const seen = await rawWhoami("/gh/mcp", { "X-MCP-GH-Authorization": "Bearer mixed-case" });
    expect(seen["authorization"]).toBe("Bearer mixed-case");
  });

  it("cannot set the upstream request's Host, framing or hop-by-hop headers", async () => {
    const seen = await rawWhoami("/gh/mcp", {
      "x-mcp-gh-authorization": "Bearer per-request-gh",
      "x-mcp-gh-host": "internal.example",
      "x-mcp-gh-content-length": "0",
      "x-mcp-gh-transfer-encoding": "chunked",
      "x-mcp-gh-connection": "close",
      "x-mcp-gh-upgrade": "websocket",
    });
    expect(seen["authorization"]).toBe("Bearer per-request-gh");
    expect(seen["host"]).toBe(new URL(gh.url).host);
    expect(seen["upgrade"]).toBeUndefined();
    expect(seen["transfer-encoding"]).toBeUndefined();
    expect(seen["content-length"]).not.toBe("0");
  });

  it("reach a server with auth_type none, and no other server", async () => {
    const seen = await rawWhoami("/static-none/mcp", { "x-mcp-static-none-authorization": "Bearer only-for-none", "x-mcp-gh-authorization": "Bearer per-request-gh" });
    expect(seen["authorization"]).toBe("Bearer only-for-none");
    expect(Object.values(seen)).not.toContain("Bearer per-request-gh");
  });
});

describe("the client's own Authorization", () => {
  it("is not forwarded to an auth_type none server when the gateway key came in x-litellm-api-key", async () => {
    const seen = await rawWhoami("/static-none/mcp", { authorization: "Bearer client-own-token" });
    expect(seen["authorization"]).toBeUndefined();
    expect(shared.lastHeaders()["authorization"]).toBeUndefined();
    expect(shared.requests.filter(isCallOf("whoami")).at(-1)?.headers["authorization"]).toBeUndefined();
  });

  it("does not replace a configured credential", async () => {
    const seen = await rawWhoami("/static-bearer_token/mcp", { authorization: "Bearer client-own-token" });
    expect(seen["authorization"]).toBe("Bearer bt-456");
  });

  it("carrying the gateway key is not forwarded either", async () => {
    const seen = await rawWhoami("/static-none/mcp", { authorization: `Bearer ${MASTER_KEY}` }, {});
    expect(seen["authorization"]).toBeUndefined();
    expect(Object.values(seen).join("\n")).not.toContain(MASTER_KEY);
  });
});
