/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`), its SERVER
 * scenarios, run twice: against our conformance upstream reached directly
 * (fixtures/conformance-upstream.mjs, which implements what the scenarios call), and
 * through the gateway's aggregate `/mcp` with that upstream configured as its one server.
 * What passes directly and not through the gateway is what the aggregate loses; the table
 * below says which scenarios those are today and why, and the test fails when reality
 * differs from it, either way, so progress shows.
 *
 * How the gateway is addressed: the suite calls tools and prompts by the upstream's names
 * (`test_simple_text`), so the upstream is reached through an access group of one server
 * (`/conformance/mcp`) with general_settings.mcp_unprefixed_single_server on; and since
 * the suite sends no headers, a proxy adds the gateway key (fixtures/key-injecting-proxy.ts,
 * which forwards `Host` and `Origin` untouched for the DNS-rebinding scenario).
 *
 * The suite runs once per target (`--suite all`, every scenario; each writes its
 * checks.json); a scenario passes when it has checks and none failed (warnings allowed, as
 * the suite's own exit code counts them). Without the Node 22 runtime (`npm ci` installs
 * it), the suite is skipped locally and fails under CI=true.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startConformanceUpstreamProcess, type ConformanceUpstream } from "../fixtures/conformance-upstream-process.js";
import { startKeyInjectingProxy, type KeyInjectingProxy } from "../fixtures/key-injecting-proxy.js";
import { conformanceRuntime } from "../fixtures/node22.js";


const runtime = conformanceRuntime();

/**
 * Scenario -> whether it passes through the gateway's `/mcp` (`true`), or why not. Every
 * scenario passes against the upstream directly (checked below).
 */
const THROUGH_GATEWAY: Record<string, true | string> = {
  "server-initialize": true,
  "logging-set-level": true,
  ping: true,
  "completion-complete": true,
  "tools-list": true,
  "tools-call-simple-text": true,
  "tools-call-image": true,
  "tools-call-audio": true,
  "tools-call-embedded-resource": true,
  "tools-call-mixed-content": true,
  "tools-call-with-logging": true,
  "tools-call-error": true,
  "tools-call-with-progress": true,
  "tools-call-sampling": true,
  "tools-call-elicitation": true,
  "json-schema-2020-12": true,
  "elicitation-sep1034-defaults": true,
  "server-sse-polling": true,
  "server-sse-multiple-streams": true,
  "elicitation-sep1330-enums": true,
  "resources-list": true,
  "resources-read-text": true,
  "resources-read-binary": true,
  "resources-templates-read": true,
  "resources-subscribe": true,
  "resources-unsubscribe": true,
  "prompts-list": true,
  "prompts-get-simple": true,
  "prompts-get-with-args": true,
  "prompts-get-embedded-resource": true,
  "prompts-get-with-image": true,
  "dns-rebinding-protection": true,
};

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

interface ScenarioResult {
  checks: Check[];
  failures: Check[];
  warnings: Check[];
  passed: boolean;
}

function runNode(node: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The suite's server scenarios, as it lists them. */
async function listedScenarios(node: string, cli: string): Promise<string[]> {
  const { output } = await runNode(node, [cli, "list", "--server"], 30_000);
  return [...output.matchAll(/^ {2}- (\S+)/gm)].map((match) => match[1]!);
}

/** Every server scenario against `url`; the results by scenario, from the checks.json each writes. */
async function runSuite(node: string, cli: string, url: string): Promise<{ results: Map<string, ScenarioResult>; output: string }> {
  const outputDir = await mkdtemp(join(tmpdir(), "gatehouse-conformance-server-"));
  try {
    const { output } = await runNode(node, [cli, "server", "--url", url, "--suite", "all", "--output-dir", outputDir], 240_000);
    const results = new Map<string, ScenarioResult>();
    // The suite writes <output-dir>/server-<scenario>-<timestamp>/checks.json.
    for (const entry of await readdir(outputDir)) {
      const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry)?.[1];
      if (scenario === undefined) continue;
      const checks = JSON.parse(await readFile(join(outputDir, entry, "checks.json"), "utf8")) as Check[];
      const failures = checks.filter((check) => check.status === "FAILURE");
      results.set(scenario, { checks, failures, warnings: checks.filter((check) => check.status === "WARNING"), passed: checks.length > 0 && failures.length === 0 });
    }
    return { results, output };
  } finally {
    await rm(outputDir, { recursive: true, force: true });
  }
}

const describe22 = describe.skipIf("missing" in runtime && process.env.CI !== "true");
if ("missing" in runtime && process.env.CI !== "true") console.warn(`conformance suite skipped: ${runtime.missing}; under CI=true this fails`);

describe22("conformance suite, server scenarios: the upstream directly and through the aggregate /mcp", () => {
  let upstream: ConformanceUpstream | undefined;
  let gateway: TestGateway | undefined;
  let proxy: KeyInjectingProxy | undefined;
  let direct: { results: Map<string, ScenarioResult>; output: string };
  let viaGateway: { results: Map<string, ScenarioResult>; output: string };
  let scenarios: string[] = [];

  beforeAll(async () => {
    if ("missing" in runtime) return;
    upstream = await startConformanceUpstreamProcess();
    gateway = await startTestGateway({
      servers: { conf: { url: upstream.url, access_groups: ["conformance"], description: "the conformance suite's upstream" } },
      general: { mcp_unprefixed_single_server: true },
    });
    proxy = await startKeyInjectingProxy(gateway.url, MASTER_KEY);
    scenarios = await listedScenarios(runtime.node, runtime.cli);
    [direct, viaGateway] = await Promise.all([
      runSuite(runtime.node, runtime.cli, upstream.url),
      runSuite(runtime.node, runtime.cli, `${proxy.url}/conformance/mcp`),
    ]);
  }, 300_000);

  afterAll(async () => {
    await proxy?.close();
    await gateway?.close();
    upstream?.close();
    if (direct === undefined || viaGateway === undefined) return;
    const width = Math.max(...scenarios.map((scenario) => scenario.length));
    const mark = (result: ScenarioResult | undefined) =>
      result === undefined ? "missing" : `${result.passed ? "pass" : "FAIL"}${result.warnings.length > 0 ? ` (warnings: ${result.warnings.map((check) => check.id).join(", ")})` : ""}`;
    const row = (scenario: string) => `${scenario.padEnd(width)}  direct: ${mark(direct.results.get(scenario))}; via /mcp: ${mark(viaGateway.results.get(scenario))}`;
    console.log(scenarios.map(row).join("\n"));
  });

  it("the table names every server scenario the suite has", () => {
    if ("missing" in runtime) throw new Error(`the conformance suite cannot run: ${runtime.missing}`);
    expect(scenarios.length).toBeGreaterThan(0);
    expect([...scenarios].sort()).toEqual(Object.keys(THROUGH_GATEWAY).sort());
  });

  for (const [scenario, expected] of Object.entries(THROUGH_GATEWAY)) {
    it(`${scenario}: passes directly`, () => {
      if ("missing" in runtime) throw new Error(`the conformance suite cannot run: ${runtime.missing}`);
      const result = direct.results.get(scenario);
      expect(result, `no results for ${scenario}:\n${direct.output}`).toBeDefined();
      expect(result!.failures).toEqual([]);
      expect(result!.passed).toBe(true);
    });

    it(`${scenario}: ${expected === true ? "passes" : `fails (${expected})`} through /mcp`, () => {
      if ("missing" in runtime) throw new Error(`the conformance suite cannot run: ${runtime.missing}`);
      const result = viaGateway.results.get(scenario);
      expect(result, `no results for ${scenario}:\n${viaGateway.output}`).toBeDefined();
      if (expected === true) expect(result!.failures).toEqual([]);
      expect(result!.passed, JSON.stringify(result!.failures, null, 2)).toBe(expected === true);
    });
  }
});
