/**
 * The realistic upstream: the official MCP SDK's server (stateless streamable HTTP, JSON
 * answers) with one tool, `echo`. `node sdk-upstream.js PORT`.
 */
import { createServer } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

function mcpServer(): McpServer {
  const server = new McpServer({ name: "bench-sdk-upstream", version: "1.0.0" });
  server.registerTool("echo", { description: "Echoes the message", inputSchema: { message: z.string() } }, ({ message }) => ({ content: [{ type: "text", text: message }] }));
  return server;
}

const http = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    void (async () => {
      const server = mcpServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      response.on("close", () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      const text = Buffer.concat(chunks).toString("utf8");
      await transport.handleRequest(request, response, text === "" ? undefined : JSON.parse(text));
    })().catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
});
http.keepAliveTimeout = 60_000;
http.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  const address = http.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === "object" && address !== null ? address.port : undefined })}\n`);
});
process.on("SIGTERM", () => http.close(() => process.exit(0)));
