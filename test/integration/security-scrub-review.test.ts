/**
 * Issue 15 item 11 (upstream text must never show a caller the credentials the gateway
 * sent), holes an attack review found after the first fix; each is scrubbed now:
 *
 * 1. A credential in the server's configured URL (a query `?api_key=`, or a secret path
 *    segment as hosted MCP services issue them) is sent upstream on every request, but is
 *    not among the scrubbed values: an upstream that names the URL it was called with
 *    shows it to a limited key.
 * 2. The scrub matches bytes before JSON decoding (pass-through bytes; the lean client
 *    scrubs before JSON.parse), so a JSON escape an ordinary encoder writes (`\/` from PHP,
 *    `\u0026` `\u003c` from Go) hides the secret from the scrub and the client's decoder
 *    restores it.
 *
 * Routes: the pass-through, the aggregate /mcp and REST, on both request paths.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { listenOnLoopback } from "../fixtures/loopback.js";

const LANES = [
  { lane: "fast lane", headers: {} as Record<string, string> },
  { lane: "Hono route", headers: { "x-litellm-mcp-debug": "true" } as Record<string, string> },
];

const URL_SECRET = "urlq-5ecret-0123456789AbCd";
const PATH_SECRET = "path-5ecret-9876543210EfGh";
const SLASH_TOKEN = "srv/bearer+5ecret/0123456789IjKl";
const BASIC_USER = "svc-user";
const AMP_PASSWORD = "pa55&word<9876543210MnOp";

/** An ordinary upstream that rejects every tool call naming what it was sent; `escape` is its JSON encoder's escaping. */
function namingUpstream(escape: (json: string) => string): Server {
  return createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const message = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { id?: unknown; method?: string; params?: { protocolVersion?: string } };
      if (message.id === undefined) {
        response.writeHead(202).end();
        return;
      }
      let answer: unknown;
      if (message.method === "initialize") {
        answer = { jsonrpc: "2.0", id: message.id, result: { protocolVersion: message.params?.protocolVersion ?? "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "naming", version: "1" } } };
      } else if (message.method === "tools/list") {
        answer = { jsonrpc: "2.0", id: message.id, result: { tools: [{ name: "echo", inputSchema: { type: "object" } }] } };
      } else {
        const auth = request.headers.authorization ?? "";
        const name = (message.params as { name?: string } | undefined)?.name;
        const what = auth.startsWith("Basic ")
          ? `invalid password ${Buffer.from(auth.slice(6), "base64").toString("utf8").split(":")[1]}`
          : auth !== ""
            ? `invalid credentials: ${auth}`
            : `invalid api key in ${request.method} ${request.url}`;
        // `whoami` answers with a result (a tool that reports the request it got), `echo` with an error.
        answer = name === "whoami" ? { jsonrpc: "2.0", id: message.id, result: { content: [{ type: "text", text: what }] } } : { jsonrpc: "2.0", id: message.id, error: { code: -32603, message: what } };
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(escape(JSON.stringify(answer)));
    });
  });
}

/** PHP's json_encode escapes '/', Go's encoding/json escapes '<', '>' and '&'. */
const phpAndGoEscaping = (json: string) => json.replaceAll("/", "\\/").replaceAll("&", "\\u0026").replaceAll("<", "\\u003c").replaceAll(">", "\\u003e");

let gateway: TestGateway;
let plain: Server;
let escaping: Server;
let limited: string;

beforeAll(async () => {
  plain = namingUpstream((json) => json);
  escaping = namingUpstream(phpAndGoEscaping);
  const [plainOrigin, escapingOrigin] = await Promise.all([listenOnLoopback(plain), listenOnLoopback(escaping)]);
  gateway = await startTestGateway({
    servers: {
      urlkey: { url: `${plainOrigin}/s/${PATH_SECRET}/mcp?api_key=${URL_SECRET}` },
      slashy: { url: `${escapingOrigin}/mcp`, auth_type: "bearer_token", auth_value: SLASH_TOKEN },
      ampy: { url: `${escapingOrigin}/mcp`, auth_type: "basic", auth_value: `${BASIC_USER}:${AMP_PASSWORD}` },
    },
  });
  limited = await gateway.generateKey({ key_alias: "limited", object_permission: { mcp_servers: ["urlkey", "slashy", "ampy"] } });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([plain, escaping].map((server) => new Promise((resolve) => server?.close(resolve))));
});

/** What a client reads: the JSON (or SSE data) decoded, as text. */
async function decoded(response: Response): Promise<string> {
  const body = await response.text();
  const data = body.split("\n").find((line) => line.startsWith("data:"));
  try {
    return JSON.stringify(JSON.parse(data === undefined ? body : data.slice(5)));
  } catch {
    return body;
  }
}

type Route = "passthrough" | "aggregate" | "rest";
function call(route: Route, server: string, headers: Record<string, string>, tool = "echo"): Promise<Response> {
  if (route === "passthrough") return gateway.fetch(`/${server}/mcp`, { method: "POST", key: limited, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: tool, arguments: {} }) });
  if (route === "aggregate") return gateway.fetch("/mcp", { method: "POST", key: limited, headers: { ...MCP_ACCEPT, "x-mcp-servers": server, ...headers }, body: rpc("tools/call", { name: `${server}-${tool}`, arguments: {} }) });
  return gateway.fetch("/mcp-rest/tools/call", { method: "POST", key: limited, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ server_name: server, name: tool, arguments: {} }) });
}

const CASES = (["passthrough", "aggregate", "rest"] as const).flatMap((route) => LANES.map((lane) => ({ route, ...lane })));

describe("item 11: credentials the first scrub did not see", () => {
  it.each(CASES)("$route, $lane: a secret in the configured URL (query and path) no longer reaches a limited key through the upstream's error", async ({ route, headers }) => {
    const text = await decoded(await call(route, "urlkey", headers));
    expect(text).toContain("invalid api key");
    expect(text).not.toContain(URL_SECRET);
    expect(text).not.toContain(PATH_SECRET);
  });

  it.each(CASES)("$route, $lane: a bearer token with '/' echoed as PHP's json_encode writes it ('\\/') is scrubbed", async ({ route, headers }) => {
    const text = await decoded(await call(route, "slashy", headers));
    expect(text).toContain("invalid credentials");
    expect(text).not.toContain(SLASH_TOKEN);
  });

  it.each(CASES)("$route, $lane: a Basic password with '&' and '<' echoed as Go's encoding/json writes it ('\\u0026', '\\u003c') is scrubbed", async ({ route, headers }) => {
    const text = await decoded(await call(route, "ampy", headers));
    expect(text).toContain("invalid password");
    expect(text).not.toContain(AMP_PASSWORD);
  });

  it.each(CASES)("$route, $lane: the same escaped echo in a tool *result* (not an error) is scrubbed", async ({ route, headers }) => {
    const slash = await decoded(await call(route, "slashy", headers, "whoami"));
    expect(slash).toContain("invalid credentials");
    const amp = await decoded(await call(route, "ampy", headers, "whoami"));
    expect(amp).toContain("invalid password");
    expect(slash).not.toContain(SLASH_TOKEN);
    expect(amp).not.toContain(AMP_PASSWORD);
  });

  it("the log no longer keeps the URL secret", async () => {
    await call("aggregate", "urlkey", {});
    const leaked = gateway.logs.filter((line) => JSON.stringify(line).includes(URL_SECRET));
    expect(leaked.map((line) => JSON.stringify(line).slice(0, 300))).toEqual([]);
  });
});
