import { describe, expect, it } from "vitest";
import { lineDiff } from "../../../src/ui/line-diff.js";

const compact = (before: string, after: string) => lineDiff(before, after).map((line) => `${line.kind === "same" ? " " : line.kind === "added" ? "+" : "-"}${line.text}`);

describe("lineDiff", () => {
  it("keeps common lines and shows a changed line as removed then added, with both line numbers", () => {
    expect(compact("a\nb\nc", "a\nB\nc")).toEqual([" a", "-b", "+B", " c"]);
    expect(lineDiff("a\nb", "x\na\nb")).toEqual([
      { kind: "added", text: "x", newLine: 1 },
      { kind: "same", text: "a", oldLine: 1, newLine: 2 },
      { kind: "same", text: "b", oldLine: 2, newLine: 3 },
    ]);
  });

  it("handles an empty side and identical texts", () => {
    expect(compact("", "a")).toEqual(["-", "+a"]);
    expect(compact("a\nb", "a\nb")).toEqual([" a", " b"]);
  });

  it("falls back to all removed then all added past its size bound instead of a huge table", () => {
    const big = Array.from({ length: 2100 }, (_, index) => `l${index}`).join("\n");
    const lines = lineDiff(big, `${big}\nmore`);
    expect(lines.filter((line) => line.kind === "removed")).toHaveLength(2100);
    expect(lines.filter((line) => line.kind === "added")).toHaveLength(2101);
  });
});
