/**
 * A stdio server's supervision (src/mcp/stdio-process.ts) with real child processes: the
 * restart delays double up to their bound, a stopped server restarts no more, and a server
 * that is down answers 503 with the seconds until its next attempt.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log.js";
import { StdioProcess } from "../../../src/mcp/stdio-process.js";
import { GatewayError } from "../../../src/errors.js";
import { conditions } from "../../fixtures/conditions.js";

function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const changed = conditions();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      changed.changed();
      callback();
    },
  });
  return { log: createLogger({ level: "info", destination }), lines, waitUntil: changed.waitUntil };
}

/** A command that exits at once, before it could answer initialize. */
const exitsAtOnce = { command: process.execPath, args: ["-e", "process.exit(3)"], env: {} };

describe("StdioProcess supervision", () => {
  it("restarts a process that keeps exiting after delays that double up to the bound", { timeout: 20_000 }, async () => {
    const { log, lines, waitUntil } = capturedLog();
    const supervised = new StdioProcess({ id: "s", name: "flaky", stdio: exitsAtOnce, timeoutMs: 5_000 }, log, { initialMs: 20, maxMs: 80, resetAfterMs: 60_000 });
    supervised.start();
    const restarts = () => lines.filter((line) => line.restart_in_ms !== undefined);
    await waitUntil(() => restarts().length >= 5);
    await supervised.stop();
    expect(restarts().slice(0, 5).map((line) => line.restart_in_ms)).toEqual([20, 40, 80, 80, 80]);
    expect(restarts().every((line) => line.server === "flaky" && line.level === 50 && String(line.msg).startsWith("stdio MCP server 'flaky' exited before it finished initializing"))).toBe(true);
  });

  it("answers 503 with Retry-After while down, restarts no more once stopped, then answers 503 without it", { timeout: 20_000 }, async () => {
    const { log, lines, waitUntil } = capturedLog();
    const supervised = new StdioProcess({ id: "s", name: "down", stdio: exitsAtOnce, timeoutMs: 5_000 }, log, { initialMs: 5_000, maxMs: 5_000, resetAfterMs: 60_000 });
    supervised.start();
    await waitUntil(() => lines.some((line) => line.restart_in_ms === 5_000));
    const down = await supervised.ready(1_000).catch((error: unknown) => error);
    expect(down).toBeInstanceOf(GatewayError);
    expect(down).toMatchObject({ status: 503, code: "upstream_unavailable", headers: { "retry-after": "5" } });
    await supervised.stop();
    expect(supervised.state).toBe("stopped");
    const stopped = await supervised.ready(1_000).catch((error: unknown) => error);
    expect(stopped).toMatchObject({ status: 503, code: "upstream_unavailable", headers: {} });
    expect(lines.filter((line) => line.msg === "stdio MCP server process started")).toHaveLength(1);
  });

  it("reports a command that does not exist as a start failure with the reason", { timeout: 20_000 }, async () => {
    const { log, lines, waitUntil } = capturedLog();
    const supervised = new StdioProcess({ id: "s", name: "missing", stdio: { command: "/nonexistent/mcp-xyz", args: [], env: {} }, timeoutMs: 5_000 }, log, { initialMs: 5_000, maxMs: 5_000, resetAfterMs: 60_000 });
    supervised.start();
    await waitUntil(() => lines.some((line) => line.level === 50));
    await supervised.stop();
    const failure = lines.find((line) => line.level === 50)!;
    expect(failure).toMatchObject({ server: "missing", command: "/nonexistent/mcp-xyz", restart_in_ms: 5_000 });
    expect(String(failure.msg)).toMatch(/^stdio MCP server 'missing' could not start: spawn \/nonexistent\/mcp-xyz ENOENT/);
  });
});
