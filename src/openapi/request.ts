/** The HTTP request of a tool call: path templating, parameter serialisation, the body. */
import { serializeCookie, serializeHeader, serializePath, serializeQuery } from "./serialize.js";
import { ArgumentError, type CompiledOperation, type CompiledParameter, type HttpCall } from "./types.js";

export const ACCEPT = "application/json, */*;q=0.5";

export function buildHttpCall(operation: CompiledOperation, args: Record<string, unknown>): HttpCall {
  refuseUnknown(operation, args);
  let path = requestPath(operation.path);
  const query: string[] = [];
  const cookies: string[] = [];
  const headers: Record<string, string> = { accept: ACCEPT };
  for (const parameter of operation.parameters) {
    const value = argument(parameter, args);
    if (value === undefined) continue;
    switch (parameter.in) {
      case "path":
        path = path.split(`{${parameter.name}}`).join(serializePath(parameter, value));
        break;
      case "query":
        query.push(...serializeQuery(parameter, value));
        break;
      case "header":
        headers[parameter.name.toLowerCase()] = serializeHeader(parameter, value);
        break;
      case "cookie":
        cookies.push(...serializeCookie(parameter, value));
        break;
    }
  }
  refuseDotSegments(path);
  if (cookies.length > 0) headers.cookie = cookies.join("; ");
  const body = requestBody(operation, args);
  if (body) headers["content-type"] = body.contentType;
  return { method: operation.method, url: target(operation.baseUrl, path, query), headers, body: body?.text };
}

/**
 * The path template up to a `#`: the path is appended to the server URL (OpenAPI 3.x Paths
 * Object), where `#` starts a fragment, which is never sent (RFC 9110 §7.1). Documents use
 * it to give one path several operations of one method (`/cookies#formExploded`).
 */
function requestPath(template: string): string {
  const hash = template.indexOf("#");
  return hash === -1 ? template : template.slice(0, hash);
}

function refuseUnknown(operation: CompiledOperation, args: Record<string, unknown>): void {
  const known = new Set(operation.parameters.map((parameter) => parameter.argument));
  if (operation.body) known.add(operation.body.argument);
  const unknown = Object.keys(args).filter((name) => !known.has(name));
  if (unknown.length === 0) return;
  const expected = [...known].join(", ") || "none";
  throw new ArgumentError(`unknown argument${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (this tool takes: ${expected})`);
}

/** Absent (undefined or null) means not sent; falsy values such as 0, false and "" are sent. */
function argument(parameter: CompiledParameter, args: Record<string, unknown>): unknown {
  const value = args[parameter.argument];
  if (value !== undefined && value !== null) return value;
  if (parameter.required) throw new ArgumentError(`missing required argument ${parameter.argument} (${parameter.in} parameter ${parameter.name})`);
  return undefined;
}

/** URL parsing removes `.` and `..` segments (WHATWG URL), which would reach another path of the API. */
function refuseDotSegments(path: string): void {
  if (path.split("/").some((segment) => /^(\.|%2e){1,2}$/i.test(segment))) {
    throw new ArgumentError(`a path parameter makes a "." or ".." segment: ${path}`);
  }
}

function target(base: URL, path: string, query: readonly string[]): URL {
  const url = new URL(base.href);
  url.pathname = `${base.pathname.replace(/\/+$/, "")}${path}`;
  const all = [...(base.search ? [base.search.slice(1)] : []), ...query];
  url.search = all.length > 0 ? `?${all.join("&")}` : "";
  return url;
}

function requestBody(operation: CompiledOperation, args: Record<string, unknown>): { text: string; contentType: string } | undefined {
  const plan = operation.body;
  if (!plan) return undefined;
  const value = args[plan.argument];
  if (value === undefined || value === null) {
    if (plan.required) throw new ArgumentError(`missing required argument ${plan.argument} (the request body)`);
    return undefined;
  }
  if (plan.mediaType === "application/x-www-form-urlencoded") return { text: formBody(value, plan.argument), contentType: plan.mediaType };
  return { text: JSON.stringify(jsonValue(value)), contentType: plan.mediaType };
}

/** A JSON object or array sent as a string (as some clients do, and LiteLLM accepts) is sent as that JSON. */
function jsonValue(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function formBody(value: unknown, argument: string): string {
  const object = jsonValue(value);
  if (typeof object !== "object" || object === null || Array.isArray(object)) throw new ArgumentError(`${argument}: a form body must be an object`);
  const form = new URLSearchParams();
  for (const [key, item] of Object.entries(object)) {
    for (const one of Array.isArray(item) ? item : [item]) {
      if (one === undefined || one === null) continue;
      form.append(key, typeof one === "object" ? JSON.stringify(one) : String(one));
    }
  }
  return form.toString();
}
