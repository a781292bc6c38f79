/**
 * Reads a request body whole, refusing it (413) as soon as it passes the configured
 * limit, without buffering more than the limit.
 */
import type { IncomingMessage } from "node:http";
import { GatewayError, JsonRpcCode } from "../errors.js";

export async function readBody(request: Request, limitBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  return request.body === null ? "" : collect(request.body, limitBytes);
}

/** The chunks as text; leaving the loop early (413) cancels the stream. */
async function collect(chunks: AsyncIterable<Uint8Array>, limitBytes: number): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.byteLength;
    if (size > limitBytes) throw tooLarge(limitBytes);
    parts.push(chunk);
  }
  return Buffer.concat(parts, size).toString("utf8");
}

/**
 * As readBody, from the Node request itself when the server is node:http (the MCP and REST
 * hot paths): the chunks are Buffers already, without the web stream that `Request.body`
 * wraps around them (measured: README, Performance). The Request's own body must then not be read.
 */
export async function readNodeBody(request: Request, incoming: IncomingMessage | undefined, limitBytes: number): Promise<string> {
  if (incoming === undefined || incoming.readableEnded) return readBody(request, limitBytes);
  return readIncoming(incoming, limitBytes);
}

/** A Node request's body, whole, refused (413) past the limit. */
export async function readIncoming(incoming: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = Number(incoming.headers["content-length"] ?? NaN);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  // Events rather than `for await`: no async iterator per request on the hot path.
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= limitBytes) {
        parts.push(chunk);
        return;
      }
      incoming.off("data", onData);
      // Stop reading: the rest is neither buffered nor waited for.
      incoming.pause();
      reject(tooLarge(limitBytes));
    };
    incoming.on("data", onData);
    incoming.once("end", () => resolve((parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)).toString("utf8")));
    incoming.once("error", reject);
    // Closed before the body was complete: the client went away (after "end", this is a no-op).
    incoming.once("close", () => {
      if (!incoming.complete) reject(new GatewayError({ status: 499, code: "client_closed_request", message: "the client closed the request" }));
    });
  });
}

function tooLarge(limitBytes: number): GatewayError {
  return new GatewayError({
    status: 413,
    code: "request_too_large",
    message: `request body is larger than ${limitBytes} bytes (general_settings.max_request_body_bytes)`,
    rpcCode: JsonRpcCode.InvalidRequest,
  });
}

/** A JSON request body (any JSON value), or a 400 that says it is not JSON. */
export async function readJson(request: Request, limitBytes: number): Promise<unknown> {
  return parseJson(await readBody(request, limitBytes));
}

/** A body's JSON (undefined when empty), or a 400 that says it is not JSON. */
export function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError({ status: 400, code: "invalid_request", message: "the body is not valid JSON" });
  }
}
