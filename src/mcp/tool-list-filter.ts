/**
 * Removes tools a caller may not see from `tools/list` responses that pass through the
 * proxy untouched otherwise, in JSON bodies and in SSE events alike; every other byte is
 * forwarded as it came. When the HTTP request carried a tools/list, every response in the
 * answer that carries `result.tools` is filtered, whatever its id: an upstream that reads
 * an id differently than the gateway (an unpaired surrogate replaced, a folded key) must
 * not get a list past the filter by answering under another id (fail closed).
 */
import type { JsonRpcId } from "./jsonrpc.js";

export type ToolVisible = (tool: string) => boolean;

interface ToolsListResponse {
  id?: JsonRpcId;
  result?: { tools?: Array<{ name?: unknown }> };
}

function filterMessage(message: unknown, ids: ReadonlySet<JsonRpcId>, visible: ToolVisible): boolean {
  if (typeof message !== "object" || message === null) return false;
  const response = message as ToolsListResponse;
  if (ids.size === 0 || !Array.isArray(response.result?.tools)) return false;
  response.result.tools = response.result.tools.filter((tool) => typeof tool.name === "string" && visible(tool.name));
  return true;
}

/** Filter a JSON body (one message or a batch); returns the text to send. */
export function filterToolsListJson(text: string, ids: ReadonlySet<JsonRpcId>, visible: ToolVisible): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text; // not ours to fix: the client sees what the upstream sent
  }
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  let changed = false;
  for (const message of messages) changed = filterMessage(message, ids, visible) || changed;
  return changed ? JSON.stringify(parsed) : text;
}

/** An SSE event's `data` lines rewritten when they carry a tools/list response. */
function filterEvent(event: string, ids: ReadonlySet<JsonRpcId>, visible: ToolVisible): string {
  const lines = event.split(/\r?\n/);
  const dataLines = lines.filter((line) => line.startsWith("data:"));
  if (dataLines.length === 0) return event;
  const data = dataLines.map((line) => line.slice(line.startsWith("data: ") ? 6 : 5)).join("\n");
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch {
    return event;
  }
  if (!filterMessage(message, ids, visible)) return event;
  const others = lines.filter((line) => !line.startsWith("data:"));
  return [...others, `data: ${JSON.stringify(message)}`].join("\n");
}

/** A stream transform over SSE bytes that rewrites only the tools/list events. */
export function filterToolsListSse(ids: ReadonlySet<JsonRpcId>, visible: ToolVisible): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      let boundary: RegExpExecArray | null;
      const separator = /\r?\n\r?\n/g;
      let consumed = 0;
      while ((boundary = separator.exec(buffer)) !== null) {
        const event = buffer.slice(consumed, boundary.index);
        controller.enqueue(encoder.encode(filterEvent(event, ids, visible) + boundary[0]));
        consumed = boundary.index + boundary[0].length;
      }
      buffer = buffer.slice(consumed);
    },
    flush(controller) {
      buffer += decoder.decode();
      if (buffer !== "") controller.enqueue(encoder.encode(filterEvent(buffer, ids, visible)));
    },
  });
}
