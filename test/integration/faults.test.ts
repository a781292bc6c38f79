/**
 * Fault injection: what the gateway does when a peer misbehaves, and that it answers the
 * next good request correctly afterwards, on every way in (`/{server}/mcp`, `/mcp`,
 * `/mcp-rest/tools/call`).
 *
 * 1. Upstream MCP servers (a real SDK server behind `startFaultyUpstream`, which forwards
 *    everything but the requests a test planned a fault for): a closed port, a stream reset
 *    after its first event, a server that never answers (504 after `timeout`, and the held
 *    request is closed by the gateway), bytes that are not HTTP, invalid JSON, a wrong
 *    content type.
 * 2. The M2M authorization server (oidc-provider on a listener that can go down and come
 *    back on the same port): down, slower than the timeout, 500, invalid JSON; then it
 *    recovers. A server that never answers any URL; a token endpoint whose answers have
 *    no `expires_in`.
 * 3. PostgreSQL connections killed under a running gateway (a database restart).
 * 4. A client that disconnects mid-SSE: the upstream request is aborted, the tool is
 *    cancelled, and nothing leaks (upstream sockets, the test process's active resources).
 *
 * Every peer is on 127.0.0.1 with an ephemeral port; nothing sleeps to wait.
 */
import { request as httpRequest, Agent as HttpAgent } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { createTestDatabase, postgresAvailable, POSTGRES_URL, type TestDatabase } from "../fixtures/databases.js";
import {
  startBareTokenEndpoint,
  startFaultyUpstream,
  startSilentServer,
  type BareTokenEndpoint,
  type FaultyUpstream,
} from "../fixtures/faulty-peers.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startAuthorizationServer, type AuthorizationServer } from "../fixtures/oidc-provider.js";
import { startJwtUpstream, type JwtUpstream } from "../fixtures/jwt-upstream.js";
import { startUpstream, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

// ---------------------------------------------------------------------------------------
// Calling the gateway on its three routes
// ---------------------------------------------------------------------------------------

/**
 * `passthrough` is answered by the node:http fast lane; `passthrough-hono` is the same
 * request with debug headers asked for, which the Hono route answers (README *Performance*).
 */
const ROUTES = ["passthrough", "passthrough-hono", "aggregate", "rest"] as const;
type Route = (typeof ROUTES)[number];
const DEBUG = { "x-litellm-mcp-debug": "true" };
/** The pass-through's two lanes, for the tests that read its stream themselves. */
const LANES: Array<{ lane: string; headers: Record<string, string> }> = [
  { lane: "fast lane", headers: {} },
  { lane: "Hono route", headers: DEBUG },
];

function isPassthrough(route: Route): boolean {
  return route === "passthrough" || route === "passthrough-hono";
}

interface JsonRpcError {
  code: number;
  message: string;
  data?: { code?: string; server?: string; [field: string]: unknown };
}

interface Outcome {
  route: Route;
  status: number;
  contentType: string;
  text: string;
  /** Every response header, one per line, to prove what they do not contain. */
  headers: string;
  elapsedMs: number;
  /** The JSON-RPC message (first SSE event, or the JSON body) on MCP routes. */
  message?: { jsonrpc?: string; id?: unknown; result?: { content?: Array<{ type: string; text?: string }> }; error?: JsonRpcError };
  /** The parsed body on REST. */
  rest?: { detail?: string; error?: string; server?: string; content?: Array<{ type: string; text?: string }>; [field: string]: unknown };
}

/** A message out of a JSON body or an SSE body (its last `data:` line: the answer comes last). */
function messageOf(text: string): Outcome["message"] {
  const data = text.split("\n").filter((line) => line.startsWith("data:"));
  try {
    return JSON.parse(data.length === 0 ? text : data.at(-1)!.slice(5)) as Outcome["message"];
  } catch {
    return undefined;
  }
}

let requestIds = 100;

/** One tools/call of `tool` on `server` through `route`, as a raw HTTP request. */
async function callTool(gateway: TestGateway, route: Route, server: string, tool: string, args: Record<string, unknown>, extraHeaders: Record<string, string> = {}): Promise<Outcome> {
  const id = ++requestIds;
  const started = performance.now();
  const response =
    route === "rest"
      ? await gateway.fetch("/mcp-rest/tools/call", {
          method: "POST",
          headers: { "content-type": "application/json", ...extraHeaders },
          body: JSON.stringify({ server_name: server, name: tool, arguments: args }),
        })
      : await gateway.fetch(isPassthrough(route) ? `/${server}/mcp` : "/mcp", {
          method: "POST",
          headers: { ...MCP_ACCEPT, ...(route === "passthrough-hono" ? DEBUG : {}), ...extraHeaders },
          body: rpc("tools/call", { name: isPassthrough(route) ? tool : `${server}-${tool}`, arguments: args }, id),
        });
  const text = await response.text();
  const outcome: Outcome = {
    route,
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text,
    headers: [...response.headers].map(([name, value]) => `${name}: ${value}`).join("\n"),
    elapsedMs: performance.now() - started,
  };
  if (route === "rest") {
    try {
      outcome.rest = JSON.parse(text) as Outcome["rest"];
    } catch {
      // left undefined: the assertions say so
    }
  } else {
    outcome.message = messageOf(text);
    if (outcome.message !== undefined) expect(outcome.message.id, `${route}: the answer carries the request's id`).toBe(id);
  }
  return outcome;
}

function echoed(outcome: Outcome): string | undefined {
  return (outcome.route === "rest" ? outcome.rest?.content : outcome.message?.result?.content)?.[0]?.text;
}

/** `echo` through `route` on `server` answers the message: the gateway is fine. */
async function expectEcho(gateway: TestGateway, route: Route, server: string): Promise<void> {
  const message = `alive via ${route} on ${server} #${++requestIds}`;
  const outcome = await callTool(gateway, route, server, "echo", { message });
  expect({ status: outcome.status, echoed: echoed(outcome) }, `${route} ${server}: ${outcome.text}`).toEqual({ status: 200, echoed: message });
}

/**
 * What a failed call must look like on each route: pass-through an HTTP error status with a
 * JSON-RPC error, `/mcp` a JSON-RPC error (HTTP 200: the aggregate is an MCP server, README
 * *Errors*), REST an HTTP error status with `{detail, error, server}`. The message names the
 * server and says what happened; no upstream address leaks.
 */
function expectFailure(
  outcome: Outcome,
  expected: { server: string; status: number; code: string | RegExp; rpcCode?: number; says: string | RegExp },
  forbidden: string[] = [],
): void {
  const where = `${outcome.route}: ${outcome.status} ${outcome.text}`;
  const code = typeof expected.code === "string" ? expected.code : expect.stringMatching(expected.code);
  expect(outcome.contentType, where).toContain("application/json");
  if (outcome.route === "rest") {
    expect(outcome.status, where).toBe(expected.status);
    expect(outcome.rest, where).toMatchObject({ error: code, server: expected.server });
    expect(outcome.rest?.detail, where).toContain(`'${expected.server}'`);
    expect(outcome.rest?.detail, where).toMatch(expected.says);
  } else {
    expect(outcome.status, where).toBe(outcome.route === "aggregate" ? 200 : expected.status);
    const error = outcome.message?.error;
    expect(error, where).toBeDefined();
    expect(error?.message, where).toContain(`'${expected.server}'`);
    expect(error?.message, where).toMatch(expected.says);
    expect(error?.data, where).toMatchObject({ code, server: expected.server });
    if (expected.rpcCode !== undefined) expect(error?.code, where).toBe(expected.rpcCode);
  }
  // The debug headers' x-mcp-debug-outbound-url names the upstream URL on purpose (README *Debug headers*).
  const headers = outcome.headers
    .split("\n")
    .filter((line) => !line.startsWith("x-mcp-debug-outbound-url:"))
    .join("\n");
  for (const text of ["127.0.0.1", "ECONNREFUSED", ...forbidden]) {
    expect(outcome.text, where).not.toContain(text);
    expect(headers, where).not.toContain(text);
  }
}

/** Reads an SSE response event by event. */
class EventReader {
  private buffer = "";
  private readonly decoder = new TextDecoder();
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next event's JSON data; `done` when the stream ended; `error` when it failed. */
  async next(): Promise<{ message: Record<string, unknown> } | { done: true } | { error: unknown }> {
    for (;;) {
      const boundary = this.buffer.indexOf("\n\n");
      if (boundary !== -1) {
        const event = this.buffer.slice(0, boundary);
        this.buffer = this.buffer.slice(boundary + 2);
        const data = event
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n");
        if (data === "") continue;
        return { message: JSON.parse(data) as Record<string, unknown> };
      }
      let chunk: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;
      try {
        chunk = await this.reader.read();
      } catch (error) {
        return { error };
      }
      if (chunk.done) return { done: true };
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }
}

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

/** A port with nothing listening on it (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------
// 1. Upstream MCP servers
// ---------------------------------------------------------------------------------------

describe("upstream MCP server faults", () => {
  let good: Upstream;
  let real: Upstream;
  let front: FaultyUpstream;
  let refusedPort: number;
  let gateway: TestGateway;

  beforeAll(async () => {
    good = await startUpstream({ name: "good", mode: "json" });
    // SSE answers: a real server streams, so a stream reset mid-way is what this front fakes.
    real = await startUpstream({ name: "flaky", mode: "sse" });
    front = await startFaultyUpstream(real.url);
    refusedPort = await closedPort();
    gateway = await startTestGateway({
      servers: {
        good: { url: good.url },
        refused: { url: `http://127.0.0.1:${refusedPort}/mcp` },
        flaky: { url: front.url },
        // The same front, with a short timeout for the server that never answers.
        hanging: { url: front.url, timeout: 0.3 },
      },
    });
  });
  afterEach(() => {
    // Every planned fault was served: the assertions ran against the fault, not the real server.
    expect(front.pendingFaults()).toBe(0);
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([front?.close(), good?.close(), real?.close()]);
  });

  /** The gateway answers good requests on every route, to the good server and to the faulty one (now forwarding). */
  async function expectHealthy(...servers: string[]): Promise<void> {
    for (const server of ["good", ...servers]) for (const route of ROUTES) await expectEcho(gateway, route, server);
  }

  describe("connection refused (nothing listens on the port)", () => {
    it.each(ROUTES)("%s: 502-class error naming the server, then the next good request works", async (route) => {
      const outcome = await callTool(gateway, route, "refused", "echo", { message: "x" });
      expectFailure(outcome, { server: "refused", status: 502, code: "upstream_unreachable", rpcCode: -32000, says: /unreachable/ }, [String(refusedPort)]);
      await expectHealthy();
    });
  });

  describe("connection reset mid-stream (SSE headers and one event, then RST)", () => {
    it.each(LANES)("/{server}/mcp ($lane): the client gets the event, then its stream is cut (an error, not a clean end); the gateway survives", async ({ headers }) => {
      front.inject({ kind: "reset-mid-stream" }, "tools/call");
      const response = await gateway.fetch("/flaky/mcp", {
        method: "POST",
        headers: { ...MCP_ACCEPT, ...headers },
        body: rpc("tools/call", { name: "progress", arguments: { steps: 3 }, _meta: { progressToken: "p-reset" } }, 7),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const events = new EventReader(response.body!);
      const first = await events.next();
      expect(first).toEqual({ message: { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "p-reset", progress: 1, total: 2, message: "halfway there" } } });
      await front.waitUntil(() => front.heldStreams() === 1);
      front.resetStreams();
      // The gateway cannot add an error to a stream it relays byte for byte: it cuts the client's
      // stream, so the client cannot take a truncated answer for a complete one.
      const end = await events.next();
      expect(end).toHaveProperty("error");
      expect(front.faulted.at(-1)).toMatchObject({ kind: "reset-mid-stream", method: "tools/call", closed: true });
      await expectHealthy("flaky");
    });

    // The fast lane's write() (src/http/fast-lane.ts) destroys the client's response in its
    // catch without a log line; the Hono route hands the failing stream to @hono/node-server,
    // whose handleResponseError prints the raw error with console.error, outside the
    // gateway's (JSON, redacting) logger. Either way the operator's log has nothing naming
    // the server whose stream broke, unlike every other upstream failure (README *Troubleshooting*).
    it.each(LANES)("/{server}/mcp ($lane): an upstream reset mid-stream is a gateway log warning naming the server, and nothing is printed to the console", async ({ headers }) => {
      const printed = [vi.spyOn(console, "error"), vi.spyOn(console, "info"), vi.spyOn(console, "warn")];
      try {
        const mark = gateway.logs.length;
        front.inject({ kind: "reset-mid-stream" }, "tools/call");
        const response = await gateway.fetch("/flaky/mcp", {
          method: "POST",
          headers: { ...MCP_ACCEPT, ...headers },
          body: rpc("tools/call", { name: "progress", arguments: { steps: 3 }, _meta: { progressToken: "p-logged" } }, 9),
        });
        const events = new EventReader(response.body!);
        expect(await events.next()).toHaveProperty("message");
        await front.waitUntil(() => front.heldStreams() === 1);
        front.resetStreams();
        expect(await events.next()).toHaveProperty("error");
        await expectHealthy("flaky");
        expect(printed.flatMap((spy) => spy.mock.calls.map((call) => call.map(String).join(" ")))).toEqual([]);
        const warnings = gateway.logs.slice(mark).filter((line) => (line.level as number) >= 40 && JSON.stringify(line).includes("flaky"));
        expect(warnings.length, "warnings naming 'flaky'").toBeGreaterThan(0);
      } finally {
        for (const spy of printed) spy.mockRestore();
      }
    });

    it("/mcp with a progressToken: the progress is relayed, then a JSON-RPC error naming the server ends the stream", async () => {
      front.inject({ kind: "reset-mid-stream" }, "tools/call");
      const response = await gateway.fetch("/mcp", {
        method: "POST",
        headers: MCP_ACCEPT,
        body: rpc("tools/call", { name: "flaky-progress", arguments: { steps: 3 }, _meta: { progressToken: "agg-reset" } }, 8),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const events = new EventReader(response.body!);
      expect(await events.next()).toEqual({
        message: { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "agg-reset", progress: 1, total: 2, message: "halfway there" } },
      });
      await front.waitUntil(() => front.heldStreams() === 1);
      front.resetStreams();
      const answer = await events.next();
      expect(answer).toMatchObject({ message: { jsonrpc: "2.0", id: 8, error: { data: { server: "flaky" } } } });
      const error = (answer as { message: { error: JsonRpcError } }).message.error;
      expect(error.message).toContain("'flaky'");
      expect(error.data?.code).toMatch(/^upstream_/);
      expect(await events.next()).toEqual({ done: true });
      await expectHealthy("flaky");
    });

    it.each(["aggregate", "rest"] as const)("%s without streaming to the client: a 502-class error naming the server", async (route) => {
      front.inject({ kind: "reset-mid-stream" }, "tools/call");
      const call = callTool(gateway, route, "flaky", "echo", { message: "never answered" });
      await front.waitUntil(() => front.heldStreams() === 1);
      front.resetStreams();
      const outcome = await call;
      expectFailure(outcome, { server: "flaky", status: 502, code: /^upstream_(unreachable|error)$/, says: /'flaky'/ });
      await expectHealthy("flaky");
    });
  });

  describe("an upstream that never answers", () => {
    it.each(ROUTES)("%s: 504-class error after the server's 0.3 s timeout, and the gateway closes the held request", async (route) => {
      // Warm up: the session of /mcp and REST exists, so the hung request is the call itself.
      await expectEcho(gateway, route, "hanging");
      const hungBefore = front.faulted.length;
      front.inject({ kind: "hang" }, "tools/call");
      const outcome = await callTool(gateway, route, "hanging", "echo", { message: "into the void" });
      expectFailure(outcome, { server: "hanging", status: 504, code: "upstream_timeout", rpcCode: -32001, says: /did not answer within 0\.3 s/ });
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(290);
      expect(outcome.elapsedMs).toBeLessThan(10_000);
      // The upstream request was given up, not left open: the hung server sees its connection closed.
      expect(front.faulted.slice(hungBefore)).toMatchObject([{ kind: "hang", method: "tools/call" }]);
      await front.waitUntil(() => front.hanging() === 0 && front.faulted.at(-1)!.closed);
      await expectHealthy("flaky", "hanging");
    });
  });

  describe("garbage from the upstream", () => {
    it.each(ROUTES)("%s: bytes that are not HTTP are a 502 naming the server", async (route) => {
      front.inject({ kind: "garbage" }, "tools/call");
      const outcome = await callTool(gateway, route, "flaky", "echo", { message: "x" });
      expectFailure(outcome, { server: "flaky", status: 502, code: "upstream_unreachable", says: /'flaky'/ }, ["not HTTP", "garbage"]);
      await expectHealthy("flaky");
    });

    const answers = [
      { what: "HTTP 200 with invalid JSON for a JSON content type", contentType: "application/json", body: '{"jsonrpc": "2.0", "id": 1, "result": {"content": [GARBAGE-7f3' },
      { what: "HTTP 200 with a wrong content type (an HTML page)", contentType: "text/html; charset=utf-8", body: "<html><body><h1>Welcome to nginx!</h1> GARBAGE-7f3</body></html>" },
    ];

    describe.each(answers)("$what", ({ contentType, body }) => {
      it.each(["aggregate", "rest"] as const)("%s: a 502-class error naming the server, the body not shown", async (route) => {
        front.inject({ kind: "answer", status: 200, contentType, body }, "tools/call");
        const outcome = await callTool(gateway, route, "flaky", "echo", { message: "x" });
        expectFailure(outcome, { server: "flaky", status: 502, code: "upstream_error", says: /'flaky'.*not JSON/ }, ["GARBAGE-7f3"]);
        await expectHealthy("flaky");
      });

      // JSON-RPC 2.0 §5.1 reserves -32700 for invalid JSON *received by the server*: here the
      // client's request was valid, and the gateway's own client failed to parse the upstream's
      // answer. src/mcp/upstream-session.ts parseJson throws McpError(ParseError), and
      // upstreamCallError (src/mcp/upstream-clients.ts) relays any McpError's code as if the
      // upstream had sent it, so the client is told its own JSON was invalid.
      it("/mcp: the JSON-RPC error code is an upstream error (-32000), not -32700 (the client's JSON was fine)", async () => {
        front.inject({ kind: "answer", status: 200, contentType, body }, "tools/call");
        const outcome = await callTool(gateway, "aggregate", "flaky", "echo", { message: "x" });
        expect(outcome.message?.error?.data?.code).toBe("upstream_error");
        expect(outcome.message?.error?.code, outcome.text).toBe(-32000);
        await expectHealthy("flaky");
      });

      // A JSON body is relayed as the upstream sent it (the pass-through is transparent); any
      // other type is refused, so that no upstream page runs on the gateway's origin (issue 15 item 1).
      it.each(LANES)("passthrough ($lane): a JSON body is relayed as sent, an HTML page is a 502 naming the server, and the gateway carries on", async ({ headers }) => {
        front.inject({ kind: "answer", status: 200, contentType, body }, "tools/call");
        const response = await gateway.fetch("/flaky/mcp", { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "x" } }, 3) });
        if (contentType === "application/json") {
          expect(response.status).toBe(200);
          expect(response.headers.get("content-type")).toBe(contentType);
          expect(await response.text()).toBe(body);
        } else {
          expect(response.status).toBe(502);
          expect(response.headers.get("content-type")).toContain("application/json");
          const text = await response.text();
          expect(text).toContain("'flaky'");
          expect(text).not.toContain("GARBAGE-7f3");
        }
        await expectHealthy("flaky");
      });
    });
  });
});

// ---------------------------------------------------------------------------------------
// 2. The M2M authorization server
// ---------------------------------------------------------------------------------------

describe("M2M authorization server faults (client_credentials)", () => {
  const CLIENT_ID = "faults-m2m";
  const SECRET = "faults-m2m-secret-never-shown-81c2";
  const MARKER = "AS-BODY-MARKER-5d0e";
  let upstream: JwtUpstream;
  let as: AuthorizationServer;
  const gateways: TestGateway[] = [];

  beforeAll(async () => {
    upstream = await startJwtUpstream({});
    // The client authenticates with client_secret_basic (oidc-provider's default), which the metadata lists first.
    as = await startAuthorizationServer({ resource: upstream.url, clients: [{ client_id: CLIENT_ID, client_secret: SECRET }] });
    upstream.trust(as);
  });
  afterEach(async () => {
    as.setFault(undefined);
    await as.setDown(false);
    for (const gateway of gateways.splice(0)) await gateway.close();
  });
  afterAll(async () => {
    await Promise.all([as?.close(), upstream?.close()]);
  });

  /** A gateway with one M2M server; `token_endpoint_auth_method` is set unless `server` unsets it (then it is discovered). */
  async function m2mGateway(server: Record<string, unknown> = {}): Promise<TestGateway> {
    const gateway = await startTestGateway({
      servers: {
        m2m: {
          url: upstream.url,
          auth_type: "oauth2",
          client_id: CLIENT_ID,
          client_secret: "os.environ/FAULTS_M2M_SECRET",
          token_url: as.tokenUrl,
          token_endpoint_auth_method: "client_secret_basic",
          ...server,
        },
      },
      env: { FAULTS_M2M_SECRET: SECRET },
    });
    gateways.push(gateway);
    return gateway;
  }

  const scenarios = [
    {
      name: "down (connection refused)",
      inject: () => as.setDown(true),
      recover: () => as.setDown(false),
      says: /token endpoint of MCP server 'm2m' is unreachable/,
      reachesAs: false,
    },
    {
      name: "slower than the server's timeout (1 s)",
      server: { timeout: 1 },
      inject: () => as.setFault("hang"),
      recover: () => as.setFault(undefined),
      says: /token endpoint of MCP server 'm2m' did not answer within 1 s/,
      reachesAs: true,
    },
    {
      name: "HTTP 500 with an HTML page",
      inject: () => as.setFault({ status: 500, body: `<html><body>Internal Server Error ${MARKER}</body></html>`, contentType: "text/html" }),
      recover: () => as.setFault(undefined),
      says: /token endpoint of MCP server 'm2m' answered HTTP 500/,
      reachesAs: true,
    },
    {
      name: "HTTP 200 with invalid JSON",
      inject: () => as.setFault({ status: 200, body: `{"access_token": ${MARKER}`, contentType: "application/json" }),
      recover: () => as.setFault(undefined),
      says: /token endpoint of MCP server 'm2m' sent an invalid token response/,
      reachesAs: true,
    },
  ];

  it.each(scenarios)("$name: every route gets a 502 that names the server and the token endpoint; after recovery one token serves all routes", async (scenario) => {
    const gateway = await m2mGateway(scenario.server);
    await scenario.inject();
    const before = as.tokenRequests();
    const upstreamBefore = upstream.requests.length;
    for (const route of ROUTES) {
      const outcome = await callTool(gateway, route, "m2m", "echo", { message: "no token" });
      expectFailure(outcome, { server: "m2m", status: 502, code: "upstream_token_error", rpcCode: -32000, says: scenario.says }, [SECRET, MARKER]);
    }
    // A failure is not cached: each call asked again (when the server was there to be asked).
    expect(as.tokenRequests() - before).toBe(scenario.reachesAs ? ROUTES.length : 0);
    // Without a token nothing went upstream.
    expect(upstream.requests).toHaveLength(upstreamBefore);
    expect(JSON.stringify(gateway.logs)).not.toContain(SECRET);

    await scenario.recover();
    const recovered = as.tokenRequests();
    for (const route of ROUTES) await expectEcho(gateway, route, "m2m");
    expect(as.tokenRequests() - recovered).toBe(1);
    expect(upstream.acceptedTokens()).toContain(as.issuedTokens().at(-1));
  });

  // Without token_endpoint_auth_method the client authentication is discovered once
  // (src/auth/upstream/token-endpoint.ts, tokenEndpointClient:
  // `method ??= preferredClientAuth(...).then((preferred) => preferred ?? "client_secret_post")`),
  // and a discovery that failed because the server was down is cached like a real answer:
  // client_secret_post for good, whatever the metadata says once the server is back.
  // oidc-provider accepts either method, so the calls here succeed; an authorization server
  // that enforces the client's registered method (client_secret_basic) would answer
  // invalid_client to every call until the gateway restarts.
  it("discovered client authentication: after an outage at the first call, the metadata's method (client_secret_basic) is used once the server recovers, not a fallback cached from the failed discovery", async () => {
    const gateway = await m2mGateway({ token_endpoint_auth_method: undefined });
    await as.setDown(true);
    const down = await callTool(gateway, "rest", "m2m", "echo", { message: "down" });
    expectFailure(down, { server: "m2m", status: 502, code: "upstream_token_error", says: /token endpoint of MCP server 'm2m' is unreachable/ }, [SECRET]);
    await as.setDown(false);
    for (const route of ROUTES) await expectEcho(gateway, route, "m2m");
    expect(as.lastTokenRequest()?.authMethod).toBe("basic");
  });

  it("discovered client authentication, control: with the authorization server up at the first call, the metadata's method is used", async () => {
    const gateway = await m2mGateway({ token_endpoint_auth_method: undefined });
    for (const route of ROUTES) await expectEcho(gateway, route, "m2m");
    expect(as.lastTokenRequest()?.authMethod).toBe("basic");
  });

  // preferredClientAuth (src/auth/upstream/token-endpoint.ts) tries up to four metadata URLs
  // one after the other (RFC 8414 and OIDC, at the token URL's parent path and origin), each
  // with the whole token timeout, before the token request gets its own: against a server
  // that does not answer, the first call waits 5 x min(timeout, 10) s (50 s with the default
  // timeout) while its error says "did not answer within 1 s".
  it("discovered client authentication: a server that never answers fails the call within about the token request's time (min(timeout, 10) s), not once per metadata URL as well", async () => {
    const silent = await startSilentServer();
    try {
      const gateway = await startTestGateway({
        servers: { hung: { url: upstream.url, auth_type: "oauth2", client_id: CLIENT_ID, client_secret: "os.environ/FAULTS_M2M_SECRET", token_url: `${silent.origin}/oauth/token`, timeout: 1 } },
        env: { FAULTS_M2M_SECRET: SECRET },
      });
      gateways.push(gateway);
      const outcome = await callTool(gateway, "rest", "hung", "echo", { message: "x" });
      expectFailure(outcome, { server: "hung", status: 502, code: "upstream_token_error", says: /did not answer within 1 s/ }, [SECRET]);
      // Everything the gateway asked was given up, not left open.
      await silent.waitUntil(() => silent.open() === 0);
      expect(silent.requests).toContain("POST /oauth/token");
      expect(outcome.elapsedMs, `asked: ${silent.requests.join(", ")}`).toBeLessThan(2_000);
    } finally {
      await silent.close();
    }
  });

  describe("a token answer without expires_in", () => {
    let bare: BareTokenEndpoint;
    let guarded: Upstream;

    beforeAll(async () => {
      bare = await startBareTokenEndpoint();
      // A real SDK upstream that accepts exactly the tokens the endpoint issued.
      guarded = await startUpstream({
        name: "guarded",
        authorize: (request) =>
          bare.issued().some((token) => request.headers.authorization === `Bearer ${token}`)
            ? undefined
            : { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' }, body: { error: "invalid_token" } },
      });
    });
    afterEach(() => {
      vi.useRealTimers();
    });
    afterAll(async () => {
      await Promise.all([bare?.close(), guarded?.close()]);
    });

    const bearers = (since: number) => guarded.requests.slice(since).map((request) => request.headers.authorization);

    it("works, is reused for 5 minutes (README: 5 minutes without expires_in), and is fetched again after", async () => {
      // Only Date is faked (the token cache's clock, read through Date.now, which the gateway
      // captures when it starts); timers and I/O stay real.
      const start = Date.now();
      vi.useFakeTimers({ toFake: ["Date"], now: start });
      const gateway = await startTestGateway({
        servers: {
          bare: { url: guarded.url, auth_type: "oauth2", client_id: bare.clientId, client_secret: "os.environ/BARE_SECRET", token_url: bare.tokenUrl, token_endpoint_auth_method: "client_secret_post" },
        },
        env: { BARE_SECRET: bare.clientSecret },
      });
      gateways.push(gateway);

      for (const route of ROUTES) await expectEcho(gateway, route, "bare");
      expect(bare.tokenRequests).toHaveLength(1);
      const first = bare.issued()[0]!;
      expect(new Set(bearers(0))).toEqual(new Set([`Bearer ${first}`]));
      expect(guarded.requests.every((request) => request.headers.authorization === `Bearer ${first}`)).toBe(true);

      // Four minutes on (before the last fifth of its 5 minutes): still the same token, no token request.
      vi.setSystemTime(start + 239_000);
      let mark = guarded.requests.length;
      await expectEcho(gateway, "rest", "bare");
      expect(bare.tokenRequests).toHaveLength(1);
      expect(bearers(mark)).toEqual([`Bearer ${first}`]);

      // Past 5 minutes: expired, so the next call fetches a new one and uses it.
      vi.setSystemTime(start + 301_000);
      mark = guarded.requests.length;
      await expectEcho(gateway, "passthrough", "bare");
      expect(bare.tokenRequests).toHaveLength(2);
      const second = bare.issued()[1]!;
      expect(second).not.toBe(first);
      expect(bearers(mark)).toEqual([`Bearer ${second}`]);
    });
  });
});

// ---------------------------------------------------------------------------------------
// 3. PostgreSQL connections killed under a running gateway
// ---------------------------------------------------------------------------------------

describe.skipIf(!(await postgresAvailable()))("PostgreSQL connections killed under a running gateway (a database restart)", () => {
  let testDb: TestDatabase;
  let alpha: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    testDb = await createTestDatabase("postgres");
    alpha = await startUpstream({ name: "alpha", mode: "json" });
    gateway = await startTestGateway({ servers: { alpha: { url: alpha.url } }, env: { DATABASE_URL: testDb.url } });
  });
  afterAll(async () => {
    await gateway?.close();
    await alpha?.close();
    await testDb?.drop();
  });

  /** Terminates every connection to the test database but the admin's own; returns how many. */
  async function killConnections(): Promise<number> {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      const name = new URL(testDb.url).pathname.slice(1);
      const { rows } = await admin.query<{ killed: boolean }>(
        "select pg_terminate_backend(pid) as killed from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
        [name],
      );
      return rows.filter((row) => row.killed).length;
    } finally {
      await admin.end();
    }
  }

  const readiness = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await gateway.fetch("/health/readiness", { key: null });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  /**
   * Asks /health/readiness back to back until it answers 200 (a real request each time),
   * within `ms`; returns the last answer and the statuses of all of them.
   */
  async function readyWithin(ms: number): Promise<{ status: number; body: Record<string, unknown>; statuses: Set<number> }> {
    const deadline = performance.now() + ms;
    const statuses = new Set<number>();
    for (;;) {
      const answer = await readiness();
      statuses.add(answer.status);
      if (answer.status === 200 || performance.now() > deadline) return { ...answer, statuses };
    }
  }

  it("keeps answering with a cached virtual key, reconnects by itself: a key made after the kill works, and readiness is ok again", async () => {
    expect(await readiness()).toEqual({ status: 200, body: expect.objectContaining({ status: "ok", db: "postgres" }) as unknown });
    const before = await gateway.generateKey({ key_alias: "before-the-restart", object_permission: { mcp_servers: ["alpha"] } });
    // The revision poller will see this write and clear the key cache once: let it, now (the
    // second check starts after the write), so the cache filled below stays filled.
    await gateway.syncWithStore();
    await gateway.syncWithStore();
    await expectEcho(gateway, "rest", "alpha");
    // The key is resolved once (from the database), then cached.
    const withKey = (key: string, route: Route) => callTool({ ...gateway, fetch: (path, init = {}) => gateway.fetch(path, { ...init, key }) }, route, "alpha", "echo", { message: `with ${key.slice(-4)}` });
    for (const route of ROUTES) expect((await withKey(before, route)).status).toBe(200);

    // The restart happens while calls with the cached key are in flight.
    const [killed, ...during] = await Promise.all([killConnections(), ...Array.from({ length: 12 }, (_, i) => withKey(before, ROUTES[i % ROUTES.length]!))]);
    expect(killed, "the gateway had connections to kill").toBeGreaterThan(0);
    for (const outcome of during) expect({ route: outcome.route, status: outcome.status }, outcome.text).toEqual({ route: outcome.route, status: 200 });

    // Calls need no database: the cached key and the master key keep working at once.
    for (const route of ROUTES) {
      const outcome = await withKey(before, route);
      expect({ status: outcome.status, echoed: echoed(outcome) }, outcome.text).toEqual({ status: 200, echoed: `with ${before.slice(-4)}` });
      await expectEcho(gateway, route, "alpha");
    }

    // The pool replaces the dead connections by itself.
    const ready = await readyWithin(10_000);
    expect({ status: ready.status, body: ready.body }).toEqual({ status: 200, body: expect.objectContaining({ status: "ok", db: "postgres" }) as unknown });
    // Meanwhile it said "not ready" (503) or "ready", never anything else.
    expect([...ready.statuses].filter((status) => status !== 200 && status !== 503)).toEqual([]);
    const after = await gateway.generateKey({ key_alias: "after-the-restart", object_permission: { mcp_servers: ["alpha"] } });
    for (const route of ROUTES) {
      const outcome = await withKey(after, route);
      expect({ status: outcome.status, echoed: echoed(outcome) }, outcome.text).toEqual({ status: 200, echoed: `with ${after.slice(-4)}` });
    }
    // The key written before the restart is read back from the database too (the write cleared the cache).
    expect((await withKey(before, "rest")).status).toBe(200);
    const listed = await gateway.fetch("/key/list?key_alias=after-the-restart");
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { total_count: number }).total_count).toBe(1);
    // The gateway was told (and said so) rather than crashing.
    expect(gateway.logs.some((line) => line.level === 40 && /database connection failed|revisions/.test(String(line.msg)))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------
// 4. A client that disconnects mid-SSE
// ---------------------------------------------------------------------------------------

describe("a client that disconnects mid-SSE", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  /** Calls of `ticker` whose signal fired, and who waits for the next one. */
  let tickersCancelled = 0;
  const cancelWaiters = new Set<() => void>();
  /** A single keep-alive socket for the control requests, opened before any baseline. */
  const control = new HttpAgent({ keepAlive: true, maxSockets: 1 });

  /** `ticker`: a progress notification every 20 ms until cancelled (or 30 s). */
  function registerTicker(server: McpServer): void {
    server.registerTool("ticker", { description: "Streams progress until cancelled." }, async (extra) => {
      const token = extra._meta?.progressToken;
      for (let step = 1; step <= 1500; step++) {
        if (extra.signal.aborted) break;
        if (token !== undefined) await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: step, message: `tick ${step}` } });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 20);
          extra.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
      }
      if (extra.signal.aborted) {
        tickersCancelled++;
        for (const waiter of [...cancelWaiters]) waiter();
        throw new Error("cancelled");
      }
      return { content: [{ type: "text", text: "ticked to the end" }] };
    });
  }

  function whenTickersCancelled(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (tickersCancelled < count) return;
        cancelWaiters.delete(check);
        resolve();
      };
      cancelWaiters.add(check);
      check();
    });
  }

  beforeAll(async () => {
    upstream = await startUpstream({ name: "streamer", mode: "sse", tools: registerTicker });
    gateway = await startTestGateway({ servers: { streamer: { url: upstream.url } } });
  });
  afterAll(async () => {
    control.destroy();
    await gateway?.close();
    await upstream?.close();
  });

  /** GET /health/liveliness over the control socket: a real request, adding no socket once the first is made. */
  function controlRequest(): Promise<number> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(new URL("/health/liveliness", gateway.url), { agent: control }, (response) => {
        response.resume();
        response.once("end", () => resolve(response.statusCode ?? 0));
      });
      request.once("error", reject);
      request.end();
    });
  }

  function resourceCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
    return counts;
  }

  interface Baseline {
    /** process.getActiveResourcesInfo() by type. */
    resources: Map<string, number>;
    /** Sockets open to the upstream (the gateway's pooled connections). */
    upstreamSockets: number;
    /** Connections open to the gateway (the control socket, pooled fetch sockets). */
    gatewaySockets: number;
  }

  function gatewayConnections(): Promise<number> {
    return new Promise((resolve, reject) => gateway.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  }

  async function measure(): Promise<Baseline> {
    return { resources: resourceCounts(), upstreamSockets: upstream.openConnections(), gatewaySockets: await gatewayConnections() };
  }

  /** What is above its baseline now. */
  async function aboveBaseline(baseline: Baseline): Promise<string[]> {
    const now = await measure();
    const above: string[] = [];
    for (const [type, count] of now.resources) {
      const was = baseline.resources.get(type) ?? 0;
      if (count > was) above.push(`${type}: ${count} (baseline ${was})`);
    }
    if (now.upstreamSockets > baseline.upstreamSockets) above.push(`upstream sockets: ${now.upstreamSockets} (baseline ${baseline.upstreamSockets})`);
    if (now.gatewaySockets > baseline.gatewaySockets) above.push(`gateway connections: ${now.gatewaySockets} (baseline ${baseline.gatewaySockets})`);
    return above;
  }

  /** Control requests back to back until nothing is above the baseline, or the deadline; returns what still is. */
  async function settle(baseline: Baseline, ms: number): Promise<string[]> {
    const deadline = performance.now() + ms;
    for (;;) {
      expect(await controlRequest()).toBe(200);
      const above = await aboveBaseline(baseline);
      if (above.length === 0 || performance.now() > deadline) return above;
    }
  }

  const cases: Array<{ name: string; path: string; tool: string; headers: Record<string, string>; route: Route }> = [
    { name: "/{server}/mcp (fast lane)", path: "/streamer/mcp", tool: "ticker", headers: {}, route: "passthrough" as const },
    { name: "/{server}/mcp (Hono route, debug headers)", path: "/streamer/mcp", tool: "ticker", headers: { "x-litellm-mcp-debug": "true" }, route: "passthrough-hono" as const },
    { name: "/mcp", path: "/mcp", tool: "streamer-ticker", headers: {}, route: "aggregate" as const },
  ];

  it.each(cases)("$name: the upstream request is aborted, the tool cancelled, and sockets and resources return to the baseline", async ({ path, tool, headers, route }) => {
    // Warm up the route (pooled upstream sockets, the aggregate's session) and the control socket.
    await expectEcho(gateway, route, "streamer");
    expect(await controlRequest()).toBe(200);
    const baseline = await measure();
    const abortedBefore = upstream.abortedRequests;
    const cancelledBefore = tickersCancelled;
    const callsBefore = upstream.requests.filter(isCallOf("ticker")).length;

    const controller = new AbortController();
    const response = await gateway.fetch(path, {
      method: "POST",
      headers: { ...MCP_ACCEPT, ...headers },
      body: rpc("tools/call", { name: tool, arguments: {}, _meta: { progressToken: "tick-tock" } }, 42),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = new EventReader(response.body!);
    for (let i = 1; i <= 2; i++) {
      expect(await events.next()).toMatchObject({ message: { method: "notifications/progress", params: { progressToken: "tick-tock", progress: i } } });
    }
    // The stream is open: its sockets and timers are above the baseline (so the check below can see a leak).
    expect(await aboveBaseline(baseline)).not.toEqual([]);
    controller.abort();

    // The upstream saw its request closed before the answer ended, and the tool stopped.
    await upstream.whenAborted(abortedBefore + 1);
    await whenTickersCancelled(cancelledBefore + 1);
    const call = upstream.requests.filter(isCallOf("ticker"))[callsBefore];
    expect(call?.aborted).toBe(true);
    expect(upstream.requests.filter(isCallOf("ticker"))).toHaveLength(callsBefore + 1);

    // Nothing leaks: the gateway's upstream sockets and this process's resources return to the baseline.
    expect(await settle(baseline, 10_000)).toEqual([]);

    await expectEcho(gateway, route, "streamer");
  });
});
