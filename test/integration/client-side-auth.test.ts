/**
 * LiteLLM's deprecated client-side credential (issue 17): `x-mcp-auth` (or the header
 * LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME / general_settings.mcp_client_side_auth_header_name
 * names) replaces a static-credential server's configured credential for that request,
 * formatted by the server's auth_type; `x-mcp-{server}-*` headers win over it; servers of
 * other kinds never receive it; a gateway key in it is refused. Against real upstreams.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { runtimeSettings } from "../../src/config/settings.js";
import { ConfigError } from "../../src/config/errors.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

const CONFIGURED = "configured-secret-value-0001";
const CLIENT = "client-side-token-7f31c9";

describe("the client-side credential header (x-mcp-auth)", () => {
  const upstreams: Record<string, Upstream> = {};
  let gateway: TestGateway;
  let renamed: TestGateway;

  beforeAll(async () => {
    for (const name of ["bearer", "apikey", "basic", "open"]) upstreams[name] = await upstreamNamed(name, {}, true);
    const servers = {
      bearer: { url: upstreams.bearer!.url, auth_type: "bearer_token", auth_value: CONFIGURED },
      apikey: { url: upstreams.apikey!.url, auth_type: "api_key", auth_value: CONFIGURED },
      basic: { url: upstreams.basic!.url, auth_type: "basic", auth_value: "user:configured" },
      open: { url: upstreams.open!.url },
      // A server whose name is a prefix of the gateway's own x-mcp-* headers.
      access: { url: upstreams.open!.url },
    };
    gateway = await startTestGateway({ servers });
    renamed = await startTestGateway({ servers, env: { LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME: "X-Upstream-Token" } });
  });
  afterAll(async () => {
    await Promise.allSettled([gateway?.close(), renamed?.close()]);
    await Promise.allSettled(Object.values(upstreams).map((upstream) => upstream.close()));
  });

  async function callThrough(on: TestGateway, server: string, headers: Record<string, string>): Promise<Response> {
    const response = await on.fetch(`/${server}/mcp`, { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/call", { name: "echo", arguments: { message: "hi" } }) });
    return response;
  }

  it("replaces the configured credential, formatted by each server's auth_type", async () => {
    for (const server of ["bearer", "apikey", "basic"]) expect((await callThrough(gateway, server, { "x-mcp-auth": CLIENT })).status).toBe(200);
    expect(upstreams.bearer!.lastHeaders().authorization).toBe(`Bearer ${CLIENT}`);
    expect(upstreams.apikey!.lastHeaders()["x-api-key"]).toBe(CLIENT);
    expect(upstreams.basic!.lastHeaders().authorization).toBe(`Basic ${Buffer.from(CLIENT).toString("base64")}`);
    // The header itself never goes upstream.
    expect(upstreams.bearer!.lastHeaders()["x-mcp-auth"]).toBeUndefined();
  });

  it("without it, the configured credential is sent", async () => {
    await callThrough(gateway, "bearer", {});
    expect(upstreams.bearer!.lastHeaders().authorization).toBe(`Bearer ${CONFIGURED}`);
  });

  it("an x-mcp-{server}-* header wins over it", async () => {
    await callThrough(gateway, "bearer", { "x-mcp-auth": CLIENT, "x-mcp-bearer-authorization": "Bearer per-server-value" });
    expect(upstreams.bearer!.lastHeaders().authorization).toBe("Bearer per-server-value");
  });

  it("a server without a static credential never receives it", async () => {
    await callThrough(gateway, "open", { "x-mcp-auth": CLIENT });
    expect(JSON.stringify(upstreams.open!.lastHeaders())).not.toContain(CLIENT);
  });

  it("reaches every static server a /mcp request calls, and debug headers say per-request-header", async () => {
    const response = await gateway.fetch("/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, "x-mcp-auth": CLIENT, "x-litellm-mcp-debug": "true" },
      body: rpc("tools/call", { name: "apikey-echo", arguments: { message: "hi" } }),
    });
    expect(response.status).toBe(200);
    await response.text();
    expect(upstreams.apikey!.lastHeaders()["x-api-key"]).toBe(CLIENT);
    expect(response.headers.get("x-mcp-debug-auth-resolution")).toContain("per-request-header");
    expect(response.headers.get("x-mcp-debug-auth-resolution")).not.toContain(CLIENT);
  });

  it("regression: the gateway's own x-mcp-access-groups header is never sent to a server named 'access' as its 'groups' header", async () => {
    expect((await callThrough(gateway, "access", { "x-mcp-access-groups": "dev" })).status).toBe(200);
    expect(upstreams.open!.lastHeaders().groups).toBeUndefined();
    // Its real per-server headers still arrive.
    await callThrough(gateway, "access", { "x-mcp-access-x-team": "blue" });
    expect(upstreams.open!.lastHeaders()["x-team"]).toBe("blue");
  });

  it("a gateway key in it is refused (400), and never reaches the upstream", async () => {
    const before = upstreams.bearer!.requests.length;
    const response = await callThrough(gateway, "bearer", { "x-mcp-auth": gateway.masterKey });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("gateway_key_in_upstream_header");
    expect(upstreams.bearer!.requests.slice(before).some((request) => JSON.stringify(request.headers).includes(gateway.masterKey))).toBe(false);
  });

  it("the header's name follows LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME, and x-mcp-auth is then not read", async () => {
    await callThrough(renamed, "bearer", { "x-upstream-token": CLIENT });
    expect(upstreams.bearer!.lastHeaders().authorization).toBe(`Bearer ${CLIENT}`);
    await callThrough(renamed, "bearer", { "x-mcp-auth": "ignored-value" });
    expect(upstreams.bearer!.lastHeaders().authorization).toBe(`Bearer ${CONFIGURED}`);
  });

  it("a name that carries the gateway key, or no header name at all, stops startup", () => {
    const { config } = parseConfig("mcp_servers: {}\n", { file: "c.yaml", env: {} });
    for (const name of ["Authorization", "x-litellm-api-key", "bad header"]) {
      expect(() => runtimeSettings(config, { GATEHOUSE_MASTER_KEY: "sk-m", LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME: name })).toThrow(ConfigError);
    }
  });

  it("general_settings.mcp_client_side_auth_header_name is honoured, without a warning", () => {
    const { config, warnings } = parseConfig("general_settings:\n  mcp_client_side_auth_header_name: X-Legacy-Auth\n", { file: "c.yaml", env: {} });
    expect(warnings.join("\n")).not.toContain("mcp_client_side_auth_header_name");
    expect(runtimeSettings(config, { GATEHOUSE_MASTER_KEY: "sk-m" }).clientAuthHeader).toBe("x-legacy-auth");
  });
});
