/**
 * A review of the multi round-trip bridges on `/mcp` (src/mcp/input-bridge.ts), played as a
 * key with a 2026-07-28 client that never retries, and as a key in an `/mcp` session that
 * crafts answers. Each test is named after what broke.
 *
 * The upstream is the official SDK's McpServer (2025 revision, stateful, SSE answers) with a
 * tool that asks the client for an elicitation during the call.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ElicitResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database.js";
import { conditions } from "../fixtures/conditions.js";
import { createTestDatabase, type TestDatabase } from "../fixtures/databases.js";
import { MASTER_KEY, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const VERSION = "2026-07-28";

/** The upstream's tool calls its client cancelled, with a condition to wait on. */
const cancelled = { count: 0, ...conditions() };

function askingTool(server: McpServer): void {
  server.registerTool("ask_user", { description: "Asks the user for a name (elicitation)." }, async (extra) => {
    extra.signal.addEventListener("abort", () => {
      cancelled.count++;
      cancelled.changed();
    });
    const answer = await extra.sendRequest(
      { method: "elicitation/create", params: { mode: "form", message: "Your name?", requestedSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } } },
      ElicitResultSchema,
    );
    return { content: [{ type: "text", text: `user ${answer.action}: ${JSON.stringify(answer.content ?? {})}` }] };
  });
}

interface Answer {
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

/** A 2026-07-28 client's tools/call of `asker-ask_user` that declares elicitation, with `extra` params (a retry's). */
async function modernCall(gateway: TestGateway, key: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  const response = await gateway.fetch("/mcp", {
    method: "POST",
    key,
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": VERSION, "mcp-method": "tools/call", "mcp-name": "asker-ask_user" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name: "asker-ask_user",
        arguments: {},
        ...extra,
        _meta: { "io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": { elicitation: { form: {} } }, "io.modelcontextprotocol/clientInfo": { name: "never-retries", version: "1" } },
      },
    }),
  });
  expect(response.status).toBe(200);
  const text = await response.text();
  return (text.startsWith("event:") ? JSON.parse(text.split("\n").find((line) => line.startsWith("data: "))!.slice(6)) : JSON.parse(text)) as Answer;
}

describe("held calls of 2026-07-28 clients", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "asker", stateful: true, mode: "sse", tools: askingTool });
    gateway = await startTestGateway({ servers: { asker: { url: upstream.url } }, general: { mcp_held_calls_per_key: 2 } });
  });

  // The held calls end with the gateway (not at their timeout, which would outlast the hook).
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("held calls were not bounded per key: past mcp_held_calls_per_key a call that asks is cancelled upstream and refused, logged once with the key id; an answered call frees its place", async () => {
    const key = await gateway.generateKey({});
    const first = await modernCall(gateway, key);
    expect(first.result).toMatchObject({ resultType: "input_required", inputRequests: { r1: { method: "elicitation/create" } } });
    expect((await modernCall(gateway, key)).result).toMatchObject({ resultType: "input_required" });

    const before = cancelled.count;
    const refused = await modernCall(gateway, key);
    expect(refused.error).toMatchObject({ code: -32600, data: { code: "mcp_held_calls_per_key_exceeded", server: "asker", limit: 2 } });
    expect(refused.error?.message).toContain("mcp_held_calls_per_key");
    await cancelled.waitUntil(() => cancelled.count > before);
    expect((await modernCall(gateway, key)).error?.data?.code).toBe("mcp_held_calls_per_key_exceeded");
    const warnings = gateway.logs.filter((line) => String(line.msg).includes("mcp_held_calls_per_key"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ key: `sk-...${key.slice(-4)}`, server: "asker", limit: 2 });
    expect(JSON.stringify(warnings[0])).not.toContain(key);

    // Another key is not held back by this one.
    expect((await modernCall(gateway, MASTER_KEY)).result).toMatchObject({ resultType: "input_required" });

    // The first call answered and done: its place is free.
    const done = await modernCall(gateway, key, { inputResponses: { r1: { action: "accept", content: { name: "Ada" } } }, requestState: first.result!.requestState });
    expect(done.result).toMatchObject({ content: [{ type: "text", text: 'user accept: {"name":"Ada"}' }] });
    expect((await modernCall(gateway, key)).result).toMatchObject({ resultType: "input_required" });
  });
});

describe("answers in an /mcp session", () => {
  let upstream: Upstream;
  let database: TestDatabase;
  let gateway: TestGateway;
  let store: Database;

  beforeAll(async () => {
    [upstream, database] = await Promise.all([startUpstream({ name: "asker", stateful: true, mode: "sse", tools: askingTool }), createTestDatabase("sqlite")]);
    gateway = await startTestGateway({ servers: { asker: { url: upstream.url } }, env: { DATABASE_URL: database.url } });
    store = await openDatabase(database.url);
  });

  afterAll(async () => {
    await store?.close();
    await gateway?.close();
    await upstream?.close();
    await database?.drop();
  });

  it("made-up answers wrote rows: answers naming input slots the session was not given are dropped, nothing is written", async () => {
    const initialized = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: rpc("initialize", { protocolVersion: "2025-06-18", capabilities: { elicitation: {} }, clientInfo: { name: "crafting", version: "1" } }),
    });
    const sessionId = initialized.headers.get("mcp-session-id");
    expect(sessionId).toMatch(/^gh1\./);
    const made = Array.from({ length: 16 }, (_, index) => ({ jsonrpc: "2.0", id: `gh:asker:${JSON.stringify(`mrtr.made-up-${index}.r1.${"A".repeat(22)}`)}`, result: { action: "accept" } }));
    const posted = await gateway.fetch("/mcp", { method: "POST", headers: { "content-type": "application/json", accept: "application/json", "mcp-session-id": sessionId! }, body: JSON.stringify(made) });
    expect(posted.status).toBe(202);
    const rows = await store.db.selectFrom("mcp_input_events").select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(0);
    expect(gateway.logs.filter((line) => String(line.msg).includes("input slot this session was not given"))).toHaveLength(16);
  });
});
