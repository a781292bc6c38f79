/**
 * Everything but tools on the aggregate `/mcp`: resources, resource templates, prompts,
 * completions and logging of every server the caller may use, merged (README, "What /mcp
 * serves").
 *
 * - **Prompts** are named as tools are, `{alias or name}{separator}{prompt}`, and routed back
 *   by that prefix.
 * - **Resources** keep the URI the upstream gives them while it is unambiguous. Where two
 *   servers the caller may use offer the same URI (or the same URI template) in one listing,
 *   both are rewritten, reversibly, to `gatehouse://{server}/{uri}`; that form reaches the
 *   server whatever it names, so a client may always use it. A plain URI is routed by a
 *   table of what this instance listed for the caller (bounded), else by the servers' URI
 *   templates, else by listing every server's resources and templates once.
 * - **Lists** are paged across servers: each page holds one page of every server that has
 *   more, and the opaque cursor carries each server's own cursor. A server that fails is
 *   left out of the page (logged), as for tools.
 * - **logging/setLevel** goes to every server that offers logging.
 *
 * Access is the server's: a caller sees the resources and prompts of exactly the servers
 * it may use (keys, access groups, `x-mcp-servers`), as on the server's own route; tool
 * permissions (`allowed_tools`, a key's tool list) are about tools.
 */
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode, toGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { InboundRequestInfo } from "./outbound-headers.js";
import { ownsUpstreamSession, type UpstreamClients } from "./upstream-clients.js";
import { exposedName, matchExposedName } from "./tool-routing.js";
import type { ToolsClient } from "./upstream-session.js";
import { LOG_LEVELS } from "./modern-protocol.js";
import type { AggregateSession } from "./aggregate-session.js";
import { fanOut } from "./tool-listing.js";

export const RESOURCE_SCHEME = "gatehouse://";
/** The longest resource URI a subscription may name (a listen's each, a session's resources/subscribe): the gateway keeps them and asks for them again. */
export const MAX_SUBSCRIBED_URI_CHARS = 4096;

/** The request a catalog method serves: who asks, through which servers. */
export interface CatalogRequest {
  snapshot: RegistrySnapshot;
  caller: Caller;
  /** The servers the caller may use here (already narrowed by path and x-mcp-servers). */
  servers: readonly McpServerEntry[];
  /** The one server whose prompts keep their own names (tool-routing.ts `soleServer`), if any. */
  sole?: McpServerEntry | undefined;
  inbound: InboundRequestInfo;
  /** The aggregate session, when the client keeps one: its own upstream sessions are used. */
  session?: AggregateSession;
}

export interface CatalogDeps {
  clients: UpstreamClients;
  log: Logger;
  /** Upper bound for one upstream request made while listing. */
  listTimeoutMs: number;
  /** Pages taken from one server while looking for a URI (routing by listing). */
  maxDiscoveryPages?: number;
  /** URIs remembered per instance (routing table). */
  maxRoutes?: number;
  /** Milliseconds after a listing to find a URI before the same caller's next one may run (default 10 s). */
  discoveryCooldownMs?: number;
  /**
   * A session's `resources/subscribe` (or unsubscribe, `subscribed` false) where the session
   * has no upstream session of its own to hold it: at a 2026-07-28 server (which has no such
   * request) or a shared one (a stdio process, a caller's legacy SSE session). Kept for the
   * session, whose GET stream follows those URIs' updates only. Without, a 2026-07-28 server's
   * subscription is refused and a shared one's updates do not reach the session.
   */
  keptSubscription?: (session: AggregateSession, server: McpServerEntry, uri: string, subscribed: boolean) => Promise<void>;
  now?: () => number;
}

type Capability = "resources" | "prompts" | "logging" | "completions" | "tasks";

interface ListKind {
  method: "resources/list" | "resources/templates/list" | "prompts/list" | "tasks/list";
  /** The result's array. */
  field: "resources" | "resourceTemplates" | "prompts" | "tasks";
  capability: Capability;
}

const LISTS = {
  resources: { method: "resources/list", field: "resources", capability: "resources" },
  templates: { method: "resources/templates/list", field: "resourceTemplates", capability: "resources" },
  prompts: { method: "prompts/list", field: "prompts", capability: "prompts" },
  tasks: { method: "tasks/list", field: "tasks", capability: "tasks" },
} as const satisfies Record<string, ListKind>;

/** A cursor the gateway hands out may not be larger than this (its servers' cursors inside). */
const MAX_CURSOR_LENGTH = 32 * 1024;

/** `gatehouse://{server}/{uri}`, the reversible form of an upstream's URI (or URI template). */
export function gatewayUri(server: McpServerEntry, uri: string): string {
  return `${RESOURCE_SCHEME}${server.name}/${uri}`;
}

/** The server name and upstream URI of a `gatehouse://` URI, or undefined for any other. */
export function parseGatewayUri(uri: string): { server: string; uri: string } | undefined {
  if (!uri.startsWith(RESOURCE_SCHEME)) return undefined;
  const rest = uri.slice(RESOURCE_SCHEME.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  return { server: rest.slice(0, slash), uri: rest.slice(slash + 1) };
}

/** The opaque cursor of a merged list: every server's own cursor, by server name. */
export function encodeCursor(method: string, cursors: ReadonlyMap<string, string>): string | undefined {
  if (cursors.size === 0) return undefined;
  return Buffer.from(JSON.stringify({ m: method, s: Object.fromEntries(cursors) })).toString("base64url");
}

export function decodeCursor(method: string, cursor: unknown): Map<string, string> | undefined {
  if (cursor === undefined) return undefined;
  const invalid = () => new GatewayError({ status: 400, code: "invalid_params", message: `${method}: the cursor is not one this gateway gave for ${method}`, rpcCode: JsonRpcCode.InvalidParams });
  if (typeof cursor !== "string" || cursor.length > MAX_CURSOR_LENGTH) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const { m, s } = (decoded ?? {}) as { m?: unknown; s?: unknown };
  if (m !== method || typeof s !== "object" || s === null || Array.isArray(s)) throw invalid();
  const cursors = new Map<string, string>();
  for (const [name, value] of Object.entries(s)) {
    if (typeof value !== "string") throw invalid();
    cursors.set(name, value);
  }
  return cursors;
}

/**
 * A URI template (RFC 6570) as a matcher for URIs: `{var}` matches one path segment,
 * `{+var}` and `{#var}` anything, `{?a,b}` / `{&a}` an optional query part. Enough to tell
 * which server's template a URI came from.
 */
export function templateMatcher(template: string): RegExp | undefined {
  if (template.length > 1024) return undefined;
  let pattern = "^";
  let last = 0;
  for (const match of template.matchAll(/\{([+#./;?&]?)([^}]*)\}/g)) {
    pattern += escapeRegExp(template.slice(last, match.index));
    const operator = match[1];
    pattern += operator === "+" || operator === "#" ? ".*" : operator === "?" || operator === "&" ? "(?:[?&].*)?" : "[^/?#]*";
    last = match.index + match[0].length;
  }
  pattern += `${escapeRegExp(template.slice(last))}$`;
  try {
    return new RegExp(pattern, "s");
  } catch {
    return undefined;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One entry of the routing table: the server a caller's URI belongs to, or `null` when two servers offer it. */
type Route = string | null;

export function createCatalog(deps: CatalogDeps) {
  const maxRoutes = deps.maxRoutes ?? 20_000;
  const maxDiscoveryPages = deps.maxDiscoveryPages ?? 20;
  const discoveryCooldownMs = deps.discoveryCooldownMs ?? 10_000;
  const now = deps.now ?? Date.now;
  /**
   * caller subject + servers → its latest listing to find a URI (running, or when it ended):
   * each listing is up to 2 × maxDiscoveryPages requests to every server, so unknown URIs in
   * a loop must not start one each.
   */
  const discoveries = new Map<string, { pending?: Promise<void>; at: number }>();
  /** caller subject + URI (or template) → server name; least recently set first. */
  const routes = new Map<string, Route>();
  /** caller subject → the URI templates listed to it, by server. */
  const templates = new Map<string, Map<string, Array<{ template: string; matcher: RegExp }>>>();

  const routeKey = (caller: Caller, uri: string) => `${caller.subject}\0${uri}`;

  function remember(caller: Caller, uri: string, server: string): void {
    const key = routeKey(caller, uri);
    const known = routes.get(key);
    routes.delete(key);
    routes.set(key, known === undefined || known === server ? server : null);
    if (routes.size > maxRoutes) routes.delete(routes.keys().next().value!);
  }

  function rememberTemplates(caller: Caller, server: string, listed: readonly string[], replace: boolean): void {
    let mine = templates.get(caller.subject);
    if (mine === undefined) {
      if (templates.size >= 10_000) templates.delete(templates.keys().next().value!);
      mine = new Map();
      templates.set(caller.subject, mine);
    }
    const kept = replace ? [] : (mine.get(server) ?? []);
    for (const template of listed) {
      const matcher = templateMatcher(template);
      if (matcher !== undefined && kept.length < 256 && !kept.some((known) => known.template === template)) kept.push({ template, matcher });
    }
    mine.set(server, kept);
  }

  /** Runs `use` on the server's pooled client; undefined when the server does not offer `capability`. */
  async function withCapability<T>(request: CatalogRequest, server: McpServerEntry, capability: Capability, use: (client: ToolsClient) => Promise<T>): Promise<T | undefined> {
    return deps.clients.withClient(server, request.snapshot, request.inbound, async (client) => (client.capabilities?.[capability] === undefined ? undefined : use(client)), request.session);
  }

  const callOptions = (request: CatalogRequest, server: McpServerEntry, timeout = Math.min(server.timeoutMs, deps.listTimeoutMs)) => ({
    ...(request.inbound.cancel === undefined ? {} : { cancel: request.inbound.cancel }),
    timeout,
  });

  /** One merged page of `kind`: a page of every server that has one (more), items mapped by `mapItem`. */
  async function listPage(request: CatalogRequest, kind: ListKind, cursor: unknown): Promise<{ items: Array<{ server: McpServerEntry; item: Record<string, unknown> }>; nextCursor?: string }> {
    const resumed = decodeCursor(kind.method, cursor);
    const servers = resumed === undefined ? request.servers : request.servers.filter((server) => resumed.has(server.name));
    const settled = await fanOut(kind.method, servers, (server) => {
      const upstreamCursor = resumed?.get(server.name);
      return withCapability(request, server, kind.capability, (client) =>
        client.request(kind.method, upstreamCursor === undefined ? {} : { cursor: upstreamCursor }, callOptions(request, server)),
      );
    });
    const items: Array<{ server: McpServerEntry; item: Record<string, unknown> }> = [];
    const next = new Map<string, string>();
    settled.forEach((outcome, index) => {
      const server = servers[index]!;
      if (outcome.status === "rejected") {
        const error = toGatewayError(outcome.reason);
        deps.log.warn({ server: server.name, method: kind.method, code: error.code, detail: error.detail ?? error.message }, "a list request failed for an MCP server; its items are left out of the aggregated page");
        return;
      }
      const result = outcome.value;
      if (result === undefined) return;
      const listed = result[kind.field];
      if (!Array.isArray(listed)) {
        deps.log.warn({ server: server.name, method: kind.method }, `the ${kind.method} result of an MCP server holds no ${kind.field} list; left out`);
        return;
      }
      for (const item of listed) if (typeof item === "object" && item !== null && !Array.isArray(item)) items.push({ server, item: item as Record<string, unknown> });
      if (typeof result.nextCursor === "string" && result.nextCursor !== "") next.set(server.name, result.nextCursor);
    });
    const nextCursor = encodeCursor(kind.method, next);
    return nextCursor === undefined ? { items } : { items, nextCursor };
  }

  /** URIs (or templates) that more than one server offers in `items`, or that the table has for another server. */
  function ambiguous(caller: Caller, items: ReadonlyArray<{ server: McpServerEntry; item: Record<string, unknown> }>, field: "uri" | "uriTemplate"): Set<string> {
    const owner = new Map<string, string>();
    const clashes = new Set<string>();
    for (const { server, item } of items) {
      const uri = item[field];
      if (typeof uri !== "string") continue;
      const known = owner.get(uri) ?? routes.get(routeKey(caller, uri)) ?? undefined;
      if (known === null || (known !== undefined && known !== server.name)) clashes.add(uri);
      owner.set(uri, server.name);
    }
    return clashes;
  }

  async function listResources(request: CatalogRequest, cursor: unknown): Promise<Record<string, unknown>> {
    const { items, nextCursor } = await listPage(request, LISTS.resources, cursor);
    const clashes = ambiguous(request.caller, items, "uri");
    const resources = items.flatMap(({ server, item }) => {
      if (typeof item.uri !== "string") return [];
      remember(request.caller, item.uri, server.name);
      return [clashes.has(item.uri) ? { ...item, uri: gatewayUri(server, item.uri) } : item];
    });
    return nextCursor === undefined ? { resources } : { resources, nextCursor };
  }

  async function listTemplates(request: CatalogRequest, cursor: unknown): Promise<Record<string, unknown>> {
    const { items, nextCursor } = await listPage(request, LISTS.templates, cursor);
    const clashes = ambiguous(request.caller, items, "uriTemplate");
    const byServer = new Map<string, string[]>();
    const resourceTemplates = items.flatMap(({ server, item }) => {
      if (typeof item.uriTemplate !== "string") return [];
      remember(request.caller, item.uriTemplate, server.name);
      byServer.set(server.name, [...(byServer.get(server.name) ?? []), item.uriTemplate]);
      return [clashes.has(item.uriTemplate) ? { ...item, uriTemplate: gatewayUri(server, item.uriTemplate) } : item];
    });
    for (const [server, listed] of byServer) rememberTemplates(request.caller, server, listed, cursor === undefined);
    return nextCursor === undefined ? { resourceTemplates } : { resourceTemplates, nextCursor };
  }

  async function listPrompts(request: CatalogRequest, cursor: unknown): Promise<Record<string, unknown>> {
    const { items, nextCursor } = await listPage(request, LISTS.prompts, cursor);
    const prompts = items.flatMap(({ server, item }) => (typeof item.name === "string" ? [{ ...item, name: exposedName(request.sole, server, item.name) }] : []));
    return nextCursor === undefined ? { prompts } : { prompts, nextCursor };
  }

  /** Every server's tasks (those offering `tasks.list`), each task id made the caller's by `outward`. */
  async function listTasks(request: CatalogRequest, cursor: unknown, outward: (server: McpServerEntry, task: Record<string, unknown>) => Record<string, unknown>): Promise<Record<string, unknown>> {
    const { items, nextCursor } = await listPage(request, LISTS.tasks, cursor);
    const tasks = items.flatMap(({ server, item }) => (typeof item.taskId === "string" ? [outward(server, item)] : []));
    return nextCursor === undefined ? { tasks } : { tasks, nextCursor };
  }

  function serverNamed(request: CatalogRequest, name: string): McpServerEntry | undefined {
    const entry = request.snapshot.byIdOrName(name);
    return entry === undefined ? undefined : request.servers.find((server) => server.id === entry.id);
  }

  /** The servers whose remembered templates match `uri`. */
  function templateOwners(request: CatalogRequest, uri: string): string[] {
    const mine = templates.get(request.caller.subject);
    if (mine === undefined) return [];
    return [...mine].filter(([server, list]) => serverNamed(request, server) !== undefined && list.some(({ matcher }) => matcher.test(uri))).map(([server]) => server);
  }

  /** Lists every resource-offering server's resources and templates (bounded), filling the table. */
  async function discover(request: CatalogRequest): Promise<void> {
    let resourcesCursor: unknown;
    let templatesCursor: unknown;
    for (let page = 0; page < maxDiscoveryPages; page++) {
      const [resources, listedTemplates] = await Promise.all([
        resourcesCursor === null ? undefined : listResources(request, resourcesCursor),
        templatesCursor === null ? undefined : listTemplates(request, templatesCursor),
      ]);
      resourcesCursor = resources?.nextCursor ?? null;
      templatesCursor = listedTemplates?.nextCursor ?? null;
      if (resourcesCursor === null && templatesCursor === null) return;
    }
  }

  /** `discover`, at most once per cooldown per caller and set of servers; concurrent requests share the running one. */
  async function discoverOnce(request: CatalogRequest): Promise<void> {
    const key = `${request.caller.subject}\0${request.servers.map((server) => server.id).join("\0")}`;
    const last = discoveries.get(key);
    if (last?.pending !== undefined) return last.pending;
    if (last !== undefined && now() - last.at < discoveryCooldownMs) return;
    const entry: { pending?: Promise<void>; at: number } = { at: now() };
    entry.pending = discover(request).finally(() => {
      entry.at = now();
      delete entry.pending;
    });
    discoveries.delete(key);
    discoveries.set(key, entry);
    if (discoveries.size > 10_000) discoveries.delete(discoveries.keys().next().value!);
    return entry.pending;
  }

  /** The server a resource URI (or URI template) of this caller belongs to, and the URI to send it. */
  async function routeUri(request: CatalogRequest, uri: string, method: string): Promise<{ server: McpServerEntry; uri: string; rewritten: boolean }> {
    const explicit = parseGatewayUri(uri);
    if (explicit !== undefined) {
      const server = serverNamed(request, explicit.server);
      if (server === undefined) throw unknownResource(uri, `no MCP server '${explicit.server}' is available to this key here`);
      return { server, uri: explicit.uri, rewritten: true };
    }
    const find = (): McpServerEntry | undefined => {
      const route = routes.get(routeKey(request.caller, uri));
      if (route === null) throw ambiguousResource(uri, method);
      if (route !== undefined) return serverNamed(request, route);
      const owners = templateOwners(request, uri);
      if (owners.length > 1) throw ambiguousResource(uri, method, owners);
      return owners.length === 1 ? serverNamed(request, owners[0]!) : undefined;
    };
    let server = find();
    if (server === undefined) {
      await discoverOnce(request);
      server = find();
    }
    if (server === undefined) throw unknownResource(uri, "no MCP server available to this key lists it, or a URI template it matches");
    return { server, uri, rewritten: false };
  }

  async function readResource(request: CatalogRequest, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const uri = params.uri;
    if (typeof uri !== "string") throw invalidParams("resources/read needs params.uri (a string)");
    const route = await routeUri(request, uri, "resources/read");
    const result = await deps.clients.withClient(
      route.server,
      request.snapshot,
      request.inbound,
      (client) => client.request("resources/read", { ...params, uri: route.uri }, callOptions(request, route.server, route.server.timeoutMs)),
      request.session,
    );
    if (!route.rewritten || !Array.isArray(result.contents)) return result;
    // The contents name the URI the client asked for.
    return {
      ...result,
      contents: result.contents.map((content: unknown) =>
        typeof content === "object" && content !== null && typeof (content as { uri?: unknown }).uri === "string"
          ? { ...content, uri: gatewayUri(route.server, (content as { uri: string }).uri) }
          : content,
      ),
    };
  }

  /** `resources/subscribe` and `unsubscribe`, in a session only: the updates come on its GET stream. */
  async function subscription(request: CatalogRequest, params: Record<string, unknown>, method: "resources/subscribe" | "resources/unsubscribe"): Promise<Record<string, unknown>> {
    if (request.session === undefined) {
      throw new GatewayError({
        status: 400,
        code: "session_required",
        message: `${method} needs a session on /mcp: keep the Mcp-Session-Id that initialize gave, and open GET /mcp for the updates`,
        rpcCode: JsonRpcCode.InvalidRequest,
      });
    }
    const uri = params.uri;
    if (typeof uri !== "string") throw invalidParams(`${method} needs params.uri (a string)`);
    // A kept one is a row, sent with every listen of the session's stream and read again with its keep-alives: a URI up to the body's bound (MiB) was all of that too.
    if (uri.length > MAX_SUBSCRIBED_URI_CHARS) throw invalidParams(`${method}: params.uri may be at most ${MAX_SUBSCRIBED_URI_CHARS} characters`);
    const route = await routeUri(request, uri, method);
    return deps.clients.withClient(
      route.server,
      request.snapshot,
      request.inbound,
      async (client) => {
        const resources = client.capabilities?.resources as { subscribe?: unknown } | undefined;
        if (resources?.subscribe !== true) {
          throw new GatewayError({ status: 400, code: "subscriptions_not_offered", message: `MCP server '${route.server.name}' does not offer resource subscriptions`, rpcCode: JsonRpcCode.MethodNotFound });
        }
        const subscribed = method === "resources/subscribe";
        if (client.speaksModern === true && deps.keptSubscription !== undefined) return deps.keptSubscription(request.session!, route.server, route.uri, subscribed).then(() => ({}));
        if (ownsUpstreamSession(route.server) || deps.keptSubscription === undefined) return client.request(method, { ...params, uri: route.uri }, callOptions(request, route.server, route.server.timeoutMs));
        // Shared upstream session: subscribed there (never unsubscribed: another session may want it), kept for this one.
        if (subscribed) await client.request(method, { ...params, uri: route.uri }, callOptions(request, route.server, route.server.timeoutMs));
        await deps.keptSubscription(request.session!, route.server, route.uri, subscribed);
        return {};
      },
      request.session,
    );
  }

  /** A prompt's server and its upstream name, from `{prefix}{prompt}`. */
  function routePrompt(request: CatalogRequest, name: unknown, method: string): { server: McpServerEntry; name: string } {
    if (typeof name !== "string") throw invalidParams(`${method} needs the prompt's name (a string)`);
    const match = matchExposedName(request.snapshot, request.servers, request.sole, name);
    if (match === undefined) {
      throw new GatewayError({
        status: 404,
        code: "unknown_prompt",
        message: `unknown prompt '${name}': aggregated prompts are named '{server}-{prompt}', the server's alias in place of its name where it has one (see prompts/list)`,
        rpcCode: JsonRpcCode.InvalidParams,
      });
    }
    return match;
  }

  async function getPrompt(request: CatalogRequest, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const route = routePrompt(request, params.name, "prompts/get");
    return deps.clients.withClient(
      route.server,
      request.snapshot,
      request.inbound,
      (client) => client.request("prompts/get", { ...params, name: route.name }, callOptions(request, route.server, route.server.timeoutMs)),
      request.session,
    );
  }

  async function complete(request: CatalogRequest, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const ref = params.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
    let server: McpServerEntry;
    let upstreamRef: Record<string, unknown>;
    if (ref?.type === "ref/prompt") {
      const route = routePrompt(request, ref.name, "completion/complete");
      server = route.server;
      upstreamRef = { ...ref, name: route.name };
    } else if (ref?.type === "ref/resource" && typeof ref.uri === "string") {
      const route = await routeUri(request, ref.uri, "completion/complete");
      server = route.server;
      upstreamRef = { ...ref, uri: route.uri };
    } else {
      throw invalidParams("completion/complete needs params.ref: {type: 'ref/prompt', name} or {type: 'ref/resource', uri}");
    }
    return deps.clients.withClient(
      server,
      request.snapshot,
      request.inbound,
      (client) =>
        client.capabilities?.completions === undefined
          ? Promise.resolve({ completion: { values: [], hasMore: false } })
          : client.request("completion/complete", { ...params, ref: upstreamRef }, callOptions(request, server, server.timeoutMs)),
      request.session,
    );
  }

  /**
   * `logging/setLevel` to every server of an earlier revision that offers logging (a
   * 2026-07-28 one takes the level with each request instead); the ones that fail are
   * logged, not fatal.
   */
  async function setLevel(request: CatalogRequest, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (typeof params.level !== "string" || !LOG_LEVELS.includes(params.level)) throw invalidParams(`logging/setLevel needs params.level, one of ${LOG_LEVELS.join(", ")}`);
    const settled = await Promise.allSettled(
      request.servers.map((server) => withCapability(request, server, "logging", async (client) => (client.speaksModern === true ? {} : client.request("logging/setLevel", params, callOptions(request, server))))),
    );
    settled.forEach((outcome, index) => {
      if (outcome.status === "rejected") {
        const error = toGatewayError(outcome.reason);
        deps.log.warn({ server: request.servers[index]!.name, code: error.code, detail: error.detail ?? error.message }, "logging/setLevel failed for an MCP server");
      }
    });
    return {};
  }

  return {
    /** A resource URI as a caller names it: its server and the URI that server knows it by. */
    route: async (request: CatalogRequest, uri: string, method: string) => {
      const { server, uri: upstream } = await routeUri(request, uri, method);
      return { server, uri: upstream };
    },
    listTasks,
    listResources,
    listTemplates,
    listPrompts,
    readResource,
    subscribe: (request: CatalogRequest, params: Record<string, unknown>) => subscription(request, params, "resources/subscribe"),
    unsubscribe: (request: CatalogRequest, params: Record<string, unknown>) => subscription(request, params, "resources/unsubscribe"),
    getPrompt,
    complete,
    setLevel,
  };
}

export type Catalog = ReturnType<typeof createCatalog>;

function invalidParams(message: string): GatewayError {
  return new GatewayError({ status: 400, code: "invalid_params", message, rpcCode: JsonRpcCode.InvalidParams });
}

/** -32002, the code MCP gives an unknown resource. */
function unknownResource(uri: string, why: string): GatewayError {
  return new GatewayError({
    status: 404,
    code: "unknown_resource",
    message: `Resource not found: ${uri.slice(0, 512)} (${why}; see resources/list, or use ${RESOURCE_SCHEME}{server}/{uri})`,
    rpcCode: RESOURCE_NOT_FOUND,
  });
}

function ambiguousResource(uri: string, method: string, servers?: readonly string[]): GatewayError {
  return new GatewayError({
    status: 400,
    code: "ambiguous_resource",
    message: `${method}: more than one MCP server offers ${uri.slice(0, 512)}${servers === undefined ? "" : ` (${servers.join(", ")})`}; name the server with ${RESOURCE_SCHEME}{server}/{uri}`,
    rpcCode: JsonRpcCode.InvalidParams,
  });
}

const RESOURCE_NOT_FOUND = -32002;
