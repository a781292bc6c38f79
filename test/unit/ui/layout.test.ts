import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UI_CONTENT_SECURITY_POLICY } from "../../../src/ui/assets.js";
import { Page } from "../../../src/ui/layout.js";
import { render } from "./markup.js";

const hashOf = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

describe("the UI's CSP trusts its own inline script and stylesheet only", () => {
  it("the page's inline script and stylesheet are exactly the ones the CSP names by hash (a browser would refuse any other byte)", async () => {
    const html = await render(Page({ title: "t" }));
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((match) => match[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    const directives = Object.fromEntries(UI_CONTENT_SECURITY_POLICY.split(";").map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    expect(directives["script-src"]).toEqual([hashOf(scripts[0]!)]);
    expect(directives["style-src"]).toEqual([hashOf(styles[0]!)]);
  });

  it("no directive trusts the gateway's origin, where /{server}/mcp relays upstream answers", () => {
    expect(UI_CONTENT_SECURITY_POLICY).not.toContain("'self'");
    expect(UI_CONTENT_SECURITY_POLICY).not.toContain("'unsafe-inline'");
    expect(UI_CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    // The page loads nothing from a URL: no external script or stylesheet to pin.
    expect(UI_CONTENT_SECURITY_POLICY).not.toMatch(/https?:/);
  });

  it("the page loads no script or stylesheet by URL", async () => {
    const html = await render(Page({ title: "t" }));
    expect(html).not.toMatch(/<script[^>]*\bsrc=/);
    expect(html).not.toMatch(/<link[^>]*stylesheet/);
  });
});
