import { describe, expect, it } from "vitest";
import { hunks, lineDiff } from "../../../src/ui/line-diff.js";

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
    const old = Array.from({ length: 600 }, (_, index) => `l${index}`).join("\n");
    const changed = Array.from({ length: 600 }, (_, index) => `m${index}`).join("\n");
    const lines = lineDiff(`head\n${old}\ntail`, `head\n${changed}\ntail`);
    expect(lines.filter((line) => line.kind === "removed")).toHaveLength(600);
    expect(lines.filter((line) => line.kind === "added")).toHaveLength(600);
    expect(lines.at(-1)).toEqual({ kind: "same", text: "tail", oldLine: 602, newLine: 602 });
  });

  it("a one-line change in a 100,000-line text fell back to all removed then all added (the LCS table was past its bound): now the common start and end are kept", () => {
    const before = Array.from({ length: 100_000 }, (_, index) => `l${index}`);
    const after = [...before];
    after[50_000] = "changed";
    const lines = lineDiff(before.join("\n"), after.join("\n"));
    expect(lines.filter((line) => line.kind !== "same")).toEqual([
      { kind: "removed", text: "l50000", oldLine: 50_001 },
      { kind: "added", text: "changed", newLine: 50_001 },
    ]);
    expect(lines.find((line) => line.text === "l99999")).toEqual({ kind: "same", text: "l99999", oldLine: 100_000, newLine: 100_000 });
  });

  it("numbers the common end's lines in both texts when the texts differ in length", () => {
    expect(lineDiff("a\nb\nz", "a\nx\ny\nz").at(-1)).toEqual({ kind: "same", text: "z", oldLine: 3, newLine: 4 });
  });
});

describe("hunks", () => {
  it("keeps three lines of context around each change and counts the unchanged lines it leaves out", () => {
    const before = Array.from({ length: 20 }, (_, index) => `l${index}`);
    const after = before.map((line, index) => (index === 10 ? "changed" : line));
    const shown = hunks(lineDiff(before.join("\n"), after.join("\n")));
    expect(shown.map((row) => (row.kind === "skipped" ? `~${row.count}` : row.kind === "same" ? ` ${row.text}` : `${row.kind === "added" ? "+" : "-"}${row.text}`))).toEqual([
      "~7",
      " l7",
      " l8",
      " l9",
      "-l10",
      "+changed",
      " l11",
      " l12",
      " l13",
      "~6",
    ]);
  });
});
