import { describe, expect, it } from "vitest";
import { perRequestHeaders } from "../../../src/auth/upstream/per-request-headers.js";
import { serverNameMatcher } from "../../../src/registry/server-names.js";

const names = serverNameMatcher(["github", "github-enterprise", "Jira"]);

describe("x-mcp-{server}-{name} headers", () => {
  const headers = new Headers({
    "x-mcp-github-authorization": "Bearer gh",
    "x-mcp-github-enterprise-authorization": "Bearer ghe",
    "x-mcp-jira-x-tenant": "t1",
    "x-mcp-servers": "github",
    "x-mcp-unknown-authorization": "nope",
  });

  it("go to their own server only, under the header's own name", () => {
    expect(perRequestHeaders(headers, "github", names)).toEqual({ authorization: "Bearer gh" });
    expect(perRequestHeaders(headers, "github-enterprise", names)).toEqual({ authorization: "Bearer ghe" });
  });

  it("match server names case-insensitively, as HTTP header names are", () => {
    expect(perRequestHeaders(headers, "Jira", names)).toEqual({ "x-tenant": "t1" });
  });

  it("are absent when the request has none for the server; x-mcp-servers is never one", () => {
    expect(perRequestHeaders(new Headers({ "x-mcp-servers": "github" }), "github", names)).toBeUndefined();
  });
});

describe("a per-request header and names that differ only in case (issue 15 item 10)", () => {
  it("reaches exactly one server, even if a registry ever held both 'A' and 'a'", () => {
    const both = serverNameMatcher(["A", "a"]);
    const headers = new Headers({ "x-mcp-a-authorization": "Bearer for-one" });
    const receivers = ["A", "a"].filter((server) => perRequestHeaders(headers, server, both) !== undefined);
    expect(receivers).toHaveLength(1);
  });
});
