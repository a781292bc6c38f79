/**
 * Issue 15 item 6 (unbounded work from upstream answers), holes an attack review found
 * after the first fix:
 *
 * 1. Each listing was bounded, but one `/mcp` request could carry a batch of tools/list
 *    messages, each running a whole listing of every server in parallel (a 4 MB body holds
 *    ~90,000). Now one listing serves the whole request, and a batch holds at most 100.
 * 2. The gateway's own client answered every server request found in an SSE answer (a ping
 *    gets a POSTed result) without bound: one answer carrying thousands of pings made the
 *    gateway send thousands of requests. Now at most 16 per call are answered.
 *
 * Both run on both request paths.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startHostileUpstream, type HostileUpstream } from "../fixtures/hostile-upstream.js";
import { startPagingUpstream, toolsNamed, type PagingUpstream } from "../fixtures/paging-upstream.js";

const LANES = [
  { lane: "fast lane", headers: {} as Record<string, string> },
  { lane: "Hono route", headers: { "x-litellm-mcp-debug": "true" } as Record<string, string> },
];

let gateway: TestGateway;
let endless: PagingUpstream;
let flood: HostileUpstream;
const PINGS = 2_000;

beforeAll(async () => {
  endless = await startPagingUpstream({
    page: (cursor) => {
      const index = cursor === undefined ? 0 : Number(cursor.slice(1));
      return { tools: toolsNamed("tool", index, 1), nextCursor: `c${index + 1}` };
    },
  });
  flood = await startHostileUpstream();
  flood.respond = (request) => {
    if (request.rpc !== "tools/call") return undefined;
    let events = "";
    for (let n = 0; n < PINGS; n++) events += `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: `ping-${n}`, method: "ping" })}\n\n`;
    events += `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", id: request.id, result: { content: [{ type: "text", text: "done" }] } })}\n\n`;
    return { status: 200, headers: { "content-type": "text/event-stream" }, body: events };
  };
  gateway = await startTestGateway({
    servers: { endless: { url: endless.url }, flood: { url: flood.url } },
    general: { tools_list_max_pages: 5 },
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([endless?.close(), flood?.close()]);
});

describe("review a, item 6: one request, unbounded upstream work", () => {
  it.each(LANES)("$lane: a batch of 20 tools/list on /mcp ran 20 bounded listings (100 page requests where the bound is 5): now one", async ({ headers }) => {
    const before = endless.listRequests();
    const batch = `[${Array.from({ length: 20 }, (_, index) => rpc("tools/list", {}, index + 1)).join(",")}]`;
    const response = await gateway.fetch("/mcp", { method: "POST", headers: { ...MCP_ACCEPT, "x-mcp-servers": "endless", ...headers }, body: batch });
    await response.text();
    const pages = endless.listRequests() - before;
    // Secure: a request's listings are bounded together (tools_list_max_pages = 5), e.g. one listing per request.
    expect(pages, `page requests for one HTTP request: ${pages}`).toBeLessThanOrEqual(10);
  });

  it.each(LANES)(`$lane: an SSE answer carrying ${PINGS} pings made the gateway POST ${PINGS} answers upstream: now 16 at most`, async ({ headers }) => {
    const pongs = () => flood.requests.filter((request) => request.method === "POST" && typeof request.id === "string" && request.id.startsWith("ping-")).length;
    const before = pongs();
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, "x-mcp-servers": "flood", ...headers },
      body: rpc("tools/call", { name: "flood-echo", arguments: { message: "x" } }),
    });
    expect(response.status).toBe(200);
    await response.text();
    await flood.waitUntil(() => pongs() - before >= 16);
    const sent = pongs() - before;
    expect(sent, `requests the gateway sent back for one upstream answer: ${sent}`).toBe(16);
  });
});
