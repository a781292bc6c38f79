import { describe, expect, it } from "vitest";
import { serverNameMatcher } from "../../../src/registry/server-names.js";

describe("serverNameMatcher", () => {
  const names = serverNameMatcher(["gh", "gh-enterprise", "Slack_Bot"]);

  it("prefers the longest configured server name", () => {
    expect(names.matchPrefix("gh-enterprise-search")).toEqual({ server: "gh-enterprise", rest: "search" });
    expect(names.matchPrefix("gh-search")).toEqual({ server: "gh", rest: "search" });
  });

  it("keeps dashes of the tool part", () => {
    expect(names.matchPrefix("gh-list-issues")).toEqual({ server: "gh", rest: "list-issues" });
  });

  it("needs the dash separator and a non-empty remainder to match", () => {
    expect(names.matchPrefix("ghsearch")).toBeUndefined();
    expect(names.matchPrefix("gh")).toBeUndefined();
    expect(names.matchPrefix("unknown-tool")).toBeUndefined();
  });

  it("matches case-insensitively only when asked (header names are lowercase)", () => {
    expect(names.matchPrefix("slack_bot-authorization")).toBeUndefined();
    expect(names.matchPrefix("slack_bot-authorization", { caseInsensitive: true })).toEqual({ server: "Slack_Bot", rest: "authorization" });
  });
});

describe("serverNameMatcher with aliases and another separator (issue 17)", () => {
  const names = serverNameMatcher(["github_mcp", ["gh", "github_mcp"], ["mcp-pg", "pg"], "pg"], "__");

  it("resolves an alias to its server's name, the longest label first", () => {
    expect(names.matchPrefix("gh__where")).toEqual({ server: "github_mcp", rest: "where" });
    expect(names.matchPrefix("mcp-pg__query")).toEqual({ server: "pg", rest: "query" });
    expect(names.matchPrefix("github_mcp__a__b")).toEqual({ server: "github_mcp", rest: "a__b" });
  });

  it("needs the whole separator", () => {
    expect(names.matchPrefix("gh_where")).toBeUndefined();
    expect(names.matchPrefix("gh-where")).toBeUndefined();
    expect(names.matchPrefix("gh__")).toBeUndefined();
  });
});
