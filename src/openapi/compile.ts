/**
 * A dereferenced document's operations as MCP tools. Names follow LiteLLM's OpenAPI servers
 * (operationId, else `{method}_{path}`; `[^A-Za-z0-9_-]` → `_`, lowercased), made unique with
 * `_2`, `_3` in document order; arguments are the parameters by name plus `body`.
 */
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { GATEWAY_OWNED } from "../headers.js";
import { escapePointer, type OpenApiDocument } from "./document.js";
import { isObject, toJsonSchema, type JsonSchema } from "./schema.js";
import { operationBaseUrl, type ServerContext } from "./servers.js";
import type { CompiledBody, CompiledOperation, CompiledParameter, HttpMethod } from "./types.js";

/** Methods that become tools; `trace` does not (it echoes the request, credentials included). */
const METHODS: readonly HttpMethod[] = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"];
/** OpenAPI 3.x Parameter Object: header parameters with these names "SHALL be ignored". */
const IGNORED_HEADERS = new Set(["accept", "content-type", "authorization"]);
const MAX_DESCRIPTION = 4096;
export const DEFAULT_MAX_TOOL_NAME = 128;

export interface RawOperation {
  method: HttpMethod;
  path: string;
  pointer: string;
  operationId: string | undefined;
  operation: Record<string, unknown>;
  pathItem: Record<string, unknown>;
}

export function rawOperations(doc: OpenApiDocument): RawOperation[] {
  const out: RawOperation[] = [];
  const paths = isObject(doc.paths) ? doc.paths : {};
  for (const [path, pathItem] of Object.entries(paths)) {
    if (!isObject(pathItem)) continue;
    for (const method of METHODS) {
      const operation = pathItem[method.toLowerCase()];
      if (!isObject(operation)) continue;
      const operationId = typeof operation.operationId === "string" && operation.operationId !== "" ? operation.operationId : undefined;
      out.push({ method, path, pointer: `#/paths/${escapePointer(path)}/${method.toLowerCase()}`, operationId, operation, pathItem });
    }
  }
  return out;
}

export interface CompileContext {
  base: URL;
  servers: ServerContext;
  maxToolName: number;
  warnings: string[];
}

export function compileOperations(raw: readonly RawOperation[], context: CompileContext): CompiledOperation[] {
  const names = new Set<string>();
  return raw.map((op) => {
    const name = uniqueName(toolName(op), names, context.maxToolName);
    return compileOperation(op, name, context);
  });
}

/** LiteLLM's name: operationId, else `{method}_{path}` with `/` → `_`; then its sanitiser. */
export function toolName(op: Pick<RawOperation, "operationId" | "method" | "path">): string {
  return sanitizedToolName(op.operationId ?? `${op.method.toLowerCase()}_${op.path.replace(/\//g, "_")}`);
}

/** An operationId as its tool is named (LiteLLM's rule): anything but letters, digits, `_` and `-` made `_`, lowercased. */
export function sanitizedToolName(raw: string): string {
  return raw.replace(/[^A-Za-z0-9_-]/g, "_").toLowerCase();
}

function uniqueName(name: string, taken: Set<string>, max: number): string {
  let candidate = name.slice(0, max);
  for (let n = 2; taken.has(candidate); n++) candidate = `${name.slice(0, max - `_${n}`.length)}_${n}`;
  taken.add(candidate);
  return candidate;
}

function compileOperation(op: RawOperation, name: string, context: CompileContext): CompiledOperation {
  const parameters = mergedParameters(op, context.warnings);
  const body = requestBody(op, context.warnings);
  const arguments_ = argumentNames(parameters, body !== undefined);
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const compiled: CompiledParameter[] = parameters.map((parameter, index) => {
    const argument = arguments_[index] as string;
    const compiledParameter = compileParameter(parameter, argument);
    properties[argument] = parameterSchema(parameter);
    if (compiledParameter.required) required.push(argument);
    return compiledParameter;
  });
  if (body) {
    properties[body.compiled.argument] = body.schema;
    if (body.compiled.required) required.push(body.compiled.argument);
  }
  const inputSchema: Tool["inputSchema"] = { type: "object", properties, additionalProperties: false };
  if (required.length > 0) inputSchema.required = required;
  const summary = text(op.operation.summary);
  // The request it makes is part of the tool: tool pinning, which hashes the whole definition, then also catches a spec that moves a tool to another method or path.
  const tool: Tool = { name, description: description(op), inputSchema, annotations: annotations(op.method, summary), _meta: { [OPERATION_META]: { method: op.method, path: op.path } } };
  const servers = op.operation.servers ?? op.pathItem.servers;
  const at = op.operation.servers ? `${op.pointer}/servers` : `#/paths/${escapePointer(op.path)}/servers`;
  return {
    tool,
    operationId: op.operationId,
    method: op.method,
    path: op.path,
    baseUrl: operationBaseUrl(servers, at, context.base, context.servers) ?? context.base,
    parameters: compiled,
    body: body?.compiled,
  };
}

type Parameter = Record<string, unknown> & { name: string; in: CompiledParameter["in"] };

/**
 * Path-item parameters, overridden by the operation's on name + location (OpenAPI 3.x Operation Object).
 * Header parameters the connection owns (Host, Content-Length, hop-by-hop ones: RFC 9110 §7.6.1)
 * are not sent: a call would choose the virtual host its credentials go to, or the framing.
 */
function mergedParameters(op: RawOperation, warnings: string[]): Parameter[] {
  const byKey = new Map<string, Parameter>();
  for (const list of [op.pathItem.parameters, op.operation.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const parameter of list) {
      if (!isObject(parameter) || typeof parameter.name !== "string") continue;
      const location = parameter.in;
      if (location !== "path" && location !== "query" && location !== "header" && location !== "cookie") continue;
      if (location === "header" && IGNORED_HEADERS.has(parameter.name.toLowerCase())) continue;
      if (location === "header" && GATEWAY_OWNED.has(parameter.name.toLowerCase())) {
        warnings.push(`${op.method} ${op.path}: header parameter ${parameter.name} is not sent (the gateway sets it); the tool has no argument for it`);
        continue;
      }
      byKey.set(`${location}:${parameter.name}`, parameter as Parameter);
    }
  }
  return [...byKey.values()];
}

/**
 * `name`, or `name__in` where two locations share a name or a parameter is called `body`
 * beside a request body; characters outside `[A-Za-z0-9_.-]` become `_` (model providers
 * refuse other property names, e.g. JSON:API's `filter[status]`).
 */
function argumentNames(parameters: readonly Parameter[], hasBody: boolean): string[] {
  const safe = parameters.map((parameter) => parameter.name.replace(/[^A-Za-z0-9_.-]/g, "_"));
  const counts = new Map<string, number>();
  for (const name of safe) counts.set(name, (counts.get(name) ?? 0) + 1);
  if (hasBody) counts.set("body", (counts.get("body") ?? 0) + 1);
  return parameters.map((parameter, index) => {
    const name = safe[index] as string;
    return (counts.get(name) ?? 0) > 1 ? `${name}__${parameter.in}` : name;
  });
}

function compileParameter(parameter: Parameter, argument: string): CompiledParameter {
  const defaultStyle = parameter.in === "query" || parameter.in === "cookie" ? "form" : "simple";
  const style = typeof parameter.style === "string" ? parameter.style : defaultStyle;
  return {
    name: parameter.name,
    in: parameter.in,
    argument,
    required: parameter.in === "path" || parameter.required === true,
    style,
    explode: typeof parameter.explode === "boolean" ? parameter.explode : style === "form",
    allowReserved: parameter.allowReserved === true,
    json: parameter.schema === undefined && isObject(parameter.content),
    objectKeys: objectKeys(parameter.schema),
  };
}

/** The properties a parameter's object value may have (its own and its `allOf` members'); undefined: any. */
function objectKeys(schema: unknown): ReadonlySet<string> | undefined {
  const keys = new Set<string>();
  for (const part of [schema, ...(isObject(schema) && Array.isArray(schema.allOf) ? schema.allOf : [])]) {
    if (!isObject(part)) continue;
    if (part.additionalProperties === true || isObject(part.additionalProperties)) return undefined;
    if (isObject(part.properties)) for (const key of Object.keys(part.properties)) keys.add(key);
  }
  return keys;
}

function parameterSchema(parameter: Parameter): JsonSchema {
  let source = parameter.schema;
  if (source === undefined && isObject(parameter.content)) {
    const media = Object.values(parameter.content)[0];
    source = isObject(media) ? media.schema : undefined;
  }
  const schema = toJsonSchema(source ?? { type: "string" });
  const about = text(parameter.description);
  if (about && schema.description === undefined) schema.description = about;
  else if (about) schema.description = `${about}\n\n${String(schema.description)}`;
  if (parameter.deprecated === true) schema.deprecated = true;
  if (parameter.example !== undefined && schema.examples === undefined) schema.examples = [parameter.example];
  return schema;
}

interface BodyPlan {
  compiled: CompiledBody;
  schema: JsonSchema;
}

/** A JSON (`application/json`, `*+json`) or form-urlencoded body; others cannot be sent from JSON arguments. */
function requestBody(op: RawOperation, warnings: string[]): BodyPlan | undefined {
  const body = op.operation.requestBody;
  if (!isObject(body) || !isObject(body.content)) return undefined;
  const types = Object.keys(body.content);
  const essence = (type: string) => type.split(";")[0]!.trim().toLowerCase();
  const mediaType =
    types.find((type) => essence(type) === "application/json") ??
    types.find((type) => /^application\/[^/]+\+json$/.test(essence(type))) ??
    types.find((type) => essence(type) === "application/x-www-form-urlencoded");
  if (mediaType === undefined) {
    if (types.length > 0) warnings.push(`${op.method} ${op.path}: request body ${types.join(", ")} is not sent (only JSON and form-urlencoded bodies are); the tool has no body argument`);
    return undefined;
  }
  const media = body.content[mediaType];
  const schema = toJsonSchema(isObject(media) ? (media.schema ?? {}) : {}, { dropReadOnly: true });
  const about = text(body.description);
  if (about && schema.description === undefined) schema.description = about;
  return { compiled: { argument: "body", mediaType: essence(mediaType), required: body.required === true }, schema };
}

function description(op: RawOperation): string {
  const base = text(op.operation.summary) ?? text(op.operation.description) ?? `${op.method} ${op.path}`;
  const capped = base.length > MAX_DESCRIPTION ? `${base.slice(0, MAX_DESCRIPTION)}…` : base;
  return op.operation.deprecated === true ? `(deprecated) ${capped}` : capped;
}

/** The `_meta` key of the HTTP operation a tool calls (MCP's `_meta` naming: a reverse-DNS prefix). */
export const OPERATION_META = "dev.gatehouse/openapi-operation";

/** MCP tool annotations from HTTP method semantics (RFC 9110 §9.2: safe and idempotent methods). */
function annotations(method: HttpMethod, title: string | undefined): Tool["annotations"] {
  const safe = method === "GET" || method === "HEAD" || method === "OPTIONS";
  const out: NonNullable<Tool["annotations"]> = { readOnlyHint: safe };
  if (title) out.title = title;
  if (method === "DELETE") out.destructiveHint = true;
  if (method === "PUT" || method === "DELETE") out.idempotentHint = true;
  return out;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}
