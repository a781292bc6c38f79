/**
 * The one place where errors become HTTP answers (STYLE house rule 1). MCP routes
 * answer with a JSON-RPC error object, OAuth endpoints as RFC 6749 §5.2 says, every
 * other route with `{detail, error}`; internal faults are logged with their detail and
 * leave as a generic message.
 */
import { errorBody, GatewayError } from "../errors.js";
import type { HttpAnswer } from "../exchange.js";
import type { Logger } from "../log.js";
import { jsonRpcError } from "../mcp/jsonrpc.js";
import { toResponse } from "./answer.js";

export type ErrorStyle = "jsonrpc" | "rest" | "oauth";

export function errorAnswer(error: GatewayError, style: ErrorStyle, id: string | number | null): HttpAnswer {
  const body =
    style === "jsonrpc"
      ? jsonRpcError(id, error.rpcCode, error.expose ? error.message : "internal error", error.expose ? { code: error.code, ...error.extra } : undefined)
      : style === "oauth"
        ? // RFC 6749 §5.2
          error.expose
          ? { error: error.code, error_description: error.message }
          : { error: "server_error", error_description: "internal error" }
        : errorBody(error);
  return {
    status: error.status,
    headers: { "content-type": "application/json", ...(style === "oauth" ? { "cache-control": "no-store" } : {}), ...error.headers },
    body: JSON.stringify(body),
  };
}

export function errorResponse(error: GatewayError, style: ErrorStyle, id: string | number | null): Response {
  return toResponse(errorAnswer(error, style, id));
}

/**
 * Server faults are warnings, client errors debug lines; the detail goes to the log only.
 * A client error with a detail (an upstream authorization server's reason for refusing a
 * refresh, a client metadata document's host that failed) is an info line: the operator
 * may have to act on it, and finds it by the request id.
 */
export function logFailure(log: Logger, error: GatewayError, request: { method: string; path: string | undefined; request_id: string | undefined }): void {
  const fields = { ...request, status: error.status, code: error.code, detail: error.detail };
  if (error.status >= 500) log.warn(fields, error.message);
  else if (error.detail !== undefined) log.info(fields, error.message);
  else log.debug(fields, error.message);
}

/** The answer to a path no route serves (the same for every route family). */
export function noSuchRoute(): GatewayError {
  return new GatewayError({ status: 404, code: "not_found", message: "no such route (MCP servers are at /{server}/mcp and /mcp)" });
}
