/**
 * The one error type of the gateway. Modelled on node-oidc-provider's errors: every error
 * carries an HTTP status, a machine-readable code, a client-safe description and a
 * log-only detail. `expose` is false for 5xx server faults: those leave as a generic
 * message, and only the log sees the detail.
 */

/** JSON-RPC 2.0 error codes (and the MCP SDK's use of them). */
export const JsonRpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined server errors live in -32000..-32099. */
  UpstreamError: -32000,
  /** The SDK transport's code for a refused request (415 media type, 400 protocol version). */
  TransportError: -32000,
  UpstreamTimeout: -32001,
  Forbidden: -32003,
} as const;

export interface GatewayErrorOptions {
  /** HTTP status sent to the client. */
  status: number;
  /** Short machine-readable code, e.g. `unknown_server`, `upstream_unreachable`, or an OAuth `error`. */
  code: string;
  /** What the client is told. Must never contain a secret or an upstream body. */
  message: string;
  /** Log-only detail (may name internal hosts; never a secret). */
  detail?: string;
  /** JSON-RPC error code when the error is answered inside a JSON-RPC response. */
  rpcCode?: number;
  /** Extra response headers (WWW-Authenticate, Allow, ...). */
  headers?: Record<string, string>;
  /** Extra client-safe fields for the JSON body (a hint, a server name). */
  extra?: Record<string, unknown>;
  /** Whether the message may reach the client; defaults to true for 4xx and for upstream_* faults. */
  expose?: boolean;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string | undefined;
  readonly rpcCode: number;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;
  /** Client errors explain themselves; internal faults leave as a generic message. */
  readonly expose: boolean;

  constructor(options: GatewayErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.status = options.status;
    this.code = options.code;
    this.detail = options.detail;
    this.rpcCode = options.rpcCode ?? (options.status >= 500 ? JsonRpcCode.UpstreamError : JsonRpcCode.InvalidRequest);
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
    this.expose = options.expose ?? (options.status < 500 || options.code.startsWith("upstream_"));
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}

/** Wrap anything thrown into a GatewayError; unknown errors become an unexposed 500. */
export function toGatewayError(error: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  return new GatewayError({
    status: 500,
    code: "server_error",
    message: "internal error",
    detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
    rpcCode: JsonRpcCode.InternalError,
    cause: error,
  });
}

/**
 * The JSON body of an error answered outside JSON-RPC: `detail` as LiteLLM (FastAPI)
 * clients read it, `error` as a machine-readable code, plus client-safe extras.
 */
export function errorBody(error: GatewayError): Record<string, unknown> {
  if (!error.expose) return { detail: "internal error", error: "server_error" };
  return { detail: error.message, error: error.code, ...error.extra };
}

/** What a client may read of an error. */
export function clientMessage(error: GatewayError): string {
  return error.expose ? error.message : "internal error";
}

// Constructors for errors that many modules raise, so wording stays identical everywhere.

export const unauthorized = (message = "missing or invalid gateway key: send it as 'x-litellm-api-key: Bearer <key>' or 'Authorization: Bearer <key>'") =>
  new GatewayError({ status: 401, code: "unauthorized", message, rpcCode: JsonRpcCode.InvalidRequest });

export const unknownServer = (name: string) =>
  new GatewayError({
    status: 404,
    code: "unknown_server",
    message: `no MCP server named '${name}' is available to this key`,
    rpcCode: JsonRpcCode.InvalidParams,
  });
