/**
 * Issue 15 item 1, two more headers an attack review flagged after the first fix:
 * - an upstream's `Cache-Control: public, max-age=...` was relayed, so a shared cache in
 *   front of the gateway could keep one caller's tool result for others: every relayed
 *   answer is `no-store` now;
 * - a delegating server's `WWW-Authenticate: Basic` was relayed on the gateway's origin,
 *   where a browser would ask for a password (and send it to the gateway): only Bearer
 *   challenges (RFC 6750, the MCP authorization spec) are relayed.
 * On both request paths where the route has both (POST), and on GET.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { resultAnswer, startHostileUpstream, type HostileUpstream } from "../fixtures/hostile-upstream.js";

let upstream: HostileUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startHostileUpstream();
  gateway = await startTestGateway({
    servers: {
      plain: { url: upstream.url },
      dl: { url: upstream.url, auth_type: "oauth2", delegate_auth_to_upstream: true },
    },
  });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const LANES = [
  ["the fast lane", {}],
  ["the Hono route", { "x-litellm-mcp-debug": "true" }],
] as const;

describe("relayed answers' caching and challenges", () => {
  it.each(LANES)("%s: an upstream's Cache-Control: public is replaced by no-store", async (_lane, lane) => {
    upstream.respond = (request) => resultAnswer(request, { tools: [] }, { "cache-control": "public, max-age=86400" });
    const answer = await gateway.fetch("/plain/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...lane }, body: rpc("tools/list") });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("cache-control")).toBe("no-store");
    await answer.text();
  });

  it.each([
    ["Basic realm=\"upstream\"", null],
    ["Bearer realm=\"x\", Basic realm=\"upstream\"", null],
    ["Negotiate", null],
    ["Bearer error=\"invalid_token\"", "Bearer error=\"invalid_token\""],
  ])("a delegating server's 401 with WWW-Authenticate %s relays %s", async (challenge, relayed) => {
    upstream.respond = () => ({ status: 401, headers: { "www-authenticate": challenge, "content-type": "application/json" }, body: "{}" });
    const answer = await gateway.fetch("/dl/mcp", { key: null, method: "POST", headers: MCP_ACCEPT, body: rpc("tools/list") });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe(relayed);
    await answer.text();
  });
});
