/**
 * `GET /callback`: where upstream authorization servers send the browser back.
 *
 * The state names a pending flow, which is consumed (single use) and must not have
 * expired; the response is validated by oauth4webapi (state, and RFC 9207 `iss` against
 * the upstream issuer recorded when the flow started: authorization-response.ts), before
 * its code goes anywhere. The gateway then issues its own short-lived, single-use code,
 * bound to the client's PKCE challenge, and relays it to the client's redirect_uri with
 * the client's original state and the gateway's issuer. A broken or replayed state gets
 * an HTML page that says what to do. The upstream's refusal goes back to the client only
 * when the gateway trusts it (RFC 9700 §4.11.2, authorize.ts): an upstream can answer an
 * error at once, without any user step (an unknown scope the client chose), and that
 * would make the gateway an open redirector toward whatever URI anyone registered.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { OauthRepository } from "../store/oauth-repository.js";
import { authorizationError, cookieValue, flowCookieName, type PendingFlow } from "./authorize.js";
import { isGatewayError } from "../errors.js";
import { validateUpstreamResponse } from "./authorization-response.js";
import { issuerFor, upstreamClientFor } from "./gateway-issuer.js";
import { errorPage, PAGE_HEADERS } from "./pages.js";
import { upstreamReason } from "./upstream-reason.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

export const CODE_TTL_MS = 5 * 60_000;

/** What the gateway's authorization code stands for, sealed until /token redeems it. */
export interface IssuedCode extends PendingFlow {
  /** The upstream's callback query, validated again when the upstream code is redeemed. */
  upstreamCallback: string;
  upstreamState: string;
}

export interface CallbackDeps {
  repo: OauthRepository;
  upstreams: UpstreamAuthorizations;
  log: Logger;
}

function page(status: number, title: string, message: string): Response {
  return new Response(errorPage(title, message, "Go back to your MCP client and start the connection again."), { status, headers: PAGE_HEADERS });
}

/** What to change for an upstream's refusal of the authorization request (RFC 6749 §4.1.2.1 codes), for whoever reads the page. */
function refusalHint(code: string): string {
  switch (code) {
    case "access_denied":
      return "the user or the authorization server's policy denied access; nothing needs changing at the gateway unless that policy should allow this user";
    case "invalid_scope":
      return "it does not grant the scopes asked for; the operator must set the server's scopes to ones that authorization server offers (or remove scopes to use its defaults)";
    case "unauthorized_client":
      return "the gateway's client may not use the authorization code grant there; the operator must allow it in that client's registration at the authorization server";
    case "invalid_request":
    case "invalid_client":
      return "the operator must check the gateway's client there (client_id, and that its redirect URIs include the gateway's /callback)";
    case "server_error":
    case "temporarily_unavailable":
      return "the authorization server failed; try again later, and the operator should check that server";
    default:
      return "the gateway log has the authorization server's description";
  }
}

/** An upstream's error code as relayed: an RFC 6749 §4.1.2.1 code is an ASCII word; anything else says server_error. */
function oauthCode(code: string): string {
  return /^[a-z_]{1,64}$/.test(code) ? code : "server_error";
}

function relay(target: string, params: Record<string, string | undefined>): Response {
  const url = new URL(target);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return new Response(null, { status: 302, headers: { location: url.href, "cache-control": "no-store" } });
}

export async function handleCallback(deps: CallbackDeps, snapshot: RegistrySnapshot, query: URLSearchParams, headers: Headers, requestId?: string): Promise<Response> {
  const state = query.get("state");
  if (state === null) return page(400, "Missing state", "This address lacks the state parameter that ties it to a sign-in.");
  const flow = await deps.repo.consume<PendingFlow>("flow", state);
  if (flow.status === "unknown") {
    deps.log.info({ request_id: requestId, step: "callback" }, "a /callback named a sign-in this gateway does not know; refused");
    return page(
      400,
      "Unknown sign-in",
      "The gateway does not know this sign-in (at its /callback step). If the gateway runs as several instances, the operator must give them one shared database (DATABASE_URL): the instance that started the sign-in stored it there.",
    );
  }
  if (flow.status === "used") {
    deps.log.info({ request_id: requestId, step: "callback" }, "a /callback presented a sign-in that was already used; refused");
    return page(400, "Sign-in already used", "This sign-in link was already used; each can be used once. Nothing needs changing at the gateway.");
  }
  if (flow.status === "expired") {
    const name = snapshot.byIdOrName(flow.serverId)?.name ?? flow.serverId;
    deps.log.info({ server: name, request_id: requestId, step: "callback" }, "a /callback arrived after its sign-in expired (10 minutes); refused");
    return page(
      400,
      "Sign-in expired",
      `The sign-in to MCP server '${name}' took longer than 10 minutes and expired before the authorization server sent the browser back to the gateway's /callback. Nothing needs changing at the gateway: finish the sign-in within 10 minutes.`,
    );
  }
  const server = snapshot.byIdOrName(flow.serverId);
  if (server === undefined) return page(404, "Server removed", "The MCP server of this sign-in no longer exists.");
  const pending = flow.payload;
  const binding = cookieValue(headers, flowCookieName(state));
  const expected = Buffer.from(pending.browserBinding);
  const presented = Buffer.from(binding === undefined ? "" : createHash("sha256").update(binding).digest("hex"));
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
    deps.log.warn({ server: server.name, request_id: requestId }, "a /callback arrived without the flow cookie of the browser that started the sign-in; refused");
    return page(400, "Sign-in started elsewhere", "This sign-in was started in another browser, or this browser blocked the gateway's cookie.");
  }
  const iss = issuerFor(pending.origin, server);
  const client = await deps.repo.getClient(pending.clientId);
  if (client === undefined) return page(400, "Unknown client", "The application of this sign-in is no longer registered.");

  const upstream = await deps.upstreams.get(server);
  const target = { client, redirectUri: pending.redirectUri, state: pending.clientState, iss };
  try {
    validateUpstreamResponse(server, upstream.as, pending.upstreamIssuer, upstreamClientFor(server, client).client, query, state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      // The upstream refused (the user denied, or a policy): tell the client in OAuth terms, or the user when the client is not trusted.
      const code = oauthCode(error.error);
      deps.log.warn({ server: server.name, request_id: requestId, step: "authorization request", issuer: upstream.as.issuer, upstream: upstreamReason(error) }, "the upstream authorization server refused the authorization request");
      return authorizationError(target, code, `the authorization server of MCP server '${server.name}' refused the authorization request (${code}): ${refusalHint(code)}`);
    }
    const message = isGatewayError(error) ? error.message : `the authorization response of MCP server '${server.name}' at /callback was invalid (${error instanceof Error ? error.message : String(error)})`;
    deps.log.warn({ server: server.name, request_id: requestId, step: "callback", err: message }, "refused an upstream authorization response; its code goes nowhere");
    return authorizationError(target, "server_error", message);
  }

  const code = randomBytes(32).toString("base64url");
  const clear = `${flowCookieName(state)}=; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=0`;
  const issued: IssuedCode = { ...pending, upstreamCallback: query.toString(), upstreamState: state };
  await deps.repo.putSingleUse("code", code, server.id, issued, CODE_TTL_MS);
  const response = relay(pending.redirectUri, { code, state: pending.clientState, iss });
  response.headers.append("set-cookie", clear);
  return response;
}
