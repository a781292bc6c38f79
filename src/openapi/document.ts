/**
 * From text to a dereferenced OpenAPI 3.x document: JSON or YAML (by content, whatever the
 * file name or content type says), Swagger 2.0 converted by swagger2openapi (loaded only
 * then), validated and every `$ref` inlined by @readme/openapi-parser. Only the document's
 * own `#/...` references are followed: the gateway fetches nothing a spec points at.
 */
import { dereference, validate, type ParserOptions } from "@readme/openapi-parser";
import { parse as parseYaml } from "yaml";
import { inlinedSize, MAX_INLINED_NODES } from "./inlined-size.js";
import { isObject } from "./schema.js";
import { SpecError } from "./types.js";

export type OpenApiDocument = Record<string, unknown>;
type ParserDocument = Exclude<Parameters<typeof dereference>[0], string>;

const PARSER_OPTIONS: ParserOptions = {
  dereference: { circular: "ignore" },
  // The parser always keeps an http resolver; with external off it never runs (and external refs are refused first).
  resolve: { external: false, file: false, http: { redirects: 0 } },
  validate: { errors: { colorize: false } },
};

export async function openApiDocument(text: string, where: string): Promise<OpenApiDocument> {
  let doc = parseText(text, where);
  if (typeof doc.swagger === "string") doc = await fromSwagger2(doc, where);
  else if (typeof doc.openapi !== "string" || !/^3\.[01]\./.test(doc.openapi)) {
    const version = typeof doc.openapi === "string" ? `openapi ${doc.openapi}` : "no openapi or swagger field";
    throw new SpecError(`${where}: not an OpenAPI 3.0/3.1 or Swagger 2.0 document (${version})`);
  }
  try {
    refuseExternalRefs(doc, "#", where);
    if (inlinedSize(doc) === undefined) {
      throw new SpecError(`${where}: its $refs inline to more than ${MAX_INLINED_NODES} objects and arrays (a reference bomb?); the gateway does not serve it`);
    }
  } catch (error) {
    if (error instanceof RangeError) throw new SpecError(`${where}: the document is nested too deeply to read`);
    throw error;
  }
  const dereferenced = await dereferenced_(structuredClone(doc), where);
  const result = await validate(doc as unknown as ParserDocument, PARSER_OPTIONS);
  if (!result.valid) throw new SpecError(`${where}: ${validationProblem(result.errors)}`);
  return dereferenced;
}

function parseText(text: string, where: string): OpenApiDocument {
  let value: unknown;
  const trimmed = text.replace(/^\uFEFF/, "").trimStart();
  try {
    value = trimmed.startsWith("{") ? JSON.parse(trimmed) : parseYaml(trimmed, { prettyErrors: true, uniqueKeys: false });
  } catch (error) {
    const kind = trimmed.startsWith("{") ? "JSON" : "YAML";
    throw new SpecError(`${where}: invalid ${kind}: ${firstLine(error instanceof Error ? error.message : String(error))}`);
  }
  if (!isObject(value)) throw new SpecError(`${where}: not an OpenAPI document (not a JSON or YAML object)`);
  return value;
}

async function fromSwagger2(doc: OpenApiDocument, where: string): Promise<OpenApiDocument> {
  if (doc.swagger !== "2.0") throw new SpecError(`${where}: swagger ${String(doc.swagger)} is not supported (only 2.0)`);
  const { convertObj } = await import("swagger2openapi");
  try {
    return (await convertObj(doc, { patch: true, warnOnly: true, resolve: false })).openapi;
  } catch (error) {
    throw new SpecError(`${where}: cannot convert Swagger 2.0 to OpenAPI 3.0: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A `$ref` to another file or URL: the parser would fetch it; the operator bundles the document instead. */
function refuseExternalRefs(node: unknown, pointer: string, where: string): void {
  if (Array.isArray(node)) {
    node.forEach((item, index) => refuseExternalRefs(item, `${pointer}/${index}`, where));
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    const at = `${pointer}/${escapePointer(key)}`;
    if (key === "$ref" && typeof value === "string" && !value.startsWith("#")) {
      throw new SpecError(`${where}: ${at}: external $ref "${value}" is not followed; bundle the document into one file`);
    }
    if (key === "example" || key === "examples" || key === "default" || key === "const" || key === "enum") continue;
    refuseExternalRefs(value, at, where);
  }
}

async function dereferenced_(doc: OpenApiDocument, where: string): Promise<OpenApiDocument> {
  try {
    return (await dereference(doc as unknown as ParserDocument, PARSER_OPTIONS)) as unknown as OpenApiDocument;
  } catch (error) {
    const at = isObject(error) && typeof error.parentPath === "string" ? `${error.parentPath}: ` : "";
    throw new SpecError(`${where}: ${at}${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The parser's messages quote a code frame of its own JSON rendering; keep the problem and the offending line. */
function validationProblem(errors: readonly { message: string }[]): string {
  const first = errors[0]?.message ?? "invalid document";
  const lines = first.split("\n");
  const offending = lines.find((line) => line.startsWith(">"))?.replace(/^>\s*\d+\s*\|\s*/, "").trim();
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
  return `${lines[0]}${offending ? ` at ${offending}` : ""}${more}`;
}

export function escapePointer(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? text).replace(/:$/, "");
}
