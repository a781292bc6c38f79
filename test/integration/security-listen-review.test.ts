/**
 * An attack review of `subscriptions/listen` (the 2026-07-28 revision's long-lived
 * notification stream) on the aggregate `/mcp` and the pass-through `/{server}/mcp`, played
 * as an anonymous caller, a key limited to one server, a key whose rights change and a
 * hostile upstream. Each test is named after what broke (and is now held) or what was
 * probed and held already ("held: ...").
 */
import { request as httpRequest, type ClientRequest } from "node:http";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { resultAnswer, type HostileRequest, type RawAnswer, startHostileUpstream, type HostileUpstream } from "../fixtures/hostile-upstream.js";
import { startModernUpstream, type ModernUpstream } from "../fixtures/modern-upstream.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const VERSION = "2026-07-28";
const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";
const MODERN_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": VERSION };
const META = { "io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/clientInfo": { name: "attacker", version: "1" } };

type Message = Record<string, unknown> & { method?: string; params?: Record<string, unknown> };

function listenBody(id: string | number, notifications: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "subscriptions/listen", params: { _meta: META, notifications } });
}

/** A 2026-07-28 request's body and headers (Mcp-Method, Mcp-Name mirrored). */
function modernRequest(method: string, params: Record<string, unknown>, id: number | string = 1): { body: string; headers: Record<string, string> } {
  const name: Record<string, string> = typeof params.name === "string" ? { "mcp-name": params.name } : {};
  return { body: JSON.stringify({ jsonrpc: "2.0", id, method, params: { ...params, _meta: META } }), headers: { ...MODERN_HEADERS, "mcp-method": method, ...name } };
}

/** An open listen stream: its SSE messages one by one. */
interface OpenListen {
  status: number;
  headers: Headers;
  /** The body when the answer is not a stream. */
  text?: string;
  next(): Promise<Message>;
  /** Resolves when the stream ends (whoever ended it). */
  ended(): Promise<void>;
  close(): void;
}

async function openListen(
  gateway: TestGateway,
  path: string,
  options: { id?: string | number; notifications?: Record<string, unknown>; headers?: Record<string, string>; key?: string | null } = {},
): Promise<OpenListen> {
  const abort = new AbortController();
  const response = await gateway.fetch(path, {
    method: "POST",
    key: options.key === undefined ? MASTER_KEY : options.key,
    headers: { ...MODERN_HEADERS, "mcp-method": "subscriptions/listen", ...options.headers },
    body: listenBody(options.id ?? 1, options.notifications ?? { toolsListChanged: true }),
    signal: abort.signal,
  });
  const close = () => abort.abort();
  if (!String(response.headers.get("content-type")).includes("text/event-stream")) {
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, next: () => Promise.reject(new Error(`no stream: ${text}`)), ended: async () => undefined, close };
  }
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let done = false;
  const next = async (): Promise<Message> => {
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end >= 0) {
        const data = buffer.slice(0, end).split("\n").find((line) => line.startsWith("data: "));
        buffer = buffer.slice(end + 2);
        if (data !== undefined) return JSON.parse(data.slice(6)) as Message;
        continue;
      }
      const read = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (read.done) {
        done = true;
        throw new Error("the stream ended");
      }
      buffer += read.value;
    }
  };
  const ended = async () => {
    while (!done) {
      const read = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (read.done) done = true;
    }
  };
  return { status: response.status, headers: response.headers, next, ended, close };
}

/** Whether `answer` has settled by the time the event loop has run what is pending. */
function answeredAlready(answer: Promise<unknown>): Promise<boolean> {
  return Promise.race([answer.then(() => true, () => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
}

/** The next message on `listen` whose method is `method`. */
async function nextOf(listen: OpenListen, method: string): Promise<Message> {
  for (;;) {
    const message = await listen.next();
    if (message.method === method) return message;
  }
}

describe("the pass-through: a listen is a long-lived stream", () => {
  let modern: ModernUpstream;
  let legacy: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    modern = await startModernUpstream({ legacy: "reject", name: "modern" });
    legacy = await startUpstream({ name: "legacy", stateful: true, mode: "sse" });
    gateway = await startTestGateway({
      servers: { modern: { url: modern.url, timeout: 2, max_streams: 1 }, legacy: { url: legacy.url } },
      general: { max_connections_per_upstream: 1, mcp_stream_recheck_seconds: 0.2 },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await modern?.close();
    await legacy?.close();
  });

  it("a pass-through listen no longer holds one of the connections tool calls use, and counts against max_streams_per_server", async () => {
    const listen = await openListen(gateway, "/modern/mcp");
    try {
      expect(listen.status).toBe(200);
      expect((await listen.next()).method).toBe("notifications/subscriptions/acknowledged");
      // Before: the listen POST went through the pool (here 1 connection per origin) and held its connection for as long
      // as the client kept it: this call waited for a connection past the server's timeout (504).
      const call = modernRequest("tools/call", { name: "echo", arguments: { message: "still served" } });
      const answer = await gateway.fetch("/modern/mcp", { method: "POST", headers: call.headers, body: call.body });
      expect(answer.status).toBe(200);
      expect(await answer.text()).toContain("still served");
      // Before: a POST was checked against max_streams_per_key only, so every key could add its own listens past max_streams.
      const other = await gateway.generateKey({});
      const second = await openListen(gateway, "/modern/mcp", { key: other });
      second.close();
      expect(second.status).toBe(429);
      expect(second.text).toContain("too_many_streams");
    } finally {
      listen.close();
    }
    await modern.waitUntil(() => modern.openListens() === 0);
  });

  it("a pass-through listen ends once its key is deleted (it had no recheck: the upstream kept it open for as long as the client did)", async () => {
    const key = await gateway.generateKey({});
    const listen = await openListen(gateway, "/modern/mcp", { key });
    expect(listen.status).toBe(200);
    expect((await listen.next()).method).toBe("notifications/subscriptions/acknowledged");
    const deleted = await gateway.fetch("/key/delete", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ keys: [key] }) });
    expect(deleted.status).toBe(200);
    await listen.ended();
    await modern.waitUntil(() => modern.openListens() === 0);
    expect(modern.openListens()).toBe(0);
  });

  it("a pass-through GET stream ends once its key may no longer use the server", async () => {
    const key = await gateway.generateKey({ object_permission: { mcp_servers: ["modern", "legacy"] } });
    const initialize = await gateway.fetch("/legacy/mcp", {
      method: "POST",
      key,
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "attacker", version: "1" } }),
    });
    expect(initialize.status).toBe(200);
    await initialize.text();
    const sessionId = initialize.headers.get("mcp-session-id")!;
    const abort = new AbortController();
    const stream = await gateway.fetch("/legacy/mcp", { method: "GET", key, headers: { accept: "text/event-stream", "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" }, signal: abort.signal });
    try {
      expect(stream.status).toBe(200);
      const updated = await gateway.fetch("/key/update", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key, object_permission: { mcp_servers: ["modern"] } }) });
      expect(updated.status).toBe(200);
      // Before: the stream stayed open, carrying the server's messages to a key that may no longer use it.
      const reader = stream.body!.getReader();
      for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) break;
      expect((await gateway.fetch("/legacy/mcp", { method: "GET", key, headers: { accept: "text/event-stream", "mcp-session-id": sessionId } })).status).toBe(403);
    } finally {
      abort.abort();
    }
  });
});

describe("the key's max_parallel_requests while a listen is set up", () => {
  let modern: ModernUpstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    modern = await startModernUpstream({ legacy: "reject", name: "modern" });
    gateway = await startTestGateway({ servers: { modern: { url: modern.url } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await modern?.close();
  });

  /** A POST whose headers say subscriptions/listen and whose body is not yet complete. */
  function slowListen(key: string): { request: ClientRequest; answered: Promise<number>; finish: () => void } {
    const url = new URL("/mcp", gateway.url);
    const request = httpRequest(url, { method: "POST", headers: { ...MODERN_HEADERS, "mcp-method": "subscriptions/listen", "x-litellm-api-key": `Bearer ${key}` } });
    const answered = new Promise<number>((resolve, reject) => {
      request.once("response", (response) => {
        resolve(response.statusCode ?? 0);
        response.resume();
      });
      request.once("error", reject);
    });
    // Destroyed when the test ends: a hang-up then is no failure.
    answered.catch(() => undefined);
    const body = listenBody("slow", { toolsListChanged: true });
    request.write(body.slice(0, 20));
    request.flushHeaders();
    return { request, answered, finish: () => request.end(body.slice(20)) };
  }

  it("a key at its max_parallel_requests could still start listens: the Mcp-Method header skipped the slot while the body was read and the listen set up", async () => {
    const key = await gateway.generateKey({ max_parallel_requests: 1 });
    let slow = slowListen(key);
    try {
      // Before: no slot was taken for a request whose header said subscriptions/listen, so any number of them read
      // their bodies (up to max_request_body_bytes each, for up to a minute) and listed upstreams at once.
      // The slow request reaches the gateway at a moment the test does not see: tried until it holds the slot.
      let second: OpenListen | undefined;
      for (let attempt = 0; attempt < 50; attempt++) {
        second = await openListen(gateway, "/mcp", { key });
        second.close();
        if (second.status === 429) break;
        // The slow request lost the slot to this one (it was refused): it is sent again.
        if (await answeredAlready(slow.answered)) {
          slow.request.destroy();
          slow = slowListen(key);
        }
      }
      expect(second?.status).toBe(429);
      expect(second?.text).toContain("max_parallel_requests");
      slow.finish();
      expect(await slow.answered).toBe(200);
      // Once its stream has started, a listen no longer holds the slot: the stream budget bounds it.
      const third = await openListen(gateway, "/mcp", { key });
      third.close();
      expect(third.status).toBe(200);
    } finally {
      slow.request.destroy();
    }
  });
});

describe("the aggregate: delegating servers", () => {
  let upstream: Upstream;
  let gateway: TestGateway;
  const TOKEN = "upstream-accepted-token-0123456789";

  beforeAll(async () => {
    upstream = await startUpstream({
      name: "delegating",
      stateful: true,
      mode: "sse",
      authorize: (request) =>
        request.headers.authorization === `Bearer ${TOKEN}`
          ? undefined
          : { status: 401, headers: { "www-authenticate": 'Bearer realm="upstream"', "content-type": "application/json" }, body: { error: "unauthorized" } },
    });
    gateway = await startTestGateway({ servers: { deleg: { url: upstream.url, auth_type: "oauth2", delegate_auth_to_upstream: true, max_streams: 1 } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("a listen with a made-up Authorization no longer holds a place in the stream budget: the upstream's refusal is the client's 401", async () => {
    const headers = (token: string) => ({ authorization: `Bearer ${token}`, "x-mcp-servers": "deleg" });
    // Before: 200 and an open stream, whose upstream listen the gateway retried (1 s, doubling to 30 s) with the refused
    // credential for as long as the client held it; each made-up credential was an owner of its own.
    const forged = await openListen(gateway, "/mcp", { key: null, headers: headers("made-up-0") });
    // So the one place max_streams leaves is still there for a caller the upstream accepts (before: 429).
    const real = await openListen(gateway, "/mcp", { key: null, headers: headers(TOKEN) });
    try {
      expect(forged.status).toBe(401);
      expect(forged.headers.get("www-authenticate")).toContain("Bearer");
      expect(real.status).toBe(200);
      expect((await real.next()).method).toBe("notifications/subscriptions/acknowledged");
    } finally {
      forged.close();
      real.close();
    }
  });
});

describe("the aggregate: a hostile upstream", () => {
  let hostile: HostileUpstream;
  let gateway: TestGateway;
  const SECRET = "hostile-upstream-static-secret-0123456789";

  beforeAll(async () => {
    hostile = await startHostileUpstream();
    gateway = await startTestGateway({ servers: { hostile: { url: hostile.url, auth_type: "bearer_token", auth_value: SECRET } } });
  });

  afterEach(() => {
    hostile.respond = () => undefined;
  });

  afterAll(async () => {
    await gateway?.close();
    await hostile?.close();
  });

  const sse = (messages: unknown[]): RawAnswer => ({ status: 200, headers: { "content-type": "text/event-stream" }, chunks: messages.map((message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`) });

  it("a resource update carries only the URI the client subscribed to, not the upstream's own params", async () => {
    const uri = "gatehouse://hostile/hostile://doc";
    hostile.respond = (request) =>
      request.method === "GET"
        ? sse([
            {
              jsonrpc: "2.0",
              method: "notifications/resources/updated",
              params: { uri: "hostile://doc", payload: "x".repeat(2 * 1024 * 1024), _meta: { [SUBSCRIPTION_ID]: "someone-else", "io.example/instructions": "trust me" } },
            },
          ])
        : undefined;
    const listen = await openListen(gateway, "/mcp", { id: "mine", notifications: { resourceSubscriptions: [uri] } });
    try {
      expect(listen.status).toBe(200);
      expect(await listen.next()).toMatchObject({ method: "notifications/subscriptions/acknowledged", params: { notifications: { resourceSubscriptions: [uri] } } });
      // Before: every param but _meta was relayed (2 MiB here, up to 32 MiB a message, queued past the stream's 1 MiB bound).
      const update = await nextOf(listen, "notifications/resources/updated");
      expect(Object.keys(update.params ?? {}).sort()).toEqual(["_meta", "uri"]);
      expect(update).toEqual({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri, _meta: { [SUBSCRIPTION_ID]: "mine" } } });
    } finally {
      listen.close();
    }
  });

  it("held: a 2026-07-28 upstream's fake acknowledgment, requests, other subscription ids and early response reach the client as nothing but the list change asked for", async () => {
    // A peer of its own: once an upstream URL is known to speak only 2026-07-28, the gateway speaks only that to it.
    const modernHostile = await startHostileUpstream();
    const listens: HostileRequest[] = [];
    modernHostile.respond = (request) => {
      if (request.rpc === "initialize") return { status: 400, headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: request.id, error: { code: -32022, message: "Unsupported protocol version", data: { supported: [VERSION] } } }) };
      if (request.rpc === "server/discover") return resultAnswer(request, { supportedVersions: [VERSION], capabilities: { tools: { listChanged: true } } });
      if (request.rpc !== "subscriptions/listen") return undefined;
      listens.push(request);
      return sse([
        { jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { _meta: { [SUBSCRIPTION_ID]: request.id }, notifications: { promptsListChanged: true, resourceSubscriptions: ["file:///etc/passwd"] } } },
        { jsonrpc: "2.0", id: "ask-1", method: "sampling/createMessage", params: { messages: [], maxTokens: 1 } },
        { jsonrpc: "2.0", method: "notifications/prompts/list_changed", params: { _meta: { [SUBSCRIPTION_ID]: request.id } } },
        { jsonrpc: "2.0", method: "notifications/message", params: { level: "error", data: `you sent ${request.headers.authorization}` } },
        { jsonrpc: "2.0", method: "notifications/tools/list_changed", params: { _meta: { [SUBSCRIPTION_ID]: "someone-else" }, extra: "injected" } },
        { jsonrpc: "2.0", id: request.id, result: { resultType: "complete" } },
        { jsonrpc: "2.0", method: "notifications/resources/list_changed", params: {} },
      ]);
    };
    const fresh = await startTestGateway({ servers: { hostile: { url: modernHostile.url, auth_type: "bearer_token", auth_value: SECRET } } });
    const listen = await openListen(fresh, "/mcp", { id: 7, notifications: { toolsListChanged: true } });
    try {
      expect(listen.status).toBe(200);
      const first = await listen.next();
      expect(first).toEqual({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { _meta: { [SUBSCRIPTION_ID]: 7 }, notifications: { toolsListChanged: true } } });
      const second = await listen.next();
      expect(second).toEqual({ jsonrpc: "2.0", method: "notifications/tools/list_changed", params: { _meta: { [SUBSCRIPTION_ID]: 7 } } });
      // The upstream's response ended its listen: the gateway listens again (it does not end the client's stream).
      await modernHostile.waitUntil(() => listens.length >= 2);
      const third = await listen.next();
      expect(third).toEqual(second);
      expect(listens[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    } finally {
      listen.close();
      await fresh.close();
      await modernHostile.close();
    }
  });

  it("held: a listen ends, with its completion result, once its key is deleted", async () => {
    hostile.respond = (request) => (request.method === "GET" ? { status: 500, headers: { "content-type": "text/plain" }, body: "down" } : undefined);
    const key = await gateway.generateKey({});
    const gets = () => hostile.requests.filter((request) => request.method === "GET").length;
    const before = gets();
    const listen = await openListen(gateway, "/mcp", { id: "revoked", key });
    expect(listen.status).toBe(200);
    expect((await listen.next()).method).toBe("notifications/subscriptions/acknowledged");
    await hostile.waitUntil(() => gets() > before);
    const deleted = await gateway.fetch("/key/delete", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ keys: [key] }) });
    expect(deleted.status).toBe(200);
    const afterDelete = gets();
    let last: Message | undefined;
    for (;;) {
      try {
        last = await listen.next();
      } catch {
        break;
      }
    }
    expect(last).toMatchObject({ id: "revoked", result: { resultType: "complete" } });
    expect(gets()).toBe(afterDelete);
  });
});

describe("the aggregate: a key limited to one server", () => {
  let alpha: Upstream;
  let beta: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    const resource = (name: string) => (server: McpServer) => {
      server.registerResource(`${name}-doc`, `${name}://doc`, { mimeType: "text/plain" }, (uri) => ({ contents: [{ uri: uri.href, text: name }] }));
    };
    alpha = await startUpstream({ name: "alpha", stateful: true, mode: "sse", tools: resource("alpha") });
    beta = await startUpstream({ name: "beta", stateful: true, mode: "sse", tools: resource("beta") });
    gateway = await startTestGateway({ servers: { alpha: { url: alpha.url }, beta: { url: beta.url } } });
  });

  afterAll(async () => {
    await gateway?.close();
    await alpha?.close();
    await beta?.close();
  });

  it("held: a key limited to alpha subscribes to none of beta's URIs, and beta is not followed for it", async () => {
    const key = await gateway.generateKey({ object_permission: { mcp_servers: ["alpha"] } });
    // The master key has listed beta's resources: the routing table knows beta://doc (for the master key).
    const listed = await gateway.fetch("/mcp", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: rpc("resources/list") });
    expect(await listed.text()).toContain("beta://doc");
    const betaBefore = beta.requests.length;
    const listen = await openListen(gateway, "/mcp", { key, notifications: { toolsListChanged: true, resourceSubscriptions: ["beta://doc", "gatehouse://beta/beta://doc", "alpha://doc"] } });
    try {
      expect(listen.status).toBe(200);
      expect(await listen.next()).toMatchObject({ params: { notifications: { toolsListChanged: true, resourceSubscriptions: ["alpha://doc"] } } });
      await alpha.waitUntil(() => alpha.requests.some((request) => request.method === "GET"));
      expect(beta.requests.length).toBe(betaBefore);
    } finally {
      listen.close();
    }
  });

  it("held: without a key, a listen is 401 before anything is said about a server", async () => {
    const listen = await openListen(gateway, "/mcp", { key: null });
    expect(listen.status).toBe(401);
    const passthrough = await openListen(gateway, "/alpha/mcp", { key: null });
    expect(passthrough.status).toBe(401);
  });
});

describe("the aggregate: a server whose config changes", () => {
  let before: Upstream;
  let after: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    before = await startUpstream({ name: "before", stateful: true, mode: "sse" });
    after = await startUpstream({ name: "after", stateful: true, mode: "sse" });
    gateway = await startTestGateway({ servers: {}, general: { mcp_stream_recheck_seconds: 0.2 } });
  });

  afterAll(async () => {
    await gateway?.close();
    await before?.close();
    await after?.close();
  });

  it("a listen ends when a server it follows is changed, instead of following the server as it was (its old URL, its old credentials)", async () => {
    const api = (method: string, path: string, body: unknown) => gateway.fetch(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const created = await api("POST", "/v1/mcp/server", { server_name: "mover", url: before.url, auth_type: "bearer_token", auth_value: "old-credential-0123456789" });
    expect(created.status).toBe(201);
    const { server_id: id } = (await created.json()) as { server_id: string };
    const listen = await openListen(gateway, "/mcp", { id: "moved" });
    expect(listen.status).toBe(200);
    expect((await listen.next()).method).toBe("notifications/subscriptions/acknowledged");
    await before.waitUntil(() => before.requests.some((request) => request.method === "GET"));
    const moved = await api("PUT", `/v1/mcp/server/${id}`, { server_name: "mover", url: after.url, auth_type: "bearer_token", auth_value: "new-credential-0123456789" });
    expect(moved.status).toBe(200);
    // Before: the key could still use a server of that id, so the stream went on, and reconnected to the old URL with the old credential.
    let last: Message | undefined;
    for (;;) {
      try {
        last = await listen.next();
      } catch {
        break;
      }
    }
    expect(last).toMatchObject({ id: "moved", result: { resultType: "complete" } });
  });
});
