import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { ToolError, ToolResult } from "../../../src/ui/tool-result.js";
import { render, unescape } from "./markup.js";


async function result(content: CallToolResult["content"], extra: Partial<CallToolResult> = {}): Promise<string> {
  return render(ToolResult({ result: { content, ...extra } }));
}

/** The inner text of every `<pre>` (with its class), unescaped. */
function pres(html: string): { class: string | undefined; text: string }[] {
  return [...html.matchAll(/<pre(?: class="([^"]*)")?>([\s\S]*?)<\/pre>/g)].map((m) => ({ class: m[1], text: unescape(m[2] as string) }));
}

const PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

describe("ToolResult", () => {
  it("is a tool-result box headed Result, not an alert", async () => {
    const html = await result([{ type: "text", text: "hi" }]);
    expect(html).toMatch(/^<section class="tool-result"><h2>Result<\/h2>/);
    expect(html).not.toContain('role="alert"');
  });

  it("is an is-error alert headed Tool error when isError", async () => {
    const html = await result([{ type: "text", text: "boom" }], { isError: true });
    expect(html).toMatch(/^<section class="tool-result is-error" role="alert"><h2>Tool error<\/h2>/);
    expect(pres(html)).toEqual([{ class: "text", text: "boom" }]);
  });

  it("shows plain text in a pre.text, preserving whitespace and escaping markup", async () => {
    const text = "line 1\n  <script>alert('x')</script> & more\n";
    const html = await result([{ type: "text", text }]);
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;script&gt;");
    expect(pres(html)).toEqual([{ class: "text", text }]);
  });

  it("keeps a leading newline of a text (the HTML parser drops the first one after <pre>)", async () => {
    const html = await result([{ type: "text", text: "\nindented" }]);
    expect(pres(html)).toEqual([{ class: "text", text: "\n\nindented" }]);
  });

  it("pretty-prints text that is a JSON object or array", async () => {
    const html = await result([
      { type: "text", text: '{"a":1,"b":["<i>x</i>"]}' },
      { type: "text", text: " [1,2] " },
      { type: "text", text: "42" },
      { type: "text", text: "{not json" },
    ]);
    expect(html).not.toContain("<i>");
    expect(pres(html)).toEqual([
      { class: "json", text: JSON.stringify({ a: 1, b: ["<i>x</i>"] }, null, 2) },
      { class: "json", text: "[\n  1,\n  2\n]" },
      { class: "text", text: "42" },
      { class: "text", text: "{not json" },
    ]);
  });

  it("shows allowed raster images as data: URL imgs with an alt text", async () => {
    for (const mimeType of ["image/png", "image/jpeg", "image/gif", "image/webp"]) {
      const html = await result([{ type: "image", data: PNG_1PX, mimeType }]);
      expect(html).toContain(`<img src="data:${mimeType};base64,${PNG_1PX}" alt="image result (${mimeType})"/>`);
    }
  });

  it("never renders SVG or other image types as an img, only a note", async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>').toString("base64");
    for (const mimeType of ["image/svg+xml", "image/png;foo", "text/html", "image/x-icon"]) {
      const html = await result([{ type: "image", data: svg, mimeType }]);
      expect(html).not.toContain("<img");
      expect(html).toContain('<p class="note">Image not shown: ');
      expect(unescape(html)).toContain(mimeType);
    }
  });

  it("does not put data that is not base64 into an img", async () => {
    const html = await result([{ type: "image", data: 'abc" onerror="alert(1)', mimeType: "image/png" }]);
    expect(html).not.toContain("<img");
    expect(html).toContain("not valid base64");
  });

  it("plays audio/* as a data: URL audio element with controls", async () => {
    const html = await result([
      { type: "audio", data: "UklGRg==", mimeType: "audio/wav" },
      { type: "audio", data: "UklGRg==", mimeType: "video/mp4" },
    ]);
    expect(html).toContain('<audio controls="" src="data:audio/wav;base64,UklGRg==" aria-label="audio result (audio/wav)">');
    expect(html.match(/<audio/g)).toHaveLength(1);
    expect(html).toContain("Audio not shown: video/mp4");
  });

  it("shows a text resource's uri and text (pretty when JSON)", async () => {
    const html = await result([
      { type: "resource", resource: { uri: "file:///notes.txt", mimeType: "text/plain", text: "hello <b>" } },
      { type: "resource", resource: { uri: "mem://cfg", text: '{"k":true}' } },
    ]);
    expect(html).toContain("Resource <code>file:///notes.txt</code> (text/plain)");
    expect(html).toContain("Resource <code>mem://cfg</code>");
    expect(pres(html)).toEqual([
      { class: "text", text: "hello <b>" },
      { class: "json", text: '{\n  "k": true\n}' },
    ]);
  });

  it("describes a binary resource by type and size instead of showing it", async () => {
    const html = await result([{ type: "resource", resource: { uri: "file:///a.bin", mimeType: "application/pdf", blob: "AAECAwQ=" } }]);
    expect(html).toContain("Resource <code>file:///a.bin</code> (application/pdf)");
    expect(html).toContain('<p class="note">binary resource (application/pdf, 5 bytes)</p>');
    expect(html).not.toContain("AAECAwQ=");
  });

  it("links a resource_link only when its uri is http(s)", async () => {
    const html = await result([
      { type: "resource_link", uri: "https://example.com/doc?a=1&b=2", name: "Doc" },
      { type: "resource_link", uri: "javascript:alert(1)", name: "<Evil>" },
      { type: "resource_link", uri: "file:///etc/passwd", name: "passwd", description: "a file" },
    ]);
    expect(html).toContain('<a href="https://example.com/doc?a=1&amp;b=2" rel="noopener noreferrer nofollow">https://example.com/doc?a=1&amp;b=2</a>');
    expect(html.match(/<a /g)).toHaveLength(1);
    expect(html).toContain("<code>javascript:alert(1)</code>");
    expect(html).toContain('<span class="resource-name">&lt;Evil&gt;</span>');
    expect(html).toContain("<code>file:///etc/passwd</code>");
    expect(html).toContain("a file");
  });

  it("shows an unknown content type as JSON", async () => {
    const item = { type: "hologram", payload: "<x>" } as unknown as CallToolResult["content"][number];
    const html = await result([item]);
    expect(pres(html)).toEqual([{ class: "json", text: JSON.stringify({ type: "hologram", payload: "<x>" }, null, 2) }]);
    expect(html).not.toContain("<x>");
  });

  it("shows structuredContent as pretty JSON under its own heading, after the content", async () => {
    const html = await result([{ type: "text", text: "done" }], { structuredContent: { answer: 42, note: "</pre><script>" } });
    expect(html).toContain("<h3>Structured content</h3>");
    expect(html).not.toContain("<script");
    expect(pres(html)).toEqual([
      { class: "text", text: "done" },
      { class: "json structured", text: JSON.stringify({ answer: 42, note: "</pre><script>" }, null, 2) },
    ]);
  });

  it("says so when there is no content at all", async () => {
    expect(await result([])).toContain("The tool returned no content.");
    const onlyStructured = await result([], { structuredContent: { a: 1 } });
    expect(onlyStructured).not.toContain("no content");
    expect(onlyStructured).toContain("Structured content");
  });
});

describe("ToolError", () => {
  it("is an alert with the title, the message and the hint, all escaped", async () => {
    const html = await render(ToolError({ title: "Call failed", message: "Upstream said <script>x</script>", hint: "Check the server's URL." }));
    expect(html).toBe(
      '<div class="alert error tool-error" role="alert"><h2>Call failed</h2><p>Upstream said &lt;script&gt;x&lt;/script&gt;</p>' +
        '<p class="hint">Check the server&#39;s URL.</p></div>',
    );
  });

  it("leaves out the hint paragraph without a hint", async () => {
    const html = await render(ToolError({ title: "Timed out", message: "No answer in 30 s" }));
    expect(html).toBe('<div class="alert error tool-error" role="alert"><h2>Timed out</h2><p>No answer in 30 s</p></div>');
  });
});
