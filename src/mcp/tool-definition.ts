/**
 * A tool's definition as the gateway pins it (README, "Tool pinning"): the whole listed
 * object, every field the gateway relays, as canonical JSON (object keys sorted at every
 * depth, absent fields left out) and its SHA-256. The same definition hashes alike
 * whichever route listed it and in whatever key order the upstream wrote it.
 *
 * Whole, not a list of fields: what a client does with a tool is decided by more than the
 * model's text. `_meta` names the UI a host renders for it and whether that UI may call
 * tools (MCP Apps), `execution` how it is called (tasks), `icons` what a user sees; any
 * field a pin left out could be changed after approval unnoticed.
 */
import { createHash } from "node:crypto";

/** JSON with object keys sorted; `undefined` members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined && typeof record[key] !== "function")
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
  return `{${members.join(",")}}`;
}

/** A listed tool, as canonical JSON. */
export function canonicalDefinition(tool: Readonly<Record<string, unknown>>): string {
  return canonicalJson(tool);
}

export function definitionHash(canonical: string): string {
  return createHash("sha256").update(canonical).digest("hex");
}
