/**
 * Virtual keys (README, "Gateway keys (inbound)" and "Managing servers and keys"):
 * `/key/generate`, `/key/list`, `/key/delete` with LiteLLM's shapes, keys stored only as a
 * hash, and `object_permission` enforced on every route (`/{server}/mcp`, `/mcp`, REST), on
 * SQLite and PostgreSQL.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestDatabase, dialects, type TestDatabase } from "../fixtures/databases.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

interface KeyView {
  token: string;
  key_name: string;
  key_alias: string | null;
  user_id: string | null;
  expires: string | null;
  object_permission: { mcp_servers?: string[]; mcp_tool_permissions?: Record<string, string[]> } | null;
  created_at: string;
}

interface Generated extends KeyView {
  key: string;
  token_id: string;
}

interface KeyList<T> {
  keys: T[];
  total_count: number;
  current_page: number;
  total_pages: number;
}

interface ErrorBody {
  detail: string;
  error: string;
  field?: string;
  [extra: string]: unknown;
}

interface JsonRpcErrorBody {
  jsonrpc: "2.0";
  id: unknown;
  error: { code: number; message: string; data?: unknown };
}

interface RestTool {
  name: string;
  mcp_info: { server_name: string };
}

const sha256 = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

function isCallOf(tool: string): (request: RecordedRequest) => boolean {
  return (request) => {
    const body = request.body as { method?: string; params?: { name?: string } } | undefined;
    return body?.method === "tools/call" && body.params?.name === tool;
  };
}

/** The part of a database a plaintext key must never reach: every byte (SQLite) or every text cell (PostgreSQL). */
async function databaseText(testDb: TestDatabase): Promise<string> {
  if (testDb.dialect === "sqlite") {
    const path = testDb.url.slice("sqlite:".length);
    const parts: Buffer[] = [];
    for (const file of [path, `${path}-wal`]) if (existsSync(file)) parts.push(await readFile(file));
    // latin1 maps bytes 1:1, so an ASCII key is found wherever its bytes are.
    return Buffer.concat(parts).toString("latin1");
  }
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    const columns = await client.query<{ table_name: string; column_name: string }>(
      "select table_name, column_name from information_schema.columns where table_schema = 'public' and data_type in ('text', 'character varying', 'character', 'json', 'jsonb')",
    );
    const cells: string[] = [];
    for (const { table_name, column_name } of columns.rows) {
      const rows = await client.query<{ value: string | null }>(`select "${column_name}"::text as value from "${table_name}"`);
      for (const row of rows.rows) if (row.value !== null) cells.push(row.value);
    }
    expect(columns.rows.some((column) => column.table_name === "virtual_keys" && column.column_name === "token")).toBe(true);
    return cells.join("\n");
  } finally {
    await client.end();
  }
}

describe.each(await dialects())("virtual keys on %s", (dialect) => {
  let testDb: TestDatabase;
  let alpha: Upstream;
  let beta: Upstream;
  let gamma: Upstream;
  let gateway: TestGateway;
  let gammaId: string;
  /** Every plaintext key issued in this suite, to prove none reaches an upstream. */
  const issued: string[] = [];
  const extraGateways: TestGateway[] = [];
  const clients: Client[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    [alpha, beta, gamma] = await Promise.all([
      upstreamNamed("alpha", { mode: "json" }, true),
      upstreamNamed("beta", { mode: "sse", stateful: true }, true),
      upstreamNamed("gamma", { mode: "json" }, true),
    ]);
    gateway = await startTestGateway({
      servers: { alpha: { url: alpha.url }, beta: { url: beta.url } },
      env: { DATABASE_URL: testDb.url },
      // A long poll interval: a delete must take effect on this instance without the poller's help.
      general: { store_poll_interval_seconds: 60 },
    });
    // A database server: its id is not its name, so permissions by name must be stored as ids.
    const created = await gateway.fetch("/v1/mcp/server", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: "gamma", url: gamma.url }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    gammaId = ((await created.json()) as { server_id: string }).server_id;
  });
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.close()));
    await Promise.allSettled(extraGateways.splice(0).map((extra) => extra.close()));
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([alpha?.close(), beta?.close(), gamma?.close()]);
    await testDb?.drop();
  });

  // --- helpers ------------------------------------------------------------------------

  const postJson = (path: string, body: unknown, key?: string | null): Promise<Response> =>
    gateway.fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
      ...(key === undefined ? {} : { key }),
    });

  const generateRaw = (body: unknown, key?: string | null): Promise<Response> => postJson("/key/generate", body, key);

  async function generate(body: Record<string, unknown> = {}): Promise<Generated> {
    const response = await generateRaw(body);
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const key = JSON.parse(text) as Generated;
    issued.push(key.key);
    return key;
  }

  async function listKeys<T = string>(query = ""): Promise<KeyList<T>> {
    const response = await gateway.fetch(`/key/list${query}`);
    const text = await response.text();
    expect(response.status, text).toBe(200);
    return JSON.parse(text) as KeyList<T>;
  }

  const deleteKeys = (body: unknown, key?: string | null): Promise<Response> => postJson("/key/delete", body, key);

  /** A JSON-RPC request to an MCP route with a virtual key. */
  const mcpPost = (path: string, key: string, body: string = rpc("tools/list")): Promise<Response> =>
    gateway.fetch(path, { method: "POST", key, headers: MCP_ACCEPT, body });

  const restList = (key: string, query = ""): Promise<Response> => gateway.fetch(`/mcp-rest/tools/list${query}`, { key });
  const restCall = (key: string, body: unknown): Promise<Response> => postJson("/mcp-rest/tools/call", body, key);

  async function restTools(key: string, query = ""): Promise<RestTool[]> {
    const response = await restList(key, query);
    const text = await response.text();
    expect(response.status, text).toBe(200);
    return (JSON.parse(text) as { tools: RestTool[] }).tools;
  }

  async function connect(path: string, key: string): Promise<Client> {
    const client = await gateway.connect(path, { "x-litellm-api-key": `Bearer ${key}` });
    clients.push(client);
    return client;
  }

  async function toolNames(path: string, key: string): Promise<string[]> {
    const client = await connect(path, key);
    return (await client.listTools()).tools.map((tool) => tool.name).sort();
  }

  const totalKeys = async (): Promise<number> => (await listKeys("?size=1")).total_count;

  // --- /key/generate --------------------------------------------------------------------

  describe("POST /key/generate", () => {
    it("answers the plaintext key once, with LiteLLM's fields and server ids in object_permission", async () => {
      const before = Date.now();
      const key = await generate({
        key_alias: `shape-${dialect}`,
        user_id: "user-shape",
        duration: "30d",
        object_permission: { mcp_servers: ["alpha", "beta"], mcp_tool_permissions: { alpha: ["echo", "where"] } },
      });
      expect(key.key).toMatch(/^sk-[A-Za-z0-9_-]{20,}$/);
      // As LiteLLM: `token` is the plaintext here too, `token_id` its hash.
      expect(key.token).toBe(key.key);
      expect(key.token_id).toBe(sha256(key.key));
      expect(key.key_name).toBe(`sk-...${key.key.slice(-4)}`);
      expect(key.key_alias).toBe(`shape-${dialect}`);
      expect(key.user_id).toBe("user-shape");
      const expires = Date.parse(key.expires ?? "");
      expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
      expect(expires).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);
      expect(key.object_permission).toEqual({ mcp_servers: ["alpha", "beta"], mcp_tool_permissions: { alpha: ["echo", "where"] } });
      expect(Number.isNaN(Date.parse(key.created_at))).toBe(false);

      // Two keys are never the same.
      const other = await generate();
      expect(other.key).not.toBe(key.key);
      expect(other.token_id).not.toBe(key.token_id);
    });

    it("a key with no options has no alias, user, expiry or permission list", async () => {
      const key = await generate();
      expect(key).toMatchObject({ key_alias: null, user_id: null, expires: null, object_permission: null });
      // An empty body is accepted too.
      const empty = await gateway.fetch("/key/generate", { method: "POST" });
      expect(empty.status).toBe(200);
      issued.push(((await empty.json()) as Generated).key);
    });

    it("duration 1h expires about an hour from now", async () => {
      const before = Date.now();
      const key = await generate({ duration: "1h" });
      const after = Date.now();
      const expires = Date.parse(key.expires ?? "");
      expect(expires).toBeGreaterThanOrEqual(before + 3_600_000);
      expect(expires).toBeLessThanOrEqual(after + 3_600_000);
    });

    it("an explicit expires is kept", async () => {
      const key = await generate({ expires: "2099-01-31T00:00:00Z" });
      expect(Date.parse(key.expires ?? "")).toBe(Date.parse("2099-01-31T00:00:00Z"));
      expect((await restTools(key.key)).length).toBeGreaterThan(0);
    });

    it("permissions given by server name are stored as server ids, and survive a rename", async () => {
      expect(gammaId).not.toBe("gamma");
      const key = await generate({ object_permission: { mcp_servers: ["gamma"], mcp_tool_permissions: { gamma: ["where"] } } });
      expect(key.object_permission).toEqual({ mcp_servers: [gammaId], mcp_tool_permissions: { [gammaId]: ["where"] } });
      const listed = await listKeys<KeyView>(`?return_full_object=true&size=1000`);
      expect(listed.keys.find((view) => view.token === key.token_id)?.object_permission).toEqual(key.object_permission);
      // By id works as well as by name.
      const byId = await generate({ object_permission: { mcp_servers: [gammaId] } });
      expect(byId.object_permission).toEqual({ mcp_servers: [gammaId] });

      expect(await toolNames("/gamma/mcp", key.key)).toEqual(["where"]);
      const renamed = await gateway.fetch(`/v1/mcp/server/${gammaId}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ server_name: "gamma2", url: gamma.url }),
      });
      expect(renamed.status, await renamed.clone().text()).toBe(200);
      try {
        expect(await toolNames("/gamma2/mcp", key.key)).toEqual(["where"]);
        expect((await restTools(key.key)).map((tool) => `${tool.mcp_info.server_name}/${tool.name}`)).toEqual(["gamma2/where"]);
      } finally {
        const back = await gateway.fetch(`/v1/mcp/server/${gammaId}`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ server_name: "gamma", url: gamma.url }),
        });
        expect(back.status).toBe(200);
      }
    });

    it.each([
      ["an unknown server in mcp_servers", { object_permission: { mcp_servers: ["nope"] } }, "object_permission.mcp_servers[0]", "nope"],
      ["an unknown server after a known one", { object_permission: { mcp_servers: ["alpha", "nope"] } }, "object_permission.mcp_servers[1]", "nope"],
      ["an unknown field", { key_alias: "x-unknown-field", colour: "blue" }, "colour", "unknown field"],
      ["an unknown field in object_permission", { object_permission: { mcp_serverz: ["alpha"] } }, "object_permission.mcp_serverz", "unknown field"],
      ["a bad duration", { duration: "one week" }, "duration", "duration"],
      ["a duration without a unit", { duration: "30" }, "duration", "duration"],
      ["both duration and expires", { duration: "1h", expires: "2099-01-01T00:00:00Z" }, "duration", "expires"],
      ["a bad expires", { expires: "tomorrow" }, "expires", "expires"],
      ["a non-string key_alias", { key_alias: 42 }, "key_alias", "key_alias"],
      ["mcp_servers that is not a list", { object_permission: { mcp_servers: "alpha" } }, "object_permission.mcp_servers", "mcp_servers"],
    ])("%s is a 400 naming the field, and creates no key", async (_label, body, field, mentioned) => {
      const before = await totalKeys();
      const response = await generateRaw(body);
      const text = await response.text();
      expect(response.status, text).toBe(400);
      const error = JSON.parse(text) as ErrorBody;
      expect(error.error).toBe("invalid_request");
      expect(error.field).toBe(field);
      expect(error.detail).toContain(field);
      expect(error.detail).toContain(mentioned);
      expect(await totalKeys()).toBe(before);
    });

    it("an unknown server in mcp_tool_permissions is a 400 naming it", async () => {
      const response = await generateRaw({ object_permission: { mcp_tool_permissions: { nope: ["echo"] } } });
      expect(response.status).toBe(400);
      const error = (await response.json()) as ErrorBody;
      expect(error.field).toMatch(/^object_permission\.mcp_tool_permissions/);
      expect(error.detail).toContain("'nope'");
    });

    it("a body that is not JSON is a 400", async () => {
      const response = await generateRaw("{not json");
      expect(response.status).toBe(400);
      expect(((await response.json()) as ErrorBody).error).toBe("invalid_request");
    });

    it("a key_alias that is taken is a 409, and the existing key is untouched", async () => {
      const first = await generate({ key_alias: `taken-${dialect}`, user_id: "first-owner" });
      const response = await generateRaw({ key_alias: `taken-${dialect}`, user_id: "second-owner" });
      expect(response.status).toBe(409);
      const error = (await response.json()) as ErrorBody;
      expect(error.field).toBe("key_alias");
      expect(error.detail).toContain(`taken-${dialect}`);
      const listed = await listKeys<KeyView>(`?key_alias=taken-${dialect}&return_full_object=true`);
      expect(listed.keys.map((view) => [view.token, view.user_id])).toEqual([[first.token_id, "first-owner"]]);
    });

    it("two concurrent requests for one alias: one key, the other request gets 409 (not 500)", async () => {
      const alias = `race-${dialect}`;
      const responses = await Promise.all(Array.from({ length: 4 }, () => generateRaw({ key_alias: alias })));
      const statuses = responses.map((response) => response.status).sort();
      for (const response of responses) if (response.status === 200) issued.push(((await response.clone().json()) as Generated).key);
      expect(statuses).toEqual([200, 409, 409, 409]);
      expect((await listKeys(`?key_alias=${alias}`)).total_count).toBe(1);
    });
  });

  // --- /key/list ------------------------------------------------------------------------

  describe("GET /key/list", () => {
    it("lists token hashes by default, and full objects without the plaintext with return_full_object=true", async () => {
      const key = await generate({ key_alias: `listed-${dialect}`, user_id: "lister" });
      const response = await gateway.fetch("/key/list?size=1000");
      const text = await response.text();
      expect(response.status).toBe(200);
      expect(text).not.toContain(key.key);
      const tokens = JSON.parse(text) as KeyList<string>;
      expect(tokens.keys).toContain(key.token_id);
      for (const token of tokens.keys) expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect(tokens.total_count).toBe(tokens.keys.length);
      expect(tokens.current_page).toBe(1);
      expect(tokens.total_pages).toBe(1);

      const fullResponse = await gateway.fetch("/key/list?size=1000&return_full_object=true");
      const fullText = await fullResponse.text();
      expect(fullText).not.toContain(key.key);
      for (const plaintext of issued) expect(fullText).not.toContain(plaintext);
      const full = JSON.parse(fullText) as KeyList<KeyView>;
      const view = full.keys.find((candidate) => candidate.token === key.token_id);
      expect(view).toEqual({
        token: key.token_id,
        key_name: key.key_name,
        key_alias: `listed-${dialect}`,
        user_id: "lister",
        expires: null,
        object_permission: null,
        created_at: key.created_at,
        updated_at: key.created_at,
        team_id: null,
        models: [],
        metadata: {},
        tags: [],
        spend: 0,
        max_budget: null,
        budget_duration: null,
        budget_reset_at: null,
        rpm_limit: null,
        tpm_limit: null,
        max_parallel_requests: null,
        blocked: false,
      });
      for (const candidate of full.keys) expect(candidate).not.toHaveProperty("key");
    });

    it("filters by user_id and by key_alias", async () => {
      const user = `filter-user-${dialect}`;
      const mine = [await generate({ user_id: user }), await generate({ user_id: user, key_alias: `filter-alias-${dialect}` })];
      await generate({ user_id: `someone-else-${dialect}` });
      const byUser = await listKeys(`?user_id=${user}`);
      expect(byUser.keys.sort()).toEqual(mine.map((key) => key.token_id).sort());
      expect(byUser.total_count).toBe(2);
      const byAlias = await listKeys<KeyView>(`?key_alias=filter-alias-${dialect}&return_full_object=true`);
      expect(byAlias.keys.map((view) => view.token)).toEqual([mine[1]!.token_id]);
      expect(byAlias.keys[0]!.user_id).toBe(user);
      const nobody = await listKeys(`?user_id=nobody-${dialect}`);
      expect(nobody).toEqual({ keys: [], total_count: 0, current_page: 1, total_pages: 1 });
    });

    it("pages with page and size, reporting total_count and total_pages", async () => {
      const user = `pager-${dialect}`;
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push((await generate({ user_id: user })).token_id);
      const pages = [];
      for (let page = 1; page <= 3; page++) pages.push(await listKeys(`?user_id=${user}&size=2&page=${page}`));
      expect(pages.map((page) => page.keys.length)).toEqual([2, 2, 1]);
      for (const [index, page] of pages.entries()) {
        expect(page.total_count).toBe(5);
        expect(page.total_pages).toBe(3);
        expect(page.current_page).toBe(index + 1);
      }
      const seen = pages.flatMap((page) => page.keys);
      expect(new Set(seen).size).toBe(5);
      expect([...seen].sort()).toEqual([...created].sort());
      const past = await listKeys(`?user_id=${user}&size=2&page=4`);
      expect(past.keys).toEqual([]);
      expect(past.total_count).toBe(5);
    });
  });

  // --- storage --------------------------------------------------------------------------

  it("stores the key only as its hash: the plaintext is nowhere in the database, the token is", async () => {
    const key = await generate({ key_alias: `stored-${dialect}`, object_permission: { mcp_servers: ["alpha"] } });
    // The key works, so it was stored.
    expect((await restTools(key.key)).length).toBeGreaterThan(0);
    const text = await databaseText(testDb);
    expect(text).toContain(key.token_id);
    expect(text).toContain(`stored-${dialect}`);
    for (const plaintext of issued) expect(text).not.toContain(plaintext);
    // Not even the random part alone.
    expect(text).not.toContain(key.key.slice("sk-".length));
  });

  // --- who may call what ----------------------------------------------------------------

  describe("a key limited to one server", () => {
    let limited: Generated;
    beforeAll(async () => {
      limited = await generate({ key_alias: `only-alpha-${dialect}`, object_permission: { mcp_servers: ["alpha"] } });
    });

    it("gets 403 on another server, and the identical answer for a server that does not exist", async () => {
      const answers: Record<string, { status: number; body: string }> = {};
      for (const name of ["beta", "gamma", "does-not-exist"]) {
        for (const path of [`/${name}/mcp`, `/mcp/${name}`]) {
          const response = await mcpPost(path, limited.key);
          answers[path] = { status: response.status, body: (await response.text()).replaceAll(name, "NAME") };
        }
        const get = await gateway.fetch(`/${name}/mcp`, { key: limited.key, headers: { accept: "text/event-stream" } });
        answers[`GET /${name}/mcp`] = { status: get.status, body: (await get.text()).replaceAll(name, "NAME") };
      }
      for (const answer of Object.values(answers)) expect(answer.status).toBe(403);
      expect(answers["/beta/mcp"]).toEqual(answers["/does-not-exist/mcp"]);
      expect(answers["/gamma/mcp"]).toEqual(answers["/does-not-exist/mcp"]);
      expect(answers["/mcp/beta"]).toEqual(answers["/mcp/does-not-exist"]);
      expect(answers["GET /beta/mcp"]).toEqual(answers["GET /does-not-exist/mcp"]);
      const body = JSON.parse(answers["/beta/mcp"]!.body) as JsonRpcErrorBody;
      expect(body.error.message).not.toMatch(/exist|unknown/i);
      expect(beta.requests.every((request) => request.headers["x-litellm-api-key"] === undefined)).toBe(true);
    });

    it("uses its own server through /{server}/mcp", async () => {
      const client = await connect("/alpha/mcp", limited.key);
      expect((await client.listTools()).tools.map((tool) => tool.name)).toContain("only_alpha");
      expect(await client.callTool({ name: "where", arguments: {} })).toEqual({ content: [{ type: "text", text: "alpha" }] });
    });

    it("sees only its server's tools in /mcp, and cannot call another server's tool there", async () => {
      const client = await connect("/mcp", limited.key);
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toContain("alpha-where");
      expect(names.every((name) => name.startsWith("alpha-"))).toBe(true);
      expect(await client.callTool({ name: "alpha-where", arguments: {} })).toEqual({ content: [{ type: "text", text: "alpha" }] });

      const betaCalls = beta.requests.filter(isCallOf("where")).length;
      await expect(client.callTool({ name: "beta-where", arguments: {} })).rejects.toThrow();
      await expect(client.callTool({ name: "gamma-where", arguments: {} })).rejects.toThrow();
      expect(beta.requests.filter(isCallOf("where")).length).toBe(betaCalls);
      // x-mcp-servers cannot widen the set.
      const narrowed = await mcpPost("/mcp", limited.key, rpc("tools/list"));
      expect(narrowed.status).toBe(200);
      const widened = await gateway.fetch("/mcp", { method: "POST", key: limited.key, headers: { ...MCP_ACCEPT, "x-mcp-servers": "beta" }, body: rpc("tools/list") });
      expect(widened.status).toBe(200);
      expect(((await widened.json()) as { result: { tools: unknown[] } }).result.tools).toEqual([]);
      // The raw HTTP answer to a forbidden call is a 403.
      const raw = await mcpPost("/mcp", limited.key, rpc("tools/call", { name: "beta-where", arguments: {} }));
      expect(raw.status).toBe(403);
    });

    it("sees only its server in REST, and gets 403 for other servers there", async () => {
      const tools = await restTools(limited.key);
      expect(tools.map((tool) => tool.name)).toContain("only_alpha");
      expect(new Set(tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["alpha"]));

      const forbidden = await restList(limited.key, "?server_name=beta");
      const missing = await restList(limited.key, "?server_name=does-not-exist");
      expect(forbidden.status).toBe(403);
      expect(missing.status).toBe(403);
      expect((await forbidden.text()).replaceAll("beta", "NAME")).toBe((await missing.text()).replaceAll("does-not-exist", "NAME"));

      const betaCalls = beta.requests.filter(isCallOf("where")).length;
      for (const body of [
        { server_name: "beta", name: "where", arguments: {} },
        { server_id: "beta", name: "where" },
        { name: "beta-where" },
        { name: "only_beta" },
      ]) {
        const response = await restCall(limited.key, body);
        expect(response.status, JSON.stringify(body)).toBe(403);
      }
      expect(beta.requests.filter(isCallOf("where")).length).toBe(betaCalls);

      const allowed = await restCall(limited.key, { server_name: "alpha", name: "where" });
      expect(await allowed.json()).toEqual({ content: [{ type: "text", text: "alpha" }] });
      // Unique across the key's servers: `where` is only alpha's for this key.
      const unique = await restCall(limited.key, { name: "where" });
      expect(await unique.json()).toEqual({ content: [{ type: "text", text: "alpha" }] });
    });
  });

  describe("a key with an empty server list", () => {
    let none: Generated;
    beforeAll(async () => {
      none = await generate({ object_permission: { mcp_servers: [] } });
    });

    it("sees nothing and gets 403 everywhere", async () => {
      expect(none.object_permission).toEqual({ mcp_servers: [] });
      expect(await toolNames("/mcp", none.key)).toEqual([]);
      expect(await restTools(none.key)).toEqual([]);
      for (const path of ["/alpha/mcp", "/beta/mcp", "/gamma/mcp", "/mcp/alpha"]) expect((await mcpPost(path, none.key)).status, path).toBe(403);
      expect((await restList(none.key, "?server_name=alpha")).status).toBe(403);
      for (const body of [{ server_name: "alpha", name: "echo", arguments: { message: "x" } }, { name: "alpha-echo", arguments: { message: "x" } }, { name: "echo" }]) {
        expect((await restCall(none.key, body)).status, JSON.stringify(body)).toBe(403);
      }
      expect((await mcpPost("/mcp", none.key, rpc("tools/call", { name: "alpha-echo", arguments: { message: "x" } }))).status).toBe(403);
    });
  });

  it("a key without object_permission sees every server, as the master key does", async () => {
    const open = await generate({ user_id: "open" });
    const servers = (tools: RestTool[]) => [...new Set(tools.map((tool) => tool.mcp_info.server_name))].sort();
    expect(servers(await restTools(open.key))).toEqual(["alpha", "beta", "gamma"]);
    expect(await restTools(open.key)).toEqual(await restTools(gateway.masterKey));
    const names = await toolNames("/mcp", open.key);
    for (const name of ["alpha-where", "beta-where", "gamma-where"]) expect(names).toContain(name);
    const client = await connect("/beta/mcp", open.key);
    expect(await client.callTool({ name: "where", arguments: {} })).toEqual({ content: [{ type: "text", text: "beta" }] });
  });

  describe("a key with mcp_tool_permissions", () => {
    let echoOnly: Generated;
    beforeAll(async () => {
      echoOnly = await generate({ object_permission: { mcp_tool_permissions: { alpha: ["echo"] } } });
    });

    it("lists only the permitted tools of that server, on every route", async () => {
      expect(await toolNames("/alpha/mcp", echoOnly.key)).toEqual(["echo"]);
      expect(await toolNames("/mcp/alpha", echoOnly.key)).toEqual(["echo"]);
      const aggregated = await toolNames("/mcp", echoOnly.key);
      expect(aggregated.filter((name) => name.startsWith("alpha-"))).toEqual(["alpha-echo"]);
      // Other servers are not limited.
      expect(aggregated).toContain("beta-where");
      expect(aggregated).toContain("beta-add");
      const rest = await restTools(echoOnly.key);
      expect(rest.filter((tool) => tool.mcp_info.server_name === "alpha").map((tool) => tool.name)).toEqual(["echo"]);
      expect(rest.some((tool) => tool.mcp_info.server_name === "beta" && tool.name === "add")).toBe(true);
      expect((await restTools(echoOnly.key, "?server_name=alpha")).map((tool) => tool.name)).toEqual(["echo"]);
    });

    it("may call the permitted tool, and gets 403 for another tool of that server", async () => {
      const client = await connect("/alpha/mcp", echoOnly.key);
      expect(await client.callTool({ name: "echo", arguments: { message: "hi" } })).toEqual({ content: [{ type: "text", text: "hi" }] });
      const rest = await restCall(echoOnly.key, { server_name: "alpha", name: "echo", arguments: { message: "rest" } });
      expect(await rest.json()).toEqual({ content: [{ type: "text", text: "rest" }] });

      const addCalls = alpha.requests.filter(isCallOf("add")).length;
      const passthrough = await mcpPost("/alpha/mcp", echoOnly.key, rpc("tools/call", { name: "add", arguments: { a: 1, b: 2 } }));
      expect(passthrough.status).toBe(403);
      expect(((await passthrough.json()) as JsonRpcErrorBody).error.message).toContain("add");
      expect((await mcpPost("/mcp", echoOnly.key, rpc("tools/call", { name: "alpha-add", arguments: { a: 1, b: 2 } }))).status).toBe(403);
      const aggregate = await connect("/mcp", echoOnly.key);
      await expect(aggregate.callTool({ name: "alpha-add", arguments: { a: 1, b: 2 } })).rejects.toThrow();
      for (const body of [{ server_name: "alpha", name: "add", arguments: { a: 1, b: 2 } }, { name: "alpha-add", arguments: { a: 1, b: 2 } }]) {
        expect((await restCall(echoOnly.key, body)).status, JSON.stringify(body)).toBe(403);
      }
      expect(alpha.requests.filter(isCallOf("add")).length).toBe(addCalls);
      // beta is not limited by alpha's list.
      const betaAdd = await restCall(echoOnly.key, { server_name: "beta", name: "add", arguments: { a: 2, b: 3 } });
      expect(await betaAdd.json()).toEqual({ content: [{ type: "text", text: "5" }] });
    });
  });

  describe("authentication", () => {
    it("no key is 401 on the key routes; a bad key too", async () => {
      for (const [method, path] of [["POST", "/key/generate"], ["GET", "/key/list"], ["POST", "/key/delete"]] as const) {
        const anonymous = await gateway.fetch(path, { method, key: null, ...(method === "POST" ? { body: "{}" } : {}) });
        expect(anonymous.status, path).toBe(401);
        expect(((await anonymous.json()) as ErrorBody).error).toBe("unauthorized");
        const wrong = await gateway.fetch(path, { method, key: "sk-not-a-real-key", ...(method === "POST" ? { body: "{}" } : {}) });
        expect(wrong.status, path).toBe(401);
      }
    });

    it("a virtual key may not manage keys (403), even an unlimited one", async () => {
      const key = await generate();
      const victim = await generate({ key_alias: `victim-${dialect}` });
      const before = await totalKeys();
      const generated = await generateRaw({}, key.key);
      expect(generated.status).toBe(403);
      expect(((await generated.json()) as ErrorBody).detail).toContain("master key");
      expect((await gateway.fetch("/key/list", { key: key.key })).status).toBe(403);
      expect((await deleteKeys({ keys: [victim.key] }, key.key)).status).toBe(403);
      expect((await deleteKeys({ key_aliases: [`victim-${dialect}`] }, key.key)).status).toBe(403);
      expect(await totalKeys()).toBe(before);
      expect((await restList(victim.key)).status).toBe(200);
    });

    it("accepts a virtual key as Authorization: Bearer and as a bare x-litellm-api-key", async () => {
      const key = await generate({ object_permission: { mcp_servers: ["alpha"] } });
      const bearer = await gateway.fetch("/mcp-rest/tools/list", { headers: { authorization: `Bearer ${key.key}` } });
      expect(bearer.status).toBe(200);
      const bare = await gateway.fetch("/mcp-rest/tools/list", { headers: { "x-litellm-api-key": key.key } });
      expect(bare.status).toBe(200);
      const servers = new Set(((await bare.json()) as { tools: RestTool[] }).tools.map((tool) => tool.mcp_info.server_name));
      expect(servers).toEqual(new Set(["alpha"]));
    });

    it("an expired key is 401 with a body that says it expired", async () => {
      const key = await generate({ expires: "2020-01-01T00:00:00Z" });
      const rest = await restList(key.key);
      expect(rest.status).toBe(401);
      const body = (await rest.json()) as ErrorBody;
      expect(body.detail).toMatch(/expired/);
      expect(body.detail).not.toContain(key.key);
      const mcp = await mcpPost("/alpha/mcp", key.key);
      expect(mcp.status).toBe(401);
      expect(((await mcp.json()) as JsonRpcErrorBody).error.message).toMatch(/expired/);
      expect((await mcpPost("/mcp", key.key)).status).toBe(401);
    });

    it("a key that expires while cached stops working", async () => {
      const key = await generate({ duration: "1s" });
      expect((await restList(key.key)).status).toBe(200);
      await vi.waitFor(
        async () => {
          const response = await restList(key.key);
          expect(response.status).toBe(401);
          expect(((await response.json()) as ErrorBody).detail).toMatch(/expired/);
        },
        { timeout: 5_000, interval: 100 },
      );
    });

    it("a key works after the gateway restarts on the same database", async () => {
      const first = await startTestGateway({ servers: { alpha: { url: alpha.url }, beta: { url: beta.url } }, env: { DATABASE_URL: testDb.url } });
      extraGateways.push(first);
      const response = await first.fetch("/key/generate", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ key_alias: `restart-${dialect}`, object_permission: { mcp_servers: ["beta"] } }),
      });
      expect(response.status).toBe(200);
      const key = (await response.json()) as Generated;
      issued.push(key.key);
      expect((await first.fetch("/mcp-rest/tools/list", { key: key.key })).status).toBe(200);
      await first.close();

      const second = await startTestGateway({ servers: { alpha: { url: alpha.url }, beta: { url: beta.url } }, env: { DATABASE_URL: testDb.url } });
      extraGateways.push(second);
      const after = await second.fetch("/mcp-rest/tools/list", { key: key.key });
      expect(after.status).toBe(200);
      const tools = ((await after.json()) as { tools: RestTool[] }).tools;
      expect(tools.length).toBeGreaterThan(0);
      expect(new Set(tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["beta"]));
      expect((await second.fetch("/alpha/mcp", { method: "POST", key: key.key, headers: MCP_ACCEPT, body: rpc("tools/list") })).status).toBe(403);
    });
  });

  // --- /key/delete ----------------------------------------------------------------------

  describe("POST /key/delete", () => {
    it("deletes by key, by token and by alias; the key gets 401 at once", async () => {
      const byKey = await generate();
      const byToken = await generate();
      const byAlias = await generate({ key_alias: `delete-me-${dialect}` });
      // Use each key first, so a cached lookup would have to be forgotten.
      for (const key of [byKey, byToken, byAlias]) expect((await restList(key.key)).status).toBe(200);

      const first = await deleteKeys({ keys: [byKey.key] });
      expect(first.status, await first.clone().text()).toBe(200);
      const firstBody = (await first.json()) as { deleted_keys: string[] };
      expect(firstBody.deleted_keys).toHaveLength(1);
      expect(JSON.stringify(firstBody)).not.toContain(byKey.key);
      expect((await restList(byKey.key)).status).toBe(401);

      const second = await deleteKeys({ keys: [byToken.token_id] });
      expect(second.status).toBe(200);
      expect(((await second.json()) as { deleted_keys: string[] }).deleted_keys).toEqual([byToken.token_id]);
      expect((await restList(byToken.key)).status).toBe(401);
      expect((await mcpPost("/alpha/mcp", byToken.key)).status).toBe(401);

      const third = await deleteKeys({ key_aliases: [`delete-me-${dialect}`] });
      expect(third.status).toBe(200);
      expect(((await third.json()) as { deleted_keys: string[] }).deleted_keys).toEqual([`delete-me-${dialect}`]);
      expect((await mcpPost("/mcp", byAlias.key)).status).toBe(401);

      const remaining = await listKeys("?size=1000");
      for (const key of [byKey, byToken, byAlias]) expect(remaining.keys).not.toContain(key.token_id);
      // The alias is free again.
      const reused = await generate({ key_alias: `delete-me-${dialect}` });
      expect(reused.key_alias).toBe(`delete-me-${dialect}`);
    });

    it("an unknown key is 404 and deletes nothing", async () => {
      const kept = await generate({ key_alias: `kept-${dialect}` });
      expect((await restList(kept.key)).status).toBe(200);
      const before = await totalKeys();
      for (const body of [
        { keys: [kept.key, "sk-this-key-does-not-exist"] },
        { keys: [kept.token_id, "f".repeat(64)] },
        { keys: [kept.key], key_aliases: [`no-such-alias-${dialect}`] },
      ]) {
        const response = await deleteKeys(body);
        expect(response.status, JSON.stringify(body)).toBe(404);
        const error = (await response.json()) as ErrorBody;
        expect(error.error).toBe("key_not_found");
        expect(error.detail).not.toContain(kept.key);
      }
      expect(await totalKeys()).toBe(before);
      expect((await restList(kept.key)).status).toBe(200);
    });

    it("a body naming no key is a 400", async () => {
      for (const body of [{}, { keys: [] }, { tokens: ["x"] }]) {
        const response = await deleteKeys(body);
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(((await response.json()) as ErrorBody).error).toBe("invalid_request");
      }
    });
  });

  // Last: after everything above, no upstream ever saw a gateway key.
  it("never sends a gateway key upstream", async () => {
    const key = await generate({ object_permission: { mcp_servers: ["alpha", "beta"] } });
    const whoami = await restCall(key.key, { server_name: "alpha", name: "whoami" });
    const seen = JSON.parse(((await whoami.json()) as { content: Array<{ text: string }> }).content[0]!.text) as Record<string, string>;
    expect(seen["x-litellm-api-key"]).toBeUndefined();
    const bearer = await gateway.fetch("/alpha/mcp", { method: "POST", headers: { ...MCP_ACCEPT, authorization: `Bearer ${key.key}` }, body: rpc("tools/list") });
    expect(bearer.status).toBe(200);

    const requests = [...alpha.requests, ...beta.requests, ...gamma.requests];
    expect(requests.length).toBeGreaterThan(10);
    expect(issued.length).toBeGreaterThan(10);
    for (const request of requests) {
      const headers = JSON.stringify(request.headers);
      const body = JSON.stringify(request.body ?? null);
      for (const secret of [...issued, gateway.masterKey]) {
        expect(headers).not.toContain(secret);
        expect(body).not.toContain(secret);
      }
    }
  });
});
