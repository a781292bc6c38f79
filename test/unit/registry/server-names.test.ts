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
