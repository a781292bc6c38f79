/**
 * Request ids: every answer carries `x-request-id`, and the log lines and audit events of
 * that request name it, so an operator can follow one call from a client's report to the
 * logs. A client's own id is kept when it is a plain token (a load balancer's, say);
 * anything else is replaced, so nothing odd reaches the logs. The id lives on the
 * request's state (src/http/exchange.ts), not in a map beside it.
 */
import { randomUUID } from "node:crypto";

export const REQUEST_ID_HEADER = "x-request-id";

const ACCEPTED = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id for a request that sent `sent` as its `x-request-id`: that value when acceptable, else a new UUID. */
export function acceptedRequestId(sent: string | string[] | undefined): string {
  return typeof sent === "string" && ACCEPTED.test(sent) ? sent : randomUUID();
}
