/**
 * The command line (README, "Configuration"): `node dist/cli.js` as users run it, in a child
 * process, with its JSON log lines read from stdout and its errors from stderr.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildCli, cleanEnv, freePort, isListening, killChildren, refusesConnections, ROOT, spawnCli, type CliProcess } from "../fixtures/cli-process.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

/** Calls of the upstream's `held` tool wait here; `held.started` resolves when one is waiting. */
const held = (() => {
  const releases: Array<() => void> = [];
  let started!: () => void;
  let startedPromise = new Promise<void>((resolve) => (started = resolve));
  return {
    wait: () =>
      new Promise<void>((resolve) => {
        releases.push(resolve);
        started();
      }),
    started: () => startedPromise,
    release() {
      for (const release of releases.splice(0)) release();
      startedPromise = new Promise<void>((resolve) => (started = resolve));
    },
  };
})();

const MASTER_KEY = "sk-cli-test-master-4242";
const SEED_MASTER_KEY = "sk-1234";

const children: ChildProcess[] = [];
let workDir: string;

/** The environment of a user who set only what the contract asks for. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ DATABASE_URL: "sqlite::memory:", GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_SALT_KEY: "cli-test-salt", ...extra });
}

function runCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): CliProcess {
  const cli = spawnCli(args, { cwd: workDir, env });
  children.push(cli.child);
  return cli;
}

async function writeConfig(name: string, text: string): Promise<string> {
  const path = join(workDir, name);
  await writeFile(path, text, "utf8");
  return path;
}

async function startGatewayCli(configText: string, extraArgs: string[] = [], env?: NodeJS.ProcessEnv) {
  const port = await freePort();
  const config = await writeConfig(`gateway-${port}.yaml`, configText);
  const cli = runCli(["--config", config, "--port", String(port), "--host", "127.0.0.1", ...extraArgs], env);
  const listening = await cli.waitForLog(isListening);
  return { cli, port, url: `http://127.0.0.1:${port}`, listening };
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "gatehouse-cli-"));
  // The CLI under test is the built one (`npm test` builds first; a direct vitest run must too).
  await buildCli("stale");
}, 120_000);

afterEach(async () => {
  await killChildren(children.splice(0));
});

afterAll(async () => {
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe("gatehouse --help and --version", () => {
  it("--help documents every flag and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const cli = runCli([flag]);
      const { code } = await cli.exited;
      expect(code, flag).toBe(0);
      for (const documented of ["--config", "--port", "--host", "--with-mock-server", "--mock-port", "--log-level", "--log-format", "--help", "--version", "mock-server"]) {
        expect(cli.stdout(), `${flag} documents ${documented}`).toContain(documented);
      }
      for (const variable of ["DATABASE_URL", "GATEHOUSE_MASTER_KEY", "GATEHOUSE_SALT_KEY", "GATEHOUSE_LOG_FORMAT", "OTEL_TRACES_EXPORTER"]) expect(cli.stdout()).toContain(variable);
      expect(cli.stderr()).toBe("");
    }
  });

  it("--version prints the package version", async () => {
    const cli = runCli(["--version"]);
    expect((await cli.exited).code).toBe(0);
    const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(cli.stdout().trim()).toBe(version);
  });
});

describe("gatehouse refuses to start half-configured", () => {
  it("without --config: exits 2 and says so", async () => {
    const cli = runCli([]);
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain("--config");
    expect(cli.logs.some(isListening)).toBe(false);
  });

  it("an unknown flag or a bad --port: exits 2 and points to --help", async () => {
    const unknown = runCli(["--config", "x.yaml", "--prot", "4000"]);
    expect((await unknown.exited).code).toBe(2);
    expect(unknown.stderr()).toContain("--prot");
    expect(unknown.stderr()).toContain("--help");

    const badPort = runCli(["--config", "x.yaml", "--port", "eighty"]);
    expect((await badPort.exited).code).toBe(2);
    expect(badPort.stderr()).toContain("--port");
    expect(badPort.stderr()).toContain("eighty");
  });

  it("a config file that does not exist: exits non-zero naming the path", async () => {
    const missing = join(workDir, "no-such-config.yaml");
    const cli = runCli(["--config", missing]);
    expect((await cli.exited).code).not.toBe(0);
    expect(cli.stderr()).toContain(missing);
  });

  it("an unknown key: exits non-zero naming the file, the config path and the key it meant", async () => {
    const path = await writeConfig("unknown-key.yaml", "mcp_servers:\n  alpha:\n    url: http://127.0.0.1:9/mcp\n    auht_type: none\n");
    const cli = runCli(["--config", path, "--port", String(await freePort())]);
    expect((await cli.exited).code).not.toBe(0);
    expect(cli.stderr()).toContain(path);
    expect(cli.stderr()).toContain("mcp_servers.alpha.auht_type");
    expect(cli.stderr()).toContain("did you mean 'auth_type'");
    expect(cli.logs.some(isListening)).toBe(false);
  });

  it("a missing os.environ variable: exits non-zero naming the variable and the config path", async () => {
    const path = await writeConfig(
      "missing-env.yaml",
      [
        "mcp_servers:",
        "  m2m:",
        "    url: http://127.0.0.1:9/mcp",
        "    auth_type: oauth2",
        "    client_id: test-client",
        "    client_secret: os.environ/GATEHOUSE_CLI_TEST_UNSET_SECRET",
        "    token_url: http://127.0.0.1:9/oauth/token",
        "",
      ].join("\n"),
    );
    const cli = runCli(["--config", path, "--port", String(await freePort())]);
    expect((await cli.exited).code).not.toBe(0);
    expect(cli.stderr()).toContain(path);
    expect(cli.stderr()).toContain("GATEHOUSE_CLI_TEST_UNSET_SECRET");
    expect(cli.stderr()).toContain("mcp_servers.m2m.client_secret");
    expect(cli.logs.some(isListening)).toBe(false);
  });

  it("a wrong type and a bad URL: exits non-zero with one line per problem, each naming its config path", async () => {
    const path = await writeConfig("wrong-type.yaml", 'mcp_servers:\n  alpha:\n    url: not a url\n    timeout: "soon"\n');
    const cli = runCli(["--config", path, "--port", String(await freePort())]);
    expect((await cli.exited).code).not.toBe(0);
    const stderr = cli.stderr();
    expect(stderr).toMatch(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: mcp_servers\\.alpha\\.timeout: expected a number`));
    expect(stderr).toContain("mcp_servers.alpha.url");
    expect(cli.logs.some(isListening)).toBe(false);
  });
});

describe("gatehouse running", () => {
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream({
      name: "cli-upstream",
      // `held` answers only when the test says so: an in-flight call that cannot finish before SIGTERM is sent.
      tools: (server) => {
        server.registerTool("held", { description: "Answers when the test releases it." }, async () => {
          await held.wait();
          return { content: [{ type: "text", text: "done" }] };
        });
      },
    });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  const config = () => `mcp_servers:\n  tools:\n    url: ${upstream.url}\ngeneral_settings:\n  shutdown_timeout_seconds: 15\n`;

  it("logs that it is listening on --port, answers liveliness and readiness, and exits 0 on SIGTERM", async () => {
    const { cli, port, url, listening } = await startGatewayCli(config());
    expect(listening).toMatchObject({ url, db: "sqlite", mcp_servers: ["tools"] });

    const live = await fetch(`${url}/health/liveliness`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${url}/health/readiness`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ok", db: "sqlite" });

    cli.child.kill("SIGTERM");
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.logs.some((line) => line.msg === "gatehouse stopped")).toBe(true);
    expect(await refusesConnections(port)).toBe(true);
  });

  it("SIGTERM lets an in-flight tool call finish, refuses new connections, then exits 0 without waiting for the idle keep-alive connection", async () => {
    const { cli, port, url } = await startGatewayCli(config());
    const inFlight = fetch(`${url}/mcp-rest/tools/call`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${MASTER_KEY}` },
      body: JSON.stringify({ server_name: "tools", name: "held", arguments: {} }),
    });
    await held.started();

    cli.child.kill("SIGTERM");
    await cli.waitForLog((line) => line.msg === "shutting down");
    expect(await refusesConnections(port)).toBe(true);

    held.release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    // Regression: the answer kept the connection alive, and shutdown waited shutdown_timeout_seconds for it.
    expect(response.headers.get("connection")).toBe("close");
    expect(await response.json()).toEqual({ content: [{ type: "text", text: "done" }] });
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.logs.some((line) => String(line.msg).includes("did not finish within shutdown_timeout_seconds"))).toBe(false);
    expect(upstream.cancelledToolCalls).toBe(0);
  });

  it("runs the seed's walkthrough with --with-mock-server and the seed's config", async () => {
    const mockPort = await freePort();
    const seed = [
      "mcp_servers:",
      "  test_oauth2:",
      `    url: "http://localhost:${mockPort}/mcp"`,
      "    auth_type: oauth2",
      '    client_id: "test-client"',
      '    client_secret: "test-secret"',
      `    token_url: "http://localhost:${mockPort}/oauth/token"`,
      "general_settings:",
      `  master_key: ${SEED_MASTER_KEY}`,
      "",
    ].join("\n");
    // The master key comes from the config here, as in the seed.
    const env = cliEnv();
    delete env.GATEHOUSE_MASTER_KEY;
    const { url } = await startGatewayCli(seed, ["--with-mock-server", "--mock-port", String(mockPort)], env);

    const listed = await fetch(`${url}/mcp-rest/tools/list`, { headers: { Authorization: `Bearer ${SEED_MASTER_KEY}` } });
    expect(listed.status).toBe(200);
    const tools = ((await listed.json()) as { tools: Array<{ name: string; mcp_info: { server_name: string } }> }).tools;
    expect(tools.map((tool) => [tool.name, tool.mcp_info.server_name])).toEqual([["echo", "test_oauth2"]]);

    const called = await fetch(`${url}/mcp-rest/tools/call`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${SEED_MASTER_KEY}` },
      body: JSON.stringify({ name: "echo", arguments: { message: "hello" } }),
    });
    expect(called.status).toBe(200);
    expect(await called.json()).toEqual({ content: [{ type: "text", text: "hello" }] });
  });
});

describe("gatehouse --log-format", () => {
  const config = "mcp_servers:\n  alpha:\n    url: http://127.0.0.1:9/mcp\n    auth_type: none\n";

  /** Resolves once stdout holds `text` (pretty lines are not JSON, so waitForLog cannot see them). */
  function stdoutHolds(cli: CliProcess, text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cli.stdout().includes(text)) {
          cli.child.stdout!.off("data", check);
          resolve();
        } else if (cli.child.exitCode !== null) {
          reject(new Error(`the CLI exited; stdout:\n${cli.stdout()}\nstderr:\n${cli.stderr()}`));
        }
      };
      cli.child.stdout!.on("data", check);
      cli.child.once("close", check);
      check();
    });
  }

  it("pretty prints one human line per event, no JSON (flag and GATEHOUSE_LOG_FORMAT)", async () => {
    for (const [args, env] of [[["--log-format", "pretty"], cliEnv()], [[], cliEnv({ GATEHOUSE_LOG_FORMAT: "pretty" })]] as const) {
      const port = await freePort();
      const path = await writeConfig(`pretty-${port}.yaml`, config);
      const cli = runCli(["--config", path, "--port", String(port), ...args], env);
      await stdoutHolds(cli, "gatehouse is listening");
      const line = cli.stdout().split("\n").find((text) => text.includes("gatehouse is listening"))!;
      expect(line).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: gatehouse is listening/);
      expect(line).toContain(`"url":"http://127.0.0.1:${port}"`);
      expect(cli.logs).toEqual([]);
      await killChildren(children.splice(0));
    }
  });

  it("json prints JSON lines even where pretty would be the default", async () => {
    const { cli, port } = await startGatewayCli(config, ["--log-format", "json"]);
    const listening = cli.logs.find(isListening)!;
    expect(listening).toMatchObject({ level: 30, url: `http://127.0.0.1:${port}` });
  });

  it("refuses a format it does not know with exit status 2", async () => {
    const cli = runCli(["--config", "whatever.yaml", "--log-format", "xml"]);
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain("--log-format must be json or pretty, got 'xml'");
  });
});

describe("gatehouse mock-server", () => {
  it("serves the seed's token endpoint and stops on SIGTERM", async () => {
    const port = await freePort();
    const cli = runCli(["mock-server", "--port", String(port)]);
    const listening = await cli.waitForLog((line) => line.msg === "mock OAuth2 MCP server is listening");
    const origin = `http://127.0.0.1:${port}`;
    expect(listening).toMatchObject({ url: origin, token_url: `${origin}/oauth/token`, mcp: `${origin}/mcp` });

    const form = { "content-type": "application/x-www-form-urlencoded" };
    const granted = await fetch(`${origin}/oauth/token`, {
      method: "POST",
      headers: form,
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: "test-client", client_secret: "test-secret" }),
    });
    expect(granted.status).toBe(200);
    const token = (await granted.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(token.token_type).toBe("Bearer");
    expect(token.access_token.length).toBeGreaterThan(16);
    expect(token.expires_in).toBeGreaterThan(60);

    const refused = await fetch(`${origin}/oauth/token`, {
      method: "POST",
      headers: form,
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: "test-client", client_secret: "wrong" }),
    });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe("invalid_client");

    cli.child.kill("SIGTERM");
    expect((await cli.exited).code).toBe(0);
  });
});
