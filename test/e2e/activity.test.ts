/**
 * The activity page (issue 20) in a real headless Chromium, against a real gateway
 * (in-memory SQLite) whose audit trail is filled by real tool calls through the product's
 * mock MCP server: the list, a filter, paging, one event's details (never its arguments),
 * the charts drawn by uPlot from the gateway's own origin under the page's CSP, at desktop
 * and phone sizes, and the servers list's last-hour glance. Also the summary's JSON
 * endpoints (master key, UI session) and uPlot's route.
 *
 * The two pictures in the README (activity-desktop.png, activity-phone.png) are taken last,
 * once an hour of earlier traffic has been written into the gateway's database beside the
 * real calls, so the charts show an hour rather than one minute's burst; nothing sleeps,
 * Playwright waits for what it reads.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockServer, MOCK_CLIENT_ID, MOCK_CLIENT_SECRET, type MockServer } from "../../src/mock-server/mock-server.js";
import type { ActivitySummary } from "../../src/observability/activity.js";
import { launchBrowser, screenshot, signInInBrowser } from "../fixtures/browser.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { openDatabase } from "../../src/store/database.js";
import type { AuditEventsTable } from "../../src/store/schema.js";

const ACTION_TIMEOUT = 15_000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const SERVER = "seed_m2m";
/** The README's pictures are rewritten only when asked (UPDATE_SCREENSHOTS=1); otherwise they go to test-output/ to be looked at. */
const DOCS_SCREENSHOTS = fileURLToPath(new URL(process.env.UPDATE_SCREENSHOTS === "1" ? "../../docs/screenshots/" : "../../test-output/", import.meta.url));
/** An argument value that must never show in the UI (the trail does not keep arguments). */
const ARGUMENT = "private-argument-5c1e";
const OK_CALLS = 52;
const FAILED_CALLS = 3;

describe("activity page in Chromium", { timeout: 60_000 }, () => {
  let browser: Browser;
  let mock: MockServer;
  let gateway: TestGateway;
  let dir: string;
  const contexts: BrowserContext[] = [];

  /** Calls a tool through the REST route; an unknown tool answers 200 with `isError` (a tool error). */
  async function callTool(name: string): Promise<boolean> {
    const response = await gateway.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ server_name: SERVER, name, arguments: { message: ARGUMENT } }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    return (JSON.parse(text) as { isError?: boolean }).isError === true;
  }

  beforeAll(async () => {
    browser = await launchBrowser();
    mock = await startMockServer({ port: 0 });
    dir = await mkdtemp(join(tmpdir(), "gatehouse-activity-"));
    gateway = await startTestGateway({
      env: { DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}` },
      servers: { [SERVER]: { url: `${mock.url}/mcp`, auth_type: "oauth2", client_id: MOCK_CLIENT_ID, client_secret: MOCK_CLIENT_SECRET, token_url: `${mock.url}/oauth/token` } },
    });
    for (let index = 0; index < OK_CALLS; index++) expect(await callTool("echo")).toBe(false);
    for (let index = 0; index < FAILED_CALLS; index++) expect(await callTool("no_such_tool")).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await gateway?.close();
    await mock?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** A signed-in tab; `violations` collects the page's CSP violations and script errors. */
  async function signedIn(options: { phone?: boolean } = {}): Promise<{ page: Page; violations: string[] }> {
    const context = await browser.newContext({ viewport: options.phone === true ? PHONE : DESKTOP, ...(options.phone === true ? { isMobile: true, hasTouch: true } : {}) });
    contexts.push(context);
    context.setDefaultTimeout(ACTION_TIMEOUT);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
    const page = await context.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") violations.push(message.text());
    });
    page.on("pageerror", (error) => violations.push(error.message));
    await signInInBrowser(page, gateway.url, gateway.masterKey);
    return { page, violations };
  }

  /** Waits until uPlot has drawn each chart (a canvas with a size), and returns how many. */
  async function drawnCharts(page: Page): Promise<number> {
    for (const id of ["chart-calls", "chart-errors", "chart-latency"]) await page.locator(`#${id}[data-drawn="true"] canvas`).waitFor();
    const sizes = await page.locator(".chart canvas").evaluateAll((canvases) => canvases.map((canvas) => (canvas as unknown as { width: number }).width));
    expect(sizes.every((width) => width > 100)).toBe(true);
    return sizes.length;
  }

  const rows = (page: Page) => page.locator("table.events tbody tr");

  it("lists the calls, filters them, pages them, opens one call's details, and draws the charts (desktop)", async () => {
    const { page, violations } = await signedIn();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Activity" }).click();
    await page.getByRole("heading", { name: "Activity", level: 1 }).waitFor();
    expect(await drawnCharts(page)).toBe(3);
    expect(await page.locator(".totals").innerText()).toContain(`${OK_CALLS + FAILED_CALLS} calls`);
    await screenshot(page, "activity-desktop-calls");

    // Paging: 50 a page, the rest on the next.
    expect(await rows(page).count()).toBe(50);
    await page.getByRole("link", { name: "Older →" }).click();
    await page.getByRole("link", { name: "← Newest" }).waitFor();
    expect(await rows(page).count()).toBe(OK_CALLS + FAILED_CALLS - 50);
    expect(await page.getByRole("link", { name: "Older →" }).count()).toBe(0);

    // A filter: the failed calls only.
    await page.getByLabel("Outcome", { exact: true }).selectOption("tool_error");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/outcome=tool_error/);
    await rows(page).first().waitFor();
    expect(await rows(page).count()).toBe(FAILED_CALLS);
    expect(await rows(page).allInnerTexts()).toEqual(Array.from({ length: FAILED_CALLS }, () => expect.stringContaining("no_such_tool")));
    await drawnCharts(page);

    // One call's details: who, what, how it ended; never its arguments.
    await rows(page).first().getByRole("link").click();
    await page.getByRole("heading", { name: /Call of no_such_tool/ }).waitFor();
    const details = (await page.locator("table.details").innerText()).replace(/\s+/g, " ");
    for (const label of ["Request id", "Time (UTC)", "Caller master", "Route rest", `Server ${SERVER}`, "Tool no_such_tool", "Outcome tool_error", "Status", "Error code", "Duration"]) expect(details).toContain(label);
    expect(await page.content()).not.toContain(ARGUMENT);
    await screenshot(page, "activity-event");
    expect(violations).toEqual([]);
  });

  it("draws the charts and keeps the page within a phone's width", async () => {
    const { page, violations } = await signedIn({ phone: true });
    await page.goto(`${gateway.url}/ui/activity?server=${SERVER}&range=day`);
    expect(await drawnCharts(page)).toBe(3);
    expect(await page.locator(`nav[aria-label="Chart range"] a[aria-current="page"]`).innerText()).toBe("Last day");
    const width = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, "activity-phone-full");
    expect(violations).toEqual([]);
  });

  it("shows each server's last hour on the servers list, linked to its activity", async () => {
    const { page } = await signedIn();
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: SERVER, exact: true }) });
    const glance = row.locator("td.recent a");
    expect(await glance.getAttribute("href")).toBe(`/ui/activity?server=${SERVER}`);
    const text = (await glance.innerText()).replace(/\s+/g, " ");
    expect(text).toMatch(new RegExp(`^${OK_CALLS + FAILED_CALLS} calls · 5.5% errors · p50 \\d+ ms$`));
    await screenshot(page, "servers-list-glance");
  });

  it("serves uPlot from the gateway with long cache headers, and the activity page's CSP allows it by hash and URL only", async () => {
    const script = await fetch(`${gateway.url}/ui/assets/uplot.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("text/javascript");
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await script.text()).toContain("uPlot");
    const { page } = await signedIn();
    const response = await page.goto(`${gateway.url}/ui/activity`);
    const csp = response!.headers()["content-security-policy"]!;
    expect(csp).toMatch(/script-src [^;]*'sha384-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain(`${gateway.url}/ui/assets/uplot.js`);
    expect(csp).not.toContain("'self'");
    expect(csp).not.toContain("unsafe-inline");
  });

  it("answers the summary as JSON to the master key and to a signed-in admin, and refuses others", async () => {
    const response = await gateway.fetch(`/v1/mcp/activity/summary?server=${SERVER}&range=week`);
    expect(response.status).toBe(200);
    const summary = (await response.json()) as ActivitySummary;
    expect(summary).toMatchObject({ server: SERVER, range: "week", bucketSeconds: 3600, totals: { calls: OK_CALLS + FAILED_CALLS, toolErrors: FAILED_CALLS } });
    expect(summary.buckets).toHaveLength(168);
    expect((await gateway.fetch("/v1/mcp/activity/summary?range=year")).status).toBe(400);
    expect((await gateway.fetch("/v1/mcp/activity/summary", { key: null })).status).toBe(401);
    const virtual = await gateway.generateKey({ key_alias: "activity-viewer" });
    expect((await gateway.fetch("/v1/mcp/activity/summary", { key: virtual })).status).toBe(403);

    // The audit list's time range, as the page's From / To use it.
    const until = await gateway.fetch(`/v1/mcp/audit?server=${SERVER}&until=2000-01-01T00:00:00Z`);
    expect(((await until.json()) as { events: unknown[] }).events).toEqual([]);
    expect((await gateway.fetch("/v1/mcp/audit?until=yesterday")).status).toBe(400);

    const { page } = await signedIn();
    const refused = await page.goto(`${gateway.url}/ui/activity?from=yesterday`);
    expect(refused?.status()).toBe(400);
    expect(await page.getByRole("alert").innerText()).toContain("From must be a date and time");
    const fromSession = await page.request.get(`${gateway.url}/ui/activity/summary?range=hour`);
    expect(fromSession.status()).toBe(200);
    expect(((await fromSession.json()) as ActivitySummary).totals.calls).toBe(OK_CALLS + FAILED_CALLS);
  });

  it("charts an hour of traffic (the README's pictures)", async () => {
    const earlier = hourOfTraffic(new Date());
    const database = await openDatabase(`sqlite:${join(dir, "gatehouse.db")}`);
    try {
      await database.db.insertInto("audit_events").values(earlier).execute();
    } finally {
      await database.close();
    }
    const summary = (await (await gateway.fetch(`/v1/mcp/activity/summary?server=${SERVER}&range=hour`)).json()) as ActivitySummary;
    expect(summary.totals.calls).toBe(OK_CALLS + FAILED_CALLS + earlier.length);
    expect(summary.buckets.filter((bucket) => bucket.calls > 0).length).toBeGreaterThanOrEqual(54);

    const { page, violations } = await signedIn();
    await page.goto(`${gateway.url}/ui/activity`);
    expect(await drawnCharts(page)).toBe(3);
    expect(await page.locator(".totals").innerText()).toContain(`${(OK_CALLS + FAILED_CALLS + earlier.length).toLocaleString("en-US")} calls`);
    await page.screenshot({ path: `${DOCS_SCREENSHOTS}activity-desktop.png`, fullPage: true, clip: { x: 0, y: 0, width: DESKTOP.width, height: 1100 } });

    const phone = await signedIn({ phone: true });
    await phone.page.goto(`${gateway.url}/ui/activity?server=${SERVER}`);
    expect(await drawnCharts(phone.page)).toBe(3);
    // The first screen a phone shows (the full page is a long list).
    await phone.page.screenshot({ path: `${DOCS_SCREENSHOTS}activity-phone.png` });
    expect([...violations, ...phone.violations]).toEqual([]);
  });
});

/**
 * An hour of earlier calls to SERVER, two to 58 minutes old: a daily-looking
 * swell of 6-18 calls a minute, latencies around 40 ms with a slow spell 35-25 minutes ago,
 * and a burst of errors 15 minutes ago. Deterministic (a fixed linear congruential sequence).
 */
function hourOfTraffic(now: Date): AuditEventsTable[] {
  let seed = 20261207;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const tools = ["search_issues", "get_issue", "create_issue", "list_pull_requests"];
  const events: AuditEventsTable[] = [];
  for (let minute = 58; minute >= 2; minute--) {
    const calls = Math.round(12 + 6 * Math.sin(minute / 9));
    for (let index = 0; index < calls; index++) {
      const at = new Date(now.getTime() - minute * 60_000 + Math.floor(random() * 60_000));
      const slow = minute <= 35 && minute >= 25 ? 3 : 1;
      const failed = (minute === 15 && random() < 0.5) || random() < 0.02;
      events.push({
        id: `earlier-${minute}-${index}`,
        at: at.toISOString(),
        request_id: null,
        caller_kind: "virtual",
        caller: ["ci-bot", "alice-laptop", "support-agent"][index % 3]!,
        subject: "key:earlier",
        user_id: null,
        route: index % 4 === 0 ? "rest" : "aggregate",
        server: SERVER,
        tool: tools[index % tools.length]!,
        outcome: failed ? "error" : random() < 0.03 ? "tool_error" : "ok",
        status: failed ? 502 : null,
        error_code: failed ? "upstream_unreachable" : null,
        duration_ms: Math.round(slow * (20 + 40 * random() + (random() < 0.05 ? 200 * random() : 0))),
      });
    }
  }
  return events;
}
