/**
 * What `npm run bench` and `npm run soak` both start: processes on loopback, the gateway as
 * `node dist/cli.js` starts it, the M2M authorization server.
 */
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { listeningPort, startProcess, type Started } from "./processes.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
export const MASTER_KEY = "sk-bench-master-key-0123456789";
const STATIC_TOKEN = "bench-static-upstream-token";

export async function startListening(command: string, args: string[], name: string, started: Started[]): Promise<{ port: number; process: Started }> {
  let port: number | undefined;
  const process = await startProcess(command, args, { name, ready: (line) => (port = listeningPort(line)) !== undefined });
  started.push(process);
  return { port: port!, process };
}

/** The gateway (built `dist/cli.js`, SQLite in `work`) in front of the fast, SDK and M2M upstreams. */
export async function startGateway(work: string, ports: { fast: number; sdk: number; token: number }, started: Started[]) {
  const config = join(work, "config.yaml");
  // The OpenAPI server path's spec: one operation of the fast upstream's REST side.
  const spec = join(work, "openapi.json");
  await writeFile(
    spec,
    JSON.stringify({
      openapi: "3.0.3",
      info: { title: "bench", version: "1" },
      paths: { "/rest/echo": { get: { operationId: "echo", parameters: [{ name: "message", in: "query", required: true, schema: { type: "string" } }], responses: { "200": { description: "the message" } } } } },
    }),
  );
  await writeFile(
    config,
    `mcp_servers:
  fast:
    url: http://127.0.0.1:${ports.fast}/mcp
    auth_type: bearer_token
    auth_value: ${STATIC_TOKEN}
  fast_m2m:
    url: http://127.0.0.1:${ports.fast}/mcp
    auth_type: oauth2
    client_id: bench-client
    client_secret: bench-secret
    token_url: http://127.0.0.1:${ports.token}/token
    token_endpoint_auth_method: client_secret_post
  sdk:
    url: http://127.0.0.1:${ports.sdk}/mcp
  fast_openapi:
    spec_path: ${spec}
    url: http://127.0.0.1:${ports.fast}
    auth_type: bearer_token
    auth_value: ${STATIC_TOKEN}
general_settings:
  # BENCH_AUDIT=false measures the gateway without its audit trail of tool calls (on by default).
  audit_log: ${process.env.BENCH_AUDIT === "false" ? "false" : "true"}
`,
  );
  let url = "";
  // info: the "listening" line tells the URL; nothing is logged per request at this level.
  const env = { ...process.env, DATABASE_URL: `sqlite:${join(work, "gatehouse.db")}`, GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_SALT_KEY: "bench-salt", GATEHOUSE_LOG_LEVEL: "info" };
  const cli = join(root, "dist", "cli.js");
  const nodeArgs = gatewayNodeArgs(process.env.BENCH_GATEWAY_NODE_ARGS);
  const gateway = await startProcess(process.execPath, [...nodeArgs, cli, "--config", config, "--port", "0", "--host", "127.0.0.1"], {
    name: "gateway",
    env,
    ready: (line) => {
      const parsed = safeJson(line) as { msg?: string; url?: string } | undefined;
      if (parsed?.msg !== "gatehouse is listening" || parsed.url === undefined) return false;
      url = parsed.url;
      return true;
    },
  });
  started.push(gateway);
  return { url, process: gateway };
}

/**
 * The node flags the gateway is started with: none but those a run asks for in
 * BENCH_GATEWAY_NODE_ARGS (to profile it), so the benchmark measures `node dist/cli.js` as
 * operators start it. (It used to add the bin's shebang flags, which `node dist/cli.js` never
 * applies.)
 */
export function gatewayNodeArgs(requested: string | undefined): string[] {
  return (requested ?? "").split(" ").filter((arg) => arg !== "");
}

/**
 * The M2M authorization server: counts token requests, issues tokens for `expiresIn`
 * seconds (an hour by default), and answers 500 while `failing()` says so (the soak's fault).
 */
export async function startTokenServer(options: { expiresIn?: number; failing?: () => boolean } = {}): Promise<{ server: Server; port: number; count: () => number }> {
  let count = 0;
  const server = createServer((request, response) => {
    request.resume();
    if (request.method !== "POST" || request.url !== "/token") {
      response.writeHead(404).end();
      return;
    }
    count++;
    if (options.failing?.() === true) {
      response.writeHead(500, { "content-type": "application/json" }).end('{"error":"server_error"}');
      return;
    }
    response
      .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
      .end(JSON.stringify({ access_token: `bench-m2m-token-${count}`, token_type: "Bearer", expires_in: options.expiresIn ?? 3600 }));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  return { server, port: typeof address === "object" && address !== null ? address.port : 0, count: () => count };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  return typeof address === "object" && address !== null ? address.port : 0;
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

