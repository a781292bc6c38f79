/**
 * LiteLLM's `mcp_info` (issue 17): the description, logo and cost info a config gives a
 * server are shown by the management API, the REST tool list, `/v1/mcp/tools` and the
 * admin UI, with the alias, access groups and allow_all_keys.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

const INFO = {
  logo_url: "https://example.com/github.png",
  mcp_server_cost_info: { default_cost_per_query: 0.01, tool_name_to_cost_per_query: { echo: 0.05 } },
};

describe("mcp_info", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await upstreamNamed("github", {}, true);
    gateway = await startTestGateway({
      servers: {
        github: { url: upstream.url, description: "GitHub tools", alias: "gh", access_groups: ["dev"], allow_all_keys: true, mcp_info: INFO },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const getJson = async <T>(path: string): Promise<T> => (await (await gateway.fetch(path)).json()) as T;

  it("the management API shows it, description copied in", async () => {
    const server = await getJson<{ mcp_info: Record<string, unknown>; alias: string; mcp_access_groups: string[] }>("/v1/mcp/server/github");
    expect(server.mcp_info).toEqual({ ...INFO, description: "GitHub tools" });
    expect(server).toMatchObject({ alias: "gh", mcp_access_groups: ["dev"] });
  });

  it("the REST tool list and /v1/mcp/tools carry it with the server's name", async () => {
    const rest = await getJson<{ tools: Array<{ name: string; mcp_info: Record<string, unknown> }> }>("/mcp-rest/tools/list");
    expect(rest.tools.find((tool) => tool.name === "echo")?.mcp_info).toEqual({ ...INFO, description: "GitHub tools", server_name: "github" });
    const all = await getJson<{ tools: Array<{ name: string; mcp_info: Record<string, unknown> }> }>("/v1/mcp/tools");
    expect(all.tools.find((tool) => tool.name === "gh-echo")?.mcp_info).toMatchObject({ logo_url: INFO.logo_url, server_name: "github" });
  });

  it("the admin UI shows the description, alias, groups, allow_all_keys and cost", async () => {
    const form = await fetch(new URL("/ui/login", gateway.url), { redirect: "manual" });
    const loginCookie = /gatehouse_login_csrf=([^;]+)/.exec(form.headers.getSetCookie().join("\n"))![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signedIn = await fetch(new URL("/ui/login", gateway.url), {
      method: "POST",
      redirect: "manual",
      body: new URLSearchParams({ csrf, key: gateway.masterKey }),
      headers: { cookie: `gatehouse_login_csrf=${loginCookie}` },
    });
    const session = /gatehouse_session=([^;]+)/.exec(signedIn.headers.getSetCookie().join("\n"))![1]!;
    const cookie = `gatehouse_session=${session}`;
    const list = await (await fetch(new URL("/ui/mcp/servers", gateway.url), { headers: { cookie } })).text();
    expect(list).toContain("GitHub tools");
    expect(list).toContain("dev");
    const overview = await (await fetch(new URL("/ui/mcp/servers/github", gateway.url), { headers: { cookie } })).text();
    for (const text of ["GitHub tools", "<code>gh</code>", "allow_all_keys", "https://example.com/github.png", "default_cost_per_query", "gh-&lt;tool&gt;"]) {
      expect(overview).toContain(text);
    }
  });
});
