/**
 * A tool's definition as the gateway pins it (README, "Tool pinning"): the fields a client
 * and its model read (name, title, description, input and output schema, annotations), as
 * canonical JSON (object keys sorted at every depth, absent fields left out) and its
 * SHA-256. The same definition hashes alike whichever route listed it and in whatever key
 * order the upstream wrote it.
 */
import { createHash } from "node:crypto";

export const PINNED_FIELDS = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] as const;

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

/** The pinned fields of a listed tool, as canonical JSON. */
export function canonicalDefinition(tool: Readonly<Record<string, unknown>>): string {
  const picked: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) if (tool[field] !== undefined) picked[field] = tool[field];
  return canonicalJson(picked);
}

export function definitionHash(canonical: string): string {
  return createHash("sha256").update(canonical).digest("hex");
}
