/**
 * Parameter values as OpenAPI 3.x `style`/`explode` say (Parameter Object, "Style Values"
 * and "Style Examples"; the 3.1.1 tables, which follow RFC 6570: label and matrix lists
 * without explode join with commas). Values nested deeper than one level have no defined
 * serialisation and are sent as JSON.
 */
import { ArgumentError, type CompiledParameter } from "./types.js";

type Shape = { kind: "primitive"; value: string } | { kind: "array"; items: string[] } | { kind: "object"; entries: [string, string][] };

function shape(value: unknown): Shape {
  if (Array.isArray(value)) return { kind: "array", items: value.map(primitive) };
  if (typeof value === "object" && value !== null) return { kind: "object", entries: Object.entries(value).map(([key, item]) => [key, primitive(item)]) };
  return { kind: "primitive", value: primitive(value) };
}

function primitive(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function encode(text: string): string {
  return encodeURIComponent(text);
}

/**
 * RFC 6570 reserved expansion (`allowReserved`): reserved characters and %-triples pass, except
 * what a query cannot hold literally (`#`, and `&`, `=`, `+` of form-urlencoding; OpenAPI 3.1.1).
 */
function encodeReserved(text: string): string {
  return text.replace(/%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~:/?[\]@!$'()*,;]/gu, (match) => (match.length === 3 && match.startsWith("%") ? match : encodeURIComponent(match)));
}

/** The text that replaces `{name}` in the path template. */
export function serializePath(parameter: CompiledParameter, value: unknown): string {
  if (parameter.json) return encode(JSON.stringify(value));
  const v = shape(value);
  const name = encode(parameter.name);
  switch (parameter.style) {
    case "label":
      return `.${delimited(v, parameter.explode ? "." : ",", parameter.explode, encode)}`;
    case "matrix":
      if (v.kind === "array" && parameter.explode) return v.items.map((item) => `;${name}=${encode(item)}`).join("");
      if (v.kind === "object" && parameter.explode) return v.entries.map(([key, item]) => `;${encode(key)}=${encode(item)}`).join("");
      if (v.kind === "primitive" && v.value === "") return `;${name}`;
      return `;${name}=${delimited(v, ",", false, encode)}`;
    case "simple":
      return delimited(v, ",", parameter.explode, encode);
    default:
      throw new ArgumentError(`${parameter.argument}: style "${parameter.style}" is not defined for path parameters`);
  }
}

/** `name=value` pairs of the query string, each already percent-encoded. */
export function serializeQuery(parameter: CompiledParameter, value: unknown): string[] {
  const enc = parameter.allowReserved ? encodeReserved : encode;
  const name = encode(parameter.name);
  if (parameter.json) return [`${name}=${enc(JSON.stringify(value))}`];
  const v = shape(value);
  switch (parameter.style) {
    case "deepObject":
      if (v.kind === "object") return v.entries.map(([key, item]) => `${name}[${enc(key)}]=${enc(item)}`);
      return form(name, v, parameter.explode, enc, parameter);
    case "spaceDelimited":
    case "pipeDelimited":
      if (v.kind === "primitive" || parameter.explode) return form(name, v, parameter.explode, enc, parameter);
      return [`${name}=${delimited(v, parameter.style === "spaceDelimited" ? "%20" : "|", false, enc)}`];
    case "form":
      return form(name, v, parameter.explode, enc, parameter);
    default:
      throw new ArgumentError(`${parameter.argument}: style "${parameter.style}" is not defined for query parameters`);
  }
}

function form(name: string, v: Shape, explode: boolean, enc: (text: string) => string, parameter: CompiledParameter): string[] {
  if (explode && v.kind === "array") return v.items.map((item) => `${name}=${enc(item)}`);
  if (explode && v.kind === "object") {
    refuseUndeclaredKeys(parameter, v.entries);
    return v.entries.map(([key, item]) => `${enc(key)}=${enc(item)}`);
  }
  return [`${name}=${delimited(v, ",", false, enc)}`];
}

/** A header's value (style simple); no percent-encoding, but no line breaks either (RFC 9110 §5.5). */
export function serializeHeader(parameter: CompiledParameter, value: unknown): string {
  const text = parameter.json ? JSON.stringify(value) : delimited(shape(value), ",", parameter.explode, (t) => t);
  if (/[\r\n\0]/.test(text)) throw new ArgumentError(`${parameter.argument}: a header value cannot contain line breaks`);
  return text;
}

/** `name=value` pairs of the Cookie header (style form; RFC 6265 §4.2.1 separates pairs with `; `). */
export function serializeCookie(parameter: CompiledParameter, value: unknown): string[] {
  const name = encode(parameter.name);
  if (parameter.json) return [`${name}=${encode(JSON.stringify(value))}`];
  if (parameter.style !== "form") throw new ArgumentError(`${parameter.argument}: style "${parameter.style}" is not defined for cookie parameters`);
  return form(name, shape(value), parameter.explode, encode, parameter);
}

/**
 * An exploded form object's keys are sent as parameters of their own, beside the declared
 * ones: only its schema's properties may be, or any call could set any query parameter or
 * cookie (whatever `allowed_params` allows).
 */
function refuseUndeclaredKeys(parameter: CompiledParameter, entries: readonly [string, string][]): void {
  const allowed = parameter.objectKeys;
  if (allowed === undefined) return;
  const undeclared = entries.map(([key]) => key).filter((key) => !allowed.has(key));
  if (undeclared.length === 0) return;
  const declared = allowed.size === 0 ? "its schema declares no properties" : `its schema declares ${[...allowed].join(", ")}`;
  throw new ArgumentError(`${parameter.argument}: ${undeclared.join(", ")} would be sent as ${parameter.in} parameters of their own; ${declared}`);
}

/** Items joined by `separator`; an object's entries as `k=v` when exploded, else `k,v`. */
function delimited(v: Shape, separator: string, explode: boolean, enc: (text: string) => string): string {
  if (v.kind === "primitive") return enc(v.value);
  if (v.kind === "array") return v.items.map(enc).join(separator);
  return v.entries.map(([key, item]) => (explode ? `${enc(key)}=${enc(item)}` : `${enc(key)}${separator}${enc(item)}`)).join(separator);
}
