/**
 * Request ids: every answer carries `x-request-id`, and the log lines and audit events of
 * that request name it, so an operator can follow one call from a client's report to the
 * logs. A client's own id is kept when it is a plain token (a load balancer's, say);
 * anything else is replaced, so nothing odd reaches the logs.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";

export const REQUEST_ID_HEADER = "x-request-id";

const ACCEPTED = /^[A-Za-z0-9._:-]{1,128}$/;

const ids = new WeakMap<IncomingMessage, string>();

/** The id for this request: the client's when acceptable, else a new UUID; kept for `requestIdOf`. */
export function assignRequestId(request: IncomingMessage): string {
  const sent = request.headers[REQUEST_ID_HEADER];
  const id = typeof sent === "string" && ACCEPTED.test(sent) ? sent : randomUUID();
  ids.set(request, id);
  return id;
}

/** The id `assignRequestId` gave this request (undefined for requests not served by node:http, as in-process tests). */
export function requestIdOf(request: IncomingMessage | undefined): string | undefined {
  return request === undefined ? undefined : ids.get(request);
}
