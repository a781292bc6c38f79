/**
 * My connections (`/ui/connections`) in a real headless Chromium: a virtual key signs in,
 * follows the nav link, connects an interactive server through a real oidc-provider with
 * RFC 7009 revocation, sees the connection (scopes, expiry, connected, last refresh), and
 * disconnects it: the provider saw the refresh token revoked. The desktop screenshot is
 * kept in `docs/screenshots/connections.png` (README); the phone one in `test-output/`.
 *
 * Waiting is Playwright's (locators and `waitForURL`); nothing sleeps.
 */
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, screenshot, signInInBrowser, visibleTextOf as textOf } from "../fixtures/browser.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const ACTION_TIMEOUT = 15_000;
/** The README's pictures are rewritten only when asked (UPDATE_SCREENSHOTS=1); otherwise they go to test-output/ to be looked at. */
const DOCS_SCREENSHOTS = fileURLToPath(new URL(process.env.UPDATE_SCREENSHOTS === "1" ? "../../docs/screenshots/" : "../../test-output/", import.meta.url));

describe("My connections in Chromium", { timeout: 45_000 }, () => {
  let browser: Browser;
  let upstream: ProtectedResourceUpstream;
  let other: ProtectedResourceUpstream;
  let as: InteractiveAuthorizationServer;
  let otherAs: InteractiveAuthorizationServer;
  let gateway: TestGateway;
  let aliceKey: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    browser = await launchBrowser();
    upstream = await startProtectedResourceUpstream({ name: "docs-search" });
    as = await startInteractiveAuthorizationServer({ resource: upstream.url, revocation: true });
    upstream.trust(as);
    other = await startProtectedResourceUpstream({ name: "tracker" });
    otherAs = await startInteractiveAuthorizationServer({ resource: other.url });
    other.trust(otherAs);
    gateway = await startTestGateway({
      general: { oauth_registration_rate_limit_per_minute: 0 },
      servers: {
        docs_search: { url: upstream.url, auth_type: "oauth2", description: "company wiki search" },
        issue_tracker: { url: other.url, auth_type: "oauth2" },
      },
    });
    aliceKey = await gateway.generateKey({ user_id: "alice", key_alias: "alice-laptop" });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await gateway?.close();
    await Promise.allSettled([as?.close(), otherAs?.close(), upstream?.close(), other?.close()]);
  });

  async function openPage(viewport = { width: 1280, height: 720 }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    return context.newPage();
  }

  const signIn = (page: Page, key: string) => signInInBrowser(page, gateway.url, key);

  const row = (page: Page, server: string) => page.getByRole("row").filter({ has: page.getByRole("rowheader", { name: server, exact: true }) });

  it("connects, shows and disconnects a virtual key's connection, revoking it at the provider", async () => {
    const page = await openPage();
    await signIn(page, aliceKey);
    await page.getByRole("link", { name: "My connections" }).click();
    await page.getByRole("heading", { name: "My connections", level: 1 }).waitFor();
    expect(await textOf(row(page, "docs_search").locator(".badge"))).toBe("Not connected");

    await row(page, "docs_search").getByRole("button", { name: "Connect docs_search" }).click();
    await page.waitForURL((url) => url.pathname === "/ui/connections" && url.searchParams.get("connected") === "docs_search");
    expect(await textOf(page.getByRole("status"))).toBe("Connected to docs_search: the gateway now calls it with your account.");
    const connected = row(page, "docs_search");
    expect(await textOf(connected.locator(".badge"))).toBe("Connected");
    expect(await textOf(connected.locator("code.scope").first())).toBe("mcp:read");
    expect(await textOf(connected.locator("td").nth(2))).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC \(refreshed automatically\)$/);
    expect(await textOf(connected.locator("td").nth(4))).toBe("not yet");
    expect(await connected.getByRole("button", { name: "Reconnect docs_search" }).count()).toBe(1);
    expect(await textOf(row(page, "issue_tracker").locator(".badge"))).toBe("Not connected");
    await mkdir(DOCS_SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${DOCS_SCREENSHOTS}connections.png`, fullPage: true });

    const phone = await openPage({ width: 390, height: 844 });
    await signIn(phone, aliceKey);
    await phone.goto(`${gateway.url}/ui/connections`);
    await screenshot(phone, "connections-phone");
    // The table scrolls inside its wrapper; the page itself never scrolls sideways.
    const scrollWidth = await phone.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
    expect(scrollWidth).toBe(390);

    // The master key sees how many users connected each server, never whose or their tokens.
    const master = await openPage();
    await signIn(master, gateway.masterKey);
    await master.goto(`${gateway.url}/ui/connections`);
    const overview = master.getByRole("region", { name: "Connections of all users" });
    expect(await textOf(overview.getByRole("row").filter({ has: master.getByRole("rowheader", { name: "docs_search" }) }))).toBe("docs_search 1");
    expect(await textOf(row(master, "docs_search").locator(".badge"))).toBe("Not connected");

    const refresh = as.issuedRefreshTokens().at(-1)!;
    await connected.getByRole("button", { name: "Disconnect docs_search" }).click();
    await page.waitForURL((url) => url.pathname === "/ui/connections" && url.searchParams.get("revocation") === "revoked");
    expect(await textOf(page.getByRole("status"))).toBe("Disconnected from docs_search: your tokens were deleted from the gateway and revoked at its authorization server.");
    expect(await textOf(row(page, "docs_search").locator(".badge"))).toBe("Not connected");
    expect(as.revocationRequests().find((request) => request.token === refresh)).toMatchObject({ token_type_hint: "refresh_token", status: 200 });
    expect(await as.refreshTokenActive(refresh)).toBe(false);
  });
});
