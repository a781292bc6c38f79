import { describe, expect, it } from "vitest";
import { effectivePermission, type PermissionContext, type PermissionServer } from "../../../src/litellm-import/key-permissions.js";

const server = (ref: string, extra: Partial<PermissionServer> = {}): PermissionServer => ({
  ref,
  names: [`${ref}-name`],
  groups: [],
  allowAllKeys: false,
  gatehouseId: ref,
  ...extra,
});

const context = (servers: PermissionServer[], more: Partial<PermissionContext> = {}): PermissionContext => ({
  servers,
  configServers: new Map(),
  requireKeyMcpAccessDefined: false,
  ...more,
});

const SERVERS = [server("a"), server("b", { groups: ["dev"] }), server("c", { groups: ["dev", "ops"] }), server("open", { allowAllKeys: true })];

describe("a LiteLLM key's MCP permissions, as a Gatehouse key's explicit lists", () => {
  it("a key without any MCP permission gets only the allow_all_keys servers, never every server (default deny)", () => {
    expect(effectivePermission({ key: undefined, accessGroupIds: [] }, context(SERVERS))).toMatchObject({ servers: ["open"], tools: {} });
    expect(effectivePermission({ key: { mcp_servers: [] }, accessGroupIds: [] }, context([server("a")]))).toMatchObject({ servers: [] });
  });

  it("mcp_servers entries may be ids or names; access groups and tool-permission servers are added", () => {
    const result = effectivePermission(
      { key: { mcp_servers: ["a-name"], mcp_access_groups: ["ops"], mcp_tool_permissions: { b: ["search"] } }, accessGroupIds: [] },
      context(SERVERS),
    );
    expect(result.servers).toEqual(["a", "b", "c", "open"]);
    expect(result.tools).toEqual({ b: ["search"] });
  });

  it("key and team lists intersect; a team list alone applies; tool lists intersect too", () => {
    const team = { id: "t1", permission: { mcp_servers: ["a", "b"], mcp_tool_permissions: { a: ["x", "y"] } }, accessGroupIds: [] };
    expect(
      effectivePermission({ key: { mcp_servers: ["b", "c"], mcp_tool_permissions: { a: ["y", "z"] } }, team, accessGroupIds: [] }, context(SERVERS)).servers,
    ).toEqual(["a", "b", "open"]);
    const keyless = effectivePermission({ key: undefined, team, accessGroupIds: [] }, context(SERVERS));
    expect(keyless.servers).toEqual(["a", "b", "open"]);
    expect(keyless.tools).toEqual({ a: ["x", "y"] });
    const both = effectivePermission({ key: { mcp_tool_permissions: { a: ["y", "z"] } }, team, accessGroupIds: [] }, context(SERVERS));
    expect(both.tools).toEqual({ a: ["y"] });
  });

  it("require_key_mcp_access_defined leaves a key without its own list with the allow_all_keys servers only", () => {
    const team = { id: "t1", permission: { mcp_servers: ["a"] }, accessGroupIds: [] };
    expect(effectivePermission({ key: undefined, team, accessGroupIds: [] }, context(SERVERS, { requireKeyMcpAccessDefined: true })).servers).toEqual(["open"]);
  });

  it("no-mcp-servers allows nothing but the allow_all_keys servers", () => {
    expect(effectivePermission({ key: { mcp_servers: ["no-mcp-servers", "a"] }, accessGroupIds: [] }, context(SERVERS)).servers).toEqual(["open"]);
  });

  it("an organization list caps the key's set, and is not granted when nothing else restricted (narrower)", () => {
    const organization = { id: "o1", permission: { mcp_servers: ["a", "b"] } };
    expect(effectivePermission({ key: { mcp_servers: ["b", "c"] }, organization, accessGroupIds: [] }, context(SERVERS)).servers).toEqual(["b", "open"]);
    const alone = effectivePermission({ key: undefined, organization, accessGroupIds: [] }, context(SERVERS));
    expect(alone.servers).toEqual(["open"]);
    expect(alone.notes.join("\n")).toMatch(/organization 'o1'.*narrower/);
  });

  it("toolsets, blocked_tools and agents cannot be evaluated: no MCP servers at all, with the reason", () => {
    for (const input of [
      { key: { mcp_servers: ["a"], mcp_toolsets: ["ts"] }, accessGroupIds: [] },
      { key: { mcp_servers: ["a"], blocked_tools: ["rm"] }, accessGroupIds: [] },
      { key: { mcp_servers: ["a"] }, agentId: "agent-1", accessGroupIds: [] },
    ]) {
      const result = effectivePermission(input, context(SERVERS));
      expect(result.servers).toEqual([]);
      expect(result.notes.at(-1)).toMatch(/no MCP servers/);
    }
  });

  it("servers that were not imported and names nobody knows are left out and reported", () => {
    const result = effectivePermission(
      { key: { mcp_servers: ["a", "ghost", "github"] }, accessGroupIds: ["grp-1"] },
      context([server("a", { gatehouseId: undefined }), server("b")], { configServers: new Map([["github", "github"]]) }),
    );
    expect(result.servers).toEqual(["github"]);
    expect(result.notes.join("\n")).toMatch(/not imported.*a/);
    expect(result.notes.join("\n")).toMatch(/ghost/);
    expect(result.notes.join("\n")).toMatch(/access_group_ids \[grp-1\]/);
  });

  it("writes Gatehouse ids, which may differ from LiteLLM's server ids", () => {
    expect(effectivePermission({ key: { mcp_servers: ["a"] }, accessGroupIds: [] }, context([server("a", { gatehouseId: "litellm-0f3c" })])).servers).toEqual(["litellm-0f3c"]);
  });
});
