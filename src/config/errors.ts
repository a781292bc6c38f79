/**
 * Startup errors of config.yaml, and the translation of zod issues into lines a person can
 * act on: `<file>: <dotted.path>: <what is wrong>` (README, "config.yaml": name the config path
 * and the nearest known key for a typo).
 */
import { z } from "zod";

/** Every problem found in a config file; the message lists them one per line. */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[], options?: { cause?: unknown }) {
    super(problems.join("\n"), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConfigError";
    this.problems = [...problems];
  }
}

const PLAIN_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** `mcp_servers.github.extra_headers[1]`; keys that are not plain words are quoted: `static_headers["X.Y"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "string" && PLAIN_SEGMENT.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === "" ? "(top level)" : out;
}

export function problemLine(file: string, path: readonly PropertyKey[], text: string): string {
  return `${file}: ${formatPath(path)}: ${text}`;
}

// --- "did you mean" ---------------------------------------------------------------------

export function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function sharedPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * The known word a typo most likely meant: the nearest within edit distance 3 (and short
 * of rewriting the whole word), else the one sharing the longest prefix of at least 4
 * characters (`authorization_endpoint` → `authorization_url`). Case is ignored.
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const typed = word.toLowerCase();
  let best: { candidate: string; rank: [number, number, number] } | undefined;
  for (const candidate of candidates) {
    const known = candidate.toLowerCase();
    const distance = levenshtein(typed, known);
    const prefix = sharedPrefixLength(typed, known);
    const close = distance <= 3 && distance < typed.length;
    if (!close && prefix < 4) continue;
    // Lexicographic: any close match beats any prefix match; then fewer edits or a longer prefix.
    const rank: [number, number, number] = close ? [0, distance, -prefix] : [1, -prefix, distance];
    if (best === undefined || isLower(rank, best.rank)) best = { candidate, rank };
  }
  return best?.candidate;
}

function isLower(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}

// --- walking the schema and the input ---------------------------------------------------

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  while (current instanceof z.ZodDefault || current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
    current = current.unwrap();
  }
  return current;
}

function childSchema(schema: z.core.$ZodType, segment: PropertyKey): z.core.$ZodType | undefined {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) return typeof segment === "string" ? inner.shape[segment] : undefined;
  if (inner instanceof z.ZodRecord) return inner.valueType;
  if (inner instanceof z.ZodArray) return inner.element;
  return undefined;
}

/** The keys an object schema accepts at `path`, read from the schema itself so they never drift. */
export function knownKeysAt(root: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType | undefined = root;
  for (const segment of path) {
    if (schema === undefined) return [];
    schema = childSchema(schema, segment);
  }
  const inner = schema === undefined ? undefined : unwrap(schema);
  return inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
}

function valueAt(tree: unknown, path: readonly PropertyKey[]): unknown {
  let value = tree;
  for (const segment of path) {
    if (value === null || typeof value !== "object" || typeof segment === "symbol") return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

/** Keys whose values are credentials: an error names their type, never their content. */
const SECRET_KEYS = new Set(["auth_value", "authentication_token", "client_secret", "master_key", "database_url"]);

function isSecretPath(path: readonly PropertyKey[]): boolean {
  const last = path.at(-1);
  return (typeof last === "string" && SECRET_KEYS.has(last)) || path.includes("static_headers");
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

function describeValue(value: unknown, secret: boolean): string {
  if (value === null) return "nothing (the key has no value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return secret ? "a string" : `string ${quote(value)}`;
  if (typeof value === "number" || typeof value === "boolean") return secret ? `a ${typeof value}` : `${typeof value} ${String(value)}`;
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

const EXPECTED_NAMES: Record<string, string> = {
  boolean: "a boolean",
  string: "a string",
  number: "a number",
  int: "a whole number",
  object: "a mapping",
  record: "a mapping",
  array: "a list",
};

function typeHint(expected: string, value: unknown): string {
  if (typeof value !== "string") return expected === "string" && typeof value === "number" ? " (put the value in quotes)" : "";
  if (expected === "boolean" && /^(true|false|yes|no|on|off)$/i.test(value)) return " (write true or false without quotes)";
  if ((expected === "number" || expected === "int") && value.trim() !== "" && Number.isFinite(Number(value))) return " (write the number without quotes)";
  return "";
}

// --- zod issue → problem lines ----------------------------------------------------------

function sizeText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown, secret: boolean): string {
  const small = issue.code === "too_small";
  const bound = String(small ? issue.minimum : issue.maximum);
  const inclusive = issue.inclusive !== false;
  if (issue.origin === "string") {
    if (small && bound === "1") return "must not be empty";
    return `must be ${small ? "at least" : "at most"} ${bound} characters long`;
  }
  if (issue.origin === "array" || issue.origin === "set") return `must have ${small ? "at least" : "at most"} ${bound} items`;
  const relation = small ? (inclusive ? "at least" : "greater than") : inclusive ? "at most" : "less than";
  return `must be ${relation} ${bound}, got ${describeValue(value, secret)}`;
}

function issueText(issue: z.core.$ZodIssue, tree: unknown): string {
  const value = valueAt(tree, issue.path);
  const secret = isSecretPath(issue.path);
  switch (issue.code) {
    case "invalid_type": {
      if (value === undefined) return "is required";
      const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
      return `expected ${expected}, got ${describeValue(value, secret)}${typeHint(issue.expected, value)}`;
    }
    case "invalid_value": {
      const options = issue.values.map((option) => String(option));
      const guess = typeof value === "string" ? closestMatch(value, options) : undefined;
      const hint = guess === undefined ? "" : ` (did you mean '${guess}'?)`;
      return `must be one of ${options.join(", ")}, got ${describeValue(value, secret)}${hint}`;
    }
    case "invalid_format":
      return `${issue.message}, got ${describeValue(value, secret)}`;
    case "too_small":
    case "too_big":
      return sizeText(issue, value, secret);
    case "invalid_key":
      return issue.issues.map((inner) => inner.message).join("; ");
    default:
      return issue.message;
  }
}

function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map(String));
}

/**
 * One line per problem. `root` is the schema that produced the issues (for the known keys
 * of an object); `tree` is the input it saw (to quote the offending value).
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  root: z.core.$ZodType,
  tree: unknown,
  file: string,
  moreKeysAt?: (path: readonly PropertyKey[]) => readonly string[],
): string[] {
  // A misspelled key makes the object's cross-field checks misfire (`auht_type` leaves
  // auth_type at none, so "auth_value needs auth_type" would follow): report the typo only.
  const objectsWithUnknownKeys = new Set(issues.filter((issue) => issue.code === "unrecognized_keys").map((issue) => pathKey(issue.path)));
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === "custom" && objectsWithUnknownKeys.has(pathKey(issue.path.slice(0, -1)))) continue;
    if (issue.code === "unrecognized_keys") {
      const known = [...knownKeysAt(root, issue.path), ...(moreKeysAt?.(issue.path) ?? [])];
      for (const key of issue.keys) {
        const guess = closestMatch(key, known);
        const hint = guess === undefined ? "" : ` (did you mean '${guess}'?)`;
        lines.push(problemLine(file, [...issue.path, key], `unknown key '${key}'${hint}`));
      }
      continue;
    }
    lines.push(problemLine(file, issue.path, issueText(issue, tree)));
  }
  return lines;
}
