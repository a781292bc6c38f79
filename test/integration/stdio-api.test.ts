/**
 * stdio servers and the management API (`/v1/mcp/server`): a stdio server runs a command on
 * the gateway's host, so only the config file may define one unless
 * general_settings.mcp_allow_stdio_servers_from_api says otherwise; a stored stdio server
 * is never run by an instance that does not allow them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { fixtureServer } from "../fixtures/stdio.js";

let dir: string;
let allowing: TestGateway;
let refusing: TestGateway;

const post = (gateway: TestGateway, body: unknown) =>
  gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-stdio-api-"));
  const env = { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}` };
  allowing = await startTestGateway({ servers: {}, general: { mcp_allow_stdio_servers_from_api: true }, env });
  refusing = await startTestGateway({ servers: {}, env });
}, 30_000);

afterAll(async () => {
  await Promise.allSettled([allowing?.close(), refusing?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** A UI session of the master key: its cookie header and the CSRF token of the add-server form. */
async function uiSession(gateway: TestGateway): Promise<{ cookie: string; csrf: string }> {
  const login = await fetch(new URL("/ui/login", gateway.url), { redirect: "manual" });
  const loginCookie = login.headers.getSetCookie().find((line) => line.startsWith("gatehouse_login_csrf="))!.split(";")[0]!;
  const loginCsrf = /name="csrf" value="([^"]+)"/.exec(await login.text())![1]!;
  const signedIn = await fetch(new URL("/ui/login", gateway.url), { method: "POST", body: new URLSearchParams({ csrf: loginCsrf, key: gateway.masterKey }), redirect: "manual", headers: { cookie: loginCookie } });
  const cookie = signedIn.headers.getSetCookie().find((line) => line.startsWith("gatehouse_session="))!.split(";")[0]!;
  const form = await fetch(new URL("/ui/mcp/servers/new", gateway.url), { headers: { cookie } });
  return { cookie, csrf: /name="csrf" value="([^"]+)"/.exec(await form.text())![1]! };
}

describe("the UI and stdio servers", () => {
  it("refuses a stdio server submitted through the add-server form (a crafted transport value) by default", async () => {
    const { cookie, csrf } = await uiSession(refusing);
    const body = new URLSearchParams({ csrf, server_name: "from-ui", transport: "stdio", auth_type: "none" });
    const response = await fetch(new URL("/ui/mcp/servers", refusing.url), { method: "POST", body, redirect: "manual", headers: { cookie } });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("mcp_allow_stdio_servers_from_api");
    const list = (await (await refusing.fetch("/v1/mcp/server")).json()) as Array<{ server_name: string }>;
    expect(list.map((server) => server.server_name)).not.toContain("from-ui");
  });
});

describe("the management API and stdio servers", () => {
  it("refuses a stdio server by default with 403, naming the setting", async () => {
    const response = await post(refusing, { server_name: "local", ...fixtureServer() });
    expect(response.status).toBe(403);
    const body = (await response.json()) as { error: string; detail: string };
    expect(body.error).toBe("stdio_not_allowed");
    expect(body.detail).toContain("general_settings.mcp_allow_stdio_servers_from_api");
  });

  it("refuses os.environ/ in a stdio server's env even where stdio is allowed (the API must not read the gateway's environment)", async () => {
    const response = await post(allowing, { server_name: "peek", ...fixtureServer({ env: { KEY: "os.environ/GATEHOUSE_MASTER_KEY" } }) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/^env\.KEY: os\.environ\/ references are resolved only in the config file/);
  });

  it("accepts one where the setting allows it, masks its env, runs it, and serves it", async () => {
    const response = await post(allowing, { server_name: "local", ...fixtureServer({ env: { LOCAL_TOKEN: "a-secret-env-value-1234" } }) });
    expect(response.status).toBe(201);
    const view = (await response.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ server_name: "local", transport: "stdio", command: process.execPath, env: { LOCAL_TOKEN: "****" } });
    expect(JSON.stringify(view)).not.toContain("a-secret-env-value-1234");
    await allowing.waitForLog((line) => line.server === "local" && line.msg === "stdio MCP server is ready");
    const called = await allowing.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: "local", name: "env", arguments: { name: "LOCAL_TOKEN" } }),
    });
    expect(called.status).toBe(200);
    // The child has the value; the gateway masks it in what it relays (only the exact value turns into ****1234).
    expect(JSON.stringify(await called.json())).toContain('"text":"****1234"');
  });

  it("an instance that does not allow stdio servers leaves a stored one out, with the reason, and runs nothing", async () => {
    await refusing.syncWithStore();
    const list = (await (await refusing.fetch("/v1/mcp/server")).json()) as Array<{ server_name: string }>;
    expect(list.map((server) => server.server_name)).not.toContain("local");
    const health = (await (await refusing.fetch("/v1/mcp/server/health")).json()) as Array<{ server_name: string; loaded: boolean; health_check_error: string }>;
    expect(health).toContainEqual(expect.objectContaining({ server_name: "local", loaded: false, health_check_error: expect.stringContaining("mcp_allow_stdio_servers_from_api: false") as unknown }));
    expect(refusing.logs.some((line) => line.server === "local" && line.msg === "stdio MCP server process started")).toBe(false);
    const response = await refusing.fetch("/local/mcp", { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
    expect(response.status).toBe(404);
  });

  it("an edit that keeps a masked env value keeps the stored one", async () => {
    const response = await allowing.fetch("/v1/mcp/server/local", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: "local", ...fixtureServer({ env: { LOCAL_TOKEN: "****" }, description: "edited" }) }),
    });
    expect(response.status).toBe(200);
    await allowing.waitForLog((line) => line.server === "local" && line.msg === "stdio MCP server stopped");
    const called = await allowing.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: "local", name: "env", arguments: { name: "LOCAL_TOKEN" } }),
    });
    // "****" itself would come back as it is: ****1234 is the stored value, masked on the way out.
    expect(JSON.stringify(await called.json())).toContain('"text":"****1234"');
  });

  it("deleting a stdio server stops its process", async () => {
    const stopsBefore = allowing.logs.filter((line) => line.server === "local" && line.msg === "stdio MCP server stopped").length;
    const response = await allowing.fetch("/v1/mcp/server/local", { method: "DELETE" });
    expect(response.status).toBe(200);
    await allowing.waitForLog(() => allowing.logs.filter((line) => line.server === "local" && line.msg === "stdio MCP server stopped").length > stopsBefore);
  });
});
