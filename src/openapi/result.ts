/** An API's answer as an MCP tool result. The caller has bounded the body and scrubbed credentials. */
import { STATUS_CODES } from "node:http";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { HttpAnswer } from "./types.js";

/** How much of an error's body reaches the client. */
export const MAX_ERROR_TEXT = 4096;

export function toolResult(answer: HttpAnswer): CallToolResult {
  // HTTP/1.1's reason phrase is optional and HTTP/2 has none: the status's standard one.
  const status = `${answer.status} ${STATUS_CODES[answer.status] ?? ""}`.trimEnd();
  const type = mediaType(answer.contentType);
  if (answer.status < 200 || answer.status > 299) {
    const detail = answer.body.length === 0 ? "" : `: ${capped(asText(answer.body, type) ?? binary(answer.body, type))}`;
    return { content: [{ type: "text", text: `HTTP ${status}${detail}` }], isError: true };
  }
  if (answer.body.length === 0) return { content: [{ type: "text", text: status }] };
  if (type.startsWith("image/")) return { content: [{ type: "image", data: answer.body.toString("base64"), mimeType: type }] };
  const text = asText(answer.body, type);
  if (text === undefined) return { content: [{ type: "text", text: binary(answer.body, type) }] };
  const result: CallToolResult = { content: [{ type: "text", text }] };
  if (isJson(type)) {
    const parsed = parseJson(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) result.structuredContent = parsed as Record<string, unknown>;
  }
  return result;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

function isJson(type: string): boolean {
  return type === "application/json" || /^application\/[^/]+\+json$/.test(type);
}

function isText(type: string): boolean {
  return (
    type.startsWith("text/") ||
    isJson(type) ||
    /^application\/([^/]+\+)?xml$/.test(type) ||
    ["application/javascript", "application/x-www-form-urlencoded", "application/yaml", "application/x-ndjson", "application/problem+json"].includes(type)
  );
}

/** Text for a text type, or for an unlabelled body that is valid UTF-8; undefined for binary. */
function asText(body: Buffer, type: string): string | undefined {
  if (type !== "" && !isText(type)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return isText(type) ? body.toString("utf8") : undefined;
  }
}

function binary(body: Buffer, type: string): string {
  return `${body.length} bytes of ${type || "unlabelled data"}`;
}

function capped(text: string): string {
  if (text.length <= MAX_ERROR_TEXT) return text;
  return `${text.slice(0, MAX_ERROR_TEXT)}… (${text.length - MAX_ERROR_TEXT} more characters)`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
