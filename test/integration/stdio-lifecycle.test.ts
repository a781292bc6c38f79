/**
 * stdio servers' processes and the gateway's own life, with the real CLI (`node dist/cli.js`)
 * as users run it: no process outlives the gateway (SIGTERM: stdin closed, then SIGTERM,
 * then SIGKILL; the gateway killed outright: the child sees its stdin end), and the child
 * never sees the gateway's environment (its master key included).
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, watch } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { fixtureServer } from "../fixtures/stdio.js";
import { buildCli, cleanEnv, freePort, isListening, killChildren, spawnCli, type LogLine } from "../fixtures/cli-process.js";

const MASTER_KEY = "sk-stdio-lifecycle-master-7788";

const children: ChildProcess[] = [];
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "gatehouse-stdio-"));
  await buildCli("stale");
}, 120_000);

afterEach(async () => {
  await killChildren(children.splice(0));
});

afterAll(async () => {
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

async function startCli(servers: Record<string, Record<string, unknown>>) {
  const port = await freePort();
  const config = join(workDir, `gateway-${port}.yaml`);
  await writeFile(config, stringify({ mcp_servers: servers }), "utf8");
  const env = cleanEnv({ DATABASE_URL: "sqlite::memory:", GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_SALT_KEY: "stdio-lifecycle-salt" });
  const cli = spawnCli(["--config", config, "--port", String(port), "--host", "127.0.0.1"], { cwd: workDir, env });
  children.push(cli.child);
  await cli.waitForLog(isListening);
  const ready = async (server: string) => Number((await cli.waitForLog((line) => line.server === server && line.msg === "stdio MCP server is ready")).pid);
  return { cli, url: `http://127.0.0.1:${port}`, ready };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Resolves once `file` exists (fs.watch on its folder: no polling). */
function fileAppears(file: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dirname(file), (_event, name) => {
      if (name === basename(file) && existsSync(file)) {
        watcher.close();
        resolve();
      }
    });
    if (existsSync(file)) {
      watcher.close();
      resolve();
    }
  });
}

const fixture = (...args: string[]) => fixtureServer({}, args);
const stopped = (server: string) => (line: LogLine) => line.server === server && line.msg === "stdio MCP server stopped";

describe("stdio processes end with the gateway", () => {
  it("SIGTERM: the gateway closes each child's stdin, escalates to SIGKILL for one that ignores it, and exits 0 with no child left", { timeout: 30_000 }, async () => {
    const { cli, ready } = await startCli({ polite: fixture(), stubborn: fixture("--stubborn") });
    const [polite, stubborn] = await Promise.all([ready("polite"), ready("stubborn")]);
    expect(isRunning(polite) && isRunning(stubborn)).toBe(true);
    cli.child.kill("SIGTERM");
    const exit = await cli.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(cli.logs.some(stopped("polite")) && cli.logs.some(stopped("stubborn"))).toBe(true);
    expect(cli.logs.some((line) => line.server === "stubborn" && line.msg === "ignoring SIGTERM")).toBe(true);
    expect(isRunning(polite)).toBe(false);
    expect(isRunning(stubborn)).toBe(false);
  });

  it("the gateway killed outright (SIGKILL): the child sees its stdin end and exits", { timeout: 30_000 }, async () => {
    const marker = join(workDir, `exited-${Date.now()}`);
    const { cli, ready } = await startCli({ orphan: fixture("--exit-marker", marker) });
    const pid = await ready("orphan");
    const gone = fileAppears(marker);
    cli.child.kill("SIGKILL");
    await cli.exited;
    await gone;
    expect(Number(readFileSync(marker, "utf8"))).toBe(pid);
  });
});

describe("the child's environment under the real CLI", () => {
  it("does not hold the gateway's master key or any other variable of the gateway's environment", { timeout: 30_000 }, async () => {
    const { url, ready } = await startCli({ fs: fixture() });
    await ready("fs");
    const call = async (name: string, args: Record<string, unknown> = {}) => {
      const response = await fetch(`${url}/mcp-rest/tools/call`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${MASTER_KEY}` },
        body: JSON.stringify({ server_name: "fs", name, arguments: args }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { content: Array<{ text: string }> }).content[0]!.text;
    };
    expect(await call("env", { name: "GATEHOUSE_MASTER_KEY" })).toBe("(unset)");
    expect(await call("env", { name: "DATABASE_URL" })).toBe("(unset)");
    expect((await call("env_names")).split(",").every((name) => ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"].includes(name))).toBe(true);
  });
});
