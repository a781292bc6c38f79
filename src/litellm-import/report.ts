/**
 * The import's report as text for people (stdout) or JSON for scripts (`--json`). Neither
 * holds a secret: entries name servers and keys by id, name, alias or `sk-...abcd`.
 */
import { OUTCOMES, type ImportReport, type Section } from "./import.js";

/** Examples shown per grouped key note; the JSON report lists every key. */
const EXAMPLES = 5;

export function reportText(report: ImportReport): string {
  const lines: string[] = [];
  lines.push(`import-litellm: ${report.source} -> ${report.target}${report.dryRun ? " (dry run: nothing was written; a real run would do this)" : ""}`);

  lines.push("", `MCP servers: ${counts(report.servers)}`);
  for (const entry of report.servers.entries) {
    const id = entry.id !== undefined && entry.id !== entry.source ? `${entry.source} -> ${entry.id}` : entry.source;
    lines.push(`  ${entry.outcome.padEnd(9)} ${entry.name ?? "(no name)"} [${id}]${entry.reason === undefined ? "" : `: ${entry.reason}`}`);
    for (const note of entry.notes) lines.push(`              note: ${note}`);
  }

  lines.push("", `Keys: ${report.keys.total} in LiteLLM; ${counts(report.keys)}`);
  for (const entry of report.keys.entries) {
    if (entry.reason !== undefined) lines.push(`  ${entry.outcome.padEnd(9)} ${entry.source}: ${entry.reason}`);
  }
  const grouped = new Map<string, string[]>();
  for (const entry of report.keys.entries) {
    if (entry.outcome === "skipped" || entry.outcome === "failed") continue;
    for (const note of entry.notes) grouped.set(note, [...(grouped.get(note) ?? []), entry.source]);
  }
  if (grouped.size > 0) lines.push("  notes (how many keys; which):");
  for (const [note, keys] of [...grouped].sort((a, b) => b[1].length - a[1].length)) {
    const examples = keys.slice(0, EXAMPLES).join(", ") + (keys.length > EXAMPLES ? `, ... (--json lists all)` : "");
    lines.push(`    ${keys.length} key(s): ${note} [${examples}]`);
  }

  const decrypted = Object.entries(report.credentials.decrypted);
  const opened = decrypted.reduce((sum, [, n]) => sum + n, 0);
  lines.push(
    "",
    `Credentials: ${opened} decrypted${decrypted.length === 0 ? "" : ` (${decrypted.map(([scheme, n]) => `${scheme} ${n}`).join(", ")})`}, ` +
      `${report.credentials.plain} stored unencrypted (used as they are, as LiteLLM does), ${report.credentials.undecryptable} not opened`,
  );
  for (const note of report.notes) lines.push(`Note: ${note}`);
  const changed = ["imported", "updated"].some((outcome) => report.servers.counts[outcome as "imported"] + report.keys.counts[outcome as "imported"] > 0);
  if (!changed) lines.push("", report.dryRun ? "A run would change nothing." : "Nothing changed: everything LiteLLM has that Gatehouse can hold is here already.");
  return `${lines.join("\n")}\n`;
}

export function reportJson(report: ImportReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function counts(section: Section): string {
  return OUTCOMES.map((outcome) => `${section.counts[outcome]} ${outcome}`).join(", ");
}
