/**
 * `listAllTools` (src/mcp/tool-listing.ts): the bounds on one server's listing, against a
 * scripted ToolsClient (issue 15 item 6: an endless `nextCursor` cost 20,000 requests).
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, McpError, type ListToolsResult } from "@modelcontextprotocol/sdk/types.js";
import { listAllTools, type ListOptions } from "../../../src/mcp/tool-listing.js";
import type { CallOptions, ToolsClient } from "../../../src/mcp/upstream-session.js";

const tool = (name: string) => ({ name, inputSchema: { type: "object" as const } });

/** A client whose pages come from `page`; it records the cursors and timeouts it was asked with. */
function scripted(page: (cursor: string | undefined, index: number) => ListToolsResult | Promise<ListToolsResult>) {
  const asked: Array<{ cursor: string | undefined; timeout: number }> = [];
  const client: ToolsClient = {
    async listTools(params: { cursor?: string }, options: CallOptions) {
      asked.push({ cursor: params.cursor, timeout: options.timeout });
      return page(params.cursor, asked.length - 1);
    },
    callTool: () => Promise.reject(new Error("not used")),
    request: () => Promise.reject(new Error("not used")),
    capabilities: { tools: {} },
    close: () => Promise.resolve(),
  };
  return { client, asked };
}

const options = (overrides: Partial<ListOptions> = {}): ListOptions => ({ pageTimeoutMs: 10_000, totalTimeoutMs: 60_000, limits: { maxPages: 100, maxTools: 10_000 }, ...overrides });

describe("listAllTools", () => {
  it("follows nextCursor to the last page", async () => {
    const { client, asked } = scripted((_cursor, index) => (index < 2 ? { tools: [tool(`t${index}`)], nextCursor: `c${index + 1}` } : { tools: [tool("last")] }));
    expect(await listAllTools(client, options())).toEqual({ tools: [tool("t0"), tool("t1"), tool("last")], pages: 3 });
    expect(asked.map((ask) => ask.cursor)).toEqual([undefined, "c1", "c2"]);
  });

  it("an endless nextCursor stops at maxPages, keeping what was listed", async () => {
    const { client, asked } = scripted((_cursor, index) => ({ tools: [tool(`t${index}`)], nextCursor: `c${index + 1}` }));
    const listing = await listAllTools(client, options({ limits: { maxPages: 5, maxTools: 10_000 } }));
    expect(asked).toHaveLength(5);
    expect(listing).toMatchObject({ truncated: "max_pages", pages: 5 });
    expect(listing.tools.map((listed) => listed.name)).toEqual(["t0", "t1", "t2", "t3", "t4"]);
  });

  it("a cursor seen before ends the listing (a loop), even one that comes back later", async () => {
    const cursors = ["a", "b", "a"];
    const { client, asked } = scripted((_cursor, index) => ({ tools: [tool(`t${index}`)], nextCursor: cursors[index]! }));
    expect(await listAllTools(client, options())).toMatchObject({ truncated: "repeated_cursor", pages: 3 });
    expect(asked.map((ask) => ask.cursor)).toEqual([undefined, "a", "b"]);
  });

  it("stops at maxTools, also inside one oversized page", async () => {
    const { client } = scripted(() => ({ tools: Array.from({ length: 7 }, (_, index) => tool(`t${index}`)), nextCursor: "more" }));
    const listing = await listAllTools(client, options({ limits: { maxPages: 100, maxTools: 5 } }));
    expect(listing).toMatchObject({ truncated: "max_tools", pages: 1 });
    expect(listing.tools).toHaveLength(5);
  });

  it("a page of more tools than a call takes arguments is cut without overflowing the stack", async () => {
    const { client } = scripted(() => ({ tools: Array.from({ length: 300_000 }, () => tool("same")) }));
    const listing = await listAllTools(client, options({ limits: { maxPages: 100, maxTools: 200_000 } }));
    expect(listing.tools).toHaveLength(200_000);
    expect(listing.truncated).toBe("max_tools");
  });

  it("pages after the first get what is left of the total time, and the listing ends with what it has once it is spent", async () => {
    let clock = 0;
    const { client, asked } = scripted((_cursor, index) => {
      clock += 400;
      return { tools: [tool(`t${index}`)], nextCursor: `c${index + 1}` };
    });
    const listing = await listAllTools(client, options({ pageTimeoutMs: 500, totalTimeoutMs: 1_000, now: () => clock }));
    expect(asked.map((ask) => ask.timeout)).toEqual([500, 500, 200]);
    expect(listing).toMatchObject({ truncated: "deadline", pages: 3 });
  });

  it("a later page that times out on the total time ends the listing with the pages before it", async () => {
    let clock = 0;
    const { client } = scripted((_cursor, index) => {
      clock += 600;
      if (index === 1) throw new McpError(ErrorCode.RequestTimeout, "Request timed out");
      return { tools: [tool(`t${index}`)], nextCursor: `c${index + 1}` };
    });
    expect(await listAllTools(client, options({ pageTimeoutMs: 500, totalTimeoutMs: 1_000, now: () => clock }))).toMatchObject({ truncated: "deadline", pages: 1, tools: [tool("t0")] });
  });

  it("a first page that fails, or a later page that fails otherwise, fails the listing", async () => {
    const first = scripted(() => Promise.reject(new McpError(ErrorCode.RequestTimeout, "Request timed out")));
    await expect(listAllTools(first.client, options())).rejects.toThrow("Request timed out");
    const later = scripted((_cursor, index) => (index === 0 ? { tools: [tool("t0")], nextCursor: "c1" } : Promise.reject(new McpError(ErrorCode.InternalError, "boom"))));
    await expect(listAllTools(later.client, options())).rejects.toThrow("boom");
  });
});
