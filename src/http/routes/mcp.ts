/**
 * The MCP and REST routes, served straight from node:http (their only implementation):
 *
 * - `/{server}/mcp` and `/mcp/{server}`: the pass-through to one upstream;
 * - `/mcp`: the aggregate of every server the caller may use;
 * - `/mcp-rest/tools/list` and `/mcp-rest/tools/call`.
 *
 * Each is a short chain of named steps over the request's exchange, in the order the
 * answers promise: authenticate (401 before anything is said about a server), resolve the
 * server (404/403), read the JSON-RPC body (413, then -32700/-32600), forward (the tool
 * checks run there, before anything goes upstream), write. Errors answer in the route's
 * style: a JSON-RPC error with the request's id on MCP routes, `{detail, error}` on REST.
 */
import { authenticate as authenticateRequest, type Authenticated } from "../../auth/inbound/authenticate.js";
import type { Caller } from "../../auth/inbound/caller.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import { credentialScreen } from "../../auth/inbound/credential-screen.js";
import type { KeyLimiter } from "../../auth/inbound/key-limits.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { AUTHORIZATION_REQUIRED } from "../../auth/upstream/oauth2-interactive.js";
import { GatewayError } from "../../errors.js";
import { jsonAnswer, type CancelSource, type HttpAnswer } from "../../exchange.js";
import { assertTargetsReachable, delegatedTargets, isAccessGroup, parseServersHeader, pathTargets, serverForCaller } from "../../mcp/access.js";
import type { Aggregate } from "../../mcp/aggregate.js";
import { checkMirroredHeaders, isListenRequest } from "../../mcp/modern-protocol.js";
import { parseJsonRpcBody, responseId, toolCallCount, type JsonRpcId, type ParsedBody } from "../../mcp/jsonrpc.js";
import { outboundRequest, type InboundRequestInfo } from "../../mcp/outbound-headers.js";
import type { ProxyHandler } from "../../mcp/passthrough.js";
import { parseCallToolBody, type RestContext, type RestTools } from "../../mcp/rest-tools.js";
import { aggregateResourceMetadataUrl, protectedResourceMetadataUrl, type McpPathForm } from "../../oauth/metadata.js";
import { publicOrigin, type OriginSettings } from "../../oauth/public-origin.js";
import type { RegistrySnapshot, ServerRegistry } from "../../registry/registry.js";
import type { McpServerEntry } from "../../registry/server-entry.js";
import { continueFromMeta, traced } from "../../observability/tracing.js";
import { noSuchRoute } from "../error-response.js";
import type { NodeExchange } from "../exchange.js";

export interface McpRouteDeps {
  origin: OriginSettings;
  network: CallerNetwork;
  registry: ServerRegistry;
  keys: KeyResolver;
  /** The keys' rpm_limit and max_parallel_requests. */
  limits: KeyLimiter;
  passthrough: ProxyHandler;
  aggregate: Aggregate;
  rest: RestTools;
  maxBodyBytes: number;
  /**
   * Milliseconds between the checks that a pass-through stream (a GET stream, a
   * `subscriptions/listen`) may go on (general_settings.mcp_stream_recheck_seconds). Default 25 s.
   */
  streamRecheckMs?: number;
}

export interface McpRoutes {
  passthrough(exchange: NodeExchange, serverName: string, form: McpPathForm): Promise<void>;
  /** `/mcp`, or the servers a path segment names (`/{a},{b}/mcp`, `/{group}/mcp`). */
  aggregate(exchange: NodeExchange, segment?: string): Promise<void>;
  /** `/mcp-rest/{endpoint}`. */
  rest(exchange: NodeExchange, endpoint: string): Promise<void>;
}

/** The JSON-RPC id a failure answers with, once the body has been read. */
interface ErrorId {
  id: JsonRpcId | null;
}

export function mcpRoutes(deps: McpRouteDeps): McpRoutes {
  const plainAuthentication = { network: deps.network };

  /** Step: the gateway key (or the delegate bypass, when every target delegates auth upstream). */
  function authenticate(exchange: NodeExchange, targets?: () => readonly string[] | undefined, snapshot?: RegistrySnapshot): Authenticated | Promise<Authenticated> {
    const options =
      targets === undefined || snapshot === undefined || !snapshot.hasDelegating
        ? plainAuthentication
        : { network: deps.network, delegatedTargets: (fromPublicInternet: boolean) => delegatedTargets(snapshot, targets(), fromPublicInternet) };
    const authenticated = traced("gatehouse.authenticate", AUTHENTICATE_ATTRIBUTES, () => authenticateRequest(deps.keys, exchange, options));
    if (authenticated instanceof Promise) {
      return authenticated.then((settled) => {
        exchange.caller = settled.caller;
        return settled;
      });
    }
    exchange.caller = authenticated.caller;
    return authenticated;
  }

  /**
   * Step: one of the key's max_parallel_requests slots, held until the request ends (nothing
   * to do for a key without the limit); the function that frees it sooner (see `streamStarts`).
   */
  async function admit(exchange: NodeExchange, caller: Caller): Promise<() => void> {
    const admitting = deps.limits.admit(caller);
    if (admitting === undefined) return NOTHING_HELD;
    const release = await admitting;
    exchange.whenEnded(release);
    exchange.releaseBeforeAnswer(release);
    return release;
  }

  /**
   * Step (before writing): a 2026-07-28 `subscriptions/listen` lives as long as the client
   * wants it, so once its answer starts the stream limits bound it, not max_parallel_requests:
   * its slot is freed then. Until then (its body read, checked, its URIs routed, its upstream
   * asked) it holds one like any request: a header saying subscriptions/listen freed a key
   * from its limit while any number of such bodies were read.
   */
  function streamStarts(parsed: ParsedBody | undefined, slot: () => void): void {
    if (parsed !== undefined && isListenRequest(parsed)) slot();
  }

  /**
   * Step (a pass-through stream: a GET stream, a `subscriptions/listen`): it outlives its
   * request, and the upstream holds it open for as long as the client does. Every
   * `streamRecheckMs` the request is authenticated again against the registry as it is then;
   * when its key no longer authenticates (deleted, blocked, expired), is another caller, or
   * may no longer use the server, or the server's config changed, the connection is cut (the
   * client's next request learns why).
   */
  function recheckWhileOpen(exchange: NodeExchange, targets: () => readonly string[] | undefined, caller: Caller, server: McpServerEntry): void {
    const allowed = async (): Promise<boolean> => {
      const snapshot = deps.registry.current();
      const again = await authenticate(exchange, targets, snapshot);
      return again.caller.subject === caller.subject && serverForCaller(snapshot, again.caller, server.name) === server;
    };
    const timer = setInterval(() => {
      void allowed()
        .catch(() => false)
        .then((ok) => {
          if (!ok) exchange.cut();
        });
    }, deps.streamRecheckMs ?? DEFAULT_STREAM_RECHECK_MS);
    timer.unref();
    exchange.whenEnded(() => clearInterval(timer));
  }

  /** Step: the body's tool calls, counted against the key's rpm_limit. */
  async function countToolCalls(caller: Caller, calls: number): Promise<void> {
    const counting = deps.limits.countToolCalls(caller, calls);
    if (counting !== undefined) await counting;
  }

  /** Step: the JSON-RPC body, whole; its id answers any later failure. */
  async function readJsonRpc(exchange: NodeExchange, errorId: ErrorId): Promise<{ body: string; parsed: ParsedBody }> {
    const body = await exchange.readBody(deps.maxBodyBytes);
    const parsed = parseJsonRpcBody(body);
    errorId.id = responseId(parsed);
    return { body, parsed };
  }

  const serversHeader = (exchange: NodeExchange) => parseServersHeader(exchange.headers.get("x-mcp-servers"));
  /** `x-mcp-servers` (server names or access groups) and LiteLLM's older `x-mcp-access-groups`, together. */
  const narrowingHeaders = (exchange: NodeExchange): string[] | undefined => {
    const servers = serversHeader(exchange);
    const groups = parseServersHeader(exchange.headers.get("x-mcp-access-groups"));
    return groups === undefined ? servers : [...(servers ?? []), ...groups];
  };
  const origin = (exchange: NodeExchange) =>
    publicOrigin(deps.origin, { url: `http://${exchange.headers.get("host") ?? "localhost"}${exchange.path}`, headers: exchange.headers, peer: exchange.peer });

  /** What upstream calls need of the request; its AbortSignal is made only if a token request asks for it. */
  function inbound(exchange: NodeExchange, { caller, presented }: Authenticated): InboundRequestInfo & { cancel: CancelSource } {
    return {
      headers: exchange.headers,
      presentedKey: presented,
      screen: credentialScreen(deps.keys, presented),
      caller,
      debug: exchange.debug,
      cancel: exchange,
      requestId: exchange.requestId,
      get signal() {
        return exchange.signal;
      },
    };
  }

  async function passthrough(exchange: NodeExchange, serverName: string, form: McpPathForm): Promise<void> {
    const snapshot = deps.registry.current();
    const named = snapshot.byIdOrName(serverName);
    // `/{a},{b}/mcp` and `/{access_group}/mcp` name a set of servers: the aggregate serves them. A server's own name wins over a group's.
    if (named === undefined && (serverName.includes(",") || isAccessGroup(snapshot, serverName))) {
      exchange.route = "aggregate";
      exchange.serverLabel = "";
      return aggregate(exchange, serverName);
    }
    // An OpenAPI server has no MCP endpoint to pass through to: the gateway serves MCP for it, through the aggregate narrowed to it.
    if (named?.openapi !== undefined) {
      exchange.route = "aggregate";
      return aggregate(exchange, serverName, { server: named, form });
    }
    const errorId: ErrorId = { id: null };
    try {
      const targets = () => [serverName, ...(serversHeader(exchange) ?? [])];
      const authenticating = authenticate(exchange, targets, snapshot);
      const authenticated = authenticating instanceof Promise ? await authenticating : authenticating;
      const server = serverForCaller(snapshot, authenticated.caller, serverName);
      // A GET stream stays open for the whole session: max_streams_per_key bounds it, not max_parallel_requests.
      const slot = authenticated.caller.limits !== undefined && exchange.method !== "GET" ? await admit(exchange, authenticated.caller) : NOTHING_HELD;
      const read = exchange.method === "POST" ? await readJsonRpc(exchange, errorId) : undefined;
      if (read !== undefined) checkMirroredHeaders(exchange.headers, read.parsed);
      if (read !== undefined && authenticated.caller.limits !== undefined) await countToolCalls(authenticated.caller, toolCallCount(read.parsed));
      const metadataUrl = () => protectedResourceMetadataUrl(origin(exchange), server, form);
      const forward = () =>
        deps.passthrough.answer({
          snapshot,
          server,
          caller: authenticated.caller,
          inbound: exchange,
          presentedKey: authenticated.presented,
          screen: credentialScreen(deps.keys, authenticated.presented),
          body: read?.body,
          parsed: read?.parsed,
          resourceMetadataUrl: metadataUrl,
        });
      const answer = await continueFromMeta(traceMeta(read?.parsed), mcpMethod(read?.parsed) ?? exchange.method, () =>
        server.kind === "interactive" ? challengeOnMissingToken(metadataUrl, server, forward) : forward(),
      );
      streamStarts(read?.parsed, slot);
      if (exchange.method === "GET" || (read !== undefined && isListenRequest(read.parsed))) recheckWhileOpen(exchange, targets, authenticated.caller, server);
      await exchange.write(answer);
    } catch (error) {
      await exchange.fail(error, "jsonrpc", errorId.id);
    }
  }

  /**
   * `/mcp`, or a set of servers named by the path (`segment`: server names, ids, aliases or
   * access groups, comma-separated; the path wins over `x-mcp-servers`, as in LiteLLM).
   */
  async function aggregate(exchange: NodeExchange, segment?: string, own?: OwnEndpoint): Promise<void> {
    const errorId: ErrorId = { id: null };
    try {
      const targets = segment === undefined ? undefined : pathTargets(segment);
      const snapshot = deps.registry.current();
      const narrowTo = () => targets ?? narrowingHeaders(exchange);
      const authenticated = await authenticate(exchange, narrowTo, snapshot);
      if (exchange.method === "DELETE") {
        await exchange.write(await deps.aggregate.endSession({ snapshot, caller: authenticated.caller, inbound: inbound(exchange, authenticated) }));
        return;
      }
      // A stream outlives its request: it asks again, now and then, whether the key may still use it.
      const recheck = async () => {
        const current = deps.registry.current();
        return { caller: (await authenticate(exchange, narrowTo, current)).caller, snapshot: current };
      };
      if (exchange.method === "GET") {
        await exchange.write(await deps.aggregate.openStream({ snapshot, caller: authenticated.caller, narrowTo: narrowTo(), inbound: inbound(exchange, authenticated), recheck }));
        return;
      }
      if (exchange.method !== "POST") throw aggregateIsStateless();
      if (targets !== undefined && segment !== undefined) assertTargetsReachable(snapshot, authenticated.caller, targets, segment);
      if (own?.server.kind === "interactive") await challengeUnlessAuthorized(exchange, own, snapshot, inbound(exchange, authenticated));
      const { caller } = authenticated;
      const slot = caller.limits !== undefined ? await admit(exchange, caller) : NOTHING_HELD;
      const { parsed } = await readJsonRpc(exchange, errorId);
      if (caller.limits !== undefined) await countToolCalls(caller, toolCallCount(parsed));
      const answer = await continueFromMeta(traceMeta(parsed), mcpMethod(parsed) ?? "POST", () =>
        deps.aggregate.handle({
          snapshot,
          caller: authenticated.caller,
          narrowTo: narrowTo(),
          resourceMetadataUrl: (server) => aggregateResourceMetadataUrl(origin(exchange), server),
          inbound: inbound(exchange, authenticated),
          parsed,
          requestId: exchange.requestId,
          recheck,
          ...(own === undefined ? {} : { ownNames: true }),
        }),
      );
      streamStarts(parsed, slot);
      await exchange.write(answer);
    } catch (error) {
      await exchange.fail(error, "jsonrpc", errorId.id);
    }
  }

  /**
   * Step (the own endpoint of an interactive OpenAPI server): a user without a token for it
   * gets the 401 challenge an MCP server's pass-through answers, from which MCP clients start
   * OAuth; a JSON-RPC error inside a 200 would leave them nothing to start it from.
   */
  async function challengeUnlessAuthorized(exchange: NodeExchange, own: OwnEndpoint, snapshot: RegistrySnapshot, request: InboundRequestInfo): Promise<void> {
    const metadataUrl = () => protectedResourceMetadataUrl(origin(exchange), own.server, own.form);
    await challengeOnMissingToken(metadataUrl, own.server, async () => {
      await outboundRequest(own.server, snapshot, request, { forwardMcpHeaders: false });
    });
  }

  async function rest(exchange: NodeExchange, endpoint: string): Promise<void> {
    try {
      const authenticated = await authenticate(exchange);
      const { caller } = authenticated;
      if (caller.limits !== undefined) await admit(exchange, caller);
      const context: RestContext = { snapshot: deps.registry.current(), caller: authenticated.caller, requestId: exchange.requestId, inbound: inbound(exchange, authenticated) };
      let answer: HttpAnswer;
      if (endpoint === "tools/list" && (exchange.method === "GET" || exchange.method === "HEAD")) {
        const query = new URLSearchParams(exchange.query);
        answer = jsonAnswer(await deps.rest.list(context, query.get("server_name") ?? query.get("server_id") ?? undefined));
      } else if (endpoint === "tools/call" && exchange.method === "POST") {
        const body = parseCallToolBody(await exchange.readBody(deps.maxBodyBytes));
        if (caller.limits !== undefined) await countToolCalls(caller, 1);
        answer = jsonAnswer(await deps.rest.call(context, body));
      } else {
        throw noSuchRoute();
      }
      await exchange.write(answer);
    } catch (error) {
      await exchange.fail(error, "rest");
    }
  }

  return { passthrough, aggregate, rest };
}

/**
 * Step (interactive servers): without an upstream token for this caller, 401 with the
 * RFC 9728 challenge that makes MCP clients start OAuth (LiteLLM #29261 answered 500).
 */
async function challengeOnMissingToken<T>(metadataUrl: () => string, server: McpServerEntry, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof GatewayError) || error.code !== AUTHORIZATION_REQUIRED) throw error;
    const scope = server.config.scopes === undefined ? "" : `, scope="${server.config.scopes.join(" ")}"`;
    throw new GatewayError({
      status: 401,
      code: error.code,
      message: error.message,
      extra: error.extra,
      headers: { ...error.headers, "www-authenticate": `Bearer resource_metadata="${metadataUrl()}"${scope}` },
    });
  }
}

/** `/{server}/mcp` of a server the gateway serves itself (an OpenAPI server): its tools keep their own names. */
interface OwnEndpoint {
  server: McpServerEntry;
  form: McpPathForm;
}

const NOTHING_HELD = () => undefined;
const AUTHENTICATE_ATTRIBUTES = Object.freeze({ "gatehouse.step": "key resolution" });

/** A single request's `_meta`, where a 2026-07-28 client puts its trace context (`traceparent`, `tracestate`). */
function traceMeta(parsed: ParsedBody | undefined): unknown {
  if (parsed === undefined || parsed.isBatch || parsed.messages.length !== 1) return undefined;
  const message = parsed.messages[0]!;
  return "method" in message ? message.params?._meta : undefined;
}

function mcpMethod(parsed: ParsedBody | undefined): string | undefined {
  const message = parsed?.messages[0];
  return message !== undefined && "method" in message ? message.method : undefined;
}
const DEFAULT_STREAM_RECHECK_MS = 25_000;

function aggregateIsStateless(): GatewayError {
  return new GatewayError({
    status: 405,
    code: "method_not_allowed",
    message: "the aggregate /mcp endpoint takes JSON-RPC with POST; GET (a session's stream) and DELETE (the end of a session) with an Mcp-Session-Id",
    headers: { allow: "GET, POST, DELETE" },
  });
}
