/**
 * How large a document becomes once every local `$ref` is inlined, measured before the
 * parser inlines it. A few kilobytes of schemas that each refer twice to the next inline to
 * 2^n copies: the parser (with circular references ignored it walks every inlined copy
 * again), its validator, the input schemas and the tools list all grow with that size, on
 * the event loop. Each reference is measured once, so measuring costs about the document's
 * own size.
 */
import { isObject } from "./schema.js";

/** Objects and arrays a dereferenced document may have; the Figma REST API's (a large real spec) has about 40,000. */
export const MAX_INLINED_NODES = 4_000_000;

/** The number of objects and arrays once inlined, or undefined past `limit` (the walk stops there). */
export function inlinedSize(doc: Record<string, unknown>, limit = MAX_INLINED_NODES): number | undefined {
  const known = new Map<string, Measured>();
  /** References being inlined on the current path: reaching one again is a cycle. */
  const open = new Set<string>();
  let steps = 0;

  class TooLarge extends Error {}

  function measure(value: unknown): Measured {
    if (typeof value !== "object" || value === null) return LEAF;
    if (++steps > limit) throw new TooLarge();
    let size = 1;
    let circular = false;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      const measured = measure(child);
      size += measured.size;
      circular ||= measured.circular;
    }
    if (isObject(value) && typeof value.$ref === "string" && value.$ref.startsWith("#")) {
      const measured = reference(value.$ref);
      size += measured.size;
      circular ||= measured.circular;
    }
    if (size > limit) throw new TooLarge();
    return { size, circular };
  }

  /**
   * The parser leaves a reference whose target reaches a cycle as it is (circular: "ignore")
   * and inlines the others. Whether a target reaches a cycle does not depend on where the
   * reference is, so both answers are memoised.
   */
  function reference(ref: string): Measured {
    const memo = known.get(ref);
    if (memo !== undefined) return memo;
    if (open.has(ref)) return CYCLE;
    const target = resolvePointer(doc, ref);
    if (target === undefined) return LEAF;
    open.add(ref);
    const measured = measure(target);
    open.delete(ref);
    const result = measured.circular ? CYCLE : measured;
    known.set(ref, result);
    return result;
  }

  try {
    return measure(doc).size;
  } catch (error) {
    if (error instanceof TooLarge) return undefined;
    throw error;
  }
}

interface Measured {
  /** Objects and arrays it adds once inlined. */
  size: number;
  /** It reaches a reference cycle. */
  circular: boolean;
}

const LEAF: Measured = { size: 0, circular: false };
const CYCLE: Measured = { size: 0, circular: true };

/** A local JSON pointer (`#/components/schemas/Pet`, RFC 6901 in a URI fragment), or undefined. */
function resolvePointer(doc: unknown, ref: string): unknown {
  if (ref !== "#" && !ref.startsWith("#/")) return undefined;
  let node = doc;
  const tokens = ref === "#" ? [] : ref.slice(1).split("/").slice(1);
  for (const raw of tokens) {
    let token: string;
    try {
      token = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (Array.isArray(node)) node = node[Number(token)];
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
    else return undefined;
  }
  return node;
}
