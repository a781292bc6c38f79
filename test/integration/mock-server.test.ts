/**
 * The shipped mock server (README, "Machine-to-machine OAuth"): OAuth 2.0 client
 * credentials + an MCP echo tool behind bearer tokens it issued.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as oauth from "oauth4webapi";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, startMockServer } from "../../src/mock-server/mock-server.js";
import type { MockServer } from "../../src/mock-server/mock-server.js";

const FORM = { "content-type": "application/x-www-form-urlencoded" };

function basic(id: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode each part, then base64.
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

let clock = Date.now();
let mock: MockServer;
const logs: string[] = [];

beforeEach(async () => {
  clock = Date.now();
  logs.length = 0;
  mock = await startMockServer({ port: 0, log: (line) => logs.push(line), now: () => clock });
});

afterEach(async () => {
  await mock.close();
});

async function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${mock.url}/oauth/token`, { method: "POST", headers: { ...FORM, ...headers }, body: new URLSearchParams(body) });
}

async function getToken(): Promise<string> {
  const response = await tokenRequest({ grant_type: "client_credentials", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET });
  const body = (await response.json()) as { access_token: string };
  return body.access_token;
}

async function connect(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${mock.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "mock-server-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

async function postMcp(headers: Record<string, string>): Promise<Response> {
  return fetch(`${mock.url}/mcp`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
}

describe("mock server token endpoint", () => {
  it("issues a token to client_secret_post", async () => {
    const response = await tokenRequest({ grant_type: "client_credentials", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3600 });
    expect(typeof body["access_token"]).toBe("string");
    expect(body["scope"]).toBeUndefined();
    expect(mock.tokensIssued()).toBe(1);
  });

  it("issues a token to client_secret_basic and returns the requested scope", async () => {
    const response = await tokenRequest({ grant_type: "client_credentials", scope: "mcp:read mcp:write" }, {
      authorization: basic(MOCK_CLIENT_ID, MOCK_CLIENT_SECRET),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ token_type: "Bearer", expires_in: 3600, scope: "mcp:read mcp:write" });
    expect(mock.tokensIssued()).toBe(1);
  });

  it("rejects a wrong secret with invalid_client", async () => {
    const posted = await tokenRequest({ grant_type: "client_credentials", client_id: MOCK_CLIENT_ID, client_secret: "wrong" });
    expect(posted.status).toBe(401);
    expect(posted.headers.get("www-authenticate")).toBeNull();
    expect(await posted.json()).toMatchObject({ error: "invalid_client" });

    const viaBasic = await tokenRequest({ grant_type: "client_credentials" }, { authorization: basic(MOCK_CLIENT_ID, "wrong") });
    expect(viaBasic.status).toBe(401);
    expect(viaBasic.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect(await viaBasic.json()).toMatchObject({ error: "invalid_client" });
    expect(mock.tokensIssued()).toBe(0);
  });

  it("answers unsupported_grant_type and invalid_request", async () => {
    const wrongGrant = await tokenRequest({ grant_type: "password", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET });
    expect(wrongGrant.status).toBe(400);
    expect(await wrongGrant.json()).toMatchObject({ error: "unsupported_grant_type" });

    const json = await fetch(`${mock.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: "invalid_request" });

    const missingGrant = await tokenRequest({ client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET });
    expect(await missingGrant.json()).toMatchObject({ error: "invalid_request" });

    const bothMethods = await tokenRequest(
      { grant_type: "client_credentials", client_secret: MOCK_CLIENT_SECRET },
      { authorization: basic(MOCK_CLIENT_ID, MOCK_CLIENT_SECRET) },
    );
    expect(bothMethods.status).toBe(400);
    expect(await bothMethods.json()).toMatchObject({ error: "invalid_request" });
  });

  it("works with oauth4webapi discovery and both client authentication methods", async () => {
    const issuer = new URL(mock.url);
    const options = { algorithm: "oauth2" as const, [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
    expect(as).toMatchObject({
      issuer: mock.url,
      token_endpoint: `${mock.url}/oauth/token`,
      grant_types_supported: ["client_credentials"],
      token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
    });
    const client: oauth.Client = { client_id: MOCK_CLIENT_ID };
    for (const auth of [oauth.ClientSecretBasic(MOCK_CLIENT_SECRET), oauth.ClientSecretPost(MOCK_CLIENT_SECRET)]) {
      const response = await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: "a b" }, options);
      const tokens = await oauth.processClientCredentialsResponse(as, client, response);
      expect(tokens).toMatchObject({ token_type: "bearer", expires_in: 3600, scope: "a b" });
    }
    expect(mock.tokensIssued()).toBe(2);
  });
});

describe("mock server MCP endpoint", () => {
  it("serves echo to the SDK client with an issued token", async () => {
    const client = await connect(await getToken());
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(["echo"]);
      const result = await client.callTool({ name: "echo", arguments: { message: "hello" } });
      expect(result.content).toEqual([{ type: "text", text: "hello" }]);
    } finally {
      await client.close();
    }
  });

  it("answers 401 invalid_token without a token, with an unknown token, and with an expired one", async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: "Bearer not-issued" }];
    for (const headers of attempts) {
      const response = await postMcp(headers);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
      expect(await response.json()).toMatchObject({ error: "invalid_token" });
    }

    const token = await getToken();
    expect((await postMcp({ authorization: `Bearer ${token}` })).status).toBe(200);
    clock += 3600 * 1000;
    expect((await postMcp({ authorization: `Bearer ${token}` })).status).toBe(401);
  });

  it("makes the SDK client fail to connect without a token", async () => {
    const client = new Client({ name: "mock-server-test", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(new URL(`${mock.url}/mcp`)))).rejects.toMatchObject({
      code: 401,
      message: expect.stringContaining("invalid_token") as unknown,
    });
    expect(logs.some((line) => line.includes("401"))).toBe(true);
  });
});
