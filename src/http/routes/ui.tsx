/**
 * The admin web UI at `/ui` (issue 8): server-rendered pages (hono/jsx) with plain HTML
 * forms and one small script. Sign-in with a gateway key opens a database session
 * (`ui/session.ts`); every form carries the session's CSRF token; pages cannot be framed.
 * Admin pages (adding servers, keys) need the master key; a virtual key sees and uses
 * the servers it may use, and connects its own OAuth accounts.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Child } from "hono/jsx";
import { callerUserKey, seenFrom } from "../../auth/inbound/caller.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import type { KeyAdmin, ListedKey } from "../../auth/inbound/key-admin.js";
import type { KeyLimiter } from "../../auth/inbound/key-limits.js";
import { AUTHORIZATION_REQUIRED } from "../../auth/upstream/oauth2-interactive.js";
import { clientMessage, GatewayError, toGatewayError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { serverForCaller, serversForCaller } from "../../mcp/access.js";
import type { Aggregate } from "../../mcp/aggregate.js";
import type { UserConnections } from "../../oauth/connections.js";
import type { OriginSettings } from "../../oauth/public-origin.js";
import type { DatabaseRegistry } from "../../registry/database-registry.js";
import type { ServerAdmin } from "../../registry/server-admin.js";
import type { McpServerEntry } from "../../registry/server-entry.js";
import { isActivityRange } from "../../observability/activity.js";
import { parseCursor, type AuditTrail } from "../../observability/audit.js";
import type { AuditQuery } from "../../store/audit-repository.js";
import { activityContentSecurityPolicy, uplotAssets, UPLOT_PATH } from "../../ui/activity-assets.js";
import { UI_CONTENT_SECURITY_POLICY } from "../../ui/assets.js";
import { ActivityEventPage, ActivityPage, activityQuery, type ActivityFilters } from "../../ui/pages/activity.js";
import { Page, type Viewer } from "../../ui/layout.js";
import { KeysPage, type KeysPageProps } from "../../ui/pages/keys.js";
import { ConnectionsPage, type ConnectionsPageProps } from "../../ui/pages/connections.js";
import { LoginPage } from "../../ui/pages/login.js";
import { ServerOverviewPage, ServerToolsPage, type Connection, type ServerSummary, type ToolsState } from "../../ui/pages/server.js";
import { ServerFormPage, ServersPage, type Health, type ServerRow } from "../../ui/pages/servers.js";
import { ToolChangesPage } from "../../ui/pages/tool-changes.js";
import { visibleText } from "../../ui/visible-text.js";
import type { ToolChangeAdmin } from "../../mcp/tool-changes.js";
import { actorOf } from "./tool-changes.js";
import { formStateFromError, formValues, formValuesFromView, serverBodyFromForm } from "../../ui/server-form.js";
import { SESSION_COOKIE, type UiSession, type UiSessions } from "../../ui/session.js";
import { parseToolArguments } from "../../ui/tool-form.js";
import { exchangeOf, type AppEnv } from "../env.js";
import { peerAddress } from "../middleware/authenticate.js";
import { readBody } from "../read-body.js";
import { summaryQuery } from "./observability.js";
import { requestOrigin } from "./oauth.js";
import { HEALTH_TIMEOUT_MS, ownCall } from "../own-calls.js";

/** The signed-in user's tokens for interactive servers. */
export interface UiConnections extends Pick<UserConnections, "list" | "counts" | "disconnect"> {
  expiresAt(serverId: string, userKey: string): Promise<{ connected: boolean; expiresAt?: number }>;
}

export interface UiRouteDeps {
  sessions: UiSessions;
  registry: DatabaseRegistry;
  serverAdmin: ServerAdmin;
  keyAdmin: KeyAdmin;
  aggregate: Aggregate;
  /** The keys' rpm_limit and max_parallel_requests: a tool call from the tools page counts as on the MCP routes. */
  limits: KeyLimiter;
  connections: UiConnections;
  /** The audit trail: the activity page lists it and charts it. */
  audit: AuditTrail;
  origin: OriginSettings;
  network: CallerNetwork;
  log: Logger;
  maxBodyBytes: number;
  /** Tool pinning's changes and decisions (the Tool changes page); without, the page is not served. */
  toolChanges?: ToolChangeAdmin;
}

const LOGIN_CSRF_COOKIE = "gatehouse_login_csrf";

const SECURITY_HEADERS = {
  "content-security-policy": UI_CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

type UiContext = Context<AppEnv>;

/**
 * What a disconnect did, in words: the tokens are always gone here; the revocation upstream
 * may not be. `reconnecting`: a Reconnect that stopped there, before signing in again.
 */
function disconnectedText(serverName: string, revocation: string | undefined, reconnecting = false): string {
  if (revocation === "not_connected") return `There was no connection to ${serverName} to disconnect (it was already gone).`;
  const deleted = `Disconnected from ${serverName}: your tokens were deleted from the gateway`;
  if (revocation === "revoked") return `${deleted} and revoked at its authorization server.`;
  if (revocation === "failed") {
    const failed = `${deleted}, but its authorization server did not confirm the revocation. To be sure, revoke the gateway's access in your account there.`;
    return reconnecting ? `${failed} Reconnect stopped before signing in again: press Connect to sign in.` : failed;
  }
  return `${deleted}. Its authorization server offers no revocation: the grant there ends when its tokens expire.`;
}

function connectionNotice(query: Record<string, string>, nameOf: (id: string) => string): ConnectionsPageProps["notice"] {
  if (query.missing !== undefined) return { kind: "warn", text: "There was no connection to disconnect (it was already gone)." };
  if (query.disconnected !== undefined) return { kind: query.revocation === "failed" ? "error" : "ok", text: disconnectedText(nameOf(query.disconnected), query.revocation, query.reconnect !== undefined) };
  if (query.connected !== undefined) return { kind: "ok", text: `Connected to ${nameOf(query.connected)}: the gateway now calls it with your account.` };
  return undefined;
}

export function uiRoutes(deps: UiRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const secure = (c: UiContext) => requestOrigin(deps.origin, c).startsWith("https:");

  function html(page: Child, status = 200, csp = UI_CONTENT_SECURITY_POLICY): Response {
    return new Response(`<!doctype html>${String(page)}`, { status, headers: { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS, "content-security-policy": csp } });
  }
  const seeOther = (location: string) => new Response(null, { status: 303, headers: { location, ...SECURITY_HEADERS } });
  /** `response` with the cookies set (or deleted) on the context: it is built by hand, not by Hono. */
  const withCookies = (c: UiContext, response: Response) => {
    for (const cookie of c.res.headers.getSetCookie()) response.headers.append("set-cookie", cookie);
    return response;
  };

  /** The session of this request with the caller as this request's network sees it, or a redirect to sign in. */
  async function session(c: UiContext): Promise<UiSession | Response> {
    const id = getCookie(c, SESSION_COOKIE);
    const found = id === undefined ? undefined : await deps.sessions.resolve(id);
    if (found === undefined) {
      const next = new URL(c.req.url).pathname;
      return seeOther(`/ui/login${c.req.method === "GET" && next.startsWith("/ui/") ? `?next=${encodeURIComponent(next)}` : ""}`);
    }
    const fromPublicInternet = deps.network.fromPublicInternet(peerAddress(c), c.req.raw.headers);
    return { ...found, caller: seenFrom(found.caller, fromPublicInternet) };
  }

  async function form(c: UiContext): Promise<URLSearchParams> {
    return new URLSearchParams(await readBody(c.req.raw, deps.maxBodyBytes));
  }

  /** A POST of a signed-in user: the form, once its CSRF token checks out. */
  async function checkedForm(c: UiContext): Promise<URLSearchParams> {
    const body = await form(c);
    if (!deps.sessions.checkCsrf(getCookie(c, SESSION_COOKIE) ?? "", body.get("csrf") ?? undefined)) {
      throw new GatewayError({ status: 403, code: "csrf", message: "This form is out of date (or was sent from another site). Go back, reload the page, and try again." });
    }
    return body;
  }

  function viewer(current: UiSession): Viewer {
    const caller = current.caller;
    return { label: caller.kind === "master" ? "the master key" : `key ${caller.keyId}`, isAdmin: caller.kind === "master", csrf: current.csrf };
  }

  function requireAdmin(current: UiSession): void {
    if (current.caller.kind !== "master") throw new GatewayError({ status: 403, code: "forbidden", message: "This page needs the master key: sign in with it to manage servers and keys." });
  }

  /** Runs a signed-in page; errors become a readable page, never a stack or a JSON body. */
  const page = (handler: (c: UiContext, current: UiSession) => Promise<Response>) => async (c: UiContext) => {
    const current = await session(c);
    if (current instanceof Response) return current;
    try {
      return await handler(c, current);
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.status >= 500) deps.log.warn({ code: failure.code, detail: failure.detail ?? failure.message, path: c.req.path }, "UI page failed");
      return html(<Page title="Something went wrong" viewer={viewer(current)}>
          <h1>{failure.status === 404 ? "Not found" : failure.status === 403 ? "Not allowed" : "Something went wrong"}</h1>
          <div class="alert error" role="alert">
            {clientMessage(failure)}
          </div>
          <p>
            <a href="/ui/mcp/servers">Back to MCP Servers</a>
          </p>
        </Page>,
        failure.status,
      );
    }
  };

  app.get("/favicon.ico", () => new Response(null, { status: 204, headers: { "cache-control": "public, max-age=86400" } }));
  app.get("/ui", () => seeOther("/ui/mcp/servers"));
  app.get("/ui/", () => seeOther("/ui/mcp/servers"));

  // --- sign in / out ---------------------------------------------------------------------

  function loginPage(c: UiContext, options: { error?: string; next?: string; loggedOut?: boolean } = {}, status = 200): Response {
    // Login CSRF: a random token in a cookie and in the form must match (double submit).
    const token = randomBytes(24).toString("base64url");
    setCookie(c, LOGIN_CSRF_COOKIE, token, { path: "/ui/login", httpOnly: true, sameSite: "Strict", secure: secure(c), maxAge: 3600 });
    return withCookies(c, html(<LoginPage csrf={token} {...options} />, status));
  }

  app.get("/ui/login", (c) => {
    const next = c.req.query("next");
    return loginPage(c, { ...(next === undefined ? {} : { next }), ...(c.req.query("logged_out") === "1" ? { loggedOut: true } : {}) });
  });

  app.post("/ui/login", async (c) => {
    const body = await form(c);
    const expected = getCookie(c, LOGIN_CSRF_COOKIE) ?? "";
    const given = body.get("csrf") ?? "";
    const next = safeNext(body.get("next"));
    if (expected === "" || given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
      return loginPage(c, { error: "The sign-in form expired. Enter the key again.", ...(next === undefined ? {} : { next }) }, 400);
    }
    let opened: Awaited<ReturnType<UiSessions["login"]>>;
    try {
      opened = await deps.sessions.login((body.get("key") ?? "").replace(/^bearer\s+/i, "").trim());
    } catch (error) {
      const failure = toGatewayError(error);
      if (failure.status !== 401) throw error;
      return loginPage(c, { error: clientMessage(failure), ...(next === undefined ? {} : { next }) }, 401);
    }
    if (opened === undefined) return loginPage(c, { error: "This key is not valid: use the master key or a virtual key.", ...(next === undefined ? {} : { next }) }, 401);
    const response = seeOther(next ?? "/ui/mcp/servers");
    setCookie(c, SESSION_COOKIE, opened.cookie, { path: "/", httpOnly: true, sameSite: "Lax", secure: secure(c), expires: new Date(opened.session.expiresAt) });
    deleteCookie(c, LOGIN_CSRF_COOKIE, { path: "/ui/login" });
    withCookies(c, response);
    deps.log.info({ subject: opened.session.caller.kind === "master" ? "master" : opened.session.caller.keyId }, "UI sign-in");
    return response;
  });

  app.post(
    "/ui/logout",
    page(async (c) => {
      await checkedForm(c);
      await deps.sessions.logout(getCookie(c, SESSION_COOKIE) ?? "");
      deleteCookie(c, SESSION_COOKIE, { path: "/", secure: secure(c) });
      return withCookies(c, seeOther("/ui/login?logged_out=1"));
    }),
  );

  // --- Activity (admins) -----------------------------------------------------------------

  const uplotHeaders = { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" };
  // Public: a released library, the same for everyone; versioned by `?v=` in the page.
  app.get(UPLOT_PATH, () => new Response(uplotAssets().script, { headers: uplotHeaders }));

  app.get(
    "/ui/activity",
    page(async (c, current) => {
      requireAdmin(current);
      const query = c.req.query();
      const filters = activityFilters(query);
      const range = query.range !== undefined && isActivityRange(query.range) ? query.range : "hour";
      const servers = [...deps.registry.current().servers.values()].map((server) => server.name).sort();
      const summary = await deps.audit.summary(range, filters.server === "" ? undefined : filters.server);
      const uplot = uplotAssets();
      const shown = { viewer: viewer(current), servers, filters, range, summary, uplot };
      const csp = activityContentSecurityPolicy(requestOrigin(deps.origin, c));
      const listed = activityListQuery(filters, query.cursor, Date.now());
      if (typeof listed === "string") return html(<ActivityPage {...shown} events={[]} paged={false} error={listed} />, 400, csp);
      const { events, next } = await deps.audit.list(listed);
      const nextQuery = next === undefined ? undefined : activityQuery({ ...filters, range, cursor: next });
      return html(<ActivityPage {...shown} events={events} paged={listed.after !== undefined} {...(nextQuery === undefined ? {} : { nextQuery })} />, 200, csp);
    }),
  );

  app.get(
    "/ui/activity/events/:id",
    page(async (c, current) => {
      requireAdmin(current);
      const event = await deps.audit.find(c.req.param("id") ?? "");
      if (event === undefined) throw new GatewayError({ status: 404, code: "not_found", message: "No such event in the audit trail (it may have been deleted after audit_retention_days)." });
      return html(<ActivityEventPage viewer={viewer(current)} event={event} />);
    }),
  );

  // The summary for a signed-in admin's browser (what `/v1/mcp/activity/summary` answers to the master key).
  app.get("/ui/activity/summary", async (c) => {
    const current = await session(c);
    if (current instanceof Response) return current;
    requireAdmin(current);
    const { range, server } = summaryQuery(c.req.query());
    return c.json(await deps.audit.summary(range, server), 200, { "cache-control": "no-store" });
  });

  // --- MCP Servers -----------------------------------------------------------------------


  async function healthOf(current: UiSession, servers: McpServerEntry[]): Promise<Map<string, Health>> {
    const signal = AbortSignal.timeout(HEALTH_TIMEOUT_MS);
    const { lists, failures } = await deps.aggregate.listToolsSettled(deps.registry.current(), current.caller, servers, ownCall(current.caller, signal));
    const health = new Map<string, Health>();
    for (const list of lists) health.set(list.server.id, { state: "ok", tools: list.tools.length });
    for (const failure of failures) {
      health.set(failure.server.id, failure.error.code === AUTHORIZATION_REQUIRED ? { state: "not-connected" } : { state: "error", message: describe(failure.error) });
    }
    return health;
  }

  app.get(
    "/ui/mcp/servers",
    page(async (c, current) => {
      const servers = serversForCaller(deps.registry.current(), current.caller);
      const admin = current.caller.kind === "master";
      const [health, recent] = await Promise.all([healthOf(current, servers), admin ? deps.audit.recentByServer() : undefined]);
      const rows: ServerRow[] = servers.map((server) => ({
        id: server.id,
        name: server.name,
        url: shownUrl(server),
        transport: server.config.transport,
        authType: server.config.auth_type,
        source: server.source,
        ...(typeof server.mcpInfo.description === "string" ? { description: server.mcpInfo.description } : {}),
        accessGroups: server.accessGroups,
        health: health.get(server.id) ?? { state: "error", message: "no answer" },
        warnings: server.warnings,
        ...(recent === undefined ? {} : { recent: recent.get(server.name) ?? null }),
      }));
      const deleted = c.req.query("deleted");
      const problems = current.caller.kind === "master" ? deps.registry.problems() : [];
      const toolChanges = current.caller.kind === "master" && deps.toolChanges !== undefined ? (await deps.toolChanges.list(deps.registry.current())).length : 0;
      return html(<ServersPage viewer={viewer(current)} rows={rows} problems={problems} toolChanges={toolChanges} {...(deleted === undefined ? {} : { notice: `MCP server ${deleted} was deleted.` })} />);
    }),
  );

  app.get(
    "/ui/mcp/servers/new",
    page(async (c, current) => {
      requireAdmin(current);
      return html(<ServerFormPage viewer={viewer(current)} mode="create" state={{ values: { transport: "http", auth_type: "none" }, errors: {}, general: [] }} />);
    }),
  );

  app.post(
    "/ui/mcp/servers",
    page(async (c, current) => {
      requireAdmin(current);
      const submitted = await checkedForm(c);
      const { body, errors } = serverBodyFromForm(submitted);
      const values = formValues(submitted);
      if (Object.keys(errors).length > 0) return html(<ServerFormPage viewer={viewer(current)} mode="create" state={{ values, errors, general: [] }} />, 400);
      try {
        const created = await deps.serverAdmin.create(body);
        return seeOther(`/ui/mcp/servers/${encodeURIComponent(created.server_id)}?created=1`);
      } catch (error) {
        if (!(error instanceof GatewayError) || error.status !== 400) throw error;
        return html(<ServerFormPage viewer={viewer(current)} mode="create" state={formStateFromError(values, error)} />, 400);
      }
    }),
  );

  function summary(server: McpServerEntry): ServerSummary {
    return {
      id: server.id,
      name: server.name,
      url: shownUrl(server),
      transport: server.config.transport,
      authType: server.kind === "stdio" ? "none" : server.config.auth_type,
      ...(server.config.auth_type === "oauth2" && server.kind !== "stdio" ? { oauthFlow: server.kind === "client_credentials" ? "client_credentials" : "authorization_code" } : {}),
      ...(typeof server.mcpInfo.description === "string" ? { description: server.mcpInfo.description } : {}),
      ...(server.alias === undefined ? {} : { alias: server.alias }),
      toolPrefix: server.toolPrefix,
      accessGroups: server.accessGroups,
      allowAllKeys: server.allowAllKeys,
      mcpInfo: server.mcpInfo,
      source: server.source,
      warnings: server.warnings,
    };
  }

  const serverOf = (c: UiContext, current: UiSession) => serverForCaller(deps.registry.current(), current.caller, c.req.param("id")!);

  app.get(
    "/ui/mcp/servers/:id",
    page(async (c, current) => {
      const server = serverOf(c, current);
      const connects = server.kind === "interactive";
      const connection: Connection | undefined = connects ? await deps.connections.expiresAt(server.id, callerUserKey(current.caller)) : undefined;
      const notices: Record<string, string> = { created: "MCP server created.", saved: "Changes saved.", connected: "Connected: the gateway now calls this server with your account.", disconnected: "Disconnected: your tokens for this server were deleted." };
      const notice = Object.keys(notices).find((name) => c.req.query(name) !== undefined);
      if (notice === "disconnected") notices.disconnected = disconnectedText(server.name, c.req.query("revocation"), c.req.query("reconnect") !== undefined);
      return html(<ServerOverviewPage
          viewer={viewer(current)}
          server={summary(server)}
          {...(connection === undefined ? {} : { connection })}
          callbackUrl={`${requestOrigin(deps.origin, c)}/ui/mcp/oauth/callback`}
          {...(notice === undefined ? {} : { notice: notices[notice]! })}
          {...(notice === "disconnected" && c.req.query("revocation") === "failed" ? { noticeKind: "error" as const } : {})}
        />,
      );
    }),
  );

  app.get(
    "/ui/mcp/servers/:id/edit",
    page(async (c, current) => {
      requireAdmin(current);
      const server = serverOf(c, current);
      const view = deps.serverAdmin.get(server.id);
      return html(<ServerFormPage viewer={viewer(current)} mode="edit" id={server.id} state={{ values: formValuesFromView(view), errors: {}, general: [] }} warnings={server.warnings} />);
    }),
  );

  app.post(
    "/ui/mcp/servers/:id",
    page(async (c, current) => {
      requireAdmin(current);
      const server = serverOf(c, current);
      const submitted = await checkedForm(c);
      const { body, errors } = serverBodyFromForm(submitted);
      const values = formValues(submitted);
      if (Object.keys(errors).length > 0) return html(<ServerFormPage viewer={viewer(current)} mode="edit" id={server.id} state={{ values, errors, general: [] }} />, 400);
      try {
        await deps.serverAdmin.update(server.id, body);
        return seeOther(`/ui/mcp/servers/${encodeURIComponent(server.id)}?saved=1`);
      } catch (error) {
        if (!(error instanceof GatewayError) || error.status !== 400) throw error;
        return html(<ServerFormPage viewer={viewer(current)} mode="edit" id={server.id} state={formStateFromError(values, error)} />, 400);
      }
    }),
  );

  app.post(
    "/ui/mcp/servers/:id/delete",
    page(async (c, current) => {
      requireAdmin(current);
      const server = serverOf(c, current);
      await checkedForm(c);
      await deps.serverAdmin.delete(server.id);
      return seeOther(`/ui/mcp/servers?deleted=${encodeURIComponent(server.name)}`);
    }),
  );

  app.post(
    "/ui/mcp/servers/:id/disconnect",
    page(async (c, current) => {
      const server = serverOf(c, current);
      await checkedForm(c);
      const done = await deps.connections.disconnect(deps.registry.current(), current.caller, server.id, exchangeOf(c)?.requestId);
      return seeOther(`/ui/mcp/servers/${encodeURIComponent(server.id)}?disconnected=1&revocation=${done.status}`);
    }),
  );

  /**
   * Reconnect: the current grant is revoked and the tokens deleted first, then the Connect
   * flow starts. Not the other way round: an authorization server may give the new sign-in
   * the same grant (oidc-provider does, for a browser still signed in there), and revoking
   * the old tokens afterwards would end the new ones with it. A revocation that fails stops
   * before the sign-in, so the user reads why.
   */
  async function reconnect(c: UiContext, current: UiSession, server: McpServerEntry, from: "connections" | "server"): Promise<Response> {
    const done = await deps.connections.disconnect(deps.registry.current(), current.caller, server.id, exchangeOf(c)?.requestId);
    const id = encodeURIComponent(server.id);
    if (done.status === "failed") return seeOther(from === "connections" ? `/ui/connections?disconnected=${id}&revocation=failed&reconnect=1` : `/ui/mcp/servers/${id}?disconnected=1&revocation=failed&reconnect=1`);
    const flow = new URLSearchParams({ redirect_uri: `${requestOrigin(deps.origin, c)}/ui/mcp/oauth/callback`, ...(from === "connections" ? { state: "connections" } : {}) });
    return seeOther(`/v1/mcp/server/oauth/${id}/authorize?${flow}`);
  }


  // --- My connections ----------------------------------------------------------------------

  app.get(
    "/ui/connections",
    page(async (c, current) => {
      const snapshot = deps.registry.current();
      const rows = await deps.connections.list(snapshot, current.caller);
      // A configured server's name, never the query's own text (a link must not put its words on the page).
      const notice = connectionNotice(c.req.query(), (id) => snapshot.byIdOrName(id)?.name ?? "a server no longer configured here");
      return html(<ConnectionsPage
          viewer={viewer(current)}
          rows={rows}
          callbackUrl={`${requestOrigin(deps.origin, c)}/ui/mcp/oauth/callback`}
          {...(current.caller.kind === "master" ? { counts: await deps.connections.counts(snapshot) } : {})}
          {...(notice === undefined ? {} : { notice })}
        />,
      );
    }),
  );

  app.post(
    "/ui/connections/:id/disconnect",
    page(async (c, current) => {
      await checkedForm(c);
      // Not serverOf: a user may disconnect from a server since closed to them; only their own tokens are touched.
      const done = await deps.connections.disconnect(deps.registry.current(), current.caller, c.req.param("id")!, exchangeOf(c)?.requestId);
      const query = done.status === "not_connected" ? "missing=1" : `disconnected=${encodeURIComponent(done.serverId)}&revocation=${done.status}`;
      return seeOther(`/ui/connections?${query}`);
    }),
  );

  for (const [path, from] of [["/ui/mcp/servers/:id/reconnect", "server"], ["/ui/connections/:id/reconnect", "connections"]] as const) {
    app.post(
      path,
      page(async (c, current) => {
        // serverOf: reconnecting needs a server the caller may still use (a connection left from another is only disconnected).
        const server = serverOf(c, current);
        await checkedForm(c);
        return reconnect(c, current, server, from);
      }),
    );
  }

  // --- MCP Tools -------------------------------------------------------------------------

  async function toolsState(c: UiContext, current: UiSession, server: McpServerEntry): Promise<ToolsState> {
    const { lists, failures } = await deps.aggregate.listToolsSettled(deps.registry.current(), current.caller, [server], ownCall(current.caller, c.req.raw.signal));
    const failure = failures[0];
    if (failure !== undefined) return { kind: "error", title: `Could not list the tools of ${server.name}`, ...explain(failure.error) };
    return { kind: "tools", tools: lists[0]?.tools ?? [] };
  }

  app.get(
    "/ui/mcp/servers/:id/tools",
    page(async (c, current) => {
      const server = serverOf(c, current);
      const state = await toolsState(c, current, server);
      const wanted = c.req.query("tool");
      const selected = state.kind === "tools" ? (state.tools.find((tool) => tool.name === wanted) ?? (state.tools.length === 1 ? state.tools[0] : undefined)) : undefined;
      return html(<ServerToolsPage viewer={viewer(current)} server={summary(server)} state={state} {...(selected === undefined ? {} : { selected })} />);
    }),
  );

  app.post(
    "/ui/mcp/servers/:id/tools/call",
    page(async (c, current) => {
      const server = serverOf(c, current);
      const submitted = await checkedForm(c);
      const state = await toolsState(c, current, server);
      const name = submitted.get("tool") ?? "";
      const selected = state.kind === "tools" ? state.tools.find((tool) => tool.name === name) : undefined;
      const frame = { viewer: viewer(current), server: summary(server), state, values: submitted };
      if (selected === undefined) return html(<ServerToolsPage {...frame} />, 404);
      const parsed = parseToolArguments(selected.inputSchema, submitted);
      if (!parsed.ok) return html(<ServerToolsPage {...frame} selected={selected} errors={parsed.errors} />, 400);
      // The key's limits hold here too (a 429 page past them): a UI session must not be a way around them.
      const admitting = deps.limits.admit(current.caller);
      const release = admitting === undefined ? undefined : await admitting;
      try {
        const counting = deps.limits.countToolCalls(current.caller, 1);
        if (counting !== undefined) await counting;
        try {
          const result = await deps.aggregate.callTool(server, selected.name, parsed.arguments, deps.registry.current(), ownCall(current.caller, c.req.raw.signal), {
            route: "ui",
            requestId: exchangeOf(c)?.requestId,
          });
          return html(<ServerToolsPage {...frame} selected={selected} result={result} />);
        } catch (error) {
          const failure = toGatewayError(error);
          if (failure.status >= 500 && !failure.expose) deps.log.warn({ code: failure.code, detail: failure.detail ?? failure.message }, "UI tool call failed");
          return html(<ServerToolsPage {...frame} selected={selected} callError={{ title: `${selected.name} failed`, ...explain(failure) }} />, 200);
        }
      } finally {
        release?.();
      }
    }),
  );

  // --- Keys ------------------------------------------------------------------------------

  async function allKeys(): Promise<ListedKey[]> {
    const listed = await deps.keyAdmin.list({ return_full_object: "true", size: "1000" });
    return listed.keys.filter((key): key is ListedKey => typeof key !== "string");
  }

  async function keysPage(c: UiContext, current: UiSession, extra: Partial<KeysPageProps> = {}, status = 200): Promise<Response> {
    const servers = [...deps.registry.current().servers.values()].map((server) => ({ id: server.id, name: server.name }));
    return html(<KeysPage viewer={viewer(current)} keys={await allKeys()} servers={servers} {...extra} />, status);
  }

  app.get(
    "/ui/keys",
    page(async (c, current) => {
      requireAdmin(current);
      const deleted = c.req.query("deleted");
      return keysPage(c, current, deleted === undefined ? {} : { notice: `Key ${deleted} was deleted.` });
    }),
  );

  app.post(
    "/ui/keys",
    page(async (c, current) => {
      requireAdmin(current);
      const submitted = await checkedForm(c);
      const text = (name: string) => (submitted.get(name) ?? "").trim();
      const servers = submitted.getAll("mcp_servers");
      const body = {
        ...(text("key_alias") === "" ? {} : { key_alias: text("key_alias") }),
        ...(text("user_id") === "" ? {} : { user_id: text("user_id") }),
        ...(text("duration") === "" ? {} : { duration: text("duration") }),
        ...(servers.length === 0 ? {} : { object_permission: { mcp_servers: servers } }),
      };
      try {
        const created = await deps.keyAdmin.generate(body, deps.registry.current());
        return keysPage(c, current, { created: { key: created.key, alias: created.key_alias } });
      } catch (error) {
        if (!(error instanceof GatewayError) || error.status >= 500) throw error;
        const field = typeof error.extra.field === "string" ? error.extra.field.replace(/^object_permission\.mcp_servers.*$/, "mcp_servers") : undefined;
        const values = { key_alias: text("key_alias"), user_id: text("user_id"), duration: text("duration") };
        const message = error.message.replace(/^[a-z_.[\]0-9]+: /, "");
        return keysPage(c, current, { values, checked: servers, ...(field !== undefined && field !== "" ? { errors: { [field]: message } } : { general: [error.message] }) }, 400);
      }
    }),
  );

  app.post(
    "/ui/keys/delete",
    page(async (c, current) => {
      requireAdmin(current);
      const submitted = await checkedForm(c);
      const token = submitted.get("token") ?? "";
      const stored = (await allKeys()).find((key) => key.token === token);
      await deps.keyAdmin.delete({ keys: [token] });
      return seeOther(`/ui/keys?deleted=${encodeURIComponent(stored?.key_alias ?? stored?.key_name ?? "")}`);
    }),
  );

  /** The page; `decided` (from the query after a decision) is told only when a recent decision matches it: a link cannot put its own words on the page. */
  async function toolChangesPage(current: UiSession, decided: Record<string, string>): Promise<Response> {
    const admin = deps.toolChanges;
    if (admin === undefined) throw new GatewayError({ status: 404, code: "not_found", message: "Tool pinning is not running on this gateway." });
    const [changes, decisions] = await Promise.all([admin.list(deps.registry.current()), admin.decisions(20)]);
    const taken = decisions.find((decision) => decision.decision === decided.decided && decision.tool === decided.tool && decision.serverName === decided.server);
    const notice = taken === undefined ? undefined : `The new definition of ${visibleText(taken.tool)} (${taken.serverName}) was ${taken.decision}.`;
    return html(
      <ToolChangesPage
        viewer={viewer(current)}
        changes={changes.map((change) => ({ serverId: change.serverId, serverName: change.serverName, tool: change.tool, policy: change.policy, status: change.status, pinnedHash: change.pinned.hash, pinnedDefinition: change.pinned.definition, changedHash: change.changed.hash, changedDefinition: change.changed.definition, seenAt: change.changed.seenAt }))}
        decisions={decisions.map((decision) => ({ at: decision.at, actor: decision.actor, serverName: decision.serverName, tool: decision.tool, decision: decision.decision }))}
        {...(notice === undefined ? {} : { notice })}
      />,
    );
  }

  app.get(
    "/ui/tool-changes",
    page(async (c, current) => {
      requireAdmin(current);
      return toolChangesPage(current, c.req.query());
    }),
  );

  app.post(
    "/ui/tool-changes",
    page(async (c, current) => {
      requireAdmin(current);
      const submitted = await checkedForm(c);
      const decision = submitted.get("decision") === "approve" ? "approved" : submitted.get("decision") === "reject" ? "rejected" : undefined;
      if (decision === undefined || deps.toolChanges === undefined) throw new GatewayError({ status: 400, code: "invalid_request", message: "Choose Approve or Reject." });
      const taken = await deps.toolChanges.decide(deps.registry.current(), { server: submitted.get("server") ?? "", tool: submitted.get("tool") ?? "", hash: submitted.get("hash") ?? "", decision, actor: actorOf(current.caller), caller: current.caller, requestId: exchangeOf(c)?.requestId });
      return seeOther(`/ui/tool-changes?decided=${decision}&tool=${encodeURIComponent(taken.tool)}&server=${encodeURIComponent(taken.serverName)}`);
    }),
  );

  return app;
}

/** Only the UI's own pages: never an open redirect. */
const ACTIVITY_PAGE = 50;
const PERIOD_MS: Record<string, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };

function activityFilters(query: Record<string, string>): ActivityFilters {
  const text = (name: string) => (query[name] ?? "").trim();
  return { server: text("server"), tool: text("tool"), caller: text("caller"), outcome: text("outcome"), period: text("period"), from: text("from"), to: text("to") };
}

/** `YYYY-MM-DDTHH:MM[:SS]` (a datetime-local field) read as UTC, or undefined when it is not one. */
function utcTime(value: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(value)) return undefined;
  const parsed = Date.parse(`${value}Z`);
  return Number.isNaN(parsed) ? undefined : new Date(parsed).toISOString();
}

/** The audit query of the activity page's filters, or what is wrong with them. */
function activityListQuery(filters: ActivityFilters, cursor: string | undefined, now: number): AuditQuery | string {
  const since = filters.from !== "" ? utcTime(filters.from) : PERIOD_MS[filters.period] === undefined ? undefined : new Date(now - PERIOD_MS[filters.period]!).toISOString();
  if (filters.from !== "" && since === undefined) return "From must be a date and time, e.g. 2026-12-07T09:30.";
  const until = filters.to === "" ? undefined : utcTime(filters.to);
  if (filters.to !== "" && until === undefined) return "To must be a date and time, e.g. 2026-12-07T18:00.";
  const after = cursor === undefined || cursor === "" ? undefined : parseCursor(cursor);
  if (cursor !== undefined && cursor !== "" && after === undefined) return "This page link is broken: go back to the newest events.";
  return {
    limit: ACTIVITY_PAGE,
    ...(filters.server === "" ? {} : { server: filters.server }),
    ...(filters.tool === "" ? {} : { tool: filters.tool }),
    ...(filters.caller === "" ? {} : { caller: filters.caller }),
    ...(filters.outcome === "" ? {} : { outcome: filters.outcome }),
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(after === undefined ? {} : { after }),
  };
}

function safeNext(next: string | null): string | undefined {
  return next !== null && /^\/ui\/[A-Za-z0-9/_.~%-]*(\?[A-Za-z0-9=&_.~%-]*)?$/.test(next) && !next.includes("//") ? next : undefined;
}

function describe(error: GatewayError): string {
  return error.expose ? error.message : "internal error (see the gateway log)";
}

/** An error as the person at the screen wants to read it: what happened, and what to do. */
function explain(error: GatewayError): { message: string; hint?: string } {
  const message = describe(error);
  switch (error.code) {
    case AUTHORIZATION_REQUIRED:
      return { message: "You have not connected this server yet.", hint: "Open its Overview tab and press Connect." };
    case "subject_token_required":
      return { message, hint: "This server acts on behalf of the caller's own token: call it from an MCP client that sends one." };
    case "upstream_unauthorized":
      return { message, hint: "This server delegates auth to its own authorization server: use an MCP client that signs in there." };
    case "upstream_unreachable":
      return { message, hint: "Check the server's URL and that it is running." };
    case "upstream_timeout":
      return { message, hint: "The server is slow or stuck; its 'timeout' setting bounds the wait." };
    case "upstream_token_error":
      return { message, hint: "Check the Client ID, Client Secret and Token URL." };
    default:
      return { message };
  }
}

/** Origin and path (a query may hold a key); a stdio server's placeholder, never its command (its args may hold secrets). */
function shownUrl(server: McpServerEntry): string {
  return server.stdio === undefined ? server.url.origin + server.url.pathname : server.url.href;
}
