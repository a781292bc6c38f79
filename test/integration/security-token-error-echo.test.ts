/**
 * Issue 15 item 11, found by a second attack review: an authorization server's `error`
 * code (free text) was relayed verbatim and its error_description logged verbatim, so a
 * token endpoint that echoed the client secret leaked it to a limited key, in the answer
 * and in the log. Only standard codes are relayed now, and the log masks the secret.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const SECRET = "cs-review-c-9f8e7d6c5b4a3210";

describe("token endpoint error text echoing the client secret", () => {
  let gateway: TestGateway;
  let upstream: Upstream;
  const as = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      const secret = new URLSearchParams(body).get("client_secret") ?? "";
      response.writeHead(400, { "content-type": "application/json" });
      response.end(JSON.stringify({ error: `invalid_client_${secret}`, error_description: `client_secret ${secret} is wrong` }));
    });
  });

  beforeAll(async () => {
    upstream = await startUpstream({ name: "m2m" });
    await new Promise<void>((resolve) => as.listen(0, "127.0.0.1", resolve));
    const tokenUrl = `http://127.0.0.1:${(as.address() as AddressInfo).port}/token`;
    gateway = await startTestGateway({
      servers: {
        m2m: { url: upstream.url, auth_type: "oauth2", client_id: "gw", client_secret: "os.environ/RC_SECRET", token_url: tokenUrl, token_endpoint_auth_method: "client_secret_post" },
      },
      env: { RC_SECRET: SECRET },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
    await new Promise((resolve) => as.close(resolve));
  });

  for (const debug of [false, true]) {
    it(`a limited key's /m2m/mcp answer does not carry the client secret (${debug ? "Hono" : "fast lane"})`, async () => {
      const key = await gateway.generateKey({ object_permission: { mcp_servers: ["m2m"] } });
      const response = await gateway.fetch("/m2m/mcp", { method: "POST", key, headers: { ...MCP_ACCEPT, ...(debug ? { "x-litellm-mcp-debug": "true" } : {}) }, body: rpc("tools/list") });
      const text = await response.text();
      expect(text).not.toContain(SECRET);
    });
  }

  it("a limited key's REST call does not carry the client secret", async () => {
    const key = await gateway.generateKey({ object_permission: { mcp_servers: ["m2m"] } });
    const response = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", key, headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "m2m", name: "echo", arguments: { message: "x" } }) });
    const text = await response.text();
    expect(text).not.toContain(SECRET);
  });

  it("the log does not carry the client secret", () => {
    expect(JSON.stringify(gateway.logs)).not.toContain(SECRET);
  });
});
