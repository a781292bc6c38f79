/**
 * A line diff for the tool-changes page (two pretty-printed tool definitions): the longest
 * common subsequence of lines, walked into kept, removed and added lines with their line
 * numbers. Definitions are small (the LCS table is lines × lines); past `MAX_CELLS` the two
 * texts are shown as all removed then all added rather than spending the memory.
 */
export interface DiffLine {
  kind: "same" | "removed" | "added";
  text: string;
  /** The line's number in the old text (same, removed) and in the new one (same, added). */
  oldLine?: number;
  newLine?: number;
}

const MAX_CELLS = 4_000_000;

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  if (a.length * b.length > MAX_CELLS) {
    return [...a.map((text, index) => ({ kind: "removed" as const, text, oldLine: index + 1 })), ...b.map((text, index) => ({ kind: "added" as const, text, newLine: index + 1 }))];
  }
  // lengths[i][j]: the LCS length of a[i..] and b[j..], one flat array.
  const width = b.length + 1;
  const lengths = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i * width + j] = a[i] === b[j] ? lengths[(i + 1) * width + j + 1]! + 1 : Math.max(lengths[(i + 1) * width + j]!, lengths[i * width + j + 1]!);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ kind: "same", text: a[i]!, oldLine: i + 1, newLine: j + 1 });
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lengths[i * width + j + 1]! > lengths[(i + 1) * width + j]!)) {
      lines.push({ kind: "added", text: b[j]!, newLine: j + 1 });
      j++;
    } else {
      lines.push({ kind: "removed", text: a[i]!, oldLine: i + 1 });
      i++;
    }
  }
  return lines;
}
