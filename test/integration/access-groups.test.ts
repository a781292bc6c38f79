/**
 * LiteLLM's access groups and allow_all_keys (issue 17): a key with
 * `object_permission.mcp_access_groups` may use the servers of those groups (and no
 * others unless it lists them); `allow_all_keys: true` gives a server to every key,
 * limited ones included, but never to a caller without a key; `/{group}/mcp`,
 * `x-mcp-servers: group` and `x-mcp-access-groups` narrow to a group. Through the
 * public interface, against real upstream MCP servers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

describe("access groups and allow_all_keys", () => {
  const upstreams: Record<string, Upstream> = {};
  let gateway: TestGateway;
  let devKey: string;
  let alphaKey: string;
  let unlimitedKey: string;

  beforeAll(async () => {
    for (const name of ["alpha", "beta", "gamma", "shared", "ops"]) upstreams[name] = await upstreamNamed(name, {}, true);
    gateway = await startTestGateway({
      servers: {
        alpha: { url: upstreams.alpha!.url, access_groups: ["dev"] },
        beta: { url: upstreams.beta!.url, access_groups: ["dev", "ops"] },
        gamma: { url: upstreams.gamma!.url },
        shared: { url: upstreams.shared!.url, allow_all_keys: true },
        ops: { url: upstreams.ops!.url, access_groups: ["ops"] },
      },
    });
    devKey = await gateway.generateKey({ object_permission: { mcp_access_groups: ["dev"] } });
    alphaKey = await gateway.generateKey({ object_permission: { mcp_servers: ["gamma"] } });
    unlimitedKey = await gateway.generateKey({});
  });
  afterAll(async () => {
    await gateway?.close();
    await Promise.allSettled(Object.values(upstreams).map((upstream) => upstream.close()));
  });

  async function serversListed(path: string, key: string, headers: Record<string, string> = {}): Promise<string[]> {
    const client = await gateway.connect(path, { "x-litellm-api-key": `Bearer ${key}`, ...headers });
    const { tools } = await client.listTools();
    await client.close();
    return [...new Set(tools.map((tool) => tool.name.split("-")[0]!))].sort();
  }

  async function status(path: string, key: string | null, headers: Record<string, string> = {}): Promise<number> {
    const response = await gateway.fetch(path, { method: "POST", key, headers: { ...MCP_ACCEPT, ...headers }, body: rpc("tools/list") });
    await response.body?.cancel();
    return response.status;
  }

  it("a key limited to access group dev uses dev's servers and the allow_all_keys server, nothing else", async () => {
    expect(await serversListed("/mcp", devKey)).toEqual(["alpha", "beta", "shared"]);
    expect(await status("/alpha/mcp", devKey)).toBe(200);
    expect(await status("/ops/mcp", devKey)).toBe(403);
    expect(await status("/gamma/mcp", devKey)).toBe(403);
  });

  it("allow_all_keys reaches a key limited to other servers", async () => {
    expect(await serversListed("/mcp", alphaKey)).toEqual(["gamma", "shared"]);
    expect(await status("/shared/mcp", alphaKey)).toBe(200);
  });

  it("a key without limits still sees every server", async () => {
    expect(await serversListed("/mcp", unlimitedKey)).toEqual(["alpha", "beta", "gamma", "ops", "shared"]);
  });

  it("allow_all_keys never admits a caller without a key", async () => {
    expect(await status("/shared/mcp", null)).toBe(401);
    expect(await status("/mcp", null)).toBe(401);
  });

  it("/{group}/mcp serves the group's servers the key may use", async () => {
    expect(await serversListed("/dev/mcp", unlimitedKey)).toEqual(["alpha", "beta"]);
    expect(await serversListed("/dev/mcp", devKey)).toEqual(["alpha", "beta"]);
    // A server's own name wins over a group of the same name: /ops/mcp is server ops's pass-through (upstream tool names, no prefix).
    const client = await gateway.connect("/ops/mcp", { "x-litellm-api-key": `Bearer ${unlimitedKey}` });
    const { tools } = await client.listTools();
    await client.close();
    expect(tools.map((tool) => tool.name)).toContain("echo");
    expect(await status("/dev/mcp", alphaKey)).toBe(403);
  });

  it("a group named in x-mcp-servers or x-mcp-access-groups narrows /mcp to it", async () => {
    expect(await serversListed("/mcp", unlimitedKey, { "x-mcp-servers": "dev" })).toEqual(["alpha", "beta"]);
    expect(await serversListed("/mcp", unlimitedKey, { "x-mcp-access-groups": "ops" })).toEqual(["beta", "ops"]);
    expect(await serversListed("/mcp", devKey, { "x-mcp-access-groups": "ops" })).toEqual(["beta"]);
  });

  it("api_keys (which LiteLLM ignores) limits a config server to the keys listed and the master key; the API never shows them or takes them", async () => {
    const listed = "sk-listed-in-api-keys-0001";
    const limitedServer = await upstreamNamed("limited", {}, true);
    const only = await startTestGateway({ servers: { limited: { url: limitedServer.url, api_keys: [listed] } } });
    try {
      await only.fetch("/key/generate", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key: listed }) });
      const other = await only.generateKey({});
      const named = await only.generateKey({ object_permission: { mcp_servers: ["limited"] } });
      const statusOn = async (key: string | null) => {
        const response = await only.fetch("/limited/mcp", { method: "POST", key, headers: MCP_ACCEPT, body: rpc("tools/list") });
        await response.body?.cancel();
        return response.status;
      };
      expect(await statusOn(listed)).toBe(200);
      expect(await statusOn(only.masterKey)).toBe(200);
      // Hidden from a key that may use every server: as if it did not exist.
      expect(await statusOn(other)).toBe(404);
      // Naming the server in the key does not get around the list.
      expect(await statusOn(named)).toBe(403);
      const view = await (await only.fetch("/v1/mcp/server/limited")).text();
      expect(view).not.toContain(listed);
      const refused = await only.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "x", url: limitedServer.url, api_keys: [listed] }) });
      expect(refused.status).toBe(400);
    } finally {
      await only.close();
      await limitedServer.close();
    }
  });

  it("GET /v1/mcp/access_groups lists the groups of the servers the key may use", async () => {
    const all = (await (await gateway.fetch("/v1/mcp/access_groups")).json()) as { access_groups: string[] };
    expect(all.access_groups).toEqual(["dev", "ops"]);
    const limited = (await (await gateway.fetch("/v1/mcp/access_groups", { key: alphaKey })).json()) as { access_groups: string[] };
    expect(limited.access_groups).toEqual([]);
  });
});
