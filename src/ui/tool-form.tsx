/**
 * The "MCP Tools" call form: HTML fields generated from a tool's JSON Schema (no client-side
 * script; the form POSTs as application/x-www-form-urlencoded), and the parser that turns the
 * submitted form back into the tool's arguments.
 *
 * Field names are `arg.<path>`, the path being the property names joined by dots; inside a
 * property name `~` is written `~0` and `.` is written `~1` (as in JSON Pointer), so any name
 * round-trips. A non-empty `raw_arguments` (a JSON object) replaces the generated fields.
 */
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { Visible } from "./visible-text.js";

/** Error messages by form field name (`arg.address.city`), `raw_arguments`, or `""` for the form. */
export type FieldErrors = Record<string, string>;

type InputSchema = Tool["inputSchema"];
type JsonObject = Record<string, unknown>;
type Primitive = string | number | boolean | null;
type ItemKind = "string" | "number" | "integer" | "boolean";

/** Nested objects deeper than this are edited as JSON. */
const MAX_DEPTH = 8;
const RAW = "raw_arguments";
const LINES_HINT = "one item per line";
const JSON_HINT = "JSON";

interface FieldBase {
  /** The property name, shown as the label. */
  key: string;
  /** The form field name. */
  name: string;
  id: string;
  /** Required by the object that holds it. */
  required: boolean;
  /** Required here and in every enclosing object: the field can never be left empty. */
  alwaysRequired: boolean;
  description: string | undefined;
  defaultValue: unknown;
}

type Field =
  | (FieldBase & { kind: "string"; inputType: "text" | "email" | "url" })
  | (FieldBase & { kind: "number" | "integer" })
  | (FieldBase & { kind: "boolean" })
  | (FieldBase & { kind: "enum"; options: Primitive[] })
  | (FieldBase & { kind: "lines"; item: ItemKind; itemOptions: Primitive[] | undefined })
  | (FieldBase & { kind: "json"; expect: "array" | "object" | undefined; options: unknown[] | undefined })
  | (FieldBase & { kind: "object"; children: Field[] });

// ---------------------------------------------------------------------------------------------
// Schema → field model (shared by the form and the parser)

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isPrimitive(value: unknown): value is Primitive {
  return value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

/** The schema's single type; `["string", "null"]` counts as `string`. */
function typeOf(schema: JsonObject): string | undefined {
  const type = schema.type;
  if (typeof type === "string") return type;
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== "null");
    if (nonNull.length === 1 && typeof nonNull[0] === "string") return nonNull[0];
  }
  return undefined;
}

function isComposite(schema: JsonObject): boolean {
  return "oneOf" in schema || "anyOf" in schema || "allOf" in schema || "$ref" in schema || "not" in schema;
}

function enumOf(schema: JsonObject): unknown[] | undefined {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum;
  if ("const" in schema) return [schema.const];
  return undefined;
}

function propertiesOf(schema: JsonObject): [string, JsonObject][] {
  const properties = schema.properties;
  if (!isObject(properties)) return [];
  return Object.entries(properties).map(([key, value]): [string, JsonObject] => [key, isObject(value) ? value : {}]);
}

function requiredOf(schema: JsonObject): Set<string> {
  const required = schema.required;
  return new Set(Array.isArray(required) ? required.filter((r): r is string => typeof r === "string") : []);
}

function escapeSegment(key: string): string {
  return key.replaceAll("~", "~0").replaceAll(".", "~1");
}

class IdAllocator {
  private readonly used = new Set<string>();
  next(path: string[]): string {
    const slug = path.map((segment) => segment.replace(/[^A-Za-z0-9_-]/g, "_")).join("-");
    const base = `arg-${slug}`;
    let id = base;
    for (let n = 2; this.used.has(id); n++) id = `${base}-${n}`;
    this.used.add(id);
    return id;
  }
}

function buildFields(schema: JsonObject, path: string[], alwaysRequired: boolean, ids: IdAllocator): Field[] {
  const required = requiredOf(schema);
  return propertiesOf(schema).map(([key, property]) => {
    const fieldPath = [...path, key];
    const isRequired = required.has(key);
    const base: FieldBase = {
      key,
      name: `arg.${fieldPath.map(escapeSegment).join(".")}`,
      id: ids.next(fieldPath),
      required: isRequired,
      alwaysRequired: alwaysRequired && isRequired,
      description: typeof property.description === "string" ? property.description : undefined,
      defaultValue: property.default,
    };
    return classify(property, base, fieldPath, ids);
  });
}

function classify(schema: JsonObject, base: FieldBase, path: string[], ids: IdAllocator): Field {
  const type = typeOf(schema);
  const json = (expect: "array" | "object" | undefined, options?: unknown[]): Field => ({ ...base, kind: "json", expect, options });
  if (isComposite(schema) || type === undefined) {
    const options = enumOf(schema);
    if (type === undefined && !isComposite(schema) && options !== undefined && options.every(isPrimitive)) {
      return { ...base, kind: "enum", options };
    }
    return json(undefined, options);
  }
  const options = enumOf(schema);
  if (type === "object") {
    if (propertiesOf(schema).length > 0 && path.length <= MAX_DEPTH && options === undefined) {
      return { ...base, kind: "object", children: buildFields(schema, path, base.alwaysRequired, ids) };
    }
    return json("object", options);
  }
  if (type === "array") {
    const items = isObject(schema.items) ? schema.items : undefined;
    const itemType = items === undefined || isComposite(items) ? undefined : typeOf(items);
    const itemOptions = items === undefined ? undefined : enumOf(items);
    if (
      options === undefined &&
      (itemType === "string" || itemType === "number" || itemType === "integer" || itemType === "boolean") &&
      (itemOptions === undefined || itemOptions.every(isPrimitive))
    ) {
      return { ...base, kind: "lines", item: itemType, itemOptions: itemOptions as Primitive[] | undefined };
    }
    return json("array", options);
  }
  if (options !== undefined) {
    return options.every(isPrimitive) ? { ...base, kind: "enum", options } : json(undefined, options);
  }
  switch (type) {
    case "string": {
      const format = schema.format;
      const inputType = format === "email" ? "email" : format === "uri" || format === "url" ? "url" : "text";
      return { ...base, kind: "string", inputType };
    }
    case "number":
    case "integer":
      return { ...base, kind: type };
    case "boolean":
      return { ...base, kind: "boolean" };
    default:
      return json(undefined);
  }
}

function fieldsOf(schema: InputSchema): Field[] {
  return buildFields(schema, [], true, new IdAllocator());
}

function* leafFields(fields: Field[]): Generator<Field> {
  for (const field of fields) {
    if (field.kind === "object") yield* leafFields(field.children);
    else yield field;
  }
}

function* allFields(fields: Field[]): Generator<Field> {
  for (const field of fields) {
    yield field;
    if (field.kind === "object") yield* allFields(field.children);
  }
}

/** How an enum member is written as an `<option value>`. */
function optionValue(value: Primitive): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function itemText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? "";
}

/** The text a field starts with when nothing was submitted: its schema `default`. */
function defaultText(field: Field): string {
  const value = field.defaultValue;
  if (value === undefined) return "";
  switch (field.kind) {
    case "lines":
      return Array.isArray(value) ? value.map(itemText).join("\n") : "";
    case "json":
      return JSON.stringify(value, null, 2) ?? "";
    case "enum":
      return isPrimitive(value) ? optionValue(value) : "";
    default:
      return itemText(value);
  }
}

// ---------------------------------------------------------------------------------------------
// The form

interface RenderContext {
  values: URLSearchParams | undefined;
  errors: FieldErrors;
}

/** A textarea drops one newline right after its start tag; keep a leading newline of the value. */
function textareaText(value: string): string {
  return value.startsWith("\n") || value.startsWith("\r") ? `\n${value}` : value;
}

function describedBy(...ids: (string | undefined)[]): string | undefined {
  const present = ids.filter((id): id is string => id !== undefined);
  return present.length > 0 ? present.join(" ") : undefined;
}

function RequiredMark(props: { required: boolean }) {
  return props.required ? (
    <span class="required" aria-hidden="true">
      *
    </span>
  ) : null;
}

function Hint(props: { id: string; description: string | undefined; format: string | undefined }) {
  if (props.description === undefined && props.format === undefined) return null;
  return (
    <p class="hint" id={props.id}>
      {props.description === undefined ? null : <Visible text={props.description} multiline />}
      {props.description !== undefined && props.format !== undefined ? " " : null}
      {props.format === undefined ? null : <span class="hint-format">({props.format})</span>}
    </p>
  );
}

function FieldError(props: { id: string; message: string | undefined }) {
  return props.message === undefined ? null : (
    <p class="field-error" id={props.id} role="alert">
      {props.message}
    </p>
  );
}

function FieldView(props: { field: Field; ctx: RenderContext }) {
  const { field, ctx } = props;
  const error = ctx.errors[field.name];
  const hintId = `${field.id}-hint`;
  const errorId = `${field.id}-error`;

  if (field.kind === "object") {
    const hasHint = field.description !== undefined;
    return (
      <fieldset class="field-group" id={field.id} aria-describedby={describedBy(hasHint ? hintId : undefined, error === undefined ? undefined : errorId)}>
        <legend>
          {field.key}
          <RequiredMark required={field.required} />
        </legend>
        <Hint id={hintId} description={field.description} format={undefined} />
        <FieldError id={errorId} message={error} />
        {field.children.map((child) => (
          <FieldView field={child} ctx={ctx} />
        ))}
      </fieldset>
    );
  }

  const format = field.kind === "lines" ? LINES_HINT : field.kind === "json" ? JSON_HINT : undefined;
  const hasHint = field.description !== undefined || format !== undefined;
  const submitted = ctx.values?.get(field.name) ?? null;
  const value = submitted ?? defaultText(field);
  const common = {
    id: field.id,
    name: field.name,
    "aria-describedby": describedBy(hasHint ? hintId : undefined, error === undefined ? undefined : errorId),
    "aria-invalid": error === undefined ? undefined : "true",
    "aria-required": field.alwaysRequired ? "true" : undefined,
  };

  let control;
  switch (field.kind) {
    case "string":
      control = <input type={field.inputType} value={value} {...common} />;
      break;
    case "number":
    case "integer":
      control = <input type="number" step={field.kind === "integer" ? "1" : "any"} value={value} {...common} />;
      break;
    case "boolean":
    case "enum": {
      const options = field.kind === "boolean" ? ["true", "false"] : field.options.map(optionValue);
      control = (
        <select {...common}>
          {field.alwaysRequired ? null : (
            <option value="" selected={value === ""}>
              —
            </option>
          )}
          {options.map((option) => (
            <option value={option} selected={option === value}>
              {option}
            </option>
          ))}
        </select>
      );
      break;
    }
    case "lines":
    case "json":
      control = (
        <textarea rows={field.kind === "json" ? 5 : 4} {...common}>
          {textareaText(value)}
        </textarea>
      );
      break;
  }

  return (
    <div class={error === undefined ? "field" : "field has-error"}>
      {/* The mark is outside the label: the accessible name is exactly the argument's name. */}
      <div class="label-row">
        <label for={field.id}>{field.key}</label>
        <RequiredMark required={field.required} />
      </div>
      <Hint id={hintId} description={field.description} format={format} />
      {control}
      <FieldError id={errorId} message={error} />
    </div>
  );
}

/**
 * The call form for one tool. `values` (a previous submission) re-fills the fields, otherwise
 * schema defaults do; `errors` (from {@link parseToolArguments}) are shown after their fields.
 */
export function ToolCallForm(props: { tool: Tool; action: string; csrf: string; values?: URLSearchParams; errors?: FieldErrors }) {
  const { tool } = props;
  const errors = props.errors ?? {};
  const fields = fieldsOf(tool.inputSchema);
  const ctx: RenderContext = { values: props.values, errors };

  const known = new Set<string>(["", RAW]);
  for (const field of allFields(fields)) known.add(field.name);
  const formErrors = [
    ...(errors[""] === undefined ? [] : [errors[""]]),
    ...Object.entries(errors)
      .filter(([key]) => !known.has(key))
      .map(([key, message]) => `${key}: ${message}`),
  ];

  const raw = props.values?.get(RAW) ?? "";
  const rawError = errors[RAW];
  const hasFields = fields.length > 0;
  const rawHintId = `${RAW}-hint`;
  const rawErrorId = `${RAW}-error`;

  return (
    <form method="post" action={props.action} class="tool-form">
      <input type="hidden" name="csrf" value={props.csrf} />
      <input type="hidden" name="tool" value={tool.name} />
      {tool.description === undefined || tool.description === "" ? null : (
        <p class="tool-description">
          <Visible text={tool.description} multiline />
        </p>
      )}
      {formErrors.length === 0 ? null : (
        <div class="alert error form-error" role="alert">
          {formErrors.map((message) => (
            <p>{message}</p>
          ))}
        </div>
      )}
      {fields.map((field) => (
        <FieldView field={field} ctx={ctx} />
      ))}
      <details class="raw-arguments" open={!hasFields || raw.trim() !== "" || rawError !== undefined}>
        <summary>Raw JSON arguments</summary>
        <div class={rawError === undefined ? "field" : "field has-error"}>
          <label for={RAW}>Raw JSON arguments</label>
          <p class="hint" id={rawHintId}>
            {hasFields ? "A JSON object. When not empty, it replaces the fields above." : "A JSON object."}
          </p>
          <textarea
            id={RAW}
            name={RAW}
            rows={6}
            aria-describedby={describedBy(rawHintId, rawError === undefined ? undefined : rawErrorId)}
            aria-invalid={rawError === undefined ? undefined : "true"}
          >
            {textareaText(raw)}
          </textarea>
          <FieldError id={rawErrorId} message={rawError} />
        </div>
      </details>
      <button type="submit">Call Tool</button>
    </form>
  );
}

// ---------------------------------------------------------------------------------------------
// The parser

type Converted = { ok: true; value: unknown } | { ok: false; error: string };

/** Sets an own property, even one named `__proto__`. */
function setProperty(target: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function convertScalar(kind: ItemKind, text: string): Converted {
  switch (kind) {
    case "string":
      return { ok: true, value: text };
    case "boolean":
      return text === "true" ? { ok: true, value: true } : text === "false" ? { ok: true, value: false } : { ok: false, error: "must be true or false" };
    case "number":
    case "integer": {
      const trimmed = text.trim();
      const value = NUMBER.test(trimmed) ? Number(trimmed) : Number.NaN;
      if (kind === "integer") return Number.isInteger(value) ? { ok: true, value } : { ok: false, error: "must be an integer" };
      return Number.isFinite(value) ? { ok: true, value } : { ok: false, error: "must be a number" };
    }
  }
}

function oneOfMessage(options: Primitive[]): string {
  return `must be one of: ${options.map(optionValue).join(", ")}`;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isEmptyText(field: Field, text: string): boolean {
  return field.kind === "string" ? text === "" : text.trim() === "";
}

function convertField(field: Exclude<Field, { kind: "object" }>, text: string): Converted {
  switch (field.kind) {
    case "string":
      return { ok: true, value: text };
    case "number":
    case "integer":
    case "boolean":
      return convertScalar(field.kind, field.kind === "boolean" ? text.trim() : text);
    case "enum": {
      const match = field.options.find((option) => optionValue(option) === text);
      return match === undefined ? { ok: false, error: oneOfMessage(field.options) } : { ok: true, value: match };
    }
    case "lines": {
      const items: unknown[] = [];
      const lines = text.split(/\r\n|\r|\n/);
      for (const [index, line] of lines.entries()) {
        const item = line.trim();
        if (item === "") continue;
        const converted = convertScalar(field.item, item);
        if (!converted.ok) return { ok: false, error: `line ${index + 1}: ${converted.error}` };
        if (field.itemOptions !== undefined && !field.itemOptions.some((option) => option === converted.value)) {
          return { ok: false, error: `line ${index + 1}: ${oneOfMessage(field.itemOptions)}` };
        }
        items.push(converted.value);
      }
      return { ok: true, value: items };
    }
    case "json": {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return { ok: false, error: "must be valid JSON" };
      }
      if (field.expect === "array" && !Array.isArray(value)) return { ok: false, error: "must be a JSON array" };
      if (field.expect === "object" && !isObject(value)) return { ok: false, error: "must be a JSON object" };
      if (field.options !== undefined && !field.options.some((option) => sameJson(option, value))) {
        return { ok: false, error: `must be one of: ${field.options.map((option) => JSON.stringify(option)).join(", ")}` };
      }
      return { ok: true, value };
    }
  }
}

function allEmpty(fields: Field[], form: URLSearchParams): boolean {
  for (const field of leafFields(fields)) {
    if (!isEmptyText(field, form.get(field.name) ?? "")) return false;
  }
  return true;
}

function parseObject(fields: Field[], form: URLSearchParams, errors: FieldErrors): JsonObject {
  const result: JsonObject = {};
  for (const field of fields) {
    if (field.kind === "object") {
      if (!field.required && allEmpty(field.children, form)) continue;
      setProperty(result, field.key, parseObject(field.children, form, errors));
      continue;
    }
    const text = form.get(field.name) ?? "";
    if (isEmptyText(field, text)) {
      if (field.required) errors[field.name] = "required";
      continue;
    }
    const converted = convertField(field, text);
    if (converted.ok) setProperty(result, field.key, converted.value);
    else errors[field.name] = converted.error;
  }
  return result;
}

/**
 * Turns a submitted {@link ToolCallForm} into the tool's arguments. A non-empty `raw_arguments`
 * wins (it must be a JSON object); otherwise every generated field is converted per the schema.
 */
export function parseToolArguments(
  schema: Tool["inputSchema"],
  form: URLSearchParams,
): { ok: true; arguments: Record<string, unknown> } | { ok: false; errors: FieldErrors } {
  const raw = form.get(RAW) ?? "";
  if (raw.trim() !== "") {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, errors: { [RAW]: "must be valid JSON" } };
    }
    if (!isObject(value)) return { ok: false, errors: { [RAW]: "must be a JSON object" } };
    return { ok: true, arguments: value };
  }
  const errors: FieldErrors = {};
  const args = parseObject(fieldsOf(schema), form, errors);
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, arguments: args };
}
