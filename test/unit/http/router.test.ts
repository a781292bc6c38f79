import { describe, expect, it } from "vitest";
import { serverPath } from "../../../src/http/router.js";

describe("serverPath", () => {
  it.each([
    ["/alpha/mcp", { name: "alpha", form: "server-first" }],
    ["/mcp/alpha", { name: "alpha", form: "mcp-first" }],
    ["/mcp/mcp", { name: "mcp", form: "mcp-first" }],
    ["/a%2Fb/mcp", { name: "a/b", form: "server-first" }],
    ["/my.server/mcp", { name: "my.server", form: "server-first" }],
  ])("reads %s as a server's path", (path, expected) => {
    expect(serverPath(path)).toEqual(expected);
  });

  it.each(["/mcp", "/alpha/mcp/", "/alpha/beta/mcp", "//mcp", "/mcp/", "/alpha/tools", "/"])("reads %s as no server's path", (path) => {
    expect(serverPath(path)).toBeUndefined();
  });
});
