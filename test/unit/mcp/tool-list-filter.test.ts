import { describe, expect, it } from "vitest";
import { filterToolsListJson, filterToolsListSse } from "../../../src/mcp/tool-list-filter.js";

const check = { visible: (tool: string) => tool !== "secret", review: undefined };
const list = (id: number) => ({ jsonrpc: "2.0", id, result: { tools: [{ name: "echo" }, { name: "secret" }] } });

async function runSse(chunks: string[], ids: Set<number>): Promise<string> {
  const encoder = new TextEncoder();
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(source.pipeThrough(filterToolsListSse(ids, check))).text();
}

describe("filterToolsListJson", () => {
  it("removes invisible tools from the tools/list response of this request", async () => {
    const out = JSON.parse(await filterToolsListJson(JSON.stringify(list(1)), new Set([1]), check));
    expect(out.result.tools).toEqual([{ name: "echo" }]);
  });

  it("filters a tools list answered under another id too (an upstream may read the id differently: fail closed)", async () => {
    expect(JSON.parse(await filterToolsListJson(JSON.stringify(list(2)), new Set([1]), check)).result.tools).toEqual([{ name: "echo" }]);
  });

  it("leaves responses without tools and unparsable bodies byte for byte", async () => {
    const other = JSON.stringify({ jsonrpc: "2.0", id: 2, result: { content: [] } });
    expect(await filterToolsListJson(other, new Set([1]), check)).toBe(other);
    expect(await filterToolsListJson("not json", new Set([1]), check)).toBe("not json");
  });

  it("filters inside a batch response", async () => {
    const out = JSON.parse(await filterToolsListJson(JSON.stringify([list(1), { jsonrpc: "2.0", id: 3, result: {} }]), new Set([1]), check));
    expect(out[0].result.tools).toEqual([{ name: "echo" }]);
    expect(out[1]).toEqual({ jsonrpc: "2.0", id: 3, result: {} });
  });
});

describe("tool pinning's review of relayed lists", () => {
  it("drops the tools the review withholds, then applies the caller's permissions", async () => {
    const review = async (tools: Array<{ name: string }>) => tools.filter((tool) => tool.name !== "changed");
    const body = { jsonrpc: "2.0", id: 1, result: { tools: [{ name: "echo" }, { name: "changed" }, { name: "secret" }] } };
    const out = JSON.parse(await filterToolsListJson(JSON.stringify(body), new Set([1]), { visible: check.visible, review }));
    expect(out.result.tools).toEqual([{ name: "echo" }]);
  });

  it("answers an error instead of a list the review could not check (fail closed when the store fails)", async () => {
    const review = async () => {
      throw new Error("database down");
    };
    const out = JSON.parse(await filterToolsListJson(JSON.stringify(list(1)), new Set([1]), { visible: undefined, review }));
    expect(out.result).toBeUndefined();
    expect(out.error.message).toContain("tool pinning");
  });
});

describe("filterToolsListSse", () => {
  it("rewrites the matching event even when it is split across chunks", async () => {
    const event = `event: message\nid: 9\ndata: ${JSON.stringify(list(1))}\n\n`;
    const progress = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n`;
    const text = progress + event;
    const out = await runSse([text.slice(0, 50), text.slice(50, 120), text.slice(120)], new Set([1]));
    const events = out.split("\n\n").filter((part) => part !== "");
    expect(events[0]).toBe(progress.trimEnd());
    expect(events[1]).toContain("event: message");
    expect(events[1]).toContain("id: 9");
    const data = events[1]!.split("\n").find((line) => line.startsWith("data: "))!;
    expect(JSON.parse(data.slice(6)).result.tools).toEqual([{ name: "echo" }]);
  });

  it("passes events without tools through unchanged", async () => {
    const event = `data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } })}\r\n\r\n`;
    expect(await runSse([event], new Set([1]))).toBe(event);
  });
});
