/**
 * `subscriptions/listen` through the aggregate `/mcp`, both ways:
 *
 * - a 2026-07-28 client (the official v2 SDK client's `listen`) gets the change
 *   notifications it opted in to from an earlier-revision upstream (the v1 SDK's McpServer,
 *   stateful: followed on its GET stream, resources subscribed in a session of the
 *   listen's own) and from a 2026-07-28 upstream (the v2 SDK's `createMcpHandler`, followed
 *   with its own `subscriptions/listen`);
 * - a 2025 client's session on `/mcp` gets a 2026-07-28 upstream's list changes on its GET
 *   stream (the gateway listens upstream for it).
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ResourceUpdatedNotificationSchema, SubscribeRequestSchema, ToolListChangedNotificationSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtureServer } from "../fixtures/stdio.js";
import { MASTER_KEY, MCP_ACCEPT, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startModernUpstream, type ModernUpstream } from "../fixtures/modern-upstream.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const VERSION = "2026-07-28";
const AUTH = { "x-litellm-api-key": `Bearer ${MASTER_KEY}` };
let gateway: TestGateway;
let legacy: Upstream;
let modern: ModernUpstream;
/** Every live McpServer of the legacy upstream (one per session), to send notifications from. */
const legacyServers = new Set<McpServer>();
/** The URIs the legacy upstream was asked to subscribe to. */
const subscribed: string[] = [];

function legacyResources(server: McpServer): void {
  legacyServers.add(server);
  server.registerPrompt("hello", { description: "A prompt, so that the prompt list can change." }, () => ({ messages: [{ role: "user", content: { type: "text", text: "hello" } }] }));
  server.registerResource("note", "legacy://note", { mimeType: "text/plain" }, (uri) => ({ contents: [{ uri: uri.href, text: "a note" }] }));
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
    subscribed.push(request.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, () => ({}));
  server.server.onclose = () => legacyServers.delete(server);
}

/** Sends from every live session of the legacy upstream (the listen's own among them). */
function fromLegacy(send: (server: McpServer) => Promise<void> | void): void {
  for (const server of legacyServers) void Promise.resolve(send(server)).catch(() => undefined);
}

/**
 * Triggers `send` now and again every 50 ms until `arrived` settles: an upstream sends a
 * notification only on a stream that is open, and the moment the gateway's stream opens
 * upstream is not one the test sees. The test waits on the notification, not on time.
 */
async function until<T>(arrived: Promise<T>, send: () => void): Promise<T> {
  send();
  const timer = setInterval(send, 50);
  try {
    return await arrived;
  } finally {
    clearInterval(timer);
  }
}

/** A promise resolved by the first notification of `method` the v2 client receives, and the record of all. */
function notifications(client: ModernClient) {
  const seen: Array<{ method: string; params?: Record<string, unknown> }> = [];
  const waiters: Array<{ method: string; resolve: (params: Record<string, unknown> | undefined) => void; test?: (params: Record<string, unknown> | undefined) => boolean }> = [];
  const record = (method: string) => (notification: { params?: Record<string, unknown> }) => {
    seen.push({ method, ...(notification.params === undefined ? {} : { params: notification.params }) });
    for (const waiter of [...waiters]) {
      if (waiter.method === method && (waiter.test === undefined || waiter.test(notification.params))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(notification.params);
      }
    }
  };
  for (const method of ["notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed", "notifications/resources/updated"] as const) {
    client.setNotificationHandler(method, record(method) as never);
  }
  return {
    seen,
    next: (method: string, test?: (params: Record<string, unknown> | undefined) => boolean) =>
      new Promise<Record<string, unknown> | undefined>((resolve) => waiters.push({ method, resolve, ...(test === undefined ? {} : { test }) })),
  };
}

async function modernClient(): Promise<ModernClient> {
  const client = new ModernClient({ name: "v2-listener", version: "1.0.0" }, { versionNegotiation: { mode: { pin: VERSION } } });
  await client.connect(new ModernTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: AUTH } }));
  return client;
}

beforeAll(async () => {
  legacy = await startUpstream({ name: "legacy", stateful: true, mode: "sse", tools: legacyResources });
  modern = await startModernUpstream({ legacy: "reject", name: "modern" });
  gateway = await startTestGateway({ servers: { legacy: { url: legacy.url }, modern: { url: modern.url } } });
});

afterAll(async () => {
  await gateway?.close();
  await legacy?.close();
  await modern?.close();
});

describe("subscriptions/listen for a 2026-07-28 client on /mcp", () => {
  it("says in server/discover that lists change and resources can be subscribed to", async () => {
    const client = await modernClient();
    try {
      expect(client.getServerCapabilities()).toMatchObject({ tools: { listChanged: true }, prompts: { listChanged: true }, resources: { subscribe: true, listChanged: true } });
    } finally {
      await client.close();
    }
  });

  it("acknowledges what it honours and relays only what was asked for, from an earlier-revision upstream and a 2026-07-28 one", async () => {
    const client = await modernClient();
    const received = notifications(client);
    try {
      const subscription = await client.listen({ toolsListChanged: true, resourceSubscriptions: ["legacy://note", "modern://readme", "nowhere://unknown"] });
      // An unknown URI is not honoured; the list changes not asked for are not offered.
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true, resourceSubscriptions: ["legacy://note", "modern://readme"] });

      // The earlier-revision upstream: a prompt change (not asked for) then a tool change, on one stream: only the second arrives.
      await until(received.next("notifications/tools/list_changed"), () =>
        fromLegacy(async (server) => {
          server.sendPromptListChanged();
          server.sendToolListChanged();
          await server.server.notification({ method: "notifications/message", params: { level: "info", data: "not for the listen stream" } }).catch(() => undefined);
        }),
      );
      expect(subscribed).toContain("legacy://note");
      const legacyUpdate = await until(received.next("notifications/resources/updated", (params) => params?.uri === "legacy://note"), () => fromLegacy((server) => server.server.sendResourceUpdated({ uri: "legacy://note" })));
      expect(legacyUpdate?.uri).toBe("legacy://note");

      // The 2026-07-28 upstream, through its own subscriptions/listen.
      const before = received.seen.filter((seen) => seen.method === "notifications/tools/list_changed").length;
      await until(received.next("notifications/tools/list_changed"), () => modern.notify.toolsChanged());
      expect(received.seen.filter((seen) => seen.method === "notifications/tools/list_changed").length).toBeGreaterThan(before);
      const modernUpdate = await until(received.next("notifications/resources/updated", (params) => params?.uri === "modern://readme"), () => modern.notify.resourceUpdated("modern://readme"));
      expect(modernUpdate?.uri).toBe("modern://readme");
      const listened = modern.requests.find((request) => (request.body as { method?: string } | undefined)?.method === "subscriptions/listen");
      expect(listened?.headers["mcp-method"]).toBe("subscriptions/listen");
      expect((listened?.body as { params?: { notifications?: unknown } }).params?.notifications).toEqual({ toolsListChanged: true, resourceSubscriptions: ["modern://readme"] });

      expect(received.seen.some((seen) => seen.method === "notifications/prompts/list_changed")).toBe(false);
      await subscription.close();
      expect(await subscription.closed).toBe("local");
      // Closing the client's stream ends the gateway's listen upstream.
      await modern.waitUntil(() => modern.openListens() === 0);
      expect(modern.openListens()).toBe(0);
    } finally {
      await client.close();
    }
  });

  it("tags every message with the subscription id, the acknowledgment first", async () => {
    const controller = new AbortController();
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      signal: controller.signal,
      headers: { ...MCP_ACCEPT, ...AUTH, "mcp-protocol-version": VERSION, "mcp-method": "subscriptions/listen" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "sub-1",
        method: "subscriptions/listen",
        params: { _meta: { "io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": {} }, notifications: { promptsListChanged: true } },
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const messages: Array<Record<string, unknown>> = [];
    let buffer = "";
    const nextMessage = async (): Promise<Record<string, unknown>> => {
      for (;;) {
        const event = buffer.indexOf("\n\n");
        if (event >= 0) {
          const data = buffer.slice(0, event).split("\n").find((line) => line.startsWith("data: "));
          buffer = buffer.slice(event + 2);
          if (data !== undefined) return JSON.parse(data.slice(6)) as Record<string, unknown>;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        buffer += value;
      }
    };
    messages.push(await nextMessage());
    expect(messages[0]).toEqual({ jsonrpc: "2.0", method: "notifications/subscriptions/acknowledged", params: { _meta: { "io.modelcontextprotocol/subscriptionId": "sub-1" }, notifications: { promptsListChanged: true } } });
    const prompt = nextMessage();
    messages.push(await until(prompt, () => modern.notify.promptsChanged()));
    expect(messages[1]).toEqual({ jsonrpc: "2.0", method: "notifications/prompts/list_changed", params: { _meta: { "io.modelcontextprotocol/subscriptionId": "sub-1" } } });
    controller.abort();
  });

  it("refuses a filter that is not one with -32602", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, ...AUTH, "mcp-protocol-version": VERSION, "mcp-method": "subscriptions/listen" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "subscriptions/listen", params: { _meta: { "io.modelcontextprotocol/protocolVersion": VERSION }, notifications: { resourceSubscriptions: "legacy://note" } } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: number; message: string } }).error).toMatchObject({ code: -32602, message: expect.stringContaining("resourceSubscriptions") });
  });

  it("a tools/call under an Mcp-Method: subscriptions/listen header is refused with -32020 (the header must mirror the body)", async () => {
    for (const headers of [{ "mcp-protocol-version": VERSION }, {}] as Array<Record<string, string>>) {
      const response = await gateway.fetch("/mcp", {
        method: "POST",
        headers: { ...MCP_ACCEPT, ...AUTH, ...headers, "mcp-method": "subscriptions/listen" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 4,
          method: "tools/call",
          params: { name: "legacy-echo", arguments: { message: "x" }, _meta: { "io.modelcontextprotocol/protocolVersion": VERSION } },
        }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: number } }).error.code).toBe(-32020);
    }
  });
});

describe("subscriptions/listen with nothing to follow, stdio and legacy SSE servers' list changes, and its graceful end", () => {
  let only: TestGateway;
  let second: TestGateway;
  let withStdio: TestGateway;
  let legacySseGateway: TestGateway;
  let sseOnly: Upstream;
  beforeAll(async () => {
    sseOnly = await startUpstream({
      name: "old",
      legacySse: true,
      tools: (server) => {
        server.registerTool("add_tool", { description: "Adds a tool (the SDK then says the list changed)." }, () => {
          server.registerTool(`late_${Date.now()}_${Math.random().toString(36).slice(2, 6)}`, { description: "Added later." }, () => ({ content: [{ type: "text", text: "late" }] }));
          return { content: [{ type: "text", text: "added" }] };
        });
        // A resource that can be subscribed to, and a tool that says it changed.
        const subscribedHere = new Set<string>();
        server.registerResource("note", "old://note", { mimeType: "text/plain" }, (uri) => ({ contents: [{ uri: uri.href, text: "a note" }] }));
        server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
        server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
          subscribedHere.add(request.params.uri);
          return {};
        });
        server.server.setRequestHandler(UnsubscribeRequestSchema, () => ({}));
        server.registerTool("touch_note", { description: "Says old://note changed, when it is subscribed to." }, async () => {
          if (subscribedHere.has("old://note")) await server.server.sendResourceUpdated({ uri: "old://note" });
          return { content: [{ type: "text", text: "touched" }] };
        });
      },
    });
    only = await startTestGateway({ servers: {} });
    legacySseGateway = await startTestGateway({ servers: { old: { url: sseOnly.url, transport: "sse" } } });
    second = await startTestGateway({ servers: { modern: { url: modern.url } } });
    withStdio = await startTestGateway({ servers: { local: fixtureServer() } });
  });
  afterAll(async () => {
    await only?.close();
    await second?.close();
    await withStdio?.close();
    await legacySseGateway?.close();
    await sseOnly?.close();
  });

  it.each([
    ["a stdio server's (its process is shared)", () => withStdio, "local-add_tool", "local-added_"],
    ["a legacy SSE server's (the caller's own pooled session)", () => legacySseGateway, "old-add_tool", "old-late_"],
  ] as const)("relays %s tool list change to a listen and to a session's GET stream", async (_what, gatewayOf, addTool, added) => {
    const url = new URL(`${gatewayOf().url}/mcp`);
    const modernListener = new ModernClient({ name: "v2-listener", version: "1.0.0" }, { versionNegotiation: { mode: { pin: VERSION } } });
    await modernListener.connect(new ModernTransport(url, { requestInit: { headers: AUTH } }));
    const legacyClient = new Client({ name: "legacy-client", version: "1.0.0" });
    let sessionSaw!: () => void;
    const sessionChanged = new Promise<void>((resolve) => (sessionSaw = resolve));
    legacyClient.setNotificationHandler(ToolListChangedNotificationSchema, () => sessionSaw());
    await legacyClient.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: AUTH } }));
    try {
      const received = notifications(modernListener);
      const subscription = await modernListener.listen({ toolsListChanged: true });
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
      const listenSaw = received.next("notifications/tools/list_changed");
      await until(Promise.all([listenSaw, sessionChanged]), () => void legacyClient.callTool({ name: addTool, arguments: {} }).catch(() => undefined));
      const { tools } = await legacyClient.listTools();
      expect(tools.some((tool) => tool.name.startsWith(added))).toBe(true);
      await subscription.close();
    } finally {
      await modernListener.close();
      await legacyClient.close();
    }
  });

  it.each([
    ["a stdio server's (its shared process subscribed, the updates filtered per session)", () => withStdio, "fixture://note", "local-touch_note"],
    ["a legacy SSE server's (the caller's pooled session subscribed)", () => legacySseGateway, "old://note", "old-touch_note"],
  ] as const)("relays %s resource updates to a session that subscribed and to a listen that asked, and to no one else", async (_what, gatewayOf, uri, touch) => {
    const url = new URL(`${gatewayOf().url}/mcp`);
    const modernListener = new ModernClient({ name: "v2-listener", version: "1.0.0" }, { versionNegotiation: { mode: { pin: VERSION } } });
    await modernListener.connect(new ModernTransport(url, { requestInit: { headers: AUTH } }));
    const subscriber = new Client({ name: "subscriber", version: "1.0.0" });
    const bystander = new Client({ name: "bystander", version: "1.0.0" });
    let sessionSaw!: (uri: string) => void;
    const sessionUpdate = new Promise<string>((resolve) => (sessionSaw = resolve));
    subscriber.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => sessionSaw(notification.params.uri));
    const bystanderSaw: string[] = [];
    bystander.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void bystanderSaw.push(notification.params.uri));
    await subscriber.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: AUTH } }));
    await bystander.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: AUTH } }));
    try {
      await subscriber.listResources();
      await subscriber.subscribeResource({ uri });
      const received = notifications(modernListener);
      const subscription = await modernListener.listen({ resourceSubscriptions: [uri] });
      expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: [uri] });
      const listenUpdate = received.next("notifications/resources/updated", (params) => params?.uri === uri);
      // The bystander's session has its GET stream open on the same shared upstream session or process.
      await bystander.listTools();
      const [sessionUri] = await until(Promise.all([sessionUpdate, listenUpdate]), () => void subscriber.callTool({ name: touch, arguments: {} }).catch(() => undefined));
      expect(sessionUri).toBe(uri);
      expect(bystanderSaw).toEqual([]);
      await subscription.close();
    } finally {
      await modernListener.close();
      await subscriber.close();
      await bystander.close();
    }
  });

  it("acknowledges and ends at once (a completion result) when there is no server to follow", async () => {
    const client = new ModernClient({ name: "v2-listener", version: "1.0.0" }, { versionNegotiation: { mode: { pin: VERSION } } });
    await client.connect(new ModernTransport(new URL(`${only.url}/mcp`), { requestInit: { headers: AUTH } }));
    try {
      const subscription = await client.listen({ toolsListChanged: true });
      expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
      expect(await subscription.closed).toBe("graceful");
    } finally {
      await client.close();
    }
  });

  it("ends a subscription gracefully when the gateway shuts down", async () => {
    const client = new ModernClient({ name: "v2-listener", version: "1.0.0" }, { versionNegotiation: { mode: { pin: VERSION } } });
    await client.connect(new ModernTransport(new URL(`${second.url}/mcp`), { requestInit: { headers: AUTH } }));
    try {
      const subscription = await client.listen({ toolsListChanged: true });
      const opened = modern.openListens();
      await modern.waitUntil(() => modern.openListens() >= opened && modern.requests.some((request) => (request.body as { method?: string } | undefined)?.method === "subscriptions/listen"));
      await second.close();
      expect(await subscription.closed).toBe("graceful");
    } finally {
      await client.close();
    }
  });
});

describe("a 2025 client's session on /mcp follows a 2026-07-28 upstream's changes", () => {
  it("takes the client's resources/subscribe for the upstream's listen (which has no such request) and relays the updates on the GET stream", async () => {
    const client = new Client({ name: "legacy-client", version: "1.0.0" });
    let updated!: (uri: string) => void;
    const update = new Promise<string>((resolve) => (updated = resolve));
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => updated(notification.params.uri));
    const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { ...AUTH, "x-mcp-servers": "modern" } } });
    await client.connect(transport);
    try {
      await client.listResources();
      await client.subscribeResource({ uri: "modern://readme" });
      expect(modern.requests.some((request) => (request.body as { method?: string } | undefined)?.method === "resources/subscribe")).toBe(false);
      expect(await until(update, () => modern.notify.resourceUpdated("modern://readme"))).toBe("modern://readme");
      const listened = modern.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "subscriptions/listen").at(-1);
      expect((listened?.body as { params: { notifications: Record<string, unknown> } }).params.notifications).toMatchObject({ resourceSubscriptions: ["modern://readme"] });
    } finally {
      await client.close();
    }
  });


  it("relays the upstream's tools/list_changed on the session's GET stream", async () => {
    const client = new Client({ name: "legacy-client", version: "1.0.0" });
    let changed!: () => void;
    const toolsChanged = new Promise<void>((resolve) => (changed = resolve));
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed());
    const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), { requestInit: { headers: { ...AUTH, "x-mcp-servers": "modern" } } });
    await client.connect(transport);
    try {
      expect(transport.sessionId).toBeDefined();
      await client.listTools();
      await until(toolsChanged, () => modern.notify.toolsChanged());
      const listened = modern.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "subscriptions/listen");
      expect(listened.some((request) => JSON.stringify((request.body as { params?: unknown }).params).includes('"toolsListChanged":true'))).toBe(true);
    } finally {
      await client.close();
    }
  });
});
