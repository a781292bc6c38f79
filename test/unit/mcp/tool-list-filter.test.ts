import { describe, expect, it } from "vitest";
import { filterToolsListJson, filterToolsListSse } from "../../../src/mcp/tool-list-filter.js";

const check = { visible: (tool: string) => tool !== "secret", review: undefined };
const list = (id: number) => ({ jsonrpc: "2.0", id, result: { tools: [{ name: "echo" }, { name: "secret" }] } });

async function runSse(chunks: string[]): Promise<string> {
  const encoder = new TextEncoder();
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(source.pipeThrough(filterToolsListSse(check))).text();
}

describe("filterToolsListJson", () => {
  it("removes invisible tools from the tools/list response of this request", async () => {
    const out = JSON.parse(await filterToolsListJson(JSON.stringify(list(1)), check));
    expect(out.result.tools).toEqual([{ name: "echo" }]);
  });

  it("filters a tools list answered under another id too (an upstream may read the id differently: fail closed)", async () => {
    expect(JSON.parse(await filterToolsListJson(JSON.stringify(list(2)), check)).result.tools).toEqual([{ name: "echo" }]);
  });

  it("leaves responses without tools and unparsable bodies byte for byte", async () => {
    const other = JSON.stringify({ jsonrpc: "2.0", id: 2, result: { content: [] } });
    expect(await filterToolsListJson(other, check)).toBe(other);
    expect(await filterToolsListJson("not json", check)).toBe("not json");
  });

  it("filters inside a batch response", async () => {
    const out = JSON.parse(await filterToolsListJson(JSON.stringify([list(1), { jsonrpc: "2.0", id: 3, result: {} }]), check));
    expect(out[0].result.tools).toEqual([{ name: "echo" }]);
    expect(out[1]).toEqual({ jsonrpc: "2.0", id: 3, result: {} });
  });
});

describe("tool pinning's review of relayed lists", () => {
  it("drops the tools the review withholds, then applies the caller's permissions", async () => {
    const review = async (tools: Array<{ name: string }>) => tools.filter((tool) => tool.name !== "changed");
    const body = { jsonrpc: "2.0", id: 1, result: { tools: [{ name: "echo" }, { name: "changed" }, { name: "secret" }] } };
    const out = JSON.parse(await filterToolsListJson(JSON.stringify(body), { visible: check.visible, review }));
    expect(out.result.tools).toEqual([{ name: "echo" }]);
  });

  it("answers an error instead of a list the review could not check (fail closed when the store fails)", async () => {
    const review = async () => {
      throw new Error("database down");
    };
    const out = JSON.parse(await filterToolsListJson(JSON.stringify(list(1)), { visible: undefined, review }));
    expect(out.result).toBeUndefined();
    expect(out.error.message).toContain("tool pinning");
  });
});

describe("filterToolsListSse", () => {
  it("rewrites the matching event even when it is split across chunks", async () => {
    const event = `event: message\nid: 9\ndata: ${JSON.stringify(list(1))}\n\n`;
    const progress = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n`;
    const text = progress + event;
    const out = await runSse([text.slice(0, 50), text.slice(50, 120), text.slice(120)]);
    const events = out.split("\n\n").filter((part) => part !== "");
    expect(events[0]).toBe(progress.trimEnd());
    expect(events[1]).toContain("event: message");
    expect(events[1]).toContain("id: 9");
    const data = events[1]!.split("\n").find((line) => line.startsWith("data: "))!;
    expect(JSON.parse(data.slice(6)).result.tools).toEqual([{ name: "echo" }]);
  });

  it("passes events without tools through unchanged", async () => {
    const event = `data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } })}\r\n\r\n`;
    expect(await runSse([event])).toBe(event);
  });
});

describe("tool lists an upstream slips past the filter (issue 20 attack review)", () => {
  const tools = (id: number) => JSON.stringify(list(id));
  const listed = (out: string) =>
    out
      .split(/\r\n|\r|\n/)
      .filter((line) => line.startsWith("data:"))
      .flatMap((line) => {
        const message = JSON.parse(line.slice(5)) as { result?: { tools?: Array<{ name: string }> } };
        return message.result?.tools?.map((tool) => tool.name) ?? [];
      });

  it("SSE events ended by lone CRs (valid SSE) are each filtered, not relayed as one unparsable blob", async () => {
    const out = await runSse([`data: ${tools(1)}\r\rdata: ${tools(2)}\r\r`]);
    expect(listed(out)).toEqual(["echo", "echo"]);
  });

  it("a CR at a chunk's end, then its LF, is one line end (CRLF), and several events in one chunk are each filtered", async () => {
    const out = await runSse([`id: 7\r\nretry: 10\r\ndata: ${tools(1)}\r`, `\n\r\ndata: ${tools(2)}\n\n`]);
    expect(listed(out)).toEqual(["echo", "echo"]);
    expect(out).toContain("id: 7");
    expect(out).toContain("retry: 10");
  });

  it("a `tools` key written with a \\u escape is filtered (JSON.parse reads it as tools)", async () => {
    const escaped = `{"jsonrpc":"2.0","id":1,"result":{"tool\\u0073":[{"name":"echo"},{"name":"secret"}]}}`;
    expect(JSON.parse(escaped).result.tools).toHaveLength(2);
    expect(JSON.parse(await filterToolsListJson(escaped, check)).result.tools).toEqual([{ name: "echo" }]);
    expect(listed(await runSse([`data: ${escaped}\n\n`]))).toEqual(["echo"]);
  });

  it("a tools list in an SSE event's data split over several data lines is filtered", async () => {
    const cut = tools(1).indexOf(",") + 1; // data lines are joined with a newline: JSON whitespace between two tokens
    const [head, tail] = [tools(1).slice(0, cut), tools(1).slice(cut)];
    const out = await runSse([`data: ${head}\ndata: ${tail}\n\n`]);
    expect(listed(out)).toEqual(["echo"]);
  });

  it("an SSE event longer than the bound errors the stream instead of growing without end", async () => {
    const encoder = new TextEncoder();
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(`data: ${"x".repeat(64)}`));
        controller.enqueue(encoder.encode("x".repeat(64)));
        controller.close();
      },
    });
    await expect(new Response(source.pipeThrough(filterToolsListSse(check, 100))).text()).rejects.toThrow(/longer than 100 characters/);
  });
});
