/**
 * Issue 15 item 2, holes an attack review found after the first fix (what the gateway
 * checks must be what the upstream reads, "to every JSON decoder"); each is refused now:
 *
 * 1. The client's Content-Type (with its charset) is forwarded as is, while the gateway
 *    always decodes the body as UTF-8. The SDK's own Express helper (createMcpExpressApp:
 *    express.json(), body-parser 2) honours `charset=utf-7`, so pure-ASCII bytes that the
 *    gateway reads as `echo` are `delete_repo` upstream.
 * 2. The key fold (toUpperCase().toLowerCase()) is not Go's (ToUpper(ToLower(r)) with simple
 *    mappings): Go folds `İ` (U+0130) onto `I`, JS turns it into `i̇`. `"İd"` is Go's `id`,
 *    so a tools/list answer comes back under an id the filter does not watch.
 * 3. An id with an unpaired surrogate: Go (and Java) echo it as U+FFFD / `?`, so the
 *    tools/list filter (which only rewrites answers whose id it recognises) lets it through.
 * 4. A key cut at a NUL (C decoders such as cJSON; first match wins there).
 *
 * Every probe runs on both request paths.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { MCP_ACCEPT, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { parseRaw, type Raw } from "../fixtures/raw-json.js";

const LANES = [
  { lane: "fast lane", headers: {} as Record<string, string> },
  { lane: "Hono route", headers: { "x-litellm-mcp-debug": "true" } as Record<string, string> },
];


/** Go's encoding/json field match (Go 1.21+ foldName): ASCII upper-cased, other runes ToUpper(ToLower(r)), simple mappings. */
function goFold(key: string): string {
  let out = "";
  for (const ch of key) {
    if (ch === "\u0130") out += "I"; // unicode.ToLower('İ') == 'i' (UnicodeData simple mapping), then ToUpper
    else if (ch === "\u0131") out += "I";
    else if (ch === "\u017f") out += "S";
    else if (ch === "\u212a") out += "K";
    else out += ch.toUpperCase().length === 1 ? ch.toUpperCase() : ch;
  }
  return out;
}

/** A member as Go reads it into a struct field: folded match, the last one wins; strings made well-formed (U+FFFD). */
function goField(object: Raw | undefined, field: string): Raw | undefined {
  let found: Raw | undefined;
  if (object === null || typeof object !== "object" || Array.isArray(object)) return undefined;
  for (const [key, value] of object.pairs) if (goFold(key) === goFold(field)) found = value;
  // Go's decoder replaces an unpaired surrogate with U+FFFD.
  return typeof found === "string" ? found.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd") : found;
}

/** A member as a C decoder reads it (cJSON): the key is a C string (cut at NUL), the first match wins. */
function cField(object: Raw | undefined, field: string): Raw | undefined {
  if (object === null || typeof object !== "object" || Array.isArray(object)) return undefined;
  return object.pairs.find(([key]) => key.split("\0")[0] === field)?.[1];
}

const TOOLS = [
  { name: "echo", description: "echoes", inputSchema: { type: "object" } },
  { name: "delete_repo", description: "deletes the repository", inputSchema: { type: "object" } },
];

/** A hand-written upstream decoding like Go (`go`) or like cJSON (`c`); it runs what it reads and answers with the id it read. */
function decoderUpstream(read: (object: Raw | undefined, field: string) => Raw | undefined, ran: string[]): Server {
  return createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const top = parseRaw(Buffer.concat(chunks).toString("utf8"));
      const method = read(top, "method");
      const id = read(top, "id");
      const params = read(top, "params");
      let result: unknown = {};
      if (method === "tools/list") result = { tools: TOOLS };
      if (method === "tools/call") {
        const name = String(read(params, "name"));
        ran.push(name);
        result = { content: [{ type: "text", text: `ran ${name}` }] };
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ jsonrpc: "2.0", id, result }));
    });
  });
}

let gateway: TestGateway;
let goUpstream: Server;
let cUpstream: Server;
let expressUpstream: Server;
const goRan: string[] = [];
const cRan: string[] = [];
const expressRan: string[] = [];

beforeAll(async () => {
  goUpstream = decoderUpstream(goField, goRan);
  cUpstream = decoderUpstream(cField, cRan);
  // An upstream built the way the SDK documents it: createMcpExpressApp (express.json()) + the streamable HTTP transport.
  const app = createMcpExpressApp();
  app.post("/mcp", async (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
    const server = new McpServer({ name: "express", version: "1.0.0" });
    server.registerTool("echo", { inputSchema: { message: z.string().optional() } }, ({ message }) => {
      expressRan.push("echo");
      return { content: [{ type: "text", text: message ?? "" }] };
    });
    server.registerTool("delete_repo", { inputSchema: { x: z.string().optional() } }, () => {
      expressRan.push("delete_repo");
      return { content: [{ type: "text", text: "repository deleted" }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  expressUpstream = createServer(app);
  const [goOrigin, cOrigin, expressOrigin] = await Promise.all([listenOnLoopback(goUpstream), listenOnLoopback(cUpstream), listenOnLoopback(expressUpstream)]);
  gateway = await startTestGateway({
    servers: {
      gorepo: { url: `${goOrigin}/mcp`, disallowed_tools: ["delete_repo"] },
      crepo: { url: `${cOrigin}/mcp`, disallowed_tools: ["delete_repo"] },
      exprepo: { url: `${expressOrigin}/mcp`, disallowed_tools: ["delete_repo"] },
    },
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([goUpstream, cUpstream, expressUpstream].map((server) => new Promise((resolve) => server?.close(resolve))));
});

/** `text` as UTF-7 base64 (RFC 2152): what `+...-` decodes to for a UTF-7 reader, pure ASCII for a UTF-8 one. */
const utf7 = (text: string) => `+${Buffer.from(text, "utf16le").swap16().toString("base64").replace(/=+$/, "")}-`;

describe("review a, item 2: the forwarded bytes mean something else to the upstream's decoder", () => {
  it.each(LANES)(
    "$lane: Content-Type 'application/json; charset=utf-7' is refused 415, so an Express (createMcpExpressApp) upstream never runs the disallowed delete_repo the gateway checked as echo",
    async ({ headers }) => {
      expressRan.length = 0;
      const injected = utf7('"},"name":"delete_repo","arguments":{"x":"');
      const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"${injected}"}}}`;
      // What the gateway's check reads: a call of echo.
      expect((JSON.parse(body) as { params: { name: string } }).params.name).toBe("echo");
      const response = await gateway.fetch("/exprepo/mcp", {
        method: "POST",
        headers: { ...MCP_ACCEPT, "content-type": "application/json; charset=utf-7", ...headers },
        body,
      });
      const text = await response.text();
      // Secure: refused (415/400) before the upstream; in any case delete_repo must never run.
      expect(expressRan, `the upstream ran ${JSON.stringify(expressRan)}; the gateway answered ${response.status} ${text}`).not.toContain("delete_repo");
      expect(response.status).toBeGreaterThanOrEqual(400);
    },
  );

  it.each(LANES)("$lane: a key with 'İ' (U+0130), which Go folds onto 'id', is refused before a limited caller could see the hidden tool", async ({ headers }) => {
    const body = '{"jsonrpc":"2.0","id":1,"\u0130d":2,"method":"tools/list","params":{}}';
    const response = await gateway.fetch("/gorepo/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
    const text = await response.text();
    expect(response.status, text).toBe(400);
    expect(text).not.toContain("delete_repo");
  });

  it.each(LANES)("$lane: an id with an unpaired surrogate (which a Go upstream echoes as U+FFFD) is refused, and the tools/list filter no longer depends on ids", async ({ headers }) => {
    // Control: a plain id is filtered.
    const plain = await gateway.fetch("/gorepo/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: '{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}' });
    expect(await plain.text()).not.toContain("delete_repo");

    const body = '{"jsonrpc":"2.0","id":"\\ud800","method":"tools/list","params":{}}';
    const response = await gateway.fetch("/gorepo/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
    const text = await response.text();
    expect(text).not.toContain("delete_repo");
  });

  it.each(LANES)("$lane: a params key 'name\\u0000' before 'name' is refused before a C decoder (key cut at NUL, first wins) could run delete_repo", async ({ headers }) => {
    cRan.length = 0;
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name\\u0000":"delete_repo","name":"echo","arguments":{}}}';
    const response = await gateway.fetch("/crepo/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
    const text = await response.text();
    expect(cRan, `the upstream ran ${JSON.stringify(cRan)}; the gateway answered ${response.status} ${text}`).not.toContain("delete_repo");
    expect(response.status).toBe(400);
  });
});
