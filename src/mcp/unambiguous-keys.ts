/**
 * What the gateway checks must be what the upstream reads. `JSON.parse` keeps the last of
 * two equal keys; other decoders keep the first, and Go's `encoding/json` (used by many MCP
 * servers) matches keys case-insensitively, folding `Name`, `NAME` and `nameſ`-like
 * spellings onto `name`. So `{"method":"tools/call","params":{"name":"echo","Name":"rm"}}`
 * passes a permission check on `echo` while such an upstream runs `rm` (RFC 8259 §4 leaves
 * duplicate names' meaning to the implementation).
 *
 * The pass-through forwards the client's bytes unchanged, so instead of re-encoding them the
 * gateway refuses every message whose top-level or `params` keys repeat, repeat up to
 * Unicode case, or fold onto a key the gateway interprets without being spelled exactly as
 * it. Such a message then means the same thing to every decoder.
 *
 * The scanner reads text that `JSON.parse` has already accepted, so it does not validate;
 * it only walks the two levels of keys, skipping every value (strings, nested containers)
 * at the speed of a regular expression search.
 */
import { GatewayError, JsonRpcCode } from "../errors.js";

/** Keys of a JSON-RPC message the gateway reads. */
const MESSAGE_KEYS = ["jsonrpc", "id", "method", "params", "result", "error"];

/**
 * Keys of `params` the gateway reads on any route (tools, resources, prompts, completion,
 * logging, initialize, progress), so a folded spelling of one is never read differently.
 */
const PARAMS_KEYS = ["name", "arguments", "cursor", "uri", "ref", "argument", "level", "_meta", "protocolVersion", "capabilities", "clientInfo", "task"];

/**
 * Unicode simple case folding as decoders apply it (Go's `bytes.EqualFold`, .NET's and
 * Jackson's case-insensitive modes): upper-casing first maps `ſ` (U+017F) to `S` and the
 * Kelvin sign to itself, lower-casing then maps both onto ASCII `s` and `k`.
 */
export function foldCase(key: string): string {
  return key.toUpperCase().toLowerCase();
}

const byFold = (keys: readonly string[]) => new Map(keys.map((key) => [foldCase(key), key]));
const MESSAGE_FOLDS = byFold(MESSAGE_KEYS);
const PARAMS_FOLDS = byFold(PARAMS_KEYS);

/** Refuses (-32600) a body whose messages' keys could be read differently by another decoder. */
export function assertUnambiguousKeys(text: string): void {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) === OPEN_BRACKET) {
    i = skipSpace(text, i + 1);
    while (text.charCodeAt(i) !== CLOSE_BRACKET) {
      i = checkMessage(text, i);
      i = skipSpace(text, i);
      if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
    }
    return;
  }
  checkMessage(text, i);
}

/** Checks the message (or any other value) at `start` and returns the index after it. */
function checkMessage(text: string, start: number): number {
  if (text.charCodeAt(start) !== OPEN_BRACE) return skipValue(text, start);
  return walkObject(text, start, MESSAGE_FOLDS, "the message", (key, valueStart) =>
    key === "params" && text.charCodeAt(valueStart) === OPEN_BRACE ? walkObject(text, valueStart, PARAMS_FOLDS, "params", undefined) : undefined,
  );
}

/**
 * Walks the object at `start` (text[start] is `{`), checking its keys against each other and
 * against the interpreted ones; `visit` may take over a value (returns the index after it).
 */
function walkObject(
  text: string,
  start: number,
  interpreted: ReadonlyMap<string, string>,
  where: string,
  visit: ((key: string, valueStart: number) => number | undefined) | undefined,
): number {
  const seen = new Map<string, string>();
  let i = skipSpace(text, start + 1);
  while (text.charCodeAt(i) !== CLOSE_BRACE) {
    const keyEnd = stringEnd(text, i);
    const key = decodeString(text, i, keyEnd);
    // Keys of the protocol are printable ASCII; beyond it decoders fold differently (Go reads `İd` as `id`, JS does not) or cut at NUL.
    if (!PRINTABLE_ASCII.test(key)) throw ambiguous(where, key, ", which is not printable ASCII as the protocol's keys are");
    const folded = foldCase(key);
    const earlier = seen.get(folded);
    if (earlier !== undefined) throw ambiguous(where, key, key === earlier ? " twice" : ` beside ${quote(earlier)}, which differs from it only in letter case`);
    seen.set(folded, key);
    const canonical = interpreted.get(folded);
    if (canonical !== undefined && canonical !== key) throw ambiguous(where, key, `, which some decoders read as ${quote(canonical)}`);
    // Past the colon to the value.
    const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1);
    i = skipSpace(text, visit?.(key, valueStart) ?? skipValue(text, valueStart));
    if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
  }
  return i + 1;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

const quote = (value: string) => JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);

function ambiguous(where: string, key: string, clash: string): GatewayError {
  return new GatewayError({
    status: 400,
    code: "invalid_request",
    message:
      `Invalid Request: ${where} has the key ${quote(key)}${clash}; JSON decoders disagree on what such a message means, ` +
      `so the gateway refuses it: send each key once, spelled exactly`,
    rpcCode: JsonRpcCode.InvalidRequest,
  });
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** The index after the closing quote of the string whose opening quote is at `start`. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

function decodeString(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes("\\") ? (JSON.parse(text.slice(start, end)) as string) : raw;
}

const STRUCTURE = /["[\]{}]/g;
const PRIMITIVE_END = /[,\]}\s]/g;

/** The index after the value at `start`. */
function skipValue(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return stringEnd(text, start);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    PRIMITIVE_END.lastIndex = start;
    return PRIMITIVE_END.exec(text)?.index ?? text.length;
  }
  let depth = 0;
  STRUCTURE.lastIndex = start;
  for (;;) {
    const found = STRUCTURE.exec(text)!;
    const c = text.charCodeAt(found.index);
    if (c === QUOTE) {
      STRUCTURE.lastIndex = stringEnd(text, found.index);
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (--depth === 0) {
      return found.index + 1;
    }
  }
}
