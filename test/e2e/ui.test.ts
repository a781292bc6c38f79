/**
 * The admin web UI at `/ui` in a real headless Chromium (issue 8), against a real gateway
 * (master key, in-memory SQLite), the product's M2M mock server, and a real oidc-provider
 * (`interactive-as.ts`) guarding an upstream MCP server (`protected-resource-upstream.ts`)
 * for the interactive Connect flow. Everything listens on 127.0.0.1.
 *
 * Each test opens its own browser context (its own cookies) and signs in itself; servers a
 * test needs but does not walk through the UI are created with the management API.
 * Screenshots of every distinct page go to `test-output/screenshots/` (see `browser.ts`).
 *
 * Waiting is Playwright's: locator actions auto-wait, and assertions wait for the element
 * they read (`waitFor`) or for the URL (`waitForURL`); nothing sleeps.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, type MockServer } from "../../src/mock-server/mock-server.js";
import { launchBrowser, requireChromium, screenshot, signInInBrowser, visibleTextOf as textOf } from "../fixtures/browser.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

/** Every Playwright action and wait: generous, bounded. */
const ACTION_TIMEOUT = 15_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** The gateway's own client at the oidc-provider, pre-registered for `${gateway.url}/callback` (GitHub style). */
const UI_CLIENT = { client_id: "gatehouse-ui-e2e", client_secret: "ui-e2e-secret-4f2a9c7d1e" };

/** The config file's server (read-only in the UI). */
const CONFIG_SERVER = "seed_m2m";

// A missing Chromium fails the run (this test, and the suite's beforeAll), never skips it.
it("finds Chromium at /usr/bin/chromium", () => {
  requireChromium();
});

it("says how to install Chromium when it is missing", () => {
  expect(() => requireChromium("/nonexistent/chromium")).toThrow("install it: apt-get install -y chromium");
});

describe("admin web UI in Chromium", { timeout: 30_000 }, () => {
  let browser: Browser;
  let mock: MockServer;
  let upstream: ProtectedResourceUpstream;
  let as: InteractiveAuthorizationServer;
  let gateway: TestGateway;
  /** A database server (the mock server, M2M) that tests share but never change. */
  const shared = { id: "", name: "shared_echo" };
  const contexts: BrowserContext[] = [];

  const m2m = () => ({ url: `${mock.url}/mcp`, auth_type: "oauth2", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET, token_url: `${mock.url}/oauth/token` });

  beforeAll(async () => {
    // First: a missing Chromium must fail the suite with how to install it.
    browser = await launchBrowser();
    mock = await startMockServer({ port: 0 });
    upstream = await startProtectedResourceUpstream({ name: "ui-protected" });
    gateway = await startTestGateway({ servers: { [CONFIG_SERVER]: m2m() } });
    // The pre-registered client's redirect_uri is the gateway's /callback: the AS starts after it.
    as = await startInteractiveAuthorizationServer({
      resource: upstream.url,
      clients: [{ ...UI_CLIENT, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_post" }],
    });
    upstream.trust(as);
    shared.id = await createServer({ server_name: shared.name, ...m2m() });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await gateway?.close();
    await Promise.allSettled([as?.close(), upstream?.close(), mock?.close()]);
  });

  // --- helpers ----------------------------------------------------------------------------

  /** A server through the management API; returns its id. */
  async function createServer(body: Record<string, unknown>): Promise<string> {
    const response = await gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const text = await response.text();
    expect(response.status, text).toBe(201);
    return (JSON.parse(text) as { server_id: string }).server_id;
  }

  async function serverNames(): Promise<string[]> {
    const response = await gateway.fetch("/v1/mcp/server");
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const listed = JSON.parse(text) as Array<{ server_name: string }>;
    expect(Array.isArray(listed), text).toBe(true);
    const names = listed.map((server) => server.server_name);
    // Never vacuous: the shared server is always there.
    expect(names).toContain(shared.name);
    return names;
  }

  /** A fresh browser profile with one tab. */
  async function openPage(options: { phone?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: options.phone === true ? PHONE : DESKTOP,
      ...(options.phone === true ? { isMobile: true, hasTouch: true } : {}),
    });
    contexts.push(context);
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    return { context, page: await context.newPage() };
  }

  const path = (page: Page) => new URL(page.url()).pathname;

  const signIn = (page: Page, key: string) => signInInBrowser(page, gateway.url, key);

  /** The row of the servers table whose name link is `name`. */
  const serverRow = (page: Page, name: string) => page.getByRole("row").filter({ has: page.getByRole("link", { name, exact: true }) });

  /** On the add/edit form: OAuth with the given flow. */
  async function chooseOauth(page: Page, flow: "Machine-to-Machine (client credentials)" | "Interactive (authorization code, per user)"): Promise<void> {
    await page.getByLabel("Authentication", { exact: true }).selectOption({ label: "OAuth" });
    await page.getByLabel("OAuth flow", { exact: true }).selectOption({ label: flow });
  }

  /** The HTML of every visible form control in `scope` that no <label> names (empty: all labelled). */
  async function unlabelled(page: Page, scope: string): Promise<string[]> {
    const controls = await page.locator(`${scope} :is(input, select, textarea):visible`).all();
    expect(controls.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const control of controls) {
      const labels = await control.evaluate((element) => (element as unknown as { labels: { length: number } | null }).labels?.length ?? 0);
      if (labels === 0) missing.push(await control.evaluate((element) => (element as unknown as { outerHTML: string }).outerHTML));
    }
    return missing;
  }

  /** `document.documentElement.scrollWidth` (the page's width including horizontal overflow). */
  const scrollWidth = (page: Page) => page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);

  // --- 1. sign in --------------------------------------------------------------------------

  it("redirects /ui to the login page, refuses a wrong key, and signs in with the master key", async () => {
    const { context, page } = await openPage();
    const response = await page.goto(`${gateway.url}/ui`);
    expect(path(page)).toBe("/ui/login");
    expect(response?.status()).toBe(200);
    const headers = response!.headers();
    expect(headers["x-frame-options"]).toBe("DENY");
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    await page.getByRole("heading", { name: "Sign in to Gatehouse" }).waitFor();
    await screenshot(page, "login");

    await page.getByLabel("Gateway key", { exact: true }).fill("sk-not-a-key-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await textOf(page.getByRole("alert"))).toMatch(/not valid|invalid/i);
    expect(path(page)).toBe("/ui/login");
    expect(await page.getByLabel("Gateway key", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    await screenshot(page, "login-error");

    await page.getByLabel("Gateway key", { exact: true }).fill(gateway.masterKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "MCP Servers", level: 1 }).waitFor();
    expect(path(page)).toBe("/ui/mcp/servers");

    const session = (await context.cookies(gateway.url)).find((cookie) => cookie.name === "gatehouse_session");
    expect(session).toBeDefined();
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    // The key itself is never the cookie.
    expect(session!.value).not.toContain(gateway.masterKey);
  });

  // --- 2. the seed's M2M walkthrough in the UI ---------------------------------------------

  it("adds an M2M server for the mock server, calls echo on its MCP Tools tab, and lists it as healthy", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "MCP Servers" }).click();
    await page.getByRole("link", { name: "+ Add New MCP Server" }).click();
    await page.getByRole("heading", { name: "Add MCP Server", level: 1 }).waitFor();
    await screenshot(page, "add-form");

    await page.getByLabel("Name", { exact: true }).fill("mock_m2m");
    await page.getByLabel("URL", { exact: true }).fill(`${mock.url}/mcp`);
    await page.getByLabel("Transport", { exact: true }).selectOption({ label: "HTTP (streamable)" });
    await chooseOauth(page, "Machine-to-Machine (client credentials)");
    await page.getByLabel("Client ID", { exact: true }).fill(MOCK_CLIENT_ID);
    await page.getByLabel("Client Secret", { exact: true }).fill(MOCK_CLIENT_SECRET);
    await page.getByLabel("Token URL", { exact: true }).fill(`${mock.url}/oauth/token`);
    await screenshot(page, "add-form-oauth");
    await page.getByRole("button", { name: "Create MCP Server" }).click();

    await page.getByRole("heading", { name: "mock_m2m", level: 1 }).waitFor();
    expect(path(page)).toMatch(/^\/ui\/mcp\/servers\/[^/]+$/);
    expect(await textOf(page.getByRole("status").filter({ hasText: "created" }))).toBe("MCP server created.");
    expect(await textOf(page.getByRole("row", { name: /^OAuth flow/ }))).toContain("Machine-to-Machine (client credentials)");
    // The secret is write-only: never on the page.
    expect(await page.content()).not.toContain(MOCK_CLIENT_SECRET);
    await screenshot(page, "server-overview");

    await page.getByRole("link", { name: "MCP Tools" }).click();
    await page.getByRole("navigation", { name: "Tools" }).getByRole("link", { name: /^echo/ }).click();
    await page.getByRole("heading", { name: "echo", level: 2 }).waitFor();
    await page.getByLabel("message", { exact: true }).fill("hello from Chromium");
    await page.getByRole("button", { name: "Call Tool" }).click();
    const result = page.locator("section.tool-result");
    expect(await textOf(result.getByRole("heading", { level: 2 }))).toBe("Result");
    expect(await textOf(result.locator("pre"))).toBe("hello from Chromium");
    await screenshot(page, "tools-result");

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "MCP Servers" }).click();
    await page.getByRole("heading", { name: "MCP Servers", level: 1 }).waitFor();
    expect(await textOf(serverRow(page, "mock_m2m").locator(".badge"))).toBe("✓ 1 tool");
    // The config file's server is listed too, read-only.
    expect(await textOf(serverRow(page, CONFIG_SERVER))).toContain("config file");
    await screenshot(page, "servers-list");
  });

  // --- 3. a field error -------------------------------------------------------------------

  it("shows a bad URL's error next to the URL field and keeps the entered name", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.goto(`${gateway.url}/ui/mcp/servers/new`);
    await page.getByLabel("Name", { exact: true }).fill("bad_url_server");
    await page.getByLabel("URL", { exact: true }).fill("not a url");
    await page.getByRole("button", { name: "Create MCP Server" }).click();

    const url = page.getByLabel("URL", { exact: true });
    const urlField = page.locator(".field").filter({ has: url });
    const error = urlField.getByRole("alert");
    expect(await textOf(error)).toMatch(/URL/);
    expect(await url.getAttribute("aria-invalid")).toBe("true");
    expect((await url.getAttribute("aria-describedby"))?.split(" ")).toContain(await error.getAttribute("id"));
    expect(await page.getByLabel("Name", { exact: true }).inputValue()).toBe("bad_url_server");
    expect(await url.inputValue()).toBe("not a url");
    // Only the URL is wrong.
    expect(await page.getByRole("alert").count()).toBe(1);
    expect(await serverNames()).not.toContain("bad_url_server");
    await screenshot(page, "add-form-error");
  });

  // Regression: a field of a section that no longer applied was submitted anyway, and its
  // error was put inside that hidden section, where nobody saw it (a 400 without a message).
  it("a bad field in a section that no longer applies is not sent: the server is created with the chosen authentication", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.goto(`${gateway.url}/ui/mcp/servers/new`);
    await page.getByLabel("Name", { exact: true }).fill("hidden_error");
    await page.getByLabel("URL", { exact: true }).fill(`${mock.url}/mcp`);
    await chooseOauth(page, "Machine-to-Machine (client credentials)");
    await page.getByLabel("Token URL", { exact: true }).fill("not a url");
    await page.getByLabel("Authentication", { exact: true }).selectOption({ label: "Bearer token" });
    await page.getByLabel("Credential", { exact: true }).fill("a-bearer-token");
    await page.getByRole("button", { name: "Create MCP Server" }).click();
    await page.getByRole("heading", { name: "hidden_error", level: 1 }).waitFor();
    const id = path(page).split("/").at(-1)!;
    try {
      const view = (await (await gateway.fetch(`/v1/mcp/server/${id}`)).json()) as Record<string, unknown>;
      expect({ auth_type: view.auth_type, token_url: view.token_url }).toEqual({ auth_type: "bearer_token", token_url: undefined });
    } finally {
      await gateway.fetch(`/v1/mcp/server/${id}`, { method: "DELETE" });
    }
  });

  // Regression: fields of a section that no longer applied were saved.
  it("OAuth fields typed before switching Authentication to None are not saved with the server", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.goto(`${gateway.url}/ui/mcp/servers/new`);
    await page.getByLabel("Name", { exact: true }).fill("leftover_fields");
    await page.getByLabel("URL", { exact: true }).fill(`${mock.url}/mcp`);
    await chooseOauth(page, "Machine-to-Machine (client credentials)");
    await page.getByLabel("Client ID", { exact: true }).fill("leftover-client");
    await page.getByLabel("Token URL", { exact: true }).fill(`${mock.url}/oauth/token`);
    await page.getByLabel("Authentication", { exact: true }).selectOption({ label: "None" });
    await page.getByRole("button", { name: "Create MCP Server" }).click();
    await page.getByRole("heading", { name: "leftover_fields", level: 1 }).waitFor();
    const id = path(page).split("/").at(-1)!;
    try {
      const response = await gateway.fetch(`/v1/mcp/server/${id}`);
      const view = (await response.json()) as Record<string, unknown>;
      expect(view.auth_type).toBe("none");
      expect({ client_id: view.client_id, token_url: view.token_url, oauth2_flow: view.oauth2_flow }, "OAuth fields of a server without OAuth").toEqual({
        client_id: undefined,
        token_url: undefined,
        oauth2_flow: undefined,
      });
    } finally {
      await gateway.fetch(`/v1/mcp/server/${id}`, { method: "DELETE" });
    }
  });

  it("saves the gateway's client choice (registration) of an interactive server and shows it again on the edit form", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.goto(`${gateway.url}/ui/mcp/servers/new`);
    await page.getByLabel("Name", { exact: true }).fill("dcr_only");
    await page.getByLabel("URL", { exact: true }).fill(`${mock.url}/mcp`);
    await chooseOauth(page, "Interactive (authorization code, per user)");
    await page.getByLabel("Gateway's client at the authorization server", { exact: true }).selectOption({ label: "Dynamic registration only" });
    await page.getByRole("button", { name: "Create MCP Server" }).click();
    await page.getByRole("heading", { name: "dcr_only", level: 1 }).waitFor();
    const id = path(page).split("/").at(-1)!;
    try {
      const view = (await (await gateway.fetch(`/v1/mcp/server/${id}`)).json()) as Record<string, unknown>;
      expect(view.registration).toBe("dcr");
      await page.goto(`${gateway.url}/ui/mcp/servers/${id}/edit`);
      await expect.poll(() => page.getByLabel("Gateway's client at the authorization server", { exact: true }).inputValue()).toBe("dcr");
    } finally {
      await gateway.fetch(`/v1/mcp/server/${id}`, { method: "DELETE" });
    }
  });

  // Regression: both were plain text inputs, so the secret was on screen as it was typed.
  it("the Client Secret and Credential inputs are password fields", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.goto(`${gateway.url}/ui/mcp/servers/new`);
    await page.getByLabel("Authentication", { exact: true }).selectOption({ label: "OAuth" });
    const clientSecret = await page.getByLabel("Client Secret", { exact: true }).getAttribute("type");
    await page.getByLabel("Authentication", { exact: true }).selectOption({ label: "Bearer token" });
    const credential = await page.getByLabel("Credential", { exact: true }).getAttribute("type");
    expect({ clientSecret, credential }).toEqual({ clientSecret: "password", credential: "password" });
  });

  // --- 4. interactive OAuth: Connect, call, Disconnect ------------------------------------

  it("adds an interactive OAuth server, connects through the oidc-provider, calls a tool, and disconnects", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.getByRole("link", { name: "+ Add New MCP Server" }).click();
    await page.getByLabel("Name", { exact: true }).fill("interactive_gh");
    await page.getByLabel("URL", { exact: true }).fill(upstream.url);
    await page.getByLabel("Transport", { exact: true }).selectOption({ label: "HTTP (streamable)" });
    await chooseOauth(page, "Interactive (authorization code, per user)");
    await page.getByLabel("Client ID", { exact: true }).fill(UI_CLIENT.client_id);
    await page.getByLabel("Client Secret", { exact: true }).fill(UI_CLIENT.client_secret);
    await page.getByLabel("Authorization URL", { exact: true }).fill(as.authorizationEndpoint);
    await page.getByLabel("Token URL", { exact: true }).fill(as.tokenEndpoint);
    await page.getByLabel("Scopes", { exact: true }).fill("mcp:read");
    await page.getByRole("button", { name: "Create MCP Server" }).click();

    await page.getByRole("heading", { name: "interactive_gh", level: 1 }).waitFor();
    const serverPath = path(page);
    const connection = page.getByRole("region", { name: "Your connection" });
    expect(await textOf(connection.locator(".badge"))).toBe("Not connected");
    await screenshot(page, "interactive-not-connected");

    // Connect: the gateway → the oidc-provider (its interaction logs in as `alice` and
    // grants; there is no form to fill) → the gateway's /callback → /ui/mcp/oauth/callback
    // → back on the server page.
    const interactionsBefore = as.interactions().length;
    await connection.getByRole("button", { name: "Connect", exact: true }).click();
    await page.waitForURL((url) => url.pathname === serverPath && url.searchParams.has("connected"));
    expect(await textOf(connection.locator(".badge"))).toBe("Connected");
    expect(await textOf(page.getByRole("status").filter({ hasText: "Connected:" }))).toContain("the gateway now calls this server with your account");
    expect(as.interactions().slice(interactionsBefore).map((interaction) => interaction.prompt)).toEqual(["login", "consent"]);
    expect(as.interactions().at(-1)).toMatchObject({ clientId: UI_CLIENT.client_id, accountId: "alice" });
    await screenshot(page, "interactive-connected");

    await page.getByRole("link", { name: "MCP Tools" }).click();
    const tools = page.getByRole("navigation", { name: "Tools" });
    await tools.getByRole("link", { name: /^add/ }).waitFor();
    for (const name of ["echo", "add", "whoami"]) expect(await tools.getByRole("link", { name: new RegExp(`^${name}`) }).count()).toBe(1);
    await tools.getByRole("link", { name: /^add/ }).click();
    await page.getByLabel("a", { exact: true }).fill("2");
    await page.getByLabel("b", { exact: true }).fill("40");
    await page.getByRole("button", { name: "Call Tool" }).click();
    expect(await textOf(page.locator("section.tool-result pre"))).toBe("42");
    // The upstream saw a token the oidc-provider issued for alice.
    const accepted = upstream.acceptedTokens();
    expect(accepted.length).toBeGreaterThan(0);
    expect(upstream.claims(accepted.at(-1)!)).toMatchObject({ sub: "alice", aud: upstream.url });
    await screenshot(page, "interactive-tools-result");

    await page.getByRole("link", { name: "Overview" }).click();
    await connection.getByRole("button", { name: "Disconnect", exact: true }).click();
    await page.waitForURL((url) => url.pathname === serverPath && url.searchParams.has("disconnected"));
    expect(await textOf(connection.locator(".badge"))).toBe("Not connected");
    expect(await connection.getByRole("button", { name: "Connect", exact: true }).count()).toBe(1);

    // Without a connection the tools tab says what to do.
    await page.getByRole("link", { name: "MCP Tools" }).click();
    expect(await textOf(page.getByRole("alert"))).toContain("Open its Overview tab and press Connect.");
  }, 45_000);

  // --- 5. keys -----------------------------------------------------------------------------

  it("creates a key limited to one server (shown once), lists it, and deletes it", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.getByRole("heading", { name: "Keys", level: 1 }).waitFor();

    await page.getByLabel("Key alias", { exact: true }).fill("e2e-limited");
    await page.getByLabel("User ID", { exact: true }).fill("erin");
    await page.getByRole("group", { name: "MCP servers this key may use" }).getByLabel(shared.name, { exact: true }).check();
    await page.getByRole("button", { name: "Create key" }).click();

    const created = page.getByRole("status").filter({ hasText: "shown only once" });
    const key = await textOf(created.locator("code.secret-once"));
    expect(key).toMatch(/^sk-/);
    const row = page.getByRole("row").filter({ hasText: "e2e-limited" });
    expect(await textOf(row)).toContain(shared.name);
    expect(await textOf(row)).toContain("erin");
    await screenshot(page, "keys-new-key");

    // The key works, for that server only.
    const tools = await gateway.fetch("/mcp-rest/tools/list", { key });
    expect(tools.status).toBe(200);

    // Shown once: a reload does not show it again.
    await page.goto(`${gateway.url}/ui/keys`);
    await page.getByRole("heading", { name: "Keys", level: 1 }).waitFor();
    expect(await page.content()).not.toContain(key);
    expect(await row.count()).toBe(1);

    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete key e2e-limited" }).click();
    expect(await textOf(page.getByRole("status").filter({ hasText: "was deleted" }))).toBe("Key e2e-limited was deleted.");
    expect(await row.count()).toBe(0);
    expect((await gateway.fetch("/mcp-rest/tools/list", { key })).status).toBe(401);
  });

  // --- 6. edit and delete -------------------------------------------------------------------

  it("edits a database server's description (keeping its secret) and deletes it after the confirm dialog", async () => {
    const id = await createServer({ server_name: "to_edit", description: "before the edit", ...m2m() });
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await serverRow(page, "to_edit").getByRole("link", { name: "to_edit" }).click();
    await page.getByRole("heading", { name: "to_edit", level: 1 }).waitFor();
    expect(await textOf(page.getByRole("row", { name: /^Description/ }))).toContain("before the edit");

    await page.getByRole("link", { name: "Edit", exact: true }).click();
    await page.getByRole("heading", { name: "Edit MCP Server to_edit", level: 1 }).waitFor();
    const description = page.getByLabel("Description", { exact: true });
    expect(await description.inputValue()).toBe("before the edit");
    expect(await page.getByLabel("Client Secret", { exact: true }).inputValue()).toBe("");
    await description.fill("after the edit");
    await page.getByRole("button", { name: "Save changes" }).click();

    await page.waitForURL((url) => url.pathname === `/ui/mcp/servers/${id}` && url.searchParams.has("saved"));
    expect(await textOf(page.getByRole("status").filter({ hasText: "saved" }))).toBe("Changes saved.");
    expect(await textOf(page.getByRole("row", { name: /^Description/ }))).toContain("after the edit");
    // The empty Client Secret kept the stored one: the tools still list.
    await page.getByRole("link", { name: "MCP Tools" }).click();
    await page.getByRole("heading", { name: "echo", level: 2 }).waitFor();

    await page.getByRole("link", { name: "Overview" }).click();
    let asked = "";
    page.once("dialog", (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.waitForURL((url) => url.pathname === "/ui/mcp/servers" && url.searchParams.has("deleted"));
    expect(asked).toContain("Delete MCP server to_edit?");
    expect(await textOf(page.getByRole("status").filter({ hasText: "deleted" }))).toBe("MCP server to_edit was deleted.");
    expect(await serverRow(page, "to_edit").count()).toBe(0);
    expect(await serverNames()).not.toContain("to_edit");
  });

  it("keeps the server when the delete confirm dialog is dismissed", async () => {
    await createServer({ server_name: "kept", ...m2m() });
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await serverRow(page, "kept").getByRole("link", { name: "kept" }).click();
    await page.getByRole("heading", { name: "kept", level: 1 }).waitFor();
    const dismissed = new Promise<void>((resolve) =>
      page.once("dialog", (dialog) => {
        void dialog.dismiss().then(resolve);
      }),
    );
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await dismissed;
    await page.getByRole("heading", { name: "kept", level: 1 }).waitFor();
    expect(await serverNames()).toContain("kept");
  });

  // --- 7. a virtual key --------------------------------------------------------------------

  it("shows a virtual key only its server, no Keys and no Add; /ui/keys is a readable 403", async () => {
    const key = await gateway.generateKey({ key_alias: "limited-viewer", object_permission: { mcp_servers: [shared.id] } });
    const { page } = await openPage();
    await signIn(page, key);

    const rows = page.locator("table tbody tr");
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    expect(await textOf(rows.first().getByRole("link"))).toBe(shared.name);
    const nav = page.getByRole("navigation", { name: "Main" });
    expect(await nav.getByRole("link").allInnerTexts()).toEqual(["MCP Servers", "My connections"]);
    expect(await page.getByText("Add New MCP Server").count()).toBe(0);
    expect(await textOf(page.locator("header .who"))).toContain("Signed in with key");

    const refused = await page.goto(`${gateway.url}/ui/keys`);
    expect(refused?.status()).toBe(403);
    await page.getByRole("heading", { name: "Not allowed", level: 1 }).waitFor();
    expect(await textOf(page.getByRole("alert"))).toContain("needs the master key");
    expect(await page.content()).not.toContain(key);

    // Other servers, and admin pages, are not there for it either.
    for (const target of [`/ui/mcp/servers/${CONFIG_SERVER}`, "/ui/mcp/servers/new"]) {
      const answer = await page.goto(`${gateway.url}${target}`);
      expect(answer?.status(), target).toBeGreaterThanOrEqual(403);
      expect(answer?.status(), target).toBeLessThanOrEqual(404);
    }
    // Its own server's tools work.
    await page.goto(`${gateway.url}/ui/mcp/servers/${shared.id}/tools?tool=echo`);
    await page.getByLabel("message", { exact: true }).fill("from a virtual key");
    await page.getByRole("button", { name: "Call Tool" }).click();
    expect(await textOf(page.locator("section.tool-result pre"))).toBe("from a virtual key");
  });

  // --- 8. log out --------------------------------------------------------------------------

  it("logs out: back to login with a notice, pages redirect to login, the old cookie is dead", async () => {
    const { context, page } = await openPage();
    await signIn(page, gateway.masterKey);
    const old = (await context.cookies(gateway.url)).find((cookie) => cookie.name === "gatehouse_session");
    expect(old).toBeDefined();

    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL((url) => url.pathname === "/ui/login");
    expect(await textOf(page.getByRole("status"))).toMatch(/signed out/i);
    expect((await context.cookies(gateway.url)).map((cookie) => cookie.name)).not.toContain("gatehouse_session");

    await page.goto(`${gateway.url}/ui/mcp/servers`);
    expect(path(page)).toBe("/ui/login");
    await page.getByRole("heading", { name: "Sign in to Gatehouse" }).waitFor();

    await context.addCookies([old!]);
    await page.goto(`${gateway.url}/ui/mcp/servers`);
    expect(path(page)).toBe("/ui/login");
    await page.getByLabel("Gateway key", { exact: true }).waitFor();
  });

  it("brings a signed-out deep link back to its page after signing in", async () => {
    const { page } = await openPage();
    await page.goto(`${gateway.url}/ui/keys`);
    expect(path(page)).toBe("/ui/login");
    expect(new URL(page.url()).searchParams.get("next")).toBe("/ui/keys");
    await page.getByLabel("Gateway key", { exact: true }).fill(gateway.masterKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Keys", level: 1 }).waitFor();
    expect(path(page)).toBe("/ui/keys");
  });

  // --- 9. CSRF -----------------------------------------------------------------------------

  it("refuses a POST to /ui/mcp/servers without the form's CSRF token, or with a wrong one", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    const form = { server_name: "csrf_victim", url: `${mock.url}/mcp`, transport: "http", auth_type: "none" };
    for (const csrf of [undefined, "not-the-token", ""]) {
      const answer = await page.request.post(`${gateway.url}/ui/mcp/servers`, {
        form: csrf === undefined ? form : { ...form, csrf },
        maxRedirects: 0,
        timeout: ACTION_TIMEOUT,
      });
      expect(answer.status(), `csrf=${String(csrf)}`).toBe(403);
      expect(await answer.text()).toContain("This form is out of date");
    }
    // The same request with the page's token goes through: the refusal was the token's.
    const token = await page.locator("header form input[name=csrf]").getAttribute("value");
    expect(await serverNames()).not.toContain("csrf_victim");
    const accepted = await page.request.post(`${gateway.url}/ui/mcp/servers`, { form: { ...form, server_name: "csrf_control", csrf: token ?? "" }, maxRedirects: 0, timeout: ACTION_TIMEOUT });
    expect(accepted.status()).toBe(303);
    expect(await serverNames()).toContain("csrf_control");
    await gateway.fetch("/v1/mcp/server/csrf_control", { method: "DELETE" });
  });

  it("refuses a cross-origin form that posts to the gateway with the signed-in cookie", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    // Another origin (same site: 127.0.0.1, other port): the Lax cookie goes along, the token does not.
    await page.goto(`${mock.url}/`);
    await page.setContent(`<form method="post" action="${gateway.url}/ui/mcp/servers"><input name="server_name" value="cross_site"><input name="url" value="${mock.url}/mcp"><button>go</button></form>`);
    await page.getByRole("button", { name: "go" }).click();
    await page.waitForURL((url) => url.origin === gateway.url);
    expect(await textOf(page.getByRole("alert"))).toContain("This form is out of date");
    expect(await serverNames()).not.toContain("cross_site");
  });

  // --- 10. phone width ---------------------------------------------------------------------

  it("renders the servers page and a tools page at 390px without horizontal overflow", async () => {
    const { page } = await openPage({ phone: true });
    await signIn(page, gateway.masterKey);
    expect(await scrollWidth(page)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, "phone-servers");

    await page.goto(`${gateway.url}/ui/mcp/servers/${shared.id}/tools?tool=echo`);
    await page.getByLabel("message", { exact: true }).fill("narrow");
    await page.getByRole("button", { name: "Call Tool" }).click();
    expect(await textOf(page.locator("section.tool-result pre"))).toBe("narrow");
    expect(await scrollWidth(page)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, "phone-tools");

    for (const target of ["/ui/mcp/servers/new", "/ui/keys"]) {
      await page.goto(`${gateway.url}${target}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      expect(await scrollWidth(page), target).toBeLessThanOrEqual(PHONE.width);
    }
  });

  // Regression: the details table was not wrapped and its URL could not break.
  it("the server overview page fits 390px (a long URL wraps)", async () => {
    const longUrl = "http://127.0.0.1:9/organizations/acme-corporation/mcp";
    const id = await createServer({ server_name: "long_url", url: longUrl });
    try {
      const { page } = await openPage({ phone: true });
      await signIn(page, gateway.masterKey);
      const widths: Record<string, number> = {};
      for (const [name, target] of [["long_url", id], [shared.name, shared.id]] as const) {
        await page.goto(`${gateway.url}/ui/mcp/servers/${target}`);
        await page.getByRole("heading", { name, level: 1 }).waitFor();
        if (name === "long_url") await screenshot(page, "phone-overview-long-url");
        widths[name] = await scrollWidth(page);
      }
      expect(widths).toEqual({ long_url: expect.any(Number), [shared.name]: expect.any(Number) });
      for (const [name, width] of Object.entries(widths)) expect(width, `overview of ${name}: document scrollWidth`).toBeLessThanOrEqual(PHONE.width);
    } finally {
      await gateway.fetch(`/v1/mcp/server/${id}`, { method: "DELETE" });
    }
  });

  // --- 11. labels --------------------------------------------------------------------------

  it("labels every visible control of the add-server form and the tool form", async () => {
    const { page } = await openPage();
    await signIn(page, gateway.masterKey);
    await page.goto(`${gateway.url}/ui/mcp/servers/new`);
    expect(await unlabelled(page, "form[data-server-form]")).toEqual([]);
    await chooseOauth(page, "Interactive (authorization code, per user)");
    expect(await unlabelled(page, "form[data-server-form]")).toEqual([]);
    await page.getByLabel("Authentication", { exact: true }).selectOption({ label: "Bearer token" });
    await page.getByLabel("Credential", { exact: true }).waitFor();
    expect(await unlabelled(page, "form[data-server-form]")).toEqual([]);

    await page.goto(`${gateway.url}/ui/mcp/servers/${shared.id}/tools?tool=echo`);
    expect(await unlabelled(page, "form.tool-form")).toEqual([]);
    await page.getByText("Raw JSON arguments", { exact: true }).first().click();
    await page.getByRole("textbox", { name: "Raw JSON arguments" }).waitFor();
    expect(await unlabelled(page, "form.tool-form")).toEqual([]);
  });
});
