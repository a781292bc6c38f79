/**
 * The UI's Connect flow for interactive servers:
 * `GET /v1/mcp/server/oauth/{server_id}/authorize` (a signed-in user), its `/register` and
 * `/token` siblings, and `GET /ui/mcp/oauth/callback`, where the browser lands at the end.
 */
import { Hono, type Context } from "hono";
import { callerUserKey, seenFrom } from "../../auth/inbound/caller.js";
import type { CallerNetwork } from "../../auth/inbound/client-address.js";
import { extractGatewayKey } from "../../auth/inbound/gateway-key.js";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { getCookie } from "hono/cookie";
import { SESSION_COOKIE, type UiSessions } from "../../ui/session.js";
import { serverForCaller } from "../../mcp/access.js";
import type { Connect, OriginEvidence } from "../../oauth/connect.js";
import { errorPage, PAGE_HEADERS } from "../../oauth/pages.js";
import { registerClient, type RegistrationDeps } from "../../oauth/register.js";
import type { AddressRateLimit } from "../../oauth/address-rate-limit.js";
import type { OriginSettings } from "../../oauth/public-origin.js";
import type { ServerRegistry } from "../../registry/registry.js";
import { GatewayError, toGatewayError } from "../../errors.js";
import type { AppEnv } from "../env.js";
import { authenticate, peerAddress } from "../middleware/authenticate.js";
import { readJson } from "../read-body.js";
import { admitRegistration, readRegistration, requestOrigin } from "./oauth.js";

export interface ConnectRouteDeps {
  registry: ServerRegistry;
  keys: KeyResolver;
  origin: OriginSettings;
  network: CallerNetwork;
  /** The UI's sessions: a signed-in user may start Connect without a gateway key. */
  sessions: UiSessions;
  connect: Connect;
  registration: RegistrationDeps;
  /** The same per-address limit as anonymous registration at /{server}/register. */
  registrationLimit: AddressRateLimit;
  maxBodyBytes: number;
}

function evidence(settings: OriginSettings, c: Context<AppEnv>): OriginEvidence {
  const header = (name: string) => c.req.header(name) ?? null;
  return {
    origin: requestOrigin(settings, c),
    host: header("host"),
    forwarded: { "x-forwarded-proto": header("x-forwarded-proto"), "x-forwarded-host": header("x-forwarded-host"), "x-forwarded-port": header("x-forwarded-port") },
    peer: peerAddress(c),
  };
}

/**
 * Whether a Connect client is first-party, trusted with error redirects before it has
 * completed a flow (RFC 9700 §4.11.2): only when every redirect_uri is on the public origin
 * the operator configured (PROXY_BASE_URL). The same-origin check alone is not enough: it
 * compares with an origin taken from the request (its Host, or X-Forwarded-Host an
 * ingress may copy from the client), which a caller can choose.
 */
function onConfiguredOrigin(uris: readonly unknown[], settings: OriginSettings): boolean {
  const configured = settings.proxyBaseUrl;
  if (configured === undefined || uris.length === 0) return false;
  return uris.every((uri) => typeof uri === "string" && URL.canParse(uri) && new URL(uri).origin === new URL(configured).origin);
}

function page(status: number, title: string, message: string, next: string): Response {
  return new Response(errorPage(title, message, next), { status, headers: PAGE_HEADERS });
}

export function connectRoutes(deps: ConnectRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const byKey = authenticate(deps.keys, { network: deps.network });
  // The UI's Connect button is a GET without a key: the UI session stands in for it.
  app.get("/v1/mcp/server/oauth/:server_id/authorize", async (c, next) => {
    const id = extractGatewayKey(c.req.raw.headers) === undefined ? getCookie(c, SESSION_COOKIE) : undefined;
    const session = id === undefined ? undefined : await deps.sessions.resolve(id);
    if (id !== undefined && session === undefined) {
      // A browser whose UI session ended: sign in again, then back to the server's page.
      const back = `/ui/mcp/servers/${encodeURIComponent(c.req.param("server_id"))}`;
      return new Response(null, { status: 303, headers: { location: `/ui/login?next=${encodeURIComponent(back)}`, "cache-control": "no-store" } });
    }
    if (session === undefined) return byKey(c, next);
    // The session's cookie (SameSite=Lax) rides along on a top-level navigation from any
    // site: a page elsewhere could start a Connect as this user, replacing the account the
    // gateway calls with. Browsers say where a navigation came from (Fetch Metadata).
    const site = c.req.header("sec-fetch-site");
    if (site === "cross-site" || site === "same-site") {
      return page(403, "Not connected", "This Connect was started from another site, not from the gateway's pages.", "Open the gateway's My connections page and press Connect there.");
    }
    const fromPublicInternet = deps.network.fromPublicInternet(peerAddress(c), c.req.raw.headers);
    c.set("caller", seenFrom(session.caller, fromPublicInternet));
    c.set("presentedKey", undefined);
    await next();
  });
  app.use("/v1/mcp/server/oauth/:server_id/register", byKey);
  app.use("/v1/mcp/server/oauth/:server_id/token", byKey);
  const server = (c: Context<AppEnv>) => serverForCaller(deps.registry.current(), c.get("caller"), c.req.param("server_id")!);

  app.get("/v1/mcp/server/oauth/:server_id/authorize", async (c) =>
    deps.connect.authorize(server(c), evidence(deps.origin, c), new URL(c.req.url).searchParams, callerUserKey(c.get("caller"))),
  );

  app.post("/v1/mcp/server/oauth/:server_id/register", async (c) => {
    const entry = server(c);
    admitRegistration(deps.registrationLimit, deps.origin, c);
    const body = (await readRegistration(c.req.raw, deps.maxBodyBytes)) as { redirect_uris?: unknown } | undefined;
    const uris = Array.isArray(body?.redirect_uris) ? body.redirect_uris : [];
    const seen = evidence(deps.origin, c);
    for (const uri of uris) deps.connect.checkRedirect(typeof uri === "string" ? uri : undefined, seen);
    return c.json(await registerClient(deps.registration, entry, body, { firstParty: onConfiguredOrigin(uris, deps.origin) }), 201, { "cache-control": "no-store" });
  });

  app.post("/v1/mcp/server/oauth/:server_id/token", async (c) => {
    const entry = server(c);
    const body = (await readJson(c.req.raw, deps.maxBodyBytes)) as { code?: unknown } | undefined;
    if (typeof body?.code !== "string") throw new GatewayError({ status: 400, code: "invalid_request", message: "code: required (the code the Connect flow returned)" });
    const done = await deps.connect.finish(deps.registry.current(), body.code, entry.id);
    return c.json({ connected: true, server_id: entry.id, server_name: entry.name, ...(done.expiresIn === undefined ? {} : { expires_in: done.expiresIn }) }, 200, { "cache-control": "no-store" });
  });

  app.get("/ui/mcp/oauth/callback", async (c) => {
    const query = new URL(c.req.url).searchParams;
    const back = "Go back to the gateway's MCP Servers page and press Connect again.";
    if (query.get("error") !== null) return page(400, "Not connected", `The authorization server answered: ${query.get("error")}.`, back);
    const code = query.get("code");
    if (code === null) return page(400, "Not connected", "This address lacks the authorization code.", back);
    try {
      const done = await deps.connect.finish(deps.registry.current(), code);
      // The state "connections" (the only one the UI sends) returns to My connections; nothing else is a destination.
      const location = query.get("state") === "connections" ? `/ui/connections?connected=${encodeURIComponent(done.server.id)}` : `/ui/mcp/servers/${encodeURIComponent(done.server.id)}?connected=1`;
      return new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });
    } catch (error) {
      const failure = toGatewayError(error);
      return page(failure.status >= 500 ? 502 : 400, "Not connected", failure.expose ? failure.message : "The connection could not be completed.", back);
    }
  });
  return app;
}
