/** The HTTP request of a tool call: path templating, parameter serialisation, the body (being written). */
import { ArgumentError, type CompiledOperation, type HttpCall } from "./types.js";

export function buildHttpCall(operation: CompiledOperation, args: Record<string, unknown>): HttpCall {
  void args;
  throw new ArgumentError(`${operation.method} ${operation.path}: not supported yet`);
}
