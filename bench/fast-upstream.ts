/**
 * The benchmark's fast upstream: a minimal streamable-HTTP MCP server that answers
 * canned JSON (initialize, tools/list, tools/call echo; 202 to notifications), so that
 * the proxy under test, not the upstream, is the bottleneck. Not a real MCP server: no
 * sessions, no SSE, no validation. It is also the REST API of the OpenAPI server path:
 * `GET /rest/echo?message=...` answers `{"message": ...}` (bench/harness.ts writes its spec).
 * Run as its own process: `node fast-upstream.js PORT`.
 */
import { createServer } from "node:http";

const TOOLS = { tools: [{ name: "echo", description: "Echoes the message", inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] } }] };
const INITIALIZE = { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "bench-fast-upstream", version: "1.0.0" } };

function result(body: string): { status: number; payload?: string } {
  let message: { id?: unknown; method?: string; params?: { arguments?: { message?: unknown } } };
  try {
    message = JSON.parse(body) as typeof message;
  } catch {
    return { status: 400, payload: '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}' };
  }
  if (message.id === undefined) return { status: 202 };
  const answer =
    message.method === "initialize"
      ? INITIALIZE
      : message.method === "tools/list"
        ? TOOLS
        : message.method === "tools/call"
          ? { content: [{ type: "text", text: String(message.params?.arguments?.message ?? "") }] }
          : {};
  return { status: 200, payload: JSON.stringify({ jsonrpc: "2.0", id: message.id, result: answer }) };
}

const server = createServer((request, response) => {
  if (request.method === "GET" && request.url?.startsWith("/rest/echo?") === true) {
    const payload = JSON.stringify({ message: new URLSearchParams(request.url.slice("/rest/echo?".length)).get("message") });
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }).end(payload);
    return;
  }
  if (request.method !== "POST") {
    response.writeHead(405, { allow: "POST" }).end();
    return;
  }
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const { status, payload } = result(Buffer.concat(chunks).toString("utf8"));
    if (payload === undefined) response.writeHead(status).end();
    else response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }).end(payload);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === "object" && address !== null ? address.port : undefined })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
