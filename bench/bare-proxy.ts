/**
 * The second floor: the least a Node gateway can cost. node:http in, the body read whole,
 * forwarded as one Buffer through an undici Pool, the answer streamed back; no auth, no
 * routing, no parsing. `node bare-proxy.js PORT UPSTREAM_URL`.
 */
import { createServer } from "node:http";
import { Pool } from "undici";

const upstream = new URL(process.argv[3] ?? "http://127.0.0.1:1/mcp");
const pool = new Pool(upstream.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    pool
      .request({
        path: upstream.pathname,
        method: "POST",
        headers: { "content-type": request.headers["content-type"] ?? "application/json", accept: request.headers.accept ?? "application/json" },
        body: Buffer.concat(chunks),
      })
      .then(async ({ statusCode, headers, body }) => {
        response.writeHead(statusCode, { "content-type": String(headers["content-type"] ?? "application/json") });
        for await (const chunk of body) response.write(chunk);
        response.end();
      })
      .catch(() => response.writeHead(502).end());
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === "object" && address !== null ? address.port : undefined })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
