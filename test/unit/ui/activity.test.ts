/**
 * The activity page's markup: the chart data block cannot be ended by a server or tool
 * name (it is raw text inside <script>), and every inline script and stylesheet the page
 * carries is one its CSP names by hash, with uPlot named by SHA-384 and its exact URL only.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { activitySummary, rangeWindow } from "../../../src/observability/activity.js";
import { activityContentSecurityPolicy, uplotAssets } from "../../../src/ui/activity-assets.js";
import { ActivityEventPage, ActivityPage } from "../../../src/ui/pages/activity.js";
import type { AuditEvent } from "../../../src/observability/audit.js";
import { render } from "./markup.js";

const hashOf = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
const HOSTILE = `</script><script>alert(1)</script>`;

async function page(server: string): Promise<string> {
  const now = new Date("2026-12-07T12:00:00Z");
  const summary = activitySummary({ server, range: "hour", window: rangeWindow("hour", now), totals: undefined, buckets: [] });
  const filters = { server, tool: HOSTILE, caller: "", outcome: "", period: "", from: "", to: "" };
  return render(ActivityPage({ viewer: { label: "the master key", isAdmin: true, csrf: "c" }, servers: [], filters, range: "hour", summary, events: [], paged: false, uplot: uplotAssets() }));
}

describe("the activity page", () => {
  it("keeps a server name with </script> inside the chart data block (escaped), so it cannot start a script", async () => {
    const html = await page(HOSTILE);
    expect(html).not.toContain("<script>alert(1)");
    const block = /<script type="application\/json" id="activity-data">([\s\S]*?)<\/script>/.exec(html);
    expect((JSON.parse(block![1]!) as { server: string }).server).toBe(HOSTILE);
  });

  it("carries only inline code its CSP names by hash, and uPlot by SHA-384 and its URL, never 'self'", async () => {
    const html = await page("alpha");
    const inlineScripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((match) => match[1]!);
    expect(inlineScripts).toHaveLength(2);
    expect(styles).toHaveLength(2);
    const csp = activityContentSecurityPolicy("https://gw.example.com");
    const directives = Object.fromEntries(csp.split(";").map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    const uplot = uplotAssets();
    expect(directives["script-src"]!.sort()).toEqual([...inlineScripts.map(hashOf), `'${uplot.integrity}'`, "https://gw.example.com/ui/assets/uplot.js"].sort());
    expect(directives["style-src"]!.sort()).toEqual(styles.map(hashOf).sort());
    expect(html).toContain(`<script src="/ui/assets/uplot.js?v=${uplot.version}" integrity="${uplot.integrity}"></script>`);
  });

  it("leaves a strange origin out of the CSP rather than writing it in", () => {
    const csp = activityContentSecurityPolicy("http://evil; script-src *");
    expect(csp).not.toContain("evil");
    expect(csp).toMatch(/script-src [^;]*'sha384-/);
  });
});

describe("events that are not tool calls", () => {
  const event: AuditEvent = {
    id: "e1",
    at: "2026-12-07T12:00:00.000Z",
    request_id: null,
    caller_kind: "virtual",
    caller: "alice-key",
    subject: "key:abc",
    user_id: "alice",
    route: "connections",
    server: "github",
    tool: "",
    outcome: "disconnected",
    status: null,
    error_code: "revocation_failed",
    duration_ms: 0,
  };
  const viewer = { label: "the master key", isAdmin: true, csrf: "c" };

  it("titles a connection change by what happened on which server, not as a call of an empty tool", async () => {
    const html = await render(ActivityEventPage({ viewer, event }));
    expect(html).toContain("<h1>disconnected on github</h1>");
    expect(html).not.toContain("Call of");
    expect(html).toContain("<code>revocation_failed</code>");
  });

  it("lists it with its outcome where the tool would be, and offers every outcome as a filter", async () => {
    const now = new Date("2026-12-07T12:00:00Z");
    const summary = activitySummary({ server: "", range: "hour", window: rangeWindow("hour", now), totals: undefined, buckets: [] });
    const filters = { server: "", tool: "", caller: "", outcome: "", period: "", from: "", to: "" };
    const html = await render(ActivityPage({ viewer, servers: [], filters, range: "hour", summary, events: [event], paged: false, uplot: uplotAssets() }));
    expect(html).toContain('aria-label="Details of disconnected on github at 2026-12-07T12:00:00.000Z"');
    expect(html).toContain('<span class="muted">disconnected</span>');
    for (const outcome of ["connected", "disconnected", "tool_change_approved", "tool_change_rejected"]) expect(html).toContain(`<option value="${outcome}">`);
  });
});
