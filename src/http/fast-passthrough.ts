/**
 * The pass-through's fast path: `POST /{server}/mcp` and `/mcp/{server}` answered straight
 * from node:http, without Hono's Request/Response and middleware (../shared/PERFORMANCE.md:
 * on this path they cost more than the proxying itself). It runs the same steps in the
 * same order as the Hono route (gateway key, server, body, proxy, errors as JSON-RPC) with
 * the same functions, and only where that route has nothing more to do: no debug headers,
 * no internal-only servers, no delegated auth, no interactive OAuth challenge, no legacy
 * SSE. Everything else falls through to the Hono app.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { extractGatewayKey } from "../auth/inbound/gateway-key.js";
import type { KeyResolver } from "../auth/inbound/key-resolver.js";
import { DEBUG_REQUEST_HEADER } from "../debug.js";
import { IncomingRequestHeaders } from "../headers.js";
import { toGatewayError, unauthorized } from "../errors.js";
import type { Logger } from "../log.js";
import { serverForCaller } from "../mcp/access.js";
import { parseJsonRpcBody, responseId, type JsonRpcId } from "../mcp/jsonrpc.js";
import type { ProxyAnswer, ProxyHandler } from "../mcp/passthrough.js";
import { ClientGone } from "../mcp/upstream-http.js";
import { isInteractive } from "../oauth/gateway-issuer.js";
import type { RegistrySnapshot, ServerRegistry } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { errorResponse, logFailure } from "./error-response.js";
import { readIncoming } from "./read-body.js";

export interface FastPassthroughDeps {
  registry: ServerRegistry;
  keys: KeyResolver;
  passthrough: ProxyHandler;
  maxBodyBytes: number;
  log: Logger;
}

const SERVER_PATH = /^\/(?:mcp\/([A-Za-z0-9_-]+)|([A-Za-z0-9_-]+)\/mcp)$/;

/** Whether the Hono route would do nothing for this server beyond what the fast path does. */
function eligible(server: McpServerEntry): boolean {
  return server.config.transport === "http" && !server.delegatesAuth && !server.internalOnly && !isInteractive(server);
}

/** Handles the request and returns true, or returns false (untouched) for the Hono app. */
export function fastPassthrough(deps: FastPassthroughDeps): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    if (request.method !== "POST" || request.url === undefined) return false;
    const match = SERVER_PATH.exec(request.url);
    if (match === null || request.headers[DEBUG_REQUEST_HEADER] !== undefined) return false;
    const snapshot = deps.registry.current();
    const name = (match[1] ?? match[2])!;
    const server = snapshot.byIdOrName(name);
    if (snapshot.hasInternalOnly || server === undefined || !eligible(server)) return false;
    void handle(deps, request, response, snapshot, name);
    return true;
  };
}

/** `snapshot` is the one eligibility was decided on: a reload meanwhile must not change the server under it. */
async function handle(deps: FastPassthroughDeps, request: IncomingMessage, response: ServerResponse, snapshot: RegistrySnapshot, name: string): Promise<void> {
  const gone = new ClientGone();
  // The client went away: abort the upstream request (as the Hono route's request signal does).
  response.once("close", () => {
    if (!response.writableFinished) gone.abort();
  });
  let id: JsonRpcId | null = null;
  try {
    const headers = new IncomingRequestHeaders(request.headers);
    const presented = extractGatewayKey(headers);
    if (presented === undefined) throw unauthorized();
    const caller = await deps.keys.resolve(presented.key);
    if (caller === undefined) throw unauthorized("invalid gateway key");
    const server = serverForCaller(snapshot, caller, name);
    const body = await readIncoming(request, deps.maxBodyBytes);
    const parsed = parseJsonRpcBody(body);
    id = responseId(parsed);
    const answer = await deps.passthrough.answer({
      snapshot,
      server,
      caller,
      method: "POST",
      headers,
      presentedKey: presented,
      signal: gone,
      body,
      parsed,
      // Only servers that delegate auth relay a challenge; they never take this path.
      resourceMetadataUrl: () => "",
    });
    await write(response, answer);
  } catch (error) {
    const failure = toGatewayError(error);
    logFailure(deps.log, failure, { method: "POST", path: request.url });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const answer = errorResponse(failure, "jsonrpc", id);
    await write(response, { status: answer.status, headers: Object.fromEntries(answer.headers), body: await answer.text() });
  }
}

async function write(response: ServerResponse, answer: ProxyAnswer): Promise<void> {
  const headers = answer.headers;
  const body = answer.body;
  if (body === null || typeof body === "string" || body instanceof Uint8Array) {
    if (body !== null) headers["content-length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
    response.writeHead(answer.status, headers);
    response.end(body ?? undefined);
    return;
  }
  response.writeHead(answer.status, headers);
  response.flushHeaders();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!response.write(value)) await drained(response);
      if (response.destroyed) break;
    }
    response.end();
  } catch {
    response.destroy();
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/** Resolves when the client has taken the buffered output, or has gone. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}
