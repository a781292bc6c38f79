/**
 * Removes tools a caller may not see from the tool lists in answers that pass through the
 * proxy untouched otherwise, in JSON bodies and in SSE events alike; every other byte is
 * forwarded as it came.
 *
 * Every response in every answer that carries `result.tools` is filtered, whatever request
 * it answers and whichever stream it comes on: a client pairs a response with its request
 * by id alone, so a `tools/list` answer can reach it in the answer to another POST, on the
 * GET stream (where a client that resumes a broken POST stream is sent the rest of it), or
 * under an id the gateway reads differently than the upstream (fail closed).
 *
 * Two checks apply: the caller's permissions (`visible`) and tool pinning (`review`,
 * tool-pins.ts, which pins what it has not seen and drops what its policy blocks). A list
 * whose tools cannot be reviewed (the store failed) is answered with an error instead.
 */
import { GatewayError } from "../errors.js";

export type ToolVisible = (tool: string) => boolean;
/** Tool pinning's review of one server's listed tools: those to serve. */
export type ToolsReview = (tools: Array<{ name: string }>) => Promise<Array<{ name: string }>>;

export interface ToolListCheck {
  visible: ToolVisible | undefined;
  review: ToolsReview | undefined;
}

interface ToolsListResponse {
  result?: { tools?: Array<{ name?: unknown }> };
  error?: unknown;
}

/** Longest SSE event held whole to be checked (the bound of item 18 on one upstream message). */
export const MAX_EVENT_CHARS = 32 * 1024 * 1024;

/**
 * Whether JSON text may hold a `tools` key: written plainly, or with one of its letters as a
 * `\u` escape (JSON.parse reads `"tool\u0073"` as `"tools"`). Text without either cannot.
 */
const MAY_LIST_TOOLS = /tools|\\u00(?:74|6[cCfF]|73)/;

export function mayListTools(text: string): boolean {
  return MAY_LIST_TOOLS.test(text);
}

/** The same test on bytes (UTF-8), without decoding them first. */
export function bytesMayListTools(bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.includes("tools") || (buffer.includes("\\u00") && mayListTools(buffer.toString("utf8")));
}

async function filterMessage(message: unknown, check: ToolListCheck): Promise<boolean> {
  if (typeof message !== "object" || message === null) return false;
  const response = message as ToolsListResponse;
  if (!Array.isArray(response.result?.tools)) return false;
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

async function filterMessages(parsed: unknown, check: ToolListCheck): Promise<boolean> {
  let changed = false;
  for (const message of Array.isArray(parsed) ? parsed : [parsed]) changed = (await filterMessage(message, check)) || changed;
  return changed;
}

/** Filter a JSON body (one message or a batch); resolves to the text to send. */
export async function filterToolsListJson(text: string, check: ToolListCheck): Promise<string> {
  if (!mayListTools(text)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text; // not ours to fix: the client sees what the upstream sent
  }
  return (await filterMessages(parsed, check)) ? JSON.stringify(parsed) : text;
}

/** Line ends in SSE: CRLF, LF or a lone CR (WHATWG HTML, "Parsing an event stream"). */
const LINE_END = /\r\n|\r|\n/g;

/**
 * The complete events at the start of `text` (each with the blank line that ends it) and
 * what is left. A CR at the very end is left too: it may be the first half of a CRLF.
 */
export function splitEvents(text: string): { events: string[]; rest: string } {
  const events: string[] = [];
  let eventStart = 0;
  let lineStart = 0;
  LINE_END.lastIndex = 0;
  for (let end = LINE_END.exec(text); end !== null; end = LINE_END.exec(text)) {
    if (end[0] === "\r" && end.index === text.length - 1) break;
    const next = end.index + end[0].length;
    if (end.index === lineStart) {
      events.push(text.slice(eventStart, next));
      eventStart = next;
    }
    lineStart = next;
  }
  return { events, rest: text.slice(eventStart) };
}

/** An SSE event rewritten when its data carries a tools list. */
async function filterEvent(event: string, check: ToolListCheck): Promise<string> {
  const lines = event.split(LINE_END);
  const isData = (line: string) => line === "data" || line.startsWith("data:");
  const dataLines = lines.filter(isData);
  if (dataLines.length === 0) return event;
  const data = dataLines.map((line) => line.slice(line.startsWith("data: ") ? 6 : 5)).join("\n");
  if (!mayListTools(data)) return event;
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch {
    return event;
  }
  if (!(await filterMessages(message, check))) return event;
  const others = lines.filter((line) => line !== "" && !isData(line));
  return [...others, `data: ${JSON.stringify(message)}`, "", ""].join("\n");
}

/** A stream transform over SSE bytes that rewrites only the events with tool lists, in order. */
export function filterToolsListSse(check: ToolListCheck, maxEventChars = MAX_EVENT_CHARS): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  const emit = async (text: string, controller: TransformStreamDefaultController<Uint8Array>) => {
    const { events, rest } = splitEvents(text);
    buffer = rest;
    if (buffer.length > maxEventChars) throw eventTooLong(maxEventChars);
    for (const event of events) controller.enqueue(encoder.encode(await filterEvent(event, check)));
  };
  return new TransformStream({
    async transform(chunk, controller) {
      await emit(buffer + decoder.decode(chunk, { stream: true }), controller);
    },
    async flush(controller) {
      // An event the stream ends before finishing is dropped by the client (WHATWG HTML): a lone CR still ends its line.
      await emit(buffer + decoder.decode(), controller);
      if (buffer !== "") controller.enqueue(encoder.encode(await filterEvent(buffer, check)));
    },
  });
}

function eventTooLong(max: number): GatewayError {
  return new GatewayError({ status: 502, code: "upstream_error", message: `an SSE event of the MCP server is longer than ${max} characters; the stream was cut` });
}
