/**
 * LiteLLM's key API beyond generate/list/delete (issue 17): every /key/generate parameter,
 * the duration forms, /key/info, /key/update, /key/regenerate (body and path forms),
 * /key/block and /key/unblock, with their effect on every route, on SQLite and PostgreSQL.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, dialects, type TestDatabase } from "../fixtures/databases.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

type Json = Record<string, unknown>;

const sha256 = (value: string): string => createHash("sha256").update(value, "utf8").digest("hex");

describe.each(await dialects())("the key API on %s", (dialect) => {
  let testDb: TestDatabase;
  let alpha: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    alpha = await upstreamNamed("alpha");
    gateway = await startTestGateway({ servers: { alpha: { url: alpha.url } }, env: { DATABASE_URL: testDb.url } });
  });

  afterAll(async () => {
    await gateway?.close();
    await alpha?.close();
    await testDb?.drop();
  });

  async function post(path: string, body: unknown): Promise<{ status: number; body: Json }> {
    const response = await gateway.fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Json };
  }

  async function generate(body: Json = {}): Promise<Json & { key: string; token_id: string }> {
    const answer = await post("/key/generate", body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body as Json & { key: string; token_id: string };
  }

  async function info(key: string): Promise<{ status: number; body: Json }> {
    const response = await gateway.fetch(`/key/info?key=${encodeURIComponent(key)}`);
    return { status: response.status, body: (await response.json()) as Json };
  }

  /** The status of one request with `key` on each MCP route. */
  async function statuses(key: string): Promise<{ passthrough: number; aggregate: number; rest: number }> {
    const mcp = (path: string) => gateway.fetch(path, { method: "POST", key, headers: MCP_ACCEPT, body: rpc("tools/list") });
    const [passthrough, aggregate, rest] = await Promise.all([mcp("/alpha/mcp"), mcp("/mcp"), gateway.fetch("/mcp-rest/tools/list", { key })]);
    return { passthrough: passthrough.status, aggregate: aggregate.status, rest: rest.status };
  }

  const everywhere = (status: number) => ({ passthrough: status, aggregate: status, rest: status });

  describe("POST /key/generate", () => {
    it("takes every LiteLLM parameter, stores it and returns it, with the plaintext in key and token and the hash in token_id", async () => {
      const body = {
        key_alias: `all-${dialect}`,
        user_id: "u-all",
        team_id: "team-a",
        models: ["gpt-4o", "claude-3"],
        metadata: { app: "ci", owner: "ops" },
        tags: ["prod", "mcp"],
        spend: 1.5,
        max_budget: 100,
        budget_duration: "30d",
        rpm_limit: 600,
        tpm_limit: 100_000,
        max_parallel_requests: 8,
        duration: "1w",
        blocked: false,
        soft_budget: 50,
        aliases: { small: "gpt-4o-mini" },
        config: { x: 1 },
        permissions: { pii: false },
        model_max_budget: { "gpt-4o": { budget_limit: 1, time_period: "1d" } },
        model_rpm_limit: { "gpt-4o": 10 },
        model_tpm_limit: { "gpt-4o": 1000 },
        guardrails: ["g1"],
        allowed_cache_controls: ["no-cache"],
        rpm_limit_type: "best_effort_throughput",
        send_invite_email: false,
        key_type: "default",
        allowed_routes: [],
        organization_id: "org-1",
        object_permission: { mcp_servers: ["alpha"], mcp_access_groups: ["dev"], mcp_tool_permissions: { alpha: ["echo"] }, vector_stores: ["vs1"] },
      };
      const before = Date.now();
      const key = await generate(body);
      expect(key.key).toMatch(/^sk-[A-Za-z0-9_-]{20,}$/);
      expect(key.token).toBe(key.key);
      expect(key.token_id).toBe(sha256(key.key));
      expect(key.key_name).toBe(`sk-...${key.key.slice(-4)}`);
      const expected = {
        key_alias: body.key_alias,
        user_id: "u-all",
        team_id: "team-a",
        models: body.models,
        metadata: { app: "ci", owner: "ops", tags: ["prod", "mcp"] },
        tags: ["prod", "mcp"],
        spend: 1.5,
        max_budget: 100,
        budget_duration: "30d",
        rpm_limit: 600,
        tpm_limit: 100_000,
        max_parallel_requests: 8,
        blocked: false,
        soft_budget: 50,
        aliases: body.aliases,
        config: body.config,
        permissions: body.permissions,
        model_max_budget: body.model_max_budget,
        model_rpm_limit: body.model_rpm_limit,
        model_tpm_limit: body.model_tpm_limit,
        guardrails: ["g1"],
        allowed_cache_controls: ["no-cache"],
        rpm_limit_type: "best_effort_throughput",
        organization_id: "org-1",
        object_permission: { mcp_servers: ["alpha"], mcp_access_groups: ["dev"], mcp_tool_permissions: { alpha: ["echo"] }, vector_stores: ["vs1"] },
      };
      expect(key).toMatchObject(expected);
      const week = 7 * 86_400_000;
      expect(Date.parse(key.expires as string)).toBeGreaterThanOrEqual(before + week);
      expect(Date.parse(key.expires as string)).toBeLessThanOrEqual(Date.now() + week);
      expect(Date.parse(key.budget_reset_at as string)).toBeGreaterThanOrEqual(before + 30 * 86_400_000);

      // Stored: /key/info and /key/list answer the same fields, never the plaintext.
      const read = await info(key.key);
      expect(read.status).toBe(200);
      expect(read.body.key).toBe(key.key);
      expect(read.body.info).toMatchObject({ ...expected, expires: key.expires });
      expect(read.body.info).not.toHaveProperty("token");
      const listed = await gateway.fetch(`/key/list?return_full_object=true&key_alias=${body.key_alias}`);
      const listText = await listed.text();
      expect(listText).not.toContain(key.key);
      expect((JSON.parse(listText) as { keys: Json[] }).keys).toEqual([expect.objectContaining({ ...expected, token: key.token_id })]);
    });

    it("accepts a custom key (key), which then works on every route", async () => {
      const custom = `sk-custom-${dialect}-0123456789`;
      const key = await generate({ key: custom });
      expect(key.key).toBe(custom);
      expect(key.token_id).toBe(sha256(custom));
      expect(await statuses(custom)).toEqual(everywhere(200));
      // The same value twice is a 409; a value without sk- or the master key a 400.
      expect((await post("/key/generate", { key: custom })).status).toBe(409);
      expect((await post("/key/generate", { key: "my-own-key-123" })).body).toMatchObject({ error: "invalid_request", field: "key" });
      expect((await post("/key/generate", { key: gateway.masterKey })).status).toBe(400);
    });

    it.each([
      ["30s", 30_000],
      ["15m", 900_000],
      ["1h", 3_600_000],
      ["2d", 2 * 86_400_000],
      ["1w", 604_800_000],
      ["daily", 86_400_000],
      ["2 h", 7_200_000],
    ])("duration %s sets expires that far ahead", async (duration, ms) => {
      const before = Date.now();
      const key = await generate({ duration });
      const expires = Date.parse(key.expires as string);
      expect(expires).toBeGreaterThanOrEqual(before + ms);
      expect(expires).toBeLessThanOrEqual(Date.now() + ms);
    });

    it("duration 1mo is one calendar month ahead, and null never expires", async () => {
      const start = new Date();
      const key = await generate({ duration: "1mo" });
      const expires = new Date(key.expires as string);
      expect((expires.getUTCFullYear() * 12 + expires.getUTCMonth()) - (start.getUTCFullYear() * 12 + start.getUTCMonth())).toBe(1);
      expect((await generate({ duration: null })).expires).toBeNull();
    });

    it.each([
      ["a duration without a unit", { duration: "30" }, "duration"],
      ["a duration with an unknown unit", { duration: "3y" }, "duration"],
      ["a negative rpm_limit", { rpm_limit: -1 }, "rpm_limit"],
      ["a fractional max_parallel_requests", { max_parallel_requests: 1.5 }, "max_parallel_requests"],
      ["a negative max_budget", { max_budget: -5 }, "max_budget"],
      ["a bad budget_duration", { budget_duration: "soon" }, "budget_duration"],
      ["models that is not a list", { models: "gpt-4" }, "models"],
      ["a misspelt mcp_servers", { object_permission: { mcp_serverz: ["alpha"] } }, "object_permission.mcp_serverz"],
      ["allowed_routes (a restriction Gatehouse would not keep)", { allowed_routes: ["/chat/completions"] }, "allowed_routes"],
      ["key_type llm_api", { key_type: "llm_api" }, "key_type"],
      ["blocked_tools", { object_permission: { blocked_tools: ["delete_repo"] } }, "object_permission.blocked_tools"],
      ["an unknown field", { rpm_limits: 5 }, "rpm_limits"],
    ])("%s is a 400 naming the field", async (_label, body, field) => {
      const answer = await post("/key/generate", body);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: "invalid_request", field });
    });

    it("blocked: true makes a key that is refused until unblocked", async () => {
      const key = await generate({ blocked: true });
      expect(key.blocked).toBe(true);
      expect(await statuses(key.key)).toEqual(everywhere(401));
      expect((await post("/key/unblock", { key: key.key })).status).toBe(200);
      expect(await statuses(key.key)).toEqual(everywhere(200));
    });
  });

  describe("GET /key/info", () => {
    it("takes the key or its hash; an unknown key is 404, a missing one 400", async () => {
      const key = await generate({ key_alias: `info-${dialect}` });
      const byHash = await info(key.token_id);
      expect(byHash.status).toBe(200);
      expect(byHash.body).toMatchObject({ key: key.token_id, info: { key_alias: `info-${dialect}`, key_name: key.key_name } });
      expect((await info("sk-nobody-has-this-key")).status).toBe(404);
      expect((await gateway.fetch("/key/info")).status).toBe(400);
    });
  });

  describe("POST /key/update", () => {
    it("changes the fields given, leaves the others, and the change applies to requests at once", async () => {
      const key = await generate({ key_alias: `upd-${dialect}`, metadata: { a: 1 }, rpm_limit: 5, object_permission: { mcp_servers: [] } });
      // No server: the pass-through refuses it (the aggregate and REST list nothing).
      expect((await statuses(key.key)).passthrough).toBe(403);
      const answer = await post("/key/update", {
        key: key.key,
        object_permission: { mcp_servers: ["alpha"] },
        tags: ["t1"],
        max_parallel_requests: 3,
        rpm_limit: null,
        team_id: "team-b",
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        key: key.key,
        token: key.token_id,
        key_alias: `upd-${dialect}`,
        metadata: { a: 1, tags: ["t1"] },
        tags: ["t1"],
        rpm_limit: null,
        max_parallel_requests: 3,
        team_id: "team-b",
        object_permission: { mcp_servers: ["alpha"] },
      });
      expect(await statuses(key.key)).toEqual(everywhere(200));
    });

    it("duration sets a new expiry from now, -1 removes it, null leaves it (as LiteLLM)", async () => {
      const key = await generate({ duration: "1h" });
      const later = await post("/key/update", { key: key.token_id, duration: "2d" });
      expect(Date.parse(later.body.expires as string)).toBeGreaterThan(Date.now() + 86_400_000);
      expect((await post("/key/update", { key: key.key, duration: null })).body.expires).toBe(later.body.expires);
      expect((await post("/key/update", { key: key.key, duration: "-1" })).body.expires).toBeNull();
    });

    it("an expired key can be given a new expiry, and works again", async () => {
      const key = await generate({ expires: "2001-01-01T00:00:00Z" });
      const refused = await gateway.fetch("/mcp-rest/tools/list", { key: key.key });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ error: "key_expired" });
      expect((await post("/key/update", { key: key.key, duration: "1d" })).status).toBe(200);
      expect(await statuses(key.key)).toEqual(everywhere(200));
    });

    it("refuses an alias another key holds (409), an unknown key (404) and a body without key (400)", async () => {
      await generate({ key_alias: `taken-${dialect}` });
      const key = await generate();
      expect((await post("/key/update", { key: key.key, key_alias: `taken-${dialect}` })).status).toBe(409);
      expect((await post("/key/update", { key: "sk-unknown-key-000", rpm_limit: 1 })).status).toBe(404);
      expect((await post("/key/update", { rpm_limit: 1 })).body).toMatchObject({ field: "key" });
    });
  });

  describe("POST /key/regenerate", () => {
    it("gives the key a new value in place: the old one is refused everywhere, the new one works, the settings stay", async () => {
      const old = await generate({ key_alias: `regen-${dialect}`, object_permission: { mcp_servers: ["alpha"] }, metadata: { keep: true } });
      expect(await statuses(old.key)).toEqual(everywhere(200));
      const answer = await post("/key/regenerate", { key: old.key });
      expect(answer.status).toBe(200);
      const fresh = answer.body as Json & { key: string; token_id: string };
      expect(fresh.key).not.toBe(old.key);
      expect(fresh.token).toBe(fresh.key);
      expect(fresh.token_id).toBe(sha256(fresh.key));
      expect(fresh).toMatchObject({ key_alias: `regen-${dialect}`, key_name: `sk-...${fresh.key.slice(-4)}`, metadata: { keep: true }, object_permission: { mcp_servers: ["alpha"] } });
      expect(await statuses(old.key)).toEqual(everywhere(401));
      expect(await statuses(fresh.key)).toEqual(everywhere(200));
      expect((await info(old.key)).status).toBe(404);
    });

    it("POST /key/{key}/regenerate takes the hash in the path, new_key and field updates in the body", async () => {
      const old = await generate();
      const newKey = `sk-rotated-${dialect}-abcdef`;
      const answer = await post(`/key/${old.token_id}/regenerate`, { new_key: newKey, rpm_limit: 7, duration: "1h" });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ key: newKey, token: newKey, token_id: sha256(newKey), rpm_limit: 7 });
      expect(answer.body.expires).not.toBeNull();
      expect(await statuses(newKey)).toEqual(everywhere(200));
      expect(await statuses(old.key)).toEqual(everywhere(401));
    });

    it("the key in the path of /key/{key}/regenerate never reaches the log", async () => {
      const old = await generate();
      expect((await post(`/key/${old.key}/regenerate`, {})).status).toBe(200);
      expect(JSON.stringify(gateway.logs)).not.toContain(old.key);
      expect(gateway.logs.some((line) => line.path === "/key/****/regenerate")).toBe(true);
    });

    it("refuses a new_key without sk- (400), grace_period (400) and an unknown key (404)", async () => {
      const key = await generate();
      expect((await post("/key/regenerate", { key: key.key, new_key: "plain-new-key" })).body).toMatchObject({ field: "new_key" });
      expect((await post("/key/regenerate", { key: key.key, grace_period: "24h" })).body).toMatchObject({ field: "grace_period" });
      expect((await post("/key/regenerate", { key: "sk-unknown-key-000" })).status).toBe(404);
      // Nothing changed: the key still works.
      expect(await statuses(key.key)).toEqual(everywhere(200));
    });
  });

  describe("POST /key/block and /key/unblock", () => {
    it("a blocked key is refused (401 key_blocked) on every route until unblocked; the answers are the key's row", async () => {
      const key = await generate({ key_alias: `block-${dialect}` });
      const blocked = await post("/key/block", { key: key.key });
      expect(blocked.status).toBe(200);
      expect(blocked.body).toMatchObject({ token: key.token_id, key_alias: `block-${dialect}`, blocked: true });
      expect(JSON.stringify(blocked.body)).not.toContain(key.key);
      expect(await statuses(key.key)).toEqual(everywhere(401));
      const refused = await gateway.fetch("/mcp-rest/tools/list", { key: key.key });
      expect(await refused.json()).toMatchObject({ error: "key_blocked" });
      const jsonRpc = await gateway.fetch("/alpha/mcp", { method: "POST", key: key.key, headers: MCP_ACCEPT, body: rpc("tools/list", {}, 7) });
      expect(await jsonRpc.json()).toMatchObject({ jsonrpc: "2.0", error: { data: { code: "key_blocked" } } });
      expect((await info(key.token_id)).body.info).toMatchObject({ blocked: true });

      const unblocked = await post("/key/unblock", { key: key.token_id });
      expect(unblocked.body).toMatchObject({ blocked: false });
      expect(await statuses(key.key)).toEqual(everywhere(200));
    });

    it("an unknown key is 404; a virtual key may not block (403)", async () => {
      expect((await post("/key/block", { key: "sk-unknown-key-000" })).status).toBe(404);
      const key = await generate();
      const response = await gateway.fetch("/key/block", { method: "POST", key: key.key, headers: { "content-type": "application/json" }, body: JSON.stringify({ key: key.key }) });
      expect(response.status).toBe(403);
    });
  });

  it("every key route needs the master key: 401 without a key, 403 with a virtual key", async () => {
    const key = await generate();
    const routes: Array<[string, string]> = [
      ["GET", "/key/info?key=x"],
      ["POST", "/key/update"],
      ["POST", "/key/regenerate"],
      [`POST`, `/key/${key.token_id}/regenerate`],
      ["POST", "/key/block"],
      ["POST", "/key/unblock"],
    ];
    for (const [method, path] of routes) {
      expect((await gateway.fetch(path, { method, key: null })).status, path).toBe(401);
      expect((await gateway.fetch(path, { method, key: key.key })).status, path).toBe(403);
    }
  });
});
