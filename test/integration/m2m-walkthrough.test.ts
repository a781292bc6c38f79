/**
 * The seed's machine-to-machine walkthrough (LiteLLM's MCP OAuth docs, "Test with Mock
 * Server"), verbatim: the product's mock server, the seed's config.yaml, and its two curl
 * commands, then the same server through /{server}/mcp and /mcp with the official SDK
 * client.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startMockServer, type MockServer } from "../../src/mock-server/mock-server.js";

const SERVER = "test_oauth2";

/** The seed's config, pointed at the mock server's ephemeral port. */
function seedConfig(mock: MockServer, clientSecret = "test-secret"): Record<string, Record<string, unknown>> {
  return {
    [SERVER]: {
      url: `${mock.url}/mcp`,
      auth_type: "oauth2",
      client_id: "test-client",
      client_secret: clientSecret,
      token_url: `${mock.url}/oauth/token`,
    },
  };
}

/** `curl http://localhost:4000/mcp-rest/tools/list -H "Authorization: Bearer sk-1234"` */
function listCurl(gateway: TestGateway): Promise<Response> {
  return fetch(`${gateway.url}/mcp-rest/tools/list`, { headers: { Authorization: `Bearer ${gateway.masterKey}` } });
}

/** `curl http://localhost:4000/mcp-rest/tools/call -H "Content-Type: application/json" -H "Authorization: Bearer sk-1234" -d '{...}'` */
function callCurl(gateway: TestGateway, message = "hello"): Promise<Response> {
  return fetch(`${gateway.url}/mcp-rest/tools/call`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${gateway.masterKey}` },
    body: JSON.stringify({ name: "echo", arguments: { message } }),
  });
}

function firstText(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content;
  return content?.[0]?.text ?? "";
}

describe("the seed's M2M walkthrough", () => {
  let mock: MockServer;
  const gateways: TestGateway[] = [];

  beforeAll(async () => {
    mock = await startMockServer({ port: 0 });
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
  });
  afterAll(async () => {
    await mock?.close();
  });

  async function gatewayFor(clientSecret?: string): Promise<TestGateway> {
    const gateway = await startTestGateway({ servers: seedConfig(mock, clientSecret) });
    gateways.push(gateway);
    return gateway;
  }

  it("the two curls work verbatim, then /{server}/mcp and /mcp, all on one cached token", async () => {
    const gateway = await gatewayFor();
    const issuedBefore = mock.tokensIssued();

    const listed = await listCurl(gateway);
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({
      tools: [
        {
          name: "echo",
          description: "Echoes back the provided message",
          inputSchema: expect.objectContaining({
            type: "object",
            properties: { message: expect.objectContaining({ type: "string", description: "The message to echo back" }) as unknown },
            required: ["message"],
          }) as unknown,
          mcp_info: { server_name: SERVER },
        },
      ],
    });

    const called = await callCurl(gateway);
    expect(called.status).toBe(200);
    expect(await called.json()).toEqual({ content: [{ type: "text", text: "hello" }] });

    const direct = await gateway.connect(`/${SERVER}/mcp`);
    expect((await direct.listTools()).tools.map((tool) => tool.name)).toEqual(["echo"]);
    expect(firstText(await direct.callTool({ name: "echo", arguments: { message: "direct" } }))).toBe("direct");

    const aggregate = await gateway.connect("/mcp");
    expect((await aggregate.listTools()).tools.map((tool) => tool.name)).toEqual([`${SERVER}-echo`]);
    for (let i = 0; i < 10; i++) {
      expect(firstText(await aggregate.callTool({ name: `${SERVER}-echo`, arguments: { message: `m${i}` } }))).toBe(`m${i}`);
      expect(((await (await callCurl(gateway, `r${i}`)).json()) as { content: unknown }).content).toEqual([{ type: "text", text: `r${i}` }]);
    }

    // RFC 6749 §4.4 token fetched once and reused (cached for expires_in - 60 s).
    expect(mock.tokensIssued() - issuedBefore).toBe(1);
  });

  it("50 concurrent first calls through a fresh gateway share one token request", async () => {
    const gateway = await gatewayFor();
    const issuedBefore = mock.tokensIssued();

    const viaRest = (i: number) =>
      callCurl(gateway, `rest ${i}`).then(async (response) => ({ status: response.status, text: firstText(await response.json()) }));
    const viaAggregate = (i: number) =>
      gateway
        .fetch("/mcp", { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: `${SERVER}-echo`, arguments: { message: `agg ${i}` } }, i) })
        .then(async (response) => ({ status: response.status, text: firstText(((await response.json()) as { result?: { content?: unknown } }).result ?? {}) }));
    const viaPassthrough = (i: number) =>
      gateway
        .fetch(`/${SERVER}/mcp`, { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "echo", arguments: { message: `pass ${i}` } }, i) })
        .then(async (response) => ({ status: response.status, text: firstText(((await response.json()) as { result?: { content?: unknown } }).result ?? {}) }));

    const kinds = [viaRest, viaAggregate, viaPassthrough];
    const labels = ["rest", "agg", "pass"];
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => kinds[i % 3]!(i)));

    results.forEach((result, i) => {
      expect(result, `call ${i}`).toEqual({ status: 200, text: `${labels[i % 3]} ${i}` });
    });
    expect(mock.tokensIssued() - issuedBefore).toBe(1);
  });

  describe("with a wrong client_secret", () => {
    const WRONG = "not-the-test-secret-9f8e7d";

    it("a REST call with server_name fails 502 naming the server and invalid_client, never the secret", async () => {
      const gateway = await gatewayFor(WRONG);
      const response = await fetch(`${gateway.url}/mcp-rest/tools/call`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${gateway.masterKey}` },
        body: JSON.stringify({ server_name: SERVER, name: "echo", arguments: { message: "hello" } }),
      });
      expect(response.status).toBe(502);
      const text = await response.text();
      const body = JSON.parse(text) as { detail: string; error: string; server?: string; oauth_error?: string };
      expect(body.detail).toContain(`'${SERVER}'`);
      expect(body.detail).toContain("invalid_client");
      expect(body).toMatchObject({ server: SERVER, oauth_error: "invalid_client" });
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain("test-secret");
      expect(JSON.stringify(gateway.logs)).not.toContain(WRONG);
    });

    it("the seed's curl (no server_name) fails 502 naming the server and invalid_client, not 'unknown tool'", async () => {
      const gateway = await gatewayFor(WRONG);
      const response = await callCurl(gateway);
      expect(response.status).toBe(502);
      const text = await response.text();
      expect(text).toContain(`'${SERVER}'`);
      expect(text).toContain("invalid_client");
      expect(text).not.toContain(WRONG);
      expect(JSON.stringify(gateway.logs)).not.toContain(WRONG);
    });

    it("/mcp answers a JSON-RPC error naming the server and invalid_client", async () => {
      const gateway = await gatewayFor(WRONG);
      const response = await gateway.fetch("/mcp", {
        method: "POST",
        headers: MCP_ACCEPT,
        body: rpc("tools/call", { name: `${SERVER}-echo`, arguments: { message: "hello" } }, 3),
      });
      const text = await response.text();
      const body = JSON.parse(text) as { id: number; error?: { message: string } };
      expect(body.id).toBe(3);
      expect(body.error?.message).toContain(`'${SERVER}'`);
      expect(body.error?.message).toContain("invalid_client");
      expect(text).not.toContain(WRONG);
    });
  });
});
