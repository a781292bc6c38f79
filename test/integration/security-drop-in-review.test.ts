/**
 * Holes found by the attack review of issue 17's LiteLLM drop-in surface (SECURITY.md says
 * what each rule is). Each describe is named after what broke.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../fixtures/databases.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";
import { signInToUi } from "../fixtures/ui-session.js";

/** Calls `echo` of `alpha` from the UI's tools page: the answer. */
async function uiCall(gateway: TestGateway, cookie: string): Promise<Response> {
  const page = await fetch(new URL("/ui/mcp/servers/alpha/tools?tool=echo", gateway.url), { headers: { cookie } });
  expect(page.status).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  return fetch(new URL("/ui/mcp/servers/alpha/tools/call", gateway.url), {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, tool: "echo", raw_arguments: JSON.stringify({ message: "from the ui" }) }).toString(),
  });
}

describe("regression: a key's rpm_limit did not count tool calls made from the UI's tools page", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "alpha" });
    gateway = await startTestGateway({ servers: { alpha: { url: upstream.url } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("answers the call past the limit with 429, whichever route made the earlier calls", async () => {
    const key = await gateway.generateKey({ rpm_limit: 2 });
    const cookie = await signInToUi(gateway.url, key);
    expect((await uiCall(gateway, cookie)).status).toBe(200);
    const rest = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", key, headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "alpha", name: "echo", arguments: { message: "x" } }) });
    expect(rest.status).toBe(200);
    const toolCalls = () => upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").length;
    const calls = toolCalls();
    expect(calls).toBe(2);
    const refused = await uiCall(gateway, cookie);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain("rpm_limit");
    expect(toolCalls()).toBe(calls);
  });
});

describe("regression: a database server whose server_id is a config server's name shared that server's id (and its keys)", () => {
  // The API refuses such an id, but the config file can gain the name later: a config
  // server's id is its name, so keys granted one server were granted the other too.
  let secret: Upstream;
  let other: Upstream;
  let db: TestDatabase;
  let gateway: TestGateway | undefined;

  beforeAll(async () => {
    [secret, other] = await Promise.all([startUpstream({ name: "secret" }), startUpstream({ name: "other" })]);
    db = await createTestDatabase("sqlite");
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.all([secret?.close(), other?.close()]);
    await db?.drop();
  });

  const start = (servers: Record<string, Record<string, unknown>>) => startTestGateway({ servers, env: { DATABASE_URL: db.url } });

  it("does not start, naming both servers, so a key granted the database server never reaches the config server", async () => {
    gateway = await start({});
    const created = await gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "db-tools", server_id: "github", url: other.url }) });
    expect(created.status).toBe(201);
    const key = await gateway.generateKey({ object_permission: { mcp_servers: ["db-tools"] } });
    await gateway.close();
    gateway = undefined;

    // The operator later adds a config server named github (or GitHub).
    for (const name of ["github", "GitHub"]) {
      await expect(start({ [name]: { url: secret.url } })).rejects.toThrow(new RegExp(`mcp_servers\\.${name}: database server 'db-tools' has the server_id 'github'`));
    }
    expect(secret.requests).toEqual([]);

    // Renamed, it starts; the key keeps its own server and never sees the config one.
    gateway = await start({ "github-cloud": { url: secret.url } });
    const listed = await gateway.fetch("/mcp-rest/tools/list", { key });
    expect(listed.status).toBe(200);
    const { tools } = (await listed.json()) as { tools: Array<{ mcp_info: { server_name: string } }> };
    expect(new Set(tools.map((tool) => tool.mcp_info.server_name))).toEqual(new Set(["db-tools"]));
  });
});
