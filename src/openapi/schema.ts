/**
 * OpenAPI Schema Objects as JSON Schema 2020-12, the dialect MCP tool input schemas use:
 * 3.0's `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum` and `example` rewritten,
 * OpenAPI-only keywords (`discriminator`, `xml`, `externalDocs`) dropped, and the `$ref`s a
 * circular document keeps (dereference with circular: "ignore") replaced by a plain object
 * schema that says so: a tool's schema must stand alone.
 */

export type JsonSchema = Record<string, unknown>;

export interface SchemaOptions {
  /** Drop `readOnly` properties: they describe responses, never a request body (OpenAPI 3.x Schema Object). */
  dropReadOnly?: boolean;
}

const OPENAPI_ONLY = new Set(["discriminator", "xml", "externalDocs", "nullable", "example", "x-nullable"]);
/** Deeper than this, a schema is summarised: no real API nests that far, and a DAG can blow up when copied. */
const MAX_DEPTH = 32;
const SUBSCHEMA = new Set(["items", "not", "additionalProperties", "contains", "propertyNames", "if", "then", "else", "unevaluatedItems", "unevaluatedProperties"]);
const SUBSCHEMA_LISTS = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);
const SUBSCHEMA_MAPS = new Set(["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"]);

export function toJsonSchema(schema: unknown, options: SchemaOptions = {}): JsonSchema {
  const converted = convert(schema, options, 0);
  return typeof converted === "object" ? converted : converted ? {} : { not: {} };
}

function convert(schema: unknown, options: SchemaOptions, depth: number): JsonSchema | boolean {
  if (typeof schema === "boolean") return schema;
  if (!isObject(schema)) return {};
  if (typeof schema.$ref === "string") return recursive(schema.$ref);
  if (depth > MAX_DEPTH) return { type: "object", description: "(nested too deep to describe)" };
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (OPENAPI_ONLY.has(key)) continue;
    if (SUBSCHEMA.has(key)) out[key] = convert(value, options, depth + 1);
    else if (SUBSCHEMA_LISTS.has(key) && Array.isArray(value)) out[key] = value.map((item) => convert(item, options, depth + 1));
    else if (SUBSCHEMA_MAPS.has(key) && isObject(value)) out[key] = convertMap(value, options, depth + 1, key === "properties");
    else out[key] = value;
  }
  if (options.dropReadOnly && isObject(out.properties) && Array.isArray(out.required)) {
    const kept = out.properties;
    out.required = out.required.filter((name) => typeof name === "string" && name in kept);
    if ((out.required as unknown[]).length === 0) delete out.required;
  }
  rewriteExclusive(out, schema, "exclusiveMinimum", "minimum");
  rewriteExclusive(out, schema, "exclusiveMaximum", "maximum");
  if ("example" in schema && !("examples" in schema)) out.examples = [schema.example];
  if (schema.nullable === true || schema["x-nullable"] === true) addNull(out);
  return out;
}

function convertMap(map: Record<string, unknown>, options: SchemaOptions, depth: number, properties: boolean): JsonSchema {
  const out: JsonSchema = {};
  for (const [name, sub] of Object.entries(map)) {
    if (properties && options.dropReadOnly && isObject(sub) && sub.readOnly === true) continue;
    out[name] = convert(sub, options, depth);
  }
  return out;
}

/** OpenAPI 3.0 (JSON Schema draft 5): `exclusiveMinimum: true` qualifies `minimum`; 2020-12 makes it the bound. */
function rewriteExclusive(out: JsonSchema, schema: Record<string, unknown>, keyword: string, bound: string): void {
  if (typeof schema[keyword] !== "boolean") return;
  delete out[keyword];
  if (schema[keyword] === true && typeof schema[bound] === "number") {
    out[keyword] = schema[bound];
    delete out[bound];
  }
}

function addNull(out: JsonSchema): void {
  if (typeof out.type === "string") out.type = out.type === "null" ? "null" : [out.type, "null"];
  else if (Array.isArray(out.type)) out.type = out.type.includes("null") ? out.type : [...out.type, "null"];
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
}

function recursive(ref: string): JsonSchema {
  const name = decodeURIComponent(ref.slice(ref.lastIndexOf("/") + 1)).replace(/~1/g, "/").replace(/~0/g, "~");
  return { type: "object", description: `${name} (recursive: its schema is not repeated here)` };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
