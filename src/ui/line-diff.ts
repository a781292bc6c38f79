/**
 * A line diff for the tool-changes page (two pretty-printed tool definitions): the lines
 * both texts start and end with are kept as they are, and the longest common subsequence
 * of the lines between is walked into kept, removed and added lines with their line
 * numbers. The definitions come from upstreams, which choose their size: the LCS table
 * (lines × lines) is built only up to `MAX_CELLS`; past it the differing middle is shown
 * as all removed then all added, so the work stays linear in the texts.
 */
export interface DiffLine {
  kind: "same" | "removed" | "added";
  text: string;
  /** The line's number in the old text (same, removed) and in the new one (same, added). */
  oldLine?: number;
  newLine?: number;
}

/** Unchanged lines left out of a shown diff (`hunks`). */
export interface SkippedLines {
  kind: "skipped";
  count: number;
}

const MAX_CELLS = 250_000;

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  const same = (from: number, to: number): DiffLine[] => a.slice(from, to).map((text, index) => ({ kind: "same", text, oldLine: from + index + 1, newLine: from + index + 1 + b.length - a.length }));
  const prefix = a.slice(0, start).map((text, index): DiffLine => ({ kind: "same", text, oldLine: index + 1, newLine: index + 1 }));
  return [...prefix, ...middle(a, b, start, a.length - end, b.length - end), ...same(a.length - end, a.length)];
}

/** The diff of `a[start..aEnd]` and `b[start..bEnd]`, line numbers counted in the whole texts. */
function middle(a: readonly string[], b: readonly string[], start: number, aEnd: number, bEnd: number): DiffLine[] {
  const rows = aEnd - start;
  const columns = bEnd - start;
  const removed = (i: number): DiffLine => ({ kind: "removed", text: a[i]!, oldLine: i + 1 });
  const added = (j: number): DiffLine => ({ kind: "added", text: b[j]!, newLine: j + 1 });
  if (rows * columns > MAX_CELLS) {
    return [...Array.from({ length: rows }, (_, index) => removed(start + index)), ...Array.from({ length: columns }, (_, index) => added(start + index))];
  }
  // lengths[i][j]: the LCS length of a[start + i..aEnd] and b[start + j..bEnd], one flat array.
  const width = columns + 1;
  const lengths = new Uint32Array((rows + 1) * width);
  for (let i = rows - 1; i >= 0; i--) {
    for (let j = columns - 1; j >= 0; j--) {
      lengths[i * width + j] = a[start + i] === b[start + j] ? lengths[(i + 1) * width + j + 1]! + 1 : Math.max(lengths[(i + 1) * width + j]!, lengths[i * width + j + 1]!);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < rows || j < columns) {
    if (i < rows && j < columns && a[start + i] === b[start + j]) {
      lines.push({ kind: "same", text: a[start + i]!, oldLine: start + i + 1, newLine: start + j + 1 });
      i++;
      j++;
    } else if (j < columns && (i === rows || lengths[i * width + j + 1]! > lengths[(i + 1) * width + j]!)) {
      lines.push(added(start + j));
      j++;
    } else {
      lines.push(removed(start + i));
      i++;
    }
  }
  return lines;
}

/** The diff as it is shown: runs of unchanged lines cut to `context` lines around each change. */
export function hunks(lines: readonly DiffLine[], context = 3): Array<DiffLine | SkippedLines> {
  const shown: Array<DiffLine | SkippedLines> = [];
  const near = new Uint8Array(lines.length);
  lines.forEach((line, index) => {
    if (line.kind === "same") return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k++) near[k] = 1;
  });
  let skipped = 0;
  lines.forEach((line, index) => {
    if (line.kind === "same" && near[index] === 0) {
      skipped++;
      return;
    }
    if (skipped > 0) shown.push({ kind: "skipped", count: skipped });
    skipped = 0;
    shown.push(line);
  });
  if (skipped > 0) shown.push({ kind: "skipped", count: skipped });
  return shown;
}
