/** An `HttpAnswer` as a fetch `Response`, for the Hono routes. */
import type { HttpAnswer } from "../exchange.js";
import { toFetchHeaders } from "../headers.js";

export function toResponse(answer: HttpAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: toFetchHeaders(answer.headers) });
}
