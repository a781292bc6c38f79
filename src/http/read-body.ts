/**
 * Reads a request body whole, refusing it (413) as soon as it passes the configured
 * limit, without buffering more than the limit.
 */
import type { IncomingMessage } from "node:http";
import { GatewayError, JsonRpcCode } from "../errors.js";
import { parseJson } from "../exchange.js";

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
