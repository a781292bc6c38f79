/**
 * Removes tools a caller may not see from `tools/list` responses that pass through the
 * proxy untouched otherwise, in JSON bodies and in SSE events alike; every other byte is
 * forwarded as it came. When the HTTP request carried a tools/list, every response in the
 * answer that carries `result.tools` is filtered, whatever its id: an upstream that reads
 * an id differently than the gateway (an unpaired surrogate replaced, a folded key) must
 * not get a list past the filter by answering under another id (fail closed).
 *
 * Two checks apply: the caller's permissions (`visible`) and tool pinning (`review`,
 * tool-pins.ts, which pins what it has not seen and drops what its policy blocks). A list
 * whose tools cannot be reviewed (the store failed) is answered with an error instead.
 */
import type { JsonRpcId } from "./jsonrpc.js";

export type ToolVisible = (tool: string) => boolean;
/** Tool pinning's review of one server's listed tools: those to serve. */
export type ToolsReview = (tools: Array<{ name: string }>) => Promise<Array<{ name: string }>>;

export interface ToolListCheck {
  visible: ToolVisible | undefined;
  review: ToolsReview | undefined;
}

interface ToolsListResponse {
  jsonrpc?: string;
  id?: JsonRpcId;
  result?: { tools?: Array<{ name?: unknown }> };
  error?: unknown;
}

async function filterMessage(message: unknown, ids: ReadonlySet<JsonRpcId>, check: ToolListCheck): Promise<boolean> {
  if (typeof message !== "object" || message === null) return false;
  const response = message as ToolsListResponse;
  if (ids.size === 0 || !Array.isArray(response.result?.tools)) return false;
  const visible = check.visible;
  let tools = response.result.tools.filter((tool): tool is { name: string } => typeof tool?.name === "string");
  if (check.review !== undefined) {
    try {
      tools = await check.review(tools);
    } catch {
      // Fail closed: an unreviewed list could carry a blocked tool.
      delete response.result;
      response.error = { code: -32603, message: "the gateway could not check this list's tool definitions against their pins (tool pinning); try again" };
      return true;
    }
  }
  response.result.tools = visible === undefined ? tools : tools.filter((tool) => visible(tool.name));
  return true;
}

/** Filter a JSON body (one message or a batch); resolves to the text to send. */
export async function filterToolsListJson(text: string, ids: ReadonlySet<JsonRpcId>, check: ToolListCheck): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text; // not ours to fix: the client sees what the upstream sent
  }
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  let changed = false;
  for (const message of messages) changed = (await filterMessage(message, ids, check)) || changed;
  return changed ? JSON.stringify(parsed) : text;
}

/** An SSE event's `data` lines rewritten when they carry a tools/list response. */
async function filterEvent(event: string, ids: ReadonlySet<JsonRpcId>, check: ToolListCheck): Promise<string> {
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
  if (!(await filterMessage(message, ids, check))) return event;
  const others = lines.filter((line) => !line.startsWith("data:"));
  return [...others, `data: ${JSON.stringify(message)}`].join("\n");
}

/** A stream transform over SSE bytes that rewrites only the tools/list events, in order. */
export function filterToolsListSse(ids: ReadonlySet<JsonRpcId>, check: ToolListCheck): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  return new TransformStream({
    async transform(chunk, controller) {
      buffer += decoder.decode(chunk, { stream: true });
      let boundary: RegExpExecArray | null;
      const separator = /\r?\n\r?\n/g;
      let consumed = 0;
      const events: Array<{ event: string; boundary: string }> = [];
      while ((boundary = separator.exec(buffer)) !== null) {
        events.push({ event: buffer.slice(consumed, boundary.index), boundary: boundary[0] });
        consumed = boundary.index + boundary[0].length;
      }
      buffer = buffer.slice(consumed);
      for (const { event, boundary: end } of events) controller.enqueue(encoder.encode((await filterEvent(event, ids, check)) + end));
    },
    async flush(controller) {
      buffer += decoder.decode();
      if (buffer !== "") controller.enqueue(encoder.encode(await filterEvent(buffer, ids, check)));
    },
  });
}
