/**
 * The fast lane: the hot MCP routes answered straight from node:http, without Hono's
 * Request/Response and middleware (README, Performance: on these paths they cost more
 * than the proxying itself):
 *
 * - `POST /{server}/mcp` and `/mcp/{server}`, the pass-through;
 * - `POST /mcp`, the aggregate;
 * - `POST /mcp-rest/tools/call`.
 *
 * It runs the same steps in the same order as the Hono routes (gateway key, server, body,
 * handler, errors in the route's style) with the same functions, and only where those
 * routes have nothing more to do: no debug headers, no internal-only servers, no delegated
 * auth, no interactive OAuth challenge, no legacy SSE. Everything else falls through to
 * the Hono app.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { credentialScreen, type CredentialScreen } from "../auth/inbound/credential-screen.js";
import { extractGatewayKey, type PresentedKey } from "../auth/inbound/gateway-key.js";
import type { KeyResolver } from "../auth/inbound/key-resolver.js";
import type { Caller } from "../auth/inbound/caller.js";
import { DEBUG_REQUEST_HEADER } from "../debug.js";
import { toGatewayError, unauthorized } from "../errors.js";
import { IncomingRequestHeaders } from "../headers.js";
import type { Logger } from "../log.js";
import { parseServersHeader, serverForCaller } from "../mcp/access.js";
import type { Aggregate } from "../mcp/aggregate.js";
import { parseJsonRpcBody, responseId, type JsonRpcId } from "../mcp/jsonrpc.js";
import type { ProxyHandler } from "../mcp/passthrough.js";
import { parseCallToolBody, type RestTools } from "../mcp/rest-tools.js";
import { ClientGone } from "../mcp/upstream-http.js";
import { isInteractive } from "../oauth/gateway-issuer.js";
import { requestIdOf } from "../observability/request-id.js";
import type { RegistrySnapshot, ServerRegistry } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { jsonAnswer, type HttpAnswer } from "./answer.js";
import { errorResponse, logFailure } from "./error-response.js";
import { readIncoming } from "./read-body.js";

export interface FastLaneDeps {
  registry: ServerRegistry;
  keys: KeyResolver;
  passthrough: ProxyHandler;
  /** Without it, `/mcp` goes to the Hono route. */
  aggregate?: Aggregate;
  /** Without it, `/mcp-rest/tools/call` goes to the Hono route. */
  rest?: RestTools;
  maxBodyBytes: number;
  log: Logger;
}

const SERVER_PATH = /^\/(?:mcp\/([A-Za-z0-9_-]+)|([A-Za-z0-9_-]+)\/mcp)$/;

/** What a request is, once the lane has taken it. */
type Lane = { kind: "passthrough"; name: string } | { kind: "aggregate" } | { kind: "rest-call" };

const AGGREGATE: Lane = { kind: "aggregate" };
const REST_CALL: Lane = { kind: "rest-call" };

/** Whether the pass-through's Hono route would do nothing for this server beyond what the lane does. */
function eligible(server: McpServerEntry): boolean {
  return server.config.transport === "http" && server.kind !== "delegated" && !server.internalOnly && !isInteractive(server);
}

function laneFor(url: string, snapshot: RegistrySnapshot, deps: FastLaneDeps): Lane | undefined {
  // A delegating server anywhere may admit a keyless /mcp request (x-mcp-servers): the route decides.
  if (url === "/mcp") return deps.aggregate === undefined || snapshot.hasDelegating ? undefined : AGGREGATE;
  if (url === "/mcp-rest/tools/call") return deps.rest === undefined ? undefined : REST_CALL;
  const match = SERVER_PATH.exec(url);
  if (match === null) return undefined;
  const name = (match[1] ?? match[2])!;
  const server = snapshot.byIdOrName(name);
  return server !== undefined && eligible(server) ? { kind: "passthrough", name } : undefined;
}

/** Handles the request and returns true, or returns false (untouched) for the Hono app. */
export function fastLane(deps: FastLaneDeps): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    if (request.method !== "POST" || request.url === undefined || request.headers[DEBUG_REQUEST_HEADER] !== undefined) return false;
    const snapshot = deps.registry.current();
    if (snapshot.hasInternalOnly) return false;
    const lane = laneFor(request.url, snapshot, deps);
    if (lane === undefined) return false;
    void handle(deps, lane, request, response, snapshot);
    return true;
  };
}

/** One request's state, for the lane's handlers. */
interface LaneRequest {
  incoming: IncomingMessage;
  response: ServerResponse;
  headers: IncomingRequestHeaders;
  caller: Caller;
  presented: PresentedKey;
  screen: CredentialScreen;
  /** The registry snapshot the lane was chosen on: a reload meanwhile must not change the servers under it. */
  snapshot: RegistrySnapshot;
}

/** The JSON-RPC id errors answer with, once a handler has read the body. */
interface ErrorId {
  id: JsonRpcId | null;
}

async function handle(deps: FastLaneDeps, lane: Lane, incoming: IncomingMessage, response: ServerResponse, snapshot: RegistrySnapshot): Promise<void> {
  const errorId: ErrorId = { id: null };
  try {
    const headers = new IncomingRequestHeaders(incoming.headers);
    const presented = extractGatewayKey(headers);
    if (presented === undefined) throw unauthorized();
    const caller = await deps.keys.resolve(presented.key);
    if (caller === undefined) throw unauthorized("invalid gateway key");
    const request: LaneRequest = { incoming, response, snapshot, headers, presented, screen: credentialScreen(deps.keys, presented), caller };
    const answer =
      lane.kind === "passthrough"
        ? await passthrough(deps, request, lane.name, errorId)
        : lane.kind === "aggregate"
          ? await aggregate(deps, deps.aggregate!, request, errorId)
          : await restCall(deps, deps.rest!, request);
    await write(response, answer);
  } catch (error) {
    const failure = toGatewayError(error);
    logFailure(deps.log, failure, { method: "POST", path: incoming.url, request_id: requestIdOf(incoming) });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const answer = errorResponse(failure, lane.kind === "rest-call" ? "rest" : "jsonrpc", errorId.id);
    await write(response, { status: answer.status, headers: Object.fromEntries(answer.headers), body: await answer.text() });
  }
}

async function passthrough(deps: FastLaneDeps, request: LaneRequest, name: string, errorId: ErrorId): Promise<HttpAnswer> {
  // The client went away: abort the upstream request (as the Hono route's request signal does).
  const gone = new ClientGone();
  request.response.once("close", () => {
    if (!request.response.writableFinished) gone.abort();
  });
  const server = serverForCaller(request.snapshot, request.caller, name);
  const body = await readIncoming(request.incoming, deps.maxBodyBytes);
  const parsed = parseJsonRpcBody(body);
  errorId.id = responseId(parsed);
  return deps.passthrough.answer({
    snapshot: request.snapshot,
    server,
    caller: request.caller,
    method: "POST",
    headers: request.headers,
    presentedKey: request.presented,
    screen: request.screen,
    signal: gone,
    body,
    parsed,
    // Only servers that delegate auth relay a challenge; they never take this lane.
    resourceMetadataUrl: () => "",
    requestId: requestIdOf(request.incoming),
    cutClient: () => request.response.destroy(),
  });
}

async function aggregate(deps: FastLaneDeps, aggregate: Aggregate, request: LaneRequest, errorId: ErrorId): Promise<HttpAnswer> {
  const parsed = parseJsonRpcBody(await readIncoming(request.incoming, deps.maxBodyBytes));
  errorId.id = responseId(parsed);
  return aggregate.handle({
    snapshot: request.snapshot,
    caller: request.caller,
    narrowTo: parseServersHeader(request.headers.get("x-mcp-servers")),
    // Only delegating servers relay a challenge; with one configured, /mcp takes the Hono route.
    resourceMetadataUrl: () => "",
    inbound: { headers: request.headers, presentedKey: request.presented, screen: request.screen, caller: request.caller, signal: clientSignal(request.response) },
    parsed,
    requestId: requestIdOf(request.incoming),
  });
}

async function restCall(deps: FastLaneDeps, rest: RestTools, request: LaneRequest): Promise<HttpAnswer> {
  const body = parseCallToolBody(await readIncoming(request.incoming, deps.maxBodyBytes));
  const context = {
    snapshot: request.snapshot,
    caller: request.caller,
    requestId: requestIdOf(request.incoming),
    inbound: { headers: request.headers, presentedKey: request.presented, screen: request.screen, caller: request.caller, signal: clientSignal(request.response) },
  };
  return jsonAnswer(await rest.call(context, body));
}

/** Aborted when the client goes away before its answer is written (the calls stop upstream). */
function clientSignal(response: ServerResponse): AbortSignal {
  const controller = new AbortController();
  response.once("close", () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
}

async function write(response: ServerResponse, answer: HttpAnswer): Promise<void> {
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
      if (!response.write(value) && !response.destroyed) await drained(response);
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
