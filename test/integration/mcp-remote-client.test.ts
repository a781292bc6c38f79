/**
 * mcp-remote (the stdio-to-remote bridge Claude Desktop and others run for remote servers),
 * unmodified from npm under Node 22, as the MCP client of the gateway's OAuth facade: it
 * registers dynamically at the gateway, opens the user's browser with the authorization
 * URL, takes the code at its own loopback callback server, and then bridges MCP.
 *
 * Its "browser" is `browser-relay.mjs` (mcp-remote runs `xdg-open`, which runs $BROWSER):
 * the URL comes to this process, whose headless browser follows it through the gateway and
 * the upstream's authorization server (oidc-provider) to mcp-remote's callback, and loads
 * that page as a browser would. The official SDK client then speaks MCP to mcp-remote's
 * stdio.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies, followRedirects } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { node22 } from "../fixtures/node22.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const require = createRequire(import.meta.url);
const BROWSER = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "browser-relay.mjs");
const runtime = node22();

if ("missing" in runtime && process.env.CI !== "true") console.warn(`mcp-remote tests skipped: ${runtime.missing}; under CI=true this fails`);

describe.skipIf("missing" in runtime && process.env.CI !== "true")("mcp-remote as the MCP client of the gateway's OAuth facade", () => {
  let upstream: ProtectedResourceUpstream;
  let as: InteractiveAuthorizationServer;
  let gateway: TestGateway;
  let relay: Server;
  let relayUrl: string;
  let configDir: string;
  /** What the "browser" did with each URL it was given: the callback it loaded, or why it failed. */
  const browsed: Array<{ callback?: URL; status?: number; error?: string }> = [];

  beforeAll(async () => {
    upstream = await startProtectedResourceUpstream({ name: "remote-up" });
    as = await startInteractiveAuthorizationServer({ resource: upstream.url });
    upstream.trust(as);
    gateway = await startTestGateway({ servers: { up: { url: upstream.url, auth_type: "oauth2" } } });
    configDir = await mkdtemp(join(tmpdir(), "gatehouse-mcp-remote-"));
    const jar = new CookieJar();
    relay = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        response.end();
        // The user: through the gateway and the authorization server, until mcp-remote's loopback callback, which the browser loads.
        const isCallback = (url: URL) => (url.hostname === "localhost" || url.hostname === "127.0.0.1") && url.pathname === "/oauth/callback";
        followRedirects(body, { cookies: jar, until: isCallback })
          .then(async (callback) => {
            const page = await fetchWithCookies(callback, jar);
            await page.body?.cancel();
            browsed.push({ callback, status: page.status });
          })
          .catch((error: unknown) => browsed.push({ error: error instanceof Error ? error.message : String(error) }));
      });
    });
    relayUrl = await listenOnLoopback(relay);
  });

  afterAll(async () => {
    relay?.close();
    await gateway?.close();
    await as?.close();
    await upstream?.close();
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
  });

  it("signs in through the gateway (dynamic registration, the browser, its loopback callback) and bridges tool calls", { timeout: 60_000 }, async () => {
    if ("missing" in runtime) throw new Error(`mcp-remote cannot run: ${runtime.missing}`);
    // A free port for mcp-remote's callback server: taken by a listener, then let go.
    const probe = createServer();
    const callbackPort = Number(new URL(await listenOnLoopback(probe)).port);
    await new Promise((resolve) => probe.close(resolve));
    const stderr: string[] = [];
    const transport = new StdioClientTransport({
      command: runtime.node,
      args: [require.resolve("mcp-remote/dist/proxy.js"), `${gateway.url}/up/mcp`, String(callbackPort), "--header", `x-litellm-api-key:Bearer ${MASTER_KEY}`, "--host", "127.0.0.1"],
      env: {
        PATH: process.env.PATH ?? "",
        HOME: configDir,
        MCP_REMOTE_CONFIG_DIR: configDir,
        BROWSER,
        GATEHOUSE_BROWSER_RELAY: relayUrl,
      },
      stderr: "pipe",
    });
    transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));
    const client = new Client({ name: "gatehouse-mcp-remote-test", version: "1.0.0" });
    try {
      await client.connect(transport);
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toContain("echo");
      const result = await client.callTool({ name: "echo", arguments: { message: "through mcp-remote" } });
      expect(JSON.stringify(result)).toContain("through mcp-remote");
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nbrowser: ${JSON.stringify(browsed)}\nmcp-remote stderr:\n${stderr.join("").slice(-3000)}`, { cause: error });
    } finally {
      await client.close();
    }
    // One authorization: the browser reached mcp-remote's callback, which answered it.
    expect(browsed).toEqual([{ callback: expect.any(URL), status: 200 }]);
    expect(browsed[0]!.callback!.port).toBe(String(callbackPort));
    // mcp-remote registered at the gateway's facade; the gateway registered itself upstream.
    expect(as.registrations()).toHaveLength(1);
    expect(upstream.acceptedTokens().length).toBeGreaterThan(0);
  });
});
