/**
 * Attack review of the one pipeline (issue 16): requests the Hono routes (commit 5fc3f70)
 * answered one way and the node:http router answers another, and what a request leaves
 * behind on its error paths. A failing probe here is a finding, named after what broke.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { rawRequest } from "../fixtures/raw-http.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

let gateway: TestGateway;
let upstream: Upstream;

const master = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };

beforeAll(async () => {
  upstream = await upstreamNamed("alpha");
  gateway = await startTestGateway({
    servers: {
      alpha: { url: upstream.url, auth_type: "bearer_token", auth_value: "alpha-token-0123456789" },
      A: { url: upstream.url },
    },
  });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

describe("path spellings and methods the Hono routes answered", () => {
  it("HEAD /mcp-rest/tools/list is answered as the GET was (Hono ran the GET route for HEAD), not 404", async () => {
    const get = await rawRequest(new URL("/mcp-rest/tools/list", gateway.url), { method: "GET", headers: master });
    const head = await rawRequest(new URL("/mcp-rest/tools/list", gateway.url), { method: "HEAD", headers: master });
    expect(get.status).toBe(200);
    expect(head.status).toBe(get.status);
  });

  it("anonymous GET /mcp-rest (no trailing slash) is refused 401 as every /mcp-rest/* path was, before saying there is no route", async () => {
    const answer = await rawRequest(new URL("/mcp-rest", gateway.url), { method: "GET" });
    expect(answer.status).toBe(401);
  });

  it("POST /mcp/token reaches the OAuth token endpoint of server 'mcp' (oauth-style 404), not a pass-through to a server named 'token'", async () => {
    const answer = await rawRequest(new URL("/mcp/token", gateway.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=authorization_code&code=x",
    });
    expect({ status: answer.status, body: JSON.parse(answer.text) as unknown }).toMatchObject({ status: 404, body: { error: "invalid_request" } });
  });

  it("GET /mcp/authorize reaches the OAuth authorize endpoint of server 'mcp', not the pass-through", async () => {
    const answer = await rawRequest(new URL("/mcp/authorize?client_id=x", gateway.url), { method: "GET" });
    expect({ status: answer.status, body: JSON.parse(answer.text) as unknown }).toMatchObject({ status: 404, body: { error: "invalid_request" } });
  });

  it("a doubly percent-encoded server name (/%2541/mcp) does not reach server 'A' (the name is decoded once, as Hono did)", async () => {
    const answer = await rawRequest(new URL("/%2541/mcp", gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...master }, body: rpc("tools/list") });
    expect(answer.status).toBe(404);
  });

  // The Hono adapter resolved dot segments after the DNS-rebinding guard had read the path as
  // sent, so /ui/../alpha/mcp reached the pass-through without the Origin check. Now no MCP
  // route is reached through dot segments.
  it("dot segments do not reach an MCP route past the Origin check: /ui/../alpha/mcp and /mcp-rest/../alpha/mcp are no route", async () => {
    for (const target of ["/mcp-rest/../alpha/mcp", "/ui/../alpha/mcp", "/x/../mcp"]) {
      // Refused by the Origin check (403) where the path as sent is an MCP route, else no route (404); never proxied.
      const status = await rawStatus("POST", target, { ...MCP_ACCEPT, ...master, origin: "http://evil.example" }, rpc("tools/list"));
      expect([403, 404], target).toContain(status);
      expect(await rawStatus("POST", target, { ...MCP_ACCEPT, ...master }, rpc("tools/list")), `${target} without Origin`).toBe(404);
    }
  });

  it("every answer carries x-request-id, a refused path spelling included", async () => {
    for (const [method, path] of [["PUT", "/mcp"], ["OPTIONS", "/alpha/mcp"], ["GET", "/mcp/"], ["DELETE", "/mcp-rest/tools/call"], ["POST", "/x/mcp/"]] as const) {
      const answer = await rawRequest(new URL(path, gateway.url), { method, headers: { "x-request-id": "probe-1" } });
      expect(answer.headers["x-request-id"], `${method} ${path}`).toBe("probe-1");
    }
  });
});

/** The status of one request whose target is sent byte for byte (no URL normalisation on the way). */
function rawStatus(method: string, target: string, headers: Record<string, string>, body: string): Promise<number> {
  const { port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("error", reject);
    socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    const lines = Object.entries({ ...headers, host: `127.0.0.1:${port}`, connection: "close", "content-length": String(Buffer.byteLength(body)) }).map(([name, value]) => `${name}: ${value}`);
    socket.write(`${method} ${target} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n${body}`);
  });
}
