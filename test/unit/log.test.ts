/**
 * The logger's two formats: JSON lines, and pino-pretty's human lines. Redaction runs
 * before either, so a credential a log call carries by mistake is masked in both.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";

function capture(): { text: () => string; destination: Writable } {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString("utf8");
      callback();
    },
  });
  return { text: () => text, destination };
}

describe("createLogger", () => {
  it.each(["json", "pretty"] as const)("redacts credentials in the %s format", (format) => {
    const out = capture();
    const log = createLogger({ format, destination: out.destination });
    log.info({ headers: { authorization: "Bearer sk-leaked-123" }, token: { access_token: "at-leaked-456" }, server: "alpha" }, "upstream call");
    expect(out.text()).toContain("upstream call");
    expect(out.text()).toContain("[redacted]");
    expect(out.text()).not.toContain("sk-leaked-123");
    expect(out.text()).not.toContain("at-leaked-456");
  });

  it("pretty writes one human line per event, without the JSON braces of a log object", () => {
    const out = capture();
    const log = createLogger({ format: "pretty", destination: out.destination });
    log.warn({ server: "alpha", code: "upstream_timeout" }, "tools/list failed");
    log.info("second event");
    const lines = out.text().trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] WARN: tools\/list failed \{"server":"alpha","code":"upstream_timeout"\}$/);
    expect(() => JSON.parse(lines[0]!) as unknown).toThrow();
  });
});
