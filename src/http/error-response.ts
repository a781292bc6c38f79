/**
 * The one place where errors become HTTP responses (STYLE house rule 1). MCP routes
 * answer with a JSON-RPC error object, every other route with `{detail, error}`;
 * internal faults are logged with their detail and leave as a generic message.
 */
import type { Context } from "hono";
import { errorBody, toGatewayError, type GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import { jsonRpcError } from "../mcp/jsonrpc.js";
import type { AppEnv } from "./env.js";
import { requestIdOf } from "../observability/request-id.js";

export function errorResponse(error: GatewayError, style: "jsonrpc" | "rest" | "oauth", id: string | number | null): Response {
  const body =
    style === "jsonrpc"
      ? jsonRpcError(id, error.rpcCode, error.expose ? error.message : "internal error", error.expose ? { code: error.code, ...error.extra } : undefined)
      : style === "oauth"
        ? // RFC 6749 §5.2
          error.expose
          ? { error: error.code, error_description: error.message }
          : { error: "server_error", error_description: "internal error" }
        : errorBody(error);
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: { "content-type": "application/json", ...(style === "oauth" ? { "cache-control": "no-store" } : {}), ...error.headers },
  });
}

/** Server faults are warnings, client errors debug lines; the detail goes to the log only. */
export function logFailure(log: Logger, error: GatewayError, request: { method: string; path: string | undefined; request_id: string | undefined }): void {
  const fields = { ...request, status: error.status, code: error.code, detail: error.detail };
  if (error.status >= 500) log.warn(fields, error.message);
  else log.debug(fields, error.message);
}

export function onError(log: Logger) {
  return (thrown: unknown, c: Context<AppEnv>): Response => {
    const error = toGatewayError(thrown);
    logFailure(log, error, { method: c.req.method, path: c.req.path, request_id: requestIdOf(c.env?.incoming) });
    return errorResponse(error, c.get("errorStyle") ?? "rest", c.get("jsonRpcId") ?? null);
  };
}
