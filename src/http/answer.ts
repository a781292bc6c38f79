/**
 * An HTTP answer before it is a fetch `Response`: the MCP and REST handlers produce it, the
 * Hono routes wrap it in a Response, and the node:http fast lane writes it as it is
 * (README, Performance: a web Response and its stream cost more than small answers).
 */
import { toFetchHeaders, type ResponseHeaders } from "../headers.js";

export interface HttpAnswer {
  status: number;
  headers: ResponseHeaders;
  body: ReadableStream<Uint8Array> | Uint8Array | string | null;
}

export function toResponse(answer: HttpAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: toFetchHeaders(answer.headers) });
}

/** A JSON answer. */
export function jsonAnswer(value: unknown, status = 200): HttpAnswer {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}
