/**
 * `subscriptions/listen` on the aggregate `/mcp`, for 2026-07-28 clients (README,
 * "2026-07-28 clients on /mcp"): one long-lived SSE answer that carries the change
 * notifications the client opted in to, from every server it may use.
 *
 * The stream starts with `notifications/subscriptions/acknowledged` (the subset honoured:
 * the list changes asked for, and the resource URIs the gateway could route to a server),
 * and every message on it carries the subscription id (the request's JSON-RPC id) in
 * `_meta`. Behind it, each streamable-HTTP server is followed on an upstream session of the
 * listen's own (`UpstreamClients.listen`): a 2026-07-28 server with its own
 * `subscriptions/listen` and the part of the filter that is its own; an earlier one with
 * `resources/subscribe` for its URIs and its GET stream. Only the notification types asked
 * for reach the client; a resource update names the URI the client subscribed to. When a
 * server's stream is lost, and again when it is back, the client is told its lists changed.
 * When the gateway ends the stream (the key may no longer use it, shutdown), it answers the
 * request with `resultType: "complete"` first.
 */
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { HttpAnswer } from "../exchange.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { MAX_SUBSCRIBED_URI_CHARS } from "./aggregate-catalog.js";
import type { AggregateStreams } from "./aggregate-stream.js";
import type { JsonRpcId } from "./jsonrpc.js";
import type { InboundRequestInfo } from "./outbound-headers.js";
import type { UpstreamClients } from "./upstream-clients.js";
import { SUBSCRIPTIONS_ACKNOWLEDGED, SUBSCRIPTION_ID_META, type ServerMessage, type SubscriptionFilter } from "./upstream-session.js";

/** Resource URIs one listen may name (each is a `resources/subscribe` at its server). */
const MAX_RESOURCE_SUBSCRIPTIONS = 256;

const LIST_FLAGS = {
  toolsListChanged: "notifications/tools/list_changed",
  promptsListChanged: "notifications/prompts/list_changed",
  resourcesListChanged: "notifications/resources/list_changed",
} as const;
type ListFlag = keyof typeof LIST_FLAGS;
const RESOURCE_UPDATED = "notifications/resources/updated";

export interface ListenRequest {
  snapshot: RegistrySnapshot;
  caller: Caller;
  servers: readonly McpServerEntry[];
  inbound: InboundRequestInfo;
  /** The `subscriptions/listen` request's id: the subscription's id. */
  id: JsonRpcId;
  params: Record<string, unknown>;
  /** A resource URI as the client names it: its server and the URI that server knows it by (throws when none). */
  routeUri(uri: string): Promise<{ server: McpServerEntry; uri: string }>;
  /** Whether the stream may go on (the key still authenticates and may use every server of it). */
  stillAllowed?: () => Promise<boolean>;
  /** The gateway's identity, on the closing result as on every result of this revision. */
  serverInfo: { name: string; version: string };
}

/** The filter a client sent, checked: invalid params (-32602) for anything else. */
export function parseFilter(params: Record<string, unknown>): SubscriptionFilter {
  const notifications = params.notifications;
  if (typeof notifications !== "object" || notifications === null || Array.isArray(notifications)) {
    throw invalidFilter("subscriptions/listen needs params.notifications (an object naming the notification types wanted)");
  }
  const asked = notifications as Record<string, unknown>;
  const filter: SubscriptionFilter = {};
  for (const flag of Object.keys(LIST_FLAGS) as ListFlag[]) {
    const value = asked[flag];
    if (value !== undefined && typeof value !== "boolean") throw invalidFilter(`subscriptions/listen: notifications.${flag} must be a boolean`);
    if (value === true) filter[flag] = true;
  }
  const uris = asked.resourceSubscriptions;
  if (uris !== undefined) {
    if (!Array.isArray(uris) || !uris.every((uri): uri is string => typeof uri === "string" && uri.length > 0 && uri.length <= MAX_SUBSCRIBED_URI_CHARS)) {
      throw invalidFilter(`subscriptions/listen: notifications.resourceSubscriptions must be a list of URIs (strings of at most ${MAX_SUBSCRIBED_URI_CHARS} characters)`);
    }
    if (uris.length > MAX_RESOURCE_SUBSCRIPTIONS) throw invalidFilter(`subscriptions/listen: at most ${MAX_RESOURCE_SUBSCRIPTIONS} resourceSubscriptions per subscription`);
    if (uris.length > 0) filter.resourceSubscriptions = [...new Set(uris)];
  }
  return filter;
}

export function createListens(deps: { clients: UpstreamClients; streams: AggregateStreams }) {
  /** Answers a `subscriptions/listen`: the acknowledged stream of the notifications asked for. */
  async function listen(request: ListenRequest): Promise<HttpAnswer> {
    const filter = parseFilter(request.params);
    const subscription = { [SUBSCRIPTION_ID_META]: request.id };
    const lists = (Object.keys(LIST_FLAGS) as ListFlag[]).filter((flag) => filter[flag] === true);
    // Each URI to its server (unknown and ambiguous ones are left out of the acknowledgment: not honoured).
    const routed = new Map<string, Map<string, string>>();
    const honouredUris: string[] = [];
    for (const uri of filter.resourceSubscriptions ?? []) {
      const route = await request.routeUri(uri).catch(() => undefined);
      if (route === undefined) continue;
      let mine = routed.get(route.server.name);
      if (mine === undefined) routed.set(route.server.name, (mine = new Map()));
      mine.set(route.uri, uri);
      honouredUris.push(uri);
    }
    const honoured: SubscriptionFilter = {
      ...Object.fromEntries(lists.map((flag) => [flag, true])),
      ...(honouredUris.length === 0 ? {} : { resourceSubscriptions: honouredUris }),
    };
    const opening = { jsonrpc: "2.0", method: SUBSCRIPTIONS_ACKNOWLEDGED, params: { _meta: subscription, notifications: honoured } };
    const closing = { jsonrpc: "2.0", id: request.id, result: { resultType: "complete", _meta: { ...subscription, "io.modelcontextprotocol/serverInfo": request.serverInfo } } };
    const listsChanged = () => lists.map((flag) => ({ jsonrpc: "2.0", method: LIST_FLAGS[flag], params: { _meta: subscription } }));
    /** What one server is asked for: the list changes, and its own URIs as it knows them. */
    const filterFor = (server: McpServerEntry): SubscriptionFilter => {
      const uris = [...(routed.get(server.name)?.keys() ?? [])];
      return { ...Object.fromEntries(lists.map((flag) => [flag, true])), ...(uris.length === 0 ? {} : { resourceSubscriptions: uris }) };
    };
    // A server that could send nothing the client asked for is not followed.
    const servers = request.servers.filter((server) => lists.length > 0 || routed.has(server.name));
    const { answer } = deps.streams.fanIn({
      caller: request.caller,
      inbound: request.inbound,
      servers,
      ...(request.stillAllowed === undefined ? {} : { stillAllowed: request.stillAllowed }),
      opening,
      closing,
      follow: (server, onMessage, options) => deps.clients.listen(server, request.snapshot, request.inbound, filterFor(server), onMessage, options),
      forward: (server, message) => forwarded(server, message),
      listsChanged,
      // Nothing to follow (no server): acknowledged, then ended at once.
      nothingToFollow: () => ({
        status: 200,
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        body: [opening, closing].map((message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`).join(""),
      }),
    });
    return answer;

    /** An upstream's notification as this subscription's client gets it, or undefined when it was not asked for. */
    function forwarded(server: McpServerEntry, message: ServerMessage): Record<string, unknown> | undefined {
      if (message.id !== undefined) return undefined;
      const flag = (Object.keys(LIST_FLAGS) as ListFlag[]).find((name) => LIST_FLAGS[name] === message.method);
      if (flag !== undefined) return filter[flag] === true ? { jsonrpc: "2.0", method: message.method, params: { _meta: subscription } } : undefined;
      if (message.method !== RESOURCE_UPDATED || typeof message.params?.uri !== "string") return undefined;
      const asked = routed.get(server.name)?.get(message.params.uri);
      if (asked === undefined) return undefined;
      // The URI as the client named it, and nothing of the upstream's own: its other params could be of any size (past the stream's bound) or carry text the scrubber does not know.
      return { jsonrpc: "2.0", method: RESOURCE_UPDATED, params: { uri: asked, _meta: subscription } };
    }
  }

  return { listen };
}

export type Listens = ReturnType<typeof createListens>;

function invalidFilter(message: string): GatewayError {
  return new GatewayError({ status: 400, code: "invalid_params", message, rpcCode: JsonRpcCode.InvalidParams });
}
