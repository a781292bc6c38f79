/**
 * Issue 17: LiteLLM's server fields carried onto the entry, for the permission helpers that
 * enforce them next (access_groups, allow_all_keys) and for display (mcp_info).
 */
import { describe, expect, it } from "vitest";
import { NO_CREDENTIALS } from "../../../src/auth/upstream/strategy.js";
import { parseConfig } from "../../../src/config/load.js";
import { assertArgumentsAllowed } from "../../../src/mcp/access.js";
import { configServerEntries } from "../../../src/registry/registry.js";

const authFor = () => ({ credentials: () => NO_CREDENTIALS });

function entries(lines: string[], toolSeparator?: string) {
  const { config } = parseConfig(lines.join("\n"), { file: "config.yaml", env: {} });
  return configServerEntries(config, { authFor, ...(toolSeparator === undefined ? {} : { toolSeparator }) });
}

describe("server entry: LiteLLM fields", () => {
  it("carries access_groups, allow_all_keys and mcp_info (description copied in when absent)", () => {
    const [a, b] = entries([
      "mcp_servers:",
      "  a:",
      "    url: https://a.example.com/mcp",
      "    description: Wiki search",
      "    access_groups: [dev_group, api_team]",
      "    allow_all_keys: true",
      "    mcp_info: {mcp_server_cost_info: {default_cost_per_query: 0.01}}",
      "  b:",
      "    url: https://b.example.com/mcp",
      "    description: ignored here",
      "    mcp_info: {description: kept, logo_url: https://b.example.com/logo.png}",
    ]);
    expect(a).toMatchObject({
      accessGroups: ["dev_group", "api_team"],
      allowAllKeys: true,
      mcpInfo: { description: "Wiki search", mcp_server_cost_info: { default_cost_per_query: 0.01 } },
      toolPrefix: "a-",
    });
    expect(b).toMatchObject({ accessGroups: [], allowAllKeys: false, mcpInfo: { description: "kept", logo_url: "https://b.example.com/logo.png" } });
  });

  it("keys allowed_params by raw tool name, merging raw and prefixed keys", () => {
    const [entry] = entries(["mcp_servers:", "  svc:", "    url: https://s.example.com/mcp", "    alias: s", "    allowed_params: {find: [q], svc__find: [limit], s-get: [id]}"], "__");
    expect(entry?.toolPrefix).toBe("s__");
    expect(entry?.allowedParams?.get("find")).toEqual(new Set(["q", "limit"]));
    expect(entry?.allowedParams?.get("get")).toEqual(new Set(["id"]));
  });

  it("regression: an allowed_params key spelling a tool whose own name starts with the prefix left that tool unrestricted", () => {
    // The upstream's tool is really named `svc-search`; on /mcp it is `svc-svc-search`.
    const [entry] = entries(["mcp_servers:", "  svc:", "    url: https://s.example.com/mcp", "    allowed_params: {svc-search: [q]}"]);
    expect(() => assertArgumentsAllowed(entry!, "svc-search", { q: "x", drop_table: true })).toThrow(/'drop_table' are not allowed/);
    expect(() => assertArgumentsAllowed(entry!, "search", { q: "x", drop_table: true })).toThrow(/'drop_table' are not allowed/);
    expect(() => assertArgumentsAllowed(entry!, "svc-search", { q: "x" })).not.toThrow();
  });

  it("carries an OpenAPI (spec_path) server's spec source; without url its placeholder URL is never an HTTP one", () => {
    const [api, bare, b] = entries(["mcp_servers:", "  api: {url: 'http://0.0.0.0:8000', spec_path: /tmp/openapi.json, operations: [a]}", "  bare: {spec_path: 'https://s.example.com/o.yaml'}", "  b: {url: https://b.example.com/mcp}"]);
    expect(api!.openapi).toEqual({ specPath: "/tmp/openapi.json", baseUrl: "http://0.0.0.0:8000", operations: ["a"], label: "mcp_servers.api.spec_path" });
    expect(bare!.url.href).toBe("openapi://bare");
    expect(b!.openapi).toBeUndefined();
  });

  it("lets an OpenAPI server's allowed_tools and disallowed_tools name operations by their operationId as the spec spells it", () => {
    const [api, other] = entries([
      "mcp_servers:",
      "  api: {url: 'http://0.0.0.0:8000', spec_path: /tmp/openapi.json, allowed_tools: [getPetById, 'api-find pets', listPets], disallowed_tools: [ListPets]}",
      "  other: {url: https://b.example.com/mcp, allowed_tools: [getPetById]}",
    ]);
    expect(["getpetbyid", "find_pets", "listpets", "addpet"].map((tool) => api!.allowsTool(tool))).toEqual([true, true, false, false]);
    const [withParams] = entries(["mcp_servers:", "  api: {url: 'http://0.0.0.0:8000', spec_path: /tmp/openapi.json, allowed_params: {getPetById: [petId]}}"]);
    expect(() => assertArgumentsAllowed(withParams!, "getpetbyid", { petId: 1 })).not.toThrow();
    expect(() => assertArgumentsAllowed(withParams!, "getpetbyid", { petId: 1, debug: true })).toThrow(/debug/);
    // An MCP server's names are its own: no rewriting.
    expect([other!.allowsTool("getPetById"), other!.allowsTool("getpetbyid")]).toEqual([true, false]);
  });
});
