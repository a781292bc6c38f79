/**
 * The server registry's management API, `/v1/mcp/server` (README, "Managing servers and keys";
 * issue "server registry"), on SQLite and PostgreSQL, against real upstream MCP servers: CRUD with
 * stable ids, config servers read-only, changes routable at once (and on a second
 * instance after a store sync), write-only masked secrets, validation with the config
 * file's schema, master key only, secrets encrypted at rest, restarts and salt rotation.
 */
import { readFile } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import { startMockServer, type MockServer } from "../../src/mock-server/mock-server.js";
import { createTestDatabase, dialects, type TestDatabase } from "../fixtures/databases.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

interface ServerBody {
  server_id: string;
  server_name: string;
  source: "config" | "database";
  read_only: boolean;
  url: string;
  transport: string;
  auth_type: string;
  auth_value?: string;
  client_secret?: string;
  description?: string;
  static_headers: Record<string, string>;
  [field: string]: unknown;
}

interface ListBody {
  servers: ServerBody[];
  problems: unknown[];
}

interface ErrorBody {
  detail: string;
  error: string;
  field?: string;
  problems?: string[];
}

interface Answer<T> {
  status: number;
  body: T;
  text: string;
}

// Secrets used by the suite: none of them may ever appear in an answer or in the database.
const BEARER_1 = "sk-upstream-bearer-ALPHA-7f3a91c2";
const BEARER_2 = "sk-upstream-bearer-BRAVO-0d44e6b8";
const HEADER_1 = "hdr-static-secret-CHARLIE-55aa";
const HEADER_2 = "hdr-static-secret-DELTA-66bb";
const CFG_SECRET = "cfg-config-file-secret-ECHO-9911";
const ENV_TOKEN = "env-resolved-token-FOXTROT-5150";
const ENV_VAR = "GATEHOUSE_TEST_ADMIN_UPSTREAM_TOKEN";
const MISSING_VAR = "GATEHOUSE_TEST_ADMIN_NOT_SET";
const OLD_SALT = "admin-servers-salt-old-4b1f";
const NEW_SALT = "admin-servers-salt-new-8c2e";
const SECRETS = [BEARER_1, BEARER_2, HEADER_1, HEADER_2, ENV_TOKEN, "test-secret"];

function firstText(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content;
  return content?.[0]?.text ?? "";
}

function expectNoSecret(text: string): void {
  for (const secret of [...SECRETS, CFG_SECRET]) expect(text).not.toContain(secret);
}

describe.each(await dialects())("/v1/mcp/server on %s", (dialect) => {
  let db: TestDatabase;
  let alpha: Upstream;
  let beta: Upstream;
  let cfgUpstream: Upstream;
  let mock: MockServer;
  let gateway: TestGateway;
  const others: TestGateway[] = [];

  const configServers = (): Record<string, Record<string, unknown>> => ({
    cfg: { url: cfgUpstream.url, auth_type: "bearer_token", auth_value: CFG_SECRET },
  });

  function startOn(salt: string, previous?: string): Promise<TestGateway> {
    return startTestGateway({
      servers: configServers(),
      env: {
        DATABASE_URL: db.url,
        GATEHOUSE_SALT_KEY: salt,
        ...(previous === undefined ? {} : { GATEHOUSE_SALT_KEY_PREVIOUS: previous }),
        [ENV_VAR]: ENV_TOKEN,
      },
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    [alpha, beta, cfgUpstream, mock] = await Promise.all([
      upstreamNamed("alpha", {}, true),
      upstreamNamed("beta", {}, true),
      upstreamNamed("cfg", {}, true),
      startMockServer({ port: 0 }),
    ]);
    gateway = await startOn(OLD_SALT);
  });
  afterAll(async () => {
    await Promise.allSettled([gateway?.close(), ...others.map((other) => other.close())]);
    await Promise.allSettled([alpha?.close(), beta?.close(), cfgUpstream?.close(), mock?.close()]);
    await db?.drop();
  });

  // --- helpers ------------------------------------------------------------------------

  async function api<T = ServerBody>(method: string, path: string, body?: unknown, key?: string | null, on: TestGateway = gateway): Promise<Answer<T>> {
    const response = await on.fetch(path, {
      method,
      ...(key === undefined ? {} : { key }),
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as T, text };
  }

  async function create(body: Record<string, unknown>): Promise<ServerBody> {
    const answer = await api("POST", "/v1/mcp/server", body);
    expect(answer.status, answer.text).toBe(201);
    return answer.body;
  }

  /** The servers (LiteLLM's array) and the database servers this instance could not load (unhealthy, loaded false, in the health view). */
  async function list(on: TestGateway = gateway): Promise<ListBody> {
    const answer = await api<ServerBody[]>("GET", "/v1/mcp/server", undefined, undefined, on);
    expect(answer.status, answer.text).toBe(200);
    const health = await api<Array<{ server_id: string; server_name: string; loaded: boolean; health_check_error?: string }>>("GET", "/v1/mcp/server/health", undefined, undefined, on);
    expect(health.status, health.text).toBe(200);
    return { servers: answer.body, problems: health.body.filter((entry) => !entry.loaded) };
  }

  /** Tool names through an SDK client on `path` (`/{server}/mcp` or `/mcp`). */
  async function toolNames(path: string, headers: Record<string, string> = {}, on: TestGateway = gateway): Promise<string[]> {
    const client = await on.connect(path, headers);
    try {
      return (await client.listTools()).tools.map((tool) => tool.name).sort();
    } finally {
      await client.close();
    }
  }

  async function restCall(server: string, name: string, args: Record<string, unknown> = {}, on: TestGateway = gateway): Promise<Answer<unknown>> {
    return api<unknown>("POST", "/mcp-rest/tools/call", { server_name: server, name, arguments: args }, undefined, on);
  }

  /**
   * The request headers the server's upstream saw for a tool call through the gateway, as
   * the upstream recorded them: the tool's own report is scrubbed of the credentials the
   * gateway sent (issue 15 item 11).
   */
  async function upstreamHeaders(server: string, on: TestGateway = gateway): Promise<Record<string, string>> {
    const upstreams = [alpha, beta, cfgUpstream];
    const before = upstreams.map((upstream) => upstream.requests.length);
    const answer = await restCall(server, "whoami", {}, on);
    expect(answer.status, answer.text).toBe(200);
    const isWhoami = (body: unknown) => (body as { params?: { name?: string } } | undefined)?.params?.name === "whoami";
    const calls = upstreams.flatMap((upstream, index) => upstream.requests.slice(before[index]).filter((request) => isWhoami(request.body)));
    expect(calls).toHaveLength(1);
    return calls[0]!.headers;
  }

  async function where(server: string, on: TestGateway = gateway): Promise<string> {
    const answer = await restCall(server, "where", {}, on);
    expect(answer.status, answer.text).toBe(200);
    return firstText(answer.body);
  }

  /** Status of an initialize POST to `/{server}/mcp`. */
  async function passthroughStatus(server: string, on: TestGateway = gateway): Promise<number> {
    const response = await on.fetch(`/${server}/mcp`, {
      method: "POST",
      headers: MCP_ACCEPT,
      body: rpc("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }),
    });
    await response.body?.cancel();
    return response.status;
  }

  async function expect400(body: unknown, method = "POST", path = "/v1/mcp/server"): Promise<ErrorBody> {
    const answer = await api<ErrorBody>(method, path, body);
    expect(answer.status, answer.text).toBe(400);
    expect(answer.body.error).toBe("invalid_request");
    expectNoSecret(answer.text);
    return answer.body;
  }

  /** Every stored row's text columns, read straight from the database. */
  async function storedRows(): Promise<Array<{ id: string; name: string; config: string; secrets: string | null }>> {
    const database = await openDatabase(db.url);
    try {
      return await database.db.selectFrom("mcp_servers").select(["id", "name", "config", "secrets"]).orderBy("name").execute();
    } finally {
      await database.close();
    }
  }

  const keyIdOf = (sealed: string | null): string | undefined => sealed?.split(".")[1];

  // --- create, read, list -----------------------------------------------------------

  it("POST creates a database server (201) with a stable id, its config and a masked secret", async () => {
    const answer = await api("POST", "/v1/mcp/server", { server_name: "created", url: alpha.url, auth_type: "bearer_token", auth_value: BEARER_1 });
    expect(answer.status, answer.text).toBe(201);
    expect(answer.body).toMatchObject({
      server_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      server_name: "created",
      source: "database",
      read_only: false,
      url: alpha.url,
      transport: "http",
      auth_type: "bearer_token",
    });
    expect(answer.body.auth_value).toMatch(/^\*{4}/);
    expect(answer.body.auth_value).not.toBe(BEARER_1);
    expectNoSecret(answer.text);
    // The upstream gets the real credential.
    expect((await upstreamHeaders("created")).authorization).toBe(`Bearer ${BEARER_1}`);
  });

  it("GET lists config servers (source config, read_only) and database servers, secrets masked", async () => {
    const answer = await api<ServerBody[]>("GET", "/v1/mcp/server");
    expect(answer.status).toBe(200);
    expectNoSecret(answer.text);
    expect(Array.isArray(answer.body)).toBe(true);
    expect((await list()).problems).toEqual([]);
    const cfg = answer.body.find((server) => server.server_name === "cfg");
    expect(cfg).toMatchObject({ server_id: "cfg", source: "config", read_only: true, url: cfgUpstream.url, auth_type: "bearer_token" });
    expect(cfg?.auth_value).toMatch(/^\*{4}/);
    const created = answer.body.find((server) => server.server_name === "created");
    expect(created).toMatchObject({ source: "database", read_only: false, url: alpha.url, credentials: null, mcp_access_groups: [] });
  });

  it("GET by id and by name answer the same server", async () => {
    const { servers } = await list();
    const created = servers.find((server) => server.server_name === "created")!;
    const byId = await api("GET", `/v1/mcp/server/${created.server_id}`);
    const byName = await api("GET", "/v1/mcp/server/created");
    expect(byId.status).toBe(200);
    expect(byName.status).toBe(200);
    expect(byId.body).toEqual(byName.body);
    expect(byId.body).toMatchObject({ server_id: created.server_id, server_name: "created", source: "database", url: alpha.url });
    expectNoSecret(byId.text);
    const cfg = await api("GET", "/v1/mcp/server/cfg");
    expect(cfg.status).toBe(200);
    expect(cfg.body).toMatchObject({ server_id: "cfg", source: "config", read_only: true });
  });

  it("a new server is routable at once through /{name}/mcp, /mcp and /mcp-rest", async () => {
    await create({ server_name: "fresh", url: alpha.url });
    expect(await toolNames("/fresh/mcp")).toContain("only_alpha");
    const aggregate = await toolNames("/mcp");
    expect(aggregate).toContain("fresh-only_alpha");
    expect(aggregate).toContain("cfg-only_cfg");

    const restList = await api<{ tools: Array<{ name: string; mcp_info: { server_name: string } }> }>("GET", "/mcp-rest/tools/list?server_name=fresh");
    expect(restList.status).toBe(200);
    expect(restList.body.tools.map((tool) => tool.name)).toContain("only_alpha");
    expect(new Set(restList.body.tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["fresh"]));
    expect(await where("fresh")).toBe("alpha");
  });

  // --- config servers are read-only ---------------------------------------------------

  it("PUT and DELETE on a config server are 403 and change nothing", async () => {
    const before = await api("GET", "/v1/mcp/server/cfg");
    const put = await api<ErrorBody>("PUT", "/v1/mcp/server/cfg", { url: beta.url, auth_type: "none" });
    expect(put.status, put.text).toBe(403);
    expect(put.body.detail).toContain("cfg");
    const del = await api<ErrorBody>("DELETE", "/v1/mcp/server/cfg");
    expect(del.status, del.text).toBe(403);

    expect((await api("GET", "/v1/mcp/server/cfg")).body).toEqual(before.body);
    expect(await where("cfg")).toBe("cfg");
    expect((await upstreamHeaders("cfg")).authorization).toBe(`Bearer ${CFG_SECRET}`);
  });

  // --- edits ------------------------------------------------------------------------

  it("PUT keeps the id and moves the server's traffic to the new url", async () => {
    const created = await create({ server_name: "mover", url: alpha.url });
    expect(await toolNames("/mover/mcp")).toContain("only_alpha");

    const put = await api("PUT", `/v1/mcp/server/${created.server_id}`, { server_name: "mover", url: beta.url });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ server_id: created.server_id, server_name: "mover", url: beta.url, source: "database" });

    const direct = await toolNames("/mover/mcp");
    expect(direct).toContain("only_beta");
    expect(direct).not.toContain("only_alpha");
    const aggregate = await toolNames("/mcp", { "x-mcp-servers": "mover" });
    expect(aggregate).toContain("mover-only_beta");
    expect(aggregate).not.toContain("mover-only_alpha");
    expect(await where("mover")).toBe("beta");
    expect((await api("GET", `/v1/mcp/server/${created.server_id}`)).body.url).toBe(beta.url);
  });

  it("a credential in the url's query is masked in the views; sending the masked url back keeps the stored one, a made-up mask is 400", async () => {
    const created = await create({ server_name: "keyed", url: `${alpha.url}?api_key=query-secret-0123456789` });
    expect(created.url).toBe(`${alpha.url}?api_key=****6789`);
    expect((await api("GET", "/v1/mcp/server/keyed")).text).not.toContain("query-secret");
    expect((await list()).servers.find((server) => server.server_name === "keyed")?.url).toBe(`${alpha.url}?api_key=****6789`);
    const kept = await api("PUT", "/v1/mcp/server/keyed", { server_name: "keyed", url: created.url, description: "edited" });
    expect(kept.status, kept.text).toBe(200);
    expect(await where("keyed")).toBe("alpha");
    const row = (await storedRows()).find((stored) => stored.name === "keyed")!;
    expect(row.config + (row.secrets ?? "")).not.toContain("****");
    const refused = await api<ErrorBody>("PUT", "/v1/mcp/server/keyed", { server_name: "keyed", url: `${alpha.url}?api_key=****0000` });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.text).toContain("url");
  });

  it("PUT by name works too, and the body's server_name may be left out", async () => {
    const created = await create({ server_name: "byname", url: alpha.url });
    const put = await api("PUT", "/v1/mcp/server/byname", { url: beta.url, description: "edited by name" });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ server_id: created.server_id, server_name: "byname", url: beta.url, description: "edited by name" });
    expect(await where("byname")).toBe("beta");
  });

  it("renaming keeps the id; the old name stops routing and the new one routes", async () => {
    const created = await create({ server_name: "oldname", url: alpha.url });
    expect(await passthroughStatus("oldname")).toBe(200);

    const put = await api("PUT", `/v1/mcp/server/${created.server_id}`, { server_name: "newname", url: alpha.url });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ server_id: created.server_id, server_name: "newname" });

    expect(await passthroughStatus("oldname")).toBe(404);
    expect(await passthroughStatus("newname")).toBe(200);
    expect(await where("newname")).toBe("alpha");
    expect((await api("GET", "/v1/mcp/server/oldname")).status).toBe(404);
    expect((await api("GET", `/v1/mcp/server/${created.server_id}`)).body.server_name).toBe("newname");
    const aggregate = await toolNames("/mcp");
    expect(aggregate).toContain("newname-only_alpha");
    expect(aggregate.some((tool) => tool.startsWith("oldname-"))).toBe(false);
    const names = (await list()).servers.map((server) => server.server_name);
    expect(names).toContain("newname");
    expect(names).not.toContain("oldname");
  });

  it("a body server_id that differs from the path is 400 naming server_id", async () => {
    const created = await create({ server_name: "idcheck", url: alpha.url });
    const body = await expect400({ server_id: "something-else", url: beta.url }, "PUT", `/v1/mcp/server/${created.server_id}`);
    expect(body.detail).toContain("server_id");
    expect(await where("idcheck")).toBe("alpha");
  });

  // --- secrets are write-only ---------------------------------------------------------

  describe("secrets", () => {
    let id: string;

    beforeAll(async () => {
      const created = await create({
        server_name: "keeper",
        url: alpha.url,
        auth_type: "bearer_token",
        auth_value: BEARER_1,
        static_headers: { "X-Upstream-Secret": HEADER_1, "X-Other": HEADER_2 },
      });
      id = created.server_id;
    });

    it("static_headers values are masked in every answer, and sent upstream as set", async () => {
      const one = await api("GET", `/v1/mcp/server/${id}`);
      expect(Object.keys(one.body.static_headers).sort()).toEqual(["X-Other", "X-Upstream-Secret"]);
      for (const value of Object.values(one.body.static_headers)) expect(value).toMatch(/^\*{4}/);
      expectNoSecret(one.text);
      expectNoSecret((await api("GET", "/v1/mcp/server")).text);
      const seen = await upstreamHeaders("keeper");
      expect(seen.authorization).toBe(`Bearer ${BEARER_1}`);
      expect(seen["x-upstream-secret"]).toBe(HEADER_1);
      expect(seen["x-other"]).toBe(HEADER_2);
    });

    it("PUT without auth_value or static_headers keeps them", async () => {
      const put = await api("PUT", `/v1/mcp/server/${id}`, { server_name: "keeper", url: alpha.url, auth_type: "bearer_token", description: "kept" });
      expect(put.status, put.text).toBe(200);
      expect(put.body.description).toBe("kept");
      expectNoSecret(put.text);
      const seen = await upstreamHeaders("keeper");
      expect(seen.authorization).toBe(`Bearer ${BEARER_1}`);
      expect(seen["x-upstream-secret"]).toBe(HEADER_1);
    });

    it("PUT with the masked values as the API showed them keeps them", async () => {
      const shown = (await api("GET", `/v1/mcp/server/${id}`)).body;
      const put = await api("PUT", `/v1/mcp/server/${id}`, {
        server_name: "keeper",
        url: alpha.url,
        auth_type: "bearer_token",
        auth_value: shown.auth_value,
        static_headers: shown.static_headers,
        description: "masked round trip",
      });
      expect(put.status, put.text).toBe(200);
      expect(put.body.description).toBe("masked round trip");
      const seen = await upstreamHeaders("keeper");
      expect(seen.authorization).toBe(`Bearer ${BEARER_1}`);
      expect(seen["x-upstream-secret"]).toBe(HEADER_1);
      expect(seen["x-other"]).toBe(HEADER_2);
    });

    it("the whole GET body can be PUT back unchanged (read-only fields are ignored)", async () => {
      const shown = (await api("GET", `/v1/mcp/server/${id}`)).body;
      expect(shown.warnings).toEqual([]);
      const put = await api("PUT", `/v1/mcp/server/${id}`, shown);
      expect(put.status, put.text).toBe(200);
      expect(put.body.server_id).toBe(id);
      const seen = await upstreamHeaders("keeper");
      expect(seen.authorization).toBe(`Bearer ${BEARER_1}`);
      expect(seen["x-upstream-secret"]).toBe(HEADER_1);
    });

    it("shows the warnings of settings that do not do what they seem to", async () => {
      const created = await create({ server_name: "ignored-delegate", url: alpha.url, auth_type: "bearer_token", auth_value: BEARER_2, delegate_auth_to_upstream: true });
      expect(created.warnings).toEqual([expect.stringContaining("delegate_auth_to_upstream is ignored")]);
      expect(gateway.logs.some((line) => line.server === "ignored-delegate" && String(line.msg).includes("delegate_auth_to_upstream is ignored"))).toBe(true);
      expect((await api("DELETE", `/v1/mcp/server/${created.server_id}`)).status).toBe(200);
    });

    it("PUT with new values changes them (per header), and a header left out is dropped", async () => {
      const shown = (await api("GET", `/v1/mcp/server/${id}`)).body;
      const put = await api("PUT", `/v1/mcp/server/${id}`, {
        url: alpha.url,
        auth_type: "bearer_token",
        auth_value: BEARER_2,
        static_headers: { "X-Upstream-Secret": shown.static_headers["X-Upstream-Secret"], "X-New": HEADER_2 },
      });
      expect(put.status, put.text).toBe(200);
      expect(put.body.server_id).toBe(id);
      expectNoSecret(put.text);
      const seen = await upstreamHeaders("keeper");
      expect(seen.authorization).toBe(`Bearer ${BEARER_2}`);
      expect(seen["x-upstream-secret"]).toBe(HEADER_1);
      expect(seen["x-new"]).toBe(HEADER_2);
      expect(seen["x-other"]).toBeUndefined();
    });

    it("switching auth_type to none drops the stored credential instead of failing", async () => {
      const switched = await create({ server_name: "switcher", url: alpha.url, auth_type: "bearer_token", auth_value: BEARER_1 });
      const put = await api("PUT", `/v1/mcp/server/${switched.server_id}`, { url: alpha.url, auth_type: "none" });
      expect(put.status, put.text).toBe(200);
      expect(put.body.auth_type).toBe("none");
      expect(put.body.auth_value).toBeUndefined();
      expect((await upstreamHeaders("switcher")).authorization).toBeUndefined();
      // The credential is really gone: going back to bearer_token needs a new one.
      const back = await expect400({ url: alpha.url, auth_type: "bearer_token" }, "PUT", `/v1/mcp/server/${switched.server_id}`);
      expect(back.detail).toMatch(/^auth_value: /);
    });

    it("a masked placeholder where no secret is stored is 400 naming the field, never stored", async () => {
      const created = await expect400({ server_name: "placeholder", url: alpha.url, auth_type: "bearer_token", auth_value: "****1234" });
      expect(created.detail).toMatch(/^auth_value: /);
      expect((await api("GET", "/v1/mcp/server/placeholder")).status).toBe(404);
      const header = await expect400(
        { url: alpha.url, auth_type: "bearer_token", static_headers: { "X-Upstream-Secret": "****", "X-Never-Set": "****" } },
        "PUT",
        `/v1/mcp/server/${id}`,
      );
      expect(header.detail).toMatch(/^static_headers\.X-Never-Set: /);
      expect((await upstreamHeaders("keeper"))["x-never-set"]).toBeUndefined();
    });

    it("auth_value given under its alias authentication_token replaces the stored one", async () => {
      const aliased = await create({ server_name: "aliased", url: alpha.url, auth_type: "bearer_token", auth_value: BEARER_1 });
      const put = await api("PUT", `/v1/mcp/server/${aliased.server_id}`, { url: alpha.url, auth_type: "bearer_token", authentication_token: BEARER_2 });
      expect(put.status, put.text).toBe(200);
      expectNoSecret(put.text);
      expect((await upstreamHeaders("aliased")).authorization).toBe(`Bearer ${BEARER_2}`);
    });

    it("client_secret of an oauth2 server is masked and works (M2M against the mock server)", async () => {
      const created = await create({
        server_name: "m2m",
        url: `${mock.url}/mcp`,
        auth_type: "oauth2",
        client_id: "test-client",
        client_secret: "test-secret",
        token_url: `${mock.url}/oauth/token`,
      });
      expect(created.client_secret).toMatch(/^\*{4}/);
      expect(created.client_secret).not.toBe("test-secret");
      const call = await restCall("m2m", "echo", { message: "through m2m" });
      expect(call.status, call.text).toBe(200);
      expect(firstText(call.body)).toBe("through m2m");
    });

    it("refuses os.environ/ references, so the API cannot read the gateway's environment (set or not)", async () => {
      for (const [name, body] of [
        ["fromenv-secret", { auth_type: "bearer_token", auth_value: `os.environ/${ENV_VAR}` }],
        ["fromenv-missing", { auth_type: "bearer_token", auth_value: `os.environ/${MISSING_VAR}` }],
        ["fromenv-description", { description: "os.environ/GATEHOUSE_SALT_KEY" }],
      ] as const) {
        const refused = await expect400({ server_name: name, url: alpha.url, ...body });
        expect(refused.detail).toContain("os.environ/");
        expect(JSON.stringify(refused)).not.toContain(ENV_TOKEN);
        expect((await api("GET", `/v1/mcp/server/${name}`)).status).toBe(404);
      }
      // The server the later tests use carries the same credential as a plain value.
      await create({ server_name: "fromenv", url: alpha.url, auth_type: "bearer_token", auth_value: ENV_TOKEN });
      expect((await upstreamHeaders("fromenv")).authorization).toBe(`Bearer ${ENV_TOKEN}`);
    });
  });

  // --- validation -------------------------------------------------------------------

  describe("validation: 400 whose detail names the field, and nothing is stored", () => {
    let countBefore: number;

    beforeAll(async () => {
      countBefore = (await list()).servers.length;
    });

    it("a bad url", async () => {
      const body = await expect400({ server_name: "badurl", url: "not a url" });
      expect(body.detail).toMatch(/^url: /);
      const ftp = await expect400({ server_name: "badurl", url: "ftp://127.0.0.1/mcp" });
      expect(ftp.detail).toMatch(/^url: .*http/);
    });

    it("a missing url", async () => {
      const body = await expect400({ server_name: "nourl" });
      expect(body.detail).toMatch(/^url: /);
    });

    it("an unknown field, with the nearest known one suggested", async () => {
      const body = await expect400({ server_name: "typo", url: alpha.url, auht_type: "bearer_token", auth_value: BEARER_1 });
      expect(body.detail).toContain("auht_type");
      expect(body.detail).toContain("'auth_type'");
    });

    it("a wrong type", async () => {
      const timeout = await expect400({ server_name: "wrongtype", url: alpha.url, timeout: "soon" });
      expect(timeout.detail).toMatch(/^timeout: /);
      const tools = await expect400({ server_name: "wrongtype", url: alpha.url, allowed_tools: "echo" });
      expect(tools.detail).toMatch(/^allowed_tools: .*list/);
      const transport = await expect400({ server_name: "wrongtype", url: alpha.url, transport: "websocket" });
      expect(transport.detail).toMatch(/^transport: /);
    });

    it("a bad or missing server name", async () => {
      for (const name of ["bad name", "slash/name", ""]) {
        const body = await expect400({ server_name: name, url: alpha.url });
        expect(body.detail).toContain("server_name");
        expect(body.field).toBe("server_name");
      }
      const missing = await expect400({ url: alpha.url });
      expect(missing.detail).toContain("server_name");
    });

    it("auth_type bearer_token without auth_value", async () => {
      const body = await expect400({ server_name: "nocred", url: alpha.url, auth_type: "bearer_token" });
      expect(body.detail).toMatch(/^auth_value: /);
    });

    it("a bad secret is named by its field, never quoted", async () => {
      const body = await expect400({ server_name: "basicbad", url: alpha.url, auth_type: "basic", auth_value: BEARER_1 });
      expect(body.detail).toMatch(/^auth_value: /);
    });

    it("a body that is not a JSON object", async () => {
      const array = await api<ErrorBody>("POST", "/v1/mcp/server", [{ server_name: "x", url: alpha.url }]);
      expect(array.status).toBe(400);
      const broken = await api<ErrorBody>("POST", "/v1/mcp/server", "{not json");
      expect(broken.status).toBe(400);
    });

    it("an invalid PUT leaves the server as it was", async () => {
      const created = await create({ server_name: "stays", url: alpha.url });
      const body = await expect400({ url: "nope" }, "PUT", `/v1/mcp/server/${created.server_id}`);
      expect(body.detail).toMatch(/^url: /);
      expect((await api("GET", `/v1/mcp/server/${created.server_id}`)).body.url).toBe(alpha.url);
      expect(await where("stays")).toBe("alpha");
      countBefore++;
    });

    it("nothing rejected above was stored", async () => {
      const { servers } = await list();
      expect(servers.length).toBe(countBefore);
      for (const name of ["badurl", "nourl", "typo", "wrongtype", "nocred", "basicbad"]) expect(servers.map((server) => server.server_name)).not.toContain(name);
    });
  });

  // --- conflicts, unknown ids, who may call -------------------------------------------

  it("a name taken by a config server or a database server is 409, on create and on rename", async () => {
    const byConfig = await api<ErrorBody>("POST", "/v1/mcp/server", { server_name: "cfg", url: alpha.url });
    expect(byConfig.status, byConfig.text).toBe(409);
    expect(byConfig.body.detail).toContain("cfg");
    const byDatabase = await api<ErrorBody>("POST", "/v1/mcp/server", { server_name: "fresh", url: beta.url });
    expect(byDatabase.status, byDatabase.text).toBe(409);
    expect(byDatabase.body.detail).toContain("fresh");

    const other = await create({ server_name: "renamer", url: alpha.url });
    for (const taken of ["cfg", "fresh"]) {
      const rename = await api<ErrorBody>("PUT", `/v1/mcp/server/${other.server_id}`, { server_name: taken, url: alpha.url });
      expect(rename.status, rename.text).toBe(409);
    }
    expect(await where("fresh")).toBe("alpha");
    expect(await where("cfg")).toBe("cfg");
    expect((await api("GET", `/v1/mcp/server/${other.server_id}`)).body.server_name).toBe("renamer");
  });

  it("an unknown id is 404 on GET, PUT and DELETE", async () => {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const answer = await api<ErrorBody>(method, "/v1/mcp/server/00000000-0000-4000-8000-000000000000", method === "PUT" ? { url: alpha.url } : undefined);
      expect(answer.status, `${method}: ${answer.text}`).toBe(404);
      expect(answer.body.error).toBe("unknown_server");
    }
  });

  it("every route needs a key (401) and the master key: a virtual key is 403", async () => {
    const generated = await api<{ key: string }>("POST", "/key/generate", { key_alias: `not-admin-${dialect}` });
    expect(generated.status, generated.text).toBe(200);
    const virtualKey = generated.body.key;
    const target = (await list()).servers.find((server) => server.server_name === "fresh")!;
    const before = await list();
    const routes: Array<[string, string, unknown]> = [
      ["GET", "/v1/mcp/server", undefined],
      ["POST", "/v1/mcp/server", { server_name: "intruder", url: beta.url }],
      ["GET", `/v1/mcp/server/${target.server_id}`, undefined],
      ["GET", "/v1/mcp/server/cfg", undefined],
      ["PUT", `/v1/mcp/server/${target.server_id}`, { server_name: "fresh", url: beta.url }],
      ["DELETE", `/v1/mcp/server/${target.server_id}`, undefined],
      ["DELETE", "/v1/mcp/server/cfg", undefined],
    ];
    for (const [method, path, body] of routes) {
      const anonymous = await api<ErrorBody>(method, path, body, null);
      expect(anonymous.status, `${method} ${path} without a key`).toBe(401);
      expect(anonymous.body.error).toBe("unauthorized");
      const badKey = await api<ErrorBody>(method, path, body, "sk-not-a-key");
      expect(badKey.status, `${method} ${path} with a bad key`).toBe(401);
      const virtual = await api<ErrorBody>(method, path, body, virtualKey);
      expect(virtual.status, `${method} ${path} with a virtual key`).toBe(403);
      expectNoSecret(virtual.text);
    }
    // The virtual key itself works elsewhere: the 403 is about the route, not the key.
    expect((await api<unknown>("GET", "/mcp-rest/tools/list?server_name=fresh", undefined, virtualKey)).status).toBe(200);
    expect(await list()).toEqual(before);
    expect(await where("fresh")).toBe("alpha");
  });

  // --- delete -----------------------------------------------------------------------

  it("DELETE removes the server: /{name}/mcp is 404 and it is gone from every list", async () => {
    const created = await create({ server_name: "doomed", url: beta.url });
    expect(await passthroughStatus("doomed")).toBe(200);

    const del = await api<{ server_id: string; server_name: string; deleted: boolean }>("DELETE", `/v1/mcp/server/${created.server_id}`);
    expect(del.status, del.text).toBe(200);
    expect(del.body).toEqual({ server_id: created.server_id, server_name: "doomed", deleted: true });

    expect(await passthroughStatus("doomed")).toBe(404);
    expect((await api("GET", `/v1/mcp/server/${created.server_id}`)).status).toBe(404);
    expect((await api("DELETE", `/v1/mcp/server/${created.server_id}`)).status).toBe(404);
    expect((await list()).servers.map((server) => server.server_name)).not.toContain("doomed");
    expect((await api<unknown>("GET", "/mcp-rest/tools/list?server_name=doomed")).status).toBe(404);
    expect((await toolNames("/mcp")).some((tool) => tool.startsWith("doomed-"))).toBe(false);
    // The name is free again.
    const again = await create({ server_name: "doomed", url: alpha.url });
    expect(again.server_id).not.toBe(created.server_id);
    expect(await where("doomed")).toBe("alpha");
  });

  // --- other instances on the same database -------------------------------------------

  it("another instance on the same database picks up creates, edits and deletes after a store sync", async () => {
    const second = await startOn(OLD_SALT);
    others.push(second);
    try {
      const created = await create({ server_name: "shared", url: alpha.url, auth_type: "bearer_token", auth_value: BEARER_1 });
      await second.syncWithStore();
      expect(await where("shared", second)).toBe("alpha");
      expect((await upstreamHeaders("shared", second)).authorization).toBe(`Bearer ${BEARER_1}`);

      expect((await api("PUT", `/v1/mcp/server/${created.server_id}`, { url: beta.url, auth_type: "bearer_token" })).status).toBe(200);
      await second.syncWithStore();
      expect(await where("shared", second)).toBe("beta");
      expect((await upstreamHeaders("shared", second)).authorization).toBe(`Bearer ${BEARER_1}`);
      expect((await api("GET", `/v1/mcp/server/${created.server_id}`, undefined, undefined, second)).body).toMatchObject({ server_name: "shared", url: beta.url });

      expect((await api("DELETE", `/v1/mcp/server/${created.server_id}`)).status).toBe(200);
      await second.syncWithStore();
      expect(await passthroughStatus("shared", second)).toBe(404);
    } finally {
      await second.close();
    }
  });

  // --- secrets at rest --------------------------------------------------------------

  it("the database holds no plaintext secret (but does hold the server names)", async () => {
    // Make sure there is a live row with every kind of secret right now.
    const names = (await list()).servers.map((server) => server.server_name);
    expect(names).toEqual(expect.arrayContaining(["keeper", "m2m", "fromenv"]) as unknown);
    const rows = await storedRows();
    expect(rows.every((row) => row.secrets === null || row.secrets.startsWith("gh1."))).toBe(true);

    if (dialect === "sqlite") {
      const path = db.url.slice("sqlite:".length);
      const files: Buffer[] = [];
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        try {
          files.push(await readFile(file));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
        }
      }
      const bytes = Buffer.concat(files);
      expect(bytes.length).toBeGreaterThan(0);
      // The grep works: the non-secret name and url are there in plain text.
      expect(bytes.includes(Buffer.from("keeper"))).toBe(true);
      expect(bytes.includes(Buffer.from(alpha.url))).toBe(true);
      for (const secret of SECRETS) expect(bytes.includes(Buffer.from(secret)), `"${secret}" in the SQLite files`).toBe(false);
    } else {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows: columns } = await client.query<{ column_name: string }>(
          "select column_name from information_schema.columns where table_name = 'mcp_servers' and data_type in ('text', 'character varying', 'json', 'jsonb')",
        );
        expect(columns.map((column) => column.column_name)).toEqual(expect.arrayContaining(["name", "config", "secrets"]) as unknown);
        const select = columns.map((column) => `coalesce("${column.column_name}"::text, '')`).join(" || ' ' || ");
        const { rows } = await client.query<{ text: string }>(`select ${select} as text from mcp_servers`);
        const text = rows.map((row) => row.text).join("\n");
        expect(text).toContain("keeper");
        expect(text).toContain(alpha.url);
        for (const secret of SECRETS) expect(text, `"${secret}" in mcp_servers`).not.toContain(secret);
      } finally {
        await client.end();
      }
    }
  });

  // --- restarts ---------------------------------------------------------------------

  it("a restart on the same database keeps servers, ids and working secrets", async () => {
    const before = await list();
    await gateway.close();
    gateway = await startOn(OLD_SALT);

    const after = await list();
    expect(after).toEqual(before);
    expect(after.problems).toEqual([]);
    const seen = await upstreamHeaders("keeper");
    expect(seen.authorization).toBe(`Bearer ${BEARER_2}`);
    expect(seen["x-upstream-secret"]).toBe(HEADER_1);
    expect(seen["x-new"]).toBe(HEADER_2);
    expect((await upstreamHeaders("fromenv")).authorization).toBe(`Bearer ${ENV_TOKEN}`);
    expect(firstText((await restCall("m2m", "echo", { message: "after restart" })).body)).toBe("after restart");
    expect(await where("mover")).toBe("beta");
    expect(await passthroughStatus("oldname")).toBe(404);
    expect(await where("newname")).toBe("alpha");
  });

  it("salt rotation: the previous key opens old rows, which are re-sealed so the new key alone suffices", async () => {
    const ids = (await list()).servers.map((server) => server.server_id);
    const sealedBefore = (await storedRows()).filter((row) => row.secrets !== null);
    expect(sealedBefore.length).toBeGreaterThan(0);
    const oldKeyIds = new Set(sealedBefore.map((row) => keyIdOf(row.secrets)));
    expect(oldKeyIds.size).toBe(1);

    await gateway.close();
    gateway = await startOn(NEW_SALT, OLD_SALT);
    expect((await list()).problems).toEqual([]);
    expect((await upstreamHeaders("keeper")).authorization).toBe(`Bearer ${BEARER_2}`);
    expect(gateway.logs.some((line) => typeof line.msg === "string" && line.msg.includes("re-encrypted"))).toBe(true);
    const sealedAfter = (await storedRows()).filter((row) => row.secrets !== null);
    expect(sealedAfter.map((row) => row.id).sort()).toEqual(sealedBefore.map((row) => row.id).sort());
    const newKeyIds = new Set(sealedAfter.map((row) => keyIdOf(row.secrets)));
    expect(newKeyIds.size).toBe(1);
    expect([...newKeyIds][0]).not.toBe([...oldKeyIds][0]);
    // New rows use the new key.
    await create({ server_name: "after-rotation", url: alpha.url, auth_type: "api_key", auth_value: BEARER_1 });
    expect(keyIdOf((await storedRows()).find((row) => row.name === "after-rotation")!.secrets)).toBe([...newKeyIds][0]);

    await gateway.close();
    gateway = await startOn(NEW_SALT);
    const final = await list();
    expect(final.problems).toEqual([]);
    expect(final.servers.map((server) => server.server_id)).toEqual(expect.arrayContaining(ids) as unknown);
    const seen = await upstreamHeaders("keeper");
    expect(seen.authorization).toBe(`Bearer ${BEARER_2}`);
    expect(seen["x-upstream-secret"]).toBe(HEADER_1);
    expect((await upstreamHeaders("after-rotation"))["x-api-key"]).toBe(BEARER_1);
    expect(firstText((await restCall("m2m", "echo", { message: "after rotation" })).body)).toBe("after rotation");
  });
});
