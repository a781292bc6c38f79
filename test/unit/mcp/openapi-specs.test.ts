/**
 * The loaded OpenAPI specs: what their log lines show of a spec URL (never its credentials),
 * and that a failed load is remembered for a while rather than fetched again on every call.
 */
import { createServer } from "node:http";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NO_CREDENTIALS } from "../../../src/auth/upstream/strategy.js";
import { parseConfig } from "../../../src/config/load.js";
import { createLogger } from "../../../src/log.js";
import { createOpenApiSpecs } from "../../../src/mcp/openapi-specs.js";
import { configServerEntries } from "../../../src/registry/registry.js";
import { listenOnLoopback } from "../../fixtures/loopback.js";

let origin: string;
let fetched = 0;
const server = createServer((_request, response) => {
  fetched++;
  response.writeHead(404).end();
});
beforeAll(async () => {
  origin = await listenOnLoopback(server);
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("OpenAPI specs", () => {
  it("logs a spec URL that fails to load without its credentials, and does not fetch it again for every call", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const specPath = `${origin}/openapi.json?token=spec-token-51c`;
    const { config } = parseConfig(`mcp_servers:\n  api: {spec_path: '${specPath}', url: 'http://127.0.0.1:9'}\n`, { file: "c.yaml", env: {} });
    const [entry] = configServerEntries(config, { authFor: () => ({ credentials: () => NO_CREDENTIALS }) as never });
    const specs = createOpenApiSpecs({ log: createLogger({ level: "info", destination }) });
    await expect(specs.get(entry!)).rejects.toThrow();
    await expect(specs.get(entry!)).rejects.toThrow();
    expect(fetched).toBe(1);
    const logged = JSON.stringify(lines);
    expect(lines.some((line) => line.msg === "cannot load the OpenAPI spec of a server: its tools are unavailable")).toBe(true);
    expect(logged).not.toContain("spec-token-51c");
  });
});
