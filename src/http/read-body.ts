/**
 * Reads a request body whole, refusing it (413) as soon as it passes the configured
 * limit, without buffering more than the limit.
 */
import { GatewayError, JsonRpcCode } from "../errors.js";

export async function readBody(request: Request, limitBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  if (request.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limitBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limitBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString("utf8");
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
  const text = await readBody(request, limitBytes);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError({ status: 400, code: "invalid_request", message: "the body is not valid JSON" });
  }
}
