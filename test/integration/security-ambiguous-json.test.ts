/**
 * Issue 15 item 2: what the gateway checks must be what the upstream reads. The upstream
 * here decodes JSON the way Go's encoding/json does (keys matched case-insensitively, the
 * last one wins), as many MCP servers do; it runs whatever tool it reads and says so.
 * Every attack is sent through both request paths: the node:http lane and the Hono route
 * (which the debug header selects).
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { parseRaw, type Raw } from "../fixtures/raw-json.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

/** Go's encoding/json, for the fields an MCP server decodes: case-insensitive keys, the last one wins. */
function decodeLikeGo(text: string): { method?: string; name?: string } {
  const pick = (object: Raw | undefined, field: string): Raw | undefined => {
    let found: Raw | undefined;
    if (object === null || typeof object !== "object" || Array.isArray(object)) return undefined;
    for (const [key, value] of object.pairs) if (key.toLowerCase() === field) found = value;
    return found;
  };
  const top = parseRaw(text);
  return { method: pick(top, "method") as string | undefined, name: pick(pick(top, "params"), "name") as string | undefined };
}

describe("ambiguous JSON-RPC is refused before any upstream reads it", () => {
  let goUpstream: Server;
  const ran: string[] = [];
  let sdkUpstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    goUpstream = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const decoded = decodeLikeGo(text);
        if (decoded.method === "tools/call" && decoded.name !== undefined) ran.push(decoded.name);
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: `ran ${decoded.name}` }] } }));
      });
    });
    const origin = await listenOnLoopback(goUpstream);
    sdkUpstream = await startUpstream();
    gateway = await startTestGateway({
      servers: {
        gorepo: { url: `${origin}/mcp`, disallowed_tools: ["delete_repo"] },
        sdk: { url: sdkUpstream.url, disallowed_tools: ["secret_admin"] },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await sdkUpstream?.close();
    await new Promise((resolve) => goUpstream?.close(resolve));
  });

  const lanes = [
    ["the node:http lane", {}],
    ["the Hono route", { "x-litellm-mcp-debug": "true" }],
  ] as const;

  const attacks = [
    ["'Name' beside 'name'", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"delete_repo","arguments":{}}}'],
    ["'NAME' alone", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"NAME":"delete_repo","arguments":{}}}'],
    ["'METHOD' beside 'method'", '{"jsonrpc":"2.0","id":1,"method":"tools/list","METHOD":"tools/call","params":{"name":"delete_repo"}}'],
    ["'name' twice (first wins in some decoders)", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","name":"echo"}}'],
    ["a tool name cut at a NUL", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo\\u0000.echo"}}'],
  ] as const;

  for (const [lane, headers] of lanes) {
    it.each(attacks)(`${lane}: a disallowed tool smuggled as %s never runs upstream`, async (_label, body) => {
      ran.length = 0;
      const response = await gateway.fetch("/gorepo/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
      expect(response.status).toBe(400);
      const answer = (await response.json()) as { id: unknown; error: { code: number; message: string } };
      expect([-32600, -32602]).toContain(answer.error.code);
      // The message is invalid as a whole (its id may be the ambiguous key): JSON-RPC 2.0 §5 answers id null.
      expect(answer.id).toBeNull();
      expect(ran).toEqual([]);
    });

    it(`${lane}: an unambiguous call still reaches the upstream (the control case)`, async () => {
      ran.length = 0;
      const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"Name":"delete_repo","name":"x"}}}';
      const response = await gateway.fetch("/gorepo/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
      expect(response.status).toBe(200);
      expect(ran).toEqual(["echo"]);
    });

    it(`${lane}: the aggregate /mcp refuses 'Name' beside 'name' before any upstream is called`, async () => {
      const before = sdkUpstream.requests.length;
      const body = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sdk-echo","Name":"sdk-secret_admin","arguments":{"message":"x"}}}';
      const response = await gateway.fetch("/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: number } }).error.code).toBe(-32600);
      expect(sdkUpstream.requests.length).toBe(before);
    });
  }
});
