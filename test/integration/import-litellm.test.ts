/**
 * `gatehouse import-litellm` (README, "Importing from a LiteLLM database"): the real CLI
 * reads a real PostgreSQL database with LiteLLM's tables and rows written as LiteLLM writes
 * them (credentials under each of LiteLLM's three encryption schemes), writes Gatehouse's
 * database (SQLite and PostgreSQL), and a gateway started on it is then asked over HTTP:
 * imported `sk-...` keys work on the servers they had and nowhere else, blocked and expired
 * keys stay refused, and the servers' decrypted credentials arrive at real upstreams.
 *
 * Needs PostgreSQL (LiteLLM's database is PostgreSQL): DATABASE_URL=postgres://... or the
 * default postgres://postgres@127.0.0.1:5432/test; skipped with a message without one,
 * failed under CI=true.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, spawnCli, type CliExit } from "../fixtures/cli-process.js";
import { createTestDatabase, postgresAvailable, type TestDatabase } from "../fixtures/databases.js";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { litellmEncrypt } from "../fixtures/litellm-encryption.js";
import { createLiteLLMDatabase, type LiteLLMDatabase } from "../fixtures/litellm-database.js";
import { startUpstream, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

const LITELLM_SALT = "litellm-salt-9c1e5f7a3b";
const GATEHOUSE_SALT = "gatehouse-salt-4d2b8e6f0a";
const ALPHA_TOKEN = "alpha-bearer-token-1f2e3d4c5b6a";
const BETA_KEY = "beta-api-key-99aa88bb77cc";
const GAMMA_USER = "gamma-user:gamma-password-5e6f";
const GAMMA_HEADER = "gamma-static-header-secret-0a1b";

interface Run extends CliExit {
  stdout: string;
  stderr: string;
}

interface JsonReport {
  dryRun: boolean;
  servers: { counts: Record<string, number>; entries: Array<{ source: string; name?: string; id?: string; outcome: string; reason?: string; notes: string[] }> };
  keys: { total: number; counts: Record<string, number>; entries: Array<{ source: string; outcome: string; reason?: string; notes: string[] }> };
  credentials: { decrypted: Record<string, number>; plain: number; undecryptable: number };
}

const hasPostgres = await postgresAvailable();

/** An upstream that answers only when the gateway sends the credential it expects. */
function guarded(label: string, check: (request: RecordedRequest) => boolean): Promise<Upstream> {
  return startUpstream({
    name: label,
    authorize: (request) => (check(request) ? undefined : { status: 401, body: { error: "bad credential" } }),
    tools: (server) => {
      server.registerTool("where", { description: "Names the upstream that answered." }, () => ({ content: [{ type: "text", text: label }] }));
    },
  });
}

describe.skipIf(!hasPostgres).each(["sqlite", "postgres"] as const)("import-litellm into Gatehouse on %s", (dialect) => {
  let litellm: LiteLLMDatabase;
  let target: TestDatabase;
  let workDir: string;
  const upstreams: Upstream[] = [];
  let alpha: Upstream, beta: Upstream, gamma: Upstream, open: Upstream;
  const keys: Record<string, string> = {};
  const ids: Record<string, string> = {};

  async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
    const cli = spawnCli(["import-litellm", ...args], {
      cwd: workDir,
      env: cleanEnv({ GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_SALT_KEY: GATEHOUSE_SALT, LITELLM_SALT_KEY: LITELLM_SALT, ...env }),
    });
    const exit = await cli.exited;
    return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
  }

  const importInto = (extra: string[] = [], env: Record<string, string> = {}) => run(["--from", litellm.url, "--to", target.url, ...extra], env);

  async function withGateway<T>(use: (gateway: TestGateway) => Promise<T>): Promise<T> {
    const gateway = await startTestGateway({ servers: {}, env: { DATABASE_URL: target.url, GATEHOUSE_SALT_KEY: GATEHOUSE_SALT } });
    try {
      return await use(gateway);
    } finally {
      await gateway.close();
    }
  }

  /** Calls `where` on `server` through REST with `key`; the HTTP status and the text answered. */
  async function callWhere(gateway: TestGateway, key: string, server: string): Promise<{ status: number; text: string }> {
    const response = await gateway.fetch("/mcp-rest/tools/call", {
      key,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: server, name: "where", arguments: {} }),
    });
    const body = (await response.json()) as { content?: Array<{ text: string }>; error?: string };
    return { status: response.status, text: body.content?.[0]?.text ?? body.error ?? "" };
  }

  beforeAll(async () => {
    await buildCli("stale");
    workDir = await mkdtemp(join(tmpdir(), "gatehouse-import-"));
    litellm = await createLiteLLMDatabase();
    target =
      dialect === "sqlite"
        ? { dialect, url: `sqlite:${join(workDir, "gatehouse.db")}`, drop: async () => undefined }
        : await createTestDatabase("postgres");

    alpha = await guarded("alpha", (request) => request.headers.authorization === `Bearer ${ALPHA_TOKEN}`);
    beta = await guarded("beta", (request) => request.headers["x-api-key"] === BETA_KEY);
    gamma = await guarded(
      "gamma",
      (request) => request.headers.authorization === `Basic ${Buffer.from(GAMMA_USER).toString("base64")}` && request.headers["x-tenant-secret"] === GAMMA_HEADER,
    );
    open = await guarded("open", () => true);
    upstreams.push(alpha, beta, gamma, open);

    // One credential per encryption scheme: NaCl SecretBox (older LiteLLM's default), v2:gcm, v3:gcm (newest default).
    ids.alpha = await litellm.addServer({
      server_name: "alpha", alias: "alpha_alias", url: alpha.url, transport: "http", auth_type: "bearer_token",
      credentials: { auth_value: litellmEncrypt(ALPHA_TOKEN, LITELLM_SALT, "nacl") }, mcp_access_groups: [], description: "Alpha tools",
    });
    ids.beta = await litellm.addServer({
      server_name: "beta", url: beta.url, transport: "http", auth_type: "api_key",
      credentials: { auth_value: litellmEncrypt(BETA_KEY, LITELLM_SALT, "v2:gcm") }, mcp_access_groups: ["eng"],
    });
    ids.gamma = await litellm.addServer({
      server_name: "gamma", url: gamma.url, transport: "http", auth_type: "basic",
      credentials: { auth_value: litellmEncrypt(GAMMA_USER, LITELLM_SALT, "v3:gcm") }, static_headers: { "X-Tenant-Secret": GAMMA_HEADER },
      mcp_access_groups: [], allowed_tools: ["where", "gamma-echo"],
    });
    ids.open = await litellm.addServer({ server_name: "open", url: open.url, transport: "http", auth_type: "none", allow_all_keys: true, mcp_access_groups: [] });
    // Rows Gatehouse does not take: a stdio server, one waiting for approval, one signing with AWS SigV4.
    await litellm.addServer({ server_name: "files", transport: "stdio", command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"] });
    await litellm.addServer({ server_name: "pending", url: open.url, transport: "http", approval_status: "pending_review" });
    await litellm.addServer({ server_name: "aws", url: open.url, transport: "http", auth_type: "aws_sigv4", credentials: { aws_access_key_id: litellmEncrypt("AKIA", LITELLM_SALT, "v3:gcm") } });

    await litellm.addPermission({ mcp_servers: [ids.gamma!] }).then((id) => litellm.addTeam({ team_id: "team-gamma", object_permission_id: id }));
    keys.alphaByName = await litellm.addKey({ key_alias: "alpha-bot", user_id: "u1", rpm_limit: 100 }, { mcp_servers: ["alpha"], mcp_tool_permissions: { [ids.alpha!]: ["where"] } });
    keys.group = await litellm.addKey({ key_alias: "eng-bot" }, { mcp_access_groups: ["eng"] });
    keys.none = await litellm.addKey({ key_alias: "plain" });
    keys.team = await litellm.addKey({ key_alias: "team-bot", team_id: "team-gamma" });
    keys.blocked = await litellm.addKey({ key_alias: "blocked-bot", blocked: true }, { mcp_servers: [ids.alpha!] });
    keys.expired = await litellm.addKey({ key_alias: "old-bot", expires: new Date(Date.now() - 86_400_000) }, { mcp_servers: [ids.alpha!] });
    keys.toolset = await litellm.addKey({ key_alias: "toolset-bot" }, { mcp_servers: [ids.alpha!], mcp_toolsets: ["ts-1"] });
  });

  afterAll(async () => {
    await Promise.allSettled(upstreams.map((upstream) => upstream.close()));
    await litellm?.drop();
    await target?.drop();
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  async function targetTables(): Promise<number> {
    if (dialect === "sqlite") return existsSync(target.url.slice("sqlite:".length)) ? 1 : 0;
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      return (await client.query("select count(*)::int as n from information_schema.tables where table_schema = 'public'")).rows[0].n as number;
    } finally {
      await client.end();
    }
  }

  it("a dry run writes nothing (not even Gatehouse's tables) and prints the plan", async () => {
    const result = await importInto(["--dry-run"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("dry run: nothing was written");
    expect(result.stdout).toMatch(/MCP servers: 4 imported, 0 unchanged, 0 updated, 2 skipped, 1 failed/);
    expect(await targetTables()).toBe(0);
  });

  it("imports servers and keys, reporting what it could not carry and why, without a secret in its output", async () => {
    const result = await importInto(["--json"]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report.servers.counts).toMatchObject({ imported: 4, skipped: 2, failed: 1 });
    expect(report.credentials.decrypted).toEqual({ nacl: 1, "v2:gcm": 1, "v3:gcm": 1 });
    const byName = new Map(report.servers.entries.map((entry) => [entry.name, entry]));
    expect(byName.get("alpha")).toMatchObject({ outcome: "imported", id: ids.alpha });
    expect(byName.get("alpha")!.notes.join("\n")).not.toMatch(/alias/);
    expect(byName.get("files")).toMatchObject({ outcome: "skipped" });
    expect(byName.get("files")!.reason).toMatch(/stdio/);
    expect(byName.get("pending")!.reason).toMatch(/approval_status/);
    expect(byName.get("aws")).toMatchObject({ outcome: "failed" });
    expect(byName.get("aws")!.reason).toMatch(/aws_sigv4/);
    // The blocked key is imported blocked (it stays refused: see below).
    expect(report.keys).toMatchObject({ total: 7, counts: { imported: 7 } });
    expect(result.stderr).toContain("import-litellm: keys 7/7: 7 imported");
    const alphaKey = report.keys.entries.find((entry) => entry.source.startsWith("alpha-bot"))!;
    expect(alphaKey.notes.join("\n")).not.toMatch(/rpm_limit/);
    for (const secret of [ALPHA_TOKEN, BETA_KEY, GAMMA_USER, GAMMA_HEADER, LITELLM_SALT, GATEHOUSE_SALT, ...Object.values(keys)]) {
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
  });

  it("imported keys reach exactly the servers they had in LiteLLM, and the decrypted credentials arrive upstream", async () => {
    await withGateway(async (gateway) => {
      expect(await callWhere(gateway, keys.alphaByName!, "alpha")).toEqual({ status: 200, text: "alpha" });
      // LiteLLM's alias is carried: the server answers to it.
      expect(await callWhere(gateway, keys.alphaByName!, "alpha_alias")).toEqual({ status: 200, text: "alpha" });
      expect((await callWhere(gateway, keys.alphaByName!, "beta")).status).toBe(403);
      // allow_all_keys servers are given to every key explicitly.
      expect((await callWhere(gateway, keys.alphaByName!, "open")).status).toBe(200);
      expect(await callWhere(gateway, keys.group!, "beta")).toEqual({ status: 200, text: "beta" });
      expect((await callWhere(gateway, keys.group!, "alpha")).status).toBe(403);
      expect(await callWhere(gateway, keys.team!, "gamma")).toEqual({ status: 200, text: "gamma" });
      expect((await callWhere(gateway, keys.team!, "alpha")).status).toBe(403);
      expect(alpha.lastHeaders().authorization).toBe(`Bearer ${ALPHA_TOKEN}`);
      expect(beta.lastHeaders()["x-api-key"]).toBe(BETA_KEY);
      expect(gamma.lastHeaders()["x-tenant-secret"]).toBe(GAMMA_HEADER);
    });
  });

  it("permissions do not widen: a key without MCP permissions gets only allow_all_keys servers, a toolset key none", async () => {
    await withGateway(async (gateway) => {
      expect(await callWhere(gateway, keys.none!, "open")).toEqual({ status: 200, text: "open" });
      for (const server of ["alpha", "beta", "gamma"]) expect((await callWhere(gateway, keys.none!, server)).status).toBe(403);
      expect((await callWhere(gateway, keys.toolset!, "alpha")).status).toBe(403);
      // allow_all_keys is carried on the server: it reaches every key, as in LiteLLM outside a toolset's own route.
      expect(await callWhere(gateway, keys.toolset!, "open")).toEqual({ status: 200, text: "open" });
    });
  });

  it("blocked and expired keys stay refused, as do keys LiteLLM never had", async () => {
    await withGateway(async (gateway) => {
      expect((await callWhere(gateway, keys.blocked!, "alpha")).status).toBe(401);
      // Carried with LiteLLM's other key fields: blocked, and the limits Gatehouse enforces.
      const blocked = (await (await gateway.fetch(`/key/info?key=${keys.blocked!}`)).json()) as { info: { blocked: boolean } };
      expect(blocked.info.blocked).toBe(true);
      const limited = (await (await gateway.fetch(`/key/info?key=${keys.alphaByName!}`)).json()) as { info: { rpm_limit: number; key_alias: string } };
      expect(limited.info).toMatchObject({ rpm_limit: 100, key_alias: "alpha-bot" });
      const expired = await callWhere(gateway, keys.expired!, "alpha");
      expect(expired.status).toBe(401);
      expect((await callWhere(gateway, "sk-never-issued-by-litellm", "alpha")).status).toBe(401);
    });
  });

  it("a second run changes nothing and says so", async () => {
    const result = await importInto();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/MCP servers: 0 imported, 4 unchanged/);
    expect(result.stdout).toMatch(/Keys: 7 in LiteLLM; 0 imported, 7 unchanged/);
    expect(result.stdout).toContain("Nothing changed");
  });

  it("a row changed in LiteLLM is a reported conflict, replaced only with --overwrite", async () => {
    await litellm.client.query(`UPDATE "LiteLLM_MCPServerTable" SET description = 'Alpha, renamed' WHERE server_id = $1`, [ids.alpha]);
    const kept = await importInto(["--json"]);
    const keptReport = JSON.parse(kept.stdout) as JsonReport;
    expect(keptReport.servers.entries.find((entry) => entry.name === "alpha")).toMatchObject({ outcome: "conflict" });
    const replaced = await importInto(["--json", "--overwrite"]);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect((JSON.parse(replaced.stdout) as JsonReport).servers.entries.find((entry) => entry.name === "alpha")).toMatchObject({ outcome: "updated" });
    await withGateway(async (gateway) => {
      const server = (await (await gateway.fetch(`/v1/mcp/server/${ids.alpha}`)).json()) as { description: string };
      expect(server.description).toBe("Alpha, renamed");
      expect(await callWhere(gateway, keys.alphaByName!, "alpha")).toEqual({ status: 200, text: "alpha" });
      // LiteLLM's alias is carried: the server answers to it.
      expect(await callWhere(gateway, keys.alphaByName!, "alpha_alias")).toEqual({ status: 200, text: "alpha" });
    });
  });

  it("a wrong LiteLLM salt key is reported as such, without writing or printing a secret", async () => {
    const result = await run(["--from", litellm.url, "--to", `sqlite:${join(workDir, "wrong-key.db")}`], { LITELLM_SALT_KEY: "not-the-litellm-salt" });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not the key LiteLLM encrypted them with/);
    expect(result.stderr).toMatch(/--litellm-salt-key/);
    for (const secret of [ALPHA_TOKEN, BETA_KEY, GAMMA_USER, LITELLM_SALT, "not-the-litellm-salt"]) expect(result.stderr + result.stdout).not.toContain(secret);
    const withoutKey = await run(["--from", litellm.url, "--to", `sqlite:${join(workDir, "no-key.db")}`], { LITELLM_SALT_KEY: "" });
    expect(withoutKey.code).toBe(1);
    expect(withoutKey.stderr).toMatch(/pass the LITELLM_SALT_KEY/);
  });
});

describe.skipIf(!hasPostgres)("import-litellm refuses bad input with a clear message", () => {
  let workDir: string;
  beforeAll(async () => {
    await buildCli("stale");
    workDir = await mkdtemp(join(tmpdir(), "gatehouse-import-bad-"));
  });
  afterAll(async () => {
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<Run> {
    const cli = spawnCli(["import-litellm", ...args], { cwd: workDir, env: cleanEnv({ GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_SALT_KEY: GATEHOUSE_SALT }) });
    const exit = await cli.exited;
    return { ...exit, stdout: cli.stdout(), stderr: cli.stderr() };
  }

  it("a database without LiteLLM's tables", async () => {
    const empty = await createTestDatabase("postgres");
    try {
      const result = await run(["--from", empty.url, "--to", "sqlite::memory:"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/is not a LiteLLM database/);
    } finally {
      await empty.drop();
    }
  });

  it("an unreachable database, with its password masked", async () => {
    const result = await run(["--from", "postgres://litellm:hunter2-password@127.0.0.1:1/litellm", "--to", "sqlite::memory:"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot read the LiteLLM database postgres:\/\/litellm:\*\*\*\*@127\.0\.0\.1:1\/litellm/);
    expect(result.stderr).not.toContain("hunter2-password");
  });

  it("no --from, and --from that is not PostgreSQL", async () => {
    const missing = await run(["--to", "sqlite::memory:"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from postgres:\/\/\.\.\. \(the LiteLLM database\) is required/);
    const sqlite = await run(["--from", "sqlite:./litellm.db", "--to", "sqlite::memory:"]);
    expect(sqlite.code).toBe(1);
    expect(sqlite.stderr).toMatch(/--from must be a LiteLLM PostgreSQL URL/);
  });

  it("Gatehouse's database being LiteLLM's own (DATABASE_URL set for LiteLLM)", async () => {
    const litellm = await createLiteLLMDatabase();
    try {
      const result = await run(["--from", litellm.url, "--to", litellm.url]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/Gatehouse's database is LiteLLM's database/);
    } finally {
      await litellm.drop();
    }
  });
});
