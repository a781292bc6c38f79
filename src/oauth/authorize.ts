/**
 * `/{server}/authorize`: the MCP client's authorization request (OAuth 2.1 §4.1.1).
 *
 * Steps, in order: the client is one the gateway registered for this server; the
 * redirect_uri matches its registration exactly (until then errors are an HTML page, never
 * a redirect: RFC 6749 §4.1.2.1); response_type is `code`; PKCE is S256; then, when the
 * gateway uses one shared upstream client for many MCP clients, the user consents (MCP
 * security best practices: confused deputy); finally a sealed, single-use, 10-minute
 * pending flow is stored and the browser goes upstream with the gateway's own PKCE, its
 * `/callback`, the scopes, and `resource` = the upstream's resource URI.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { OauthRepository, StoredClient } from "../store/oauth-repository.js";
import { callbackUrl, issuerFor, upstreamClientFor, usesSharedClient } from "./gateway-issuer.js";
import { consentPage, errorPage, PAGE_HEADERS } from "./pages.js";
import { isS256Challenge } from "./pkce.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

export const FLOW_TTL_MS = 10 * 60_000;
const CONSENT_COOKIE = "gatehouse_consent";

export interface AuthorizeDeps {
  repo: OauthRepository;
  upstreams: UpstreamAuthorizations;
  /** HMAC key for the consent form's CSRF token. */
  csrfKey: Buffer;
}

/** What is kept, sealed, between /authorize and /callback. */
export interface PendingFlow {
  clientId: string;
  redirectUri: string;
  clientState?: string;
  codeChallenge: string;
  scope?: string;
  upstreamVerifier: string;
  origin: string;
  /** Who connects, when known (the UI's Connect flow); else the /token request's key decides. */
  userId?: string;
  /** The UI's Connect flow: the gateway is the client too, and keeps the client-side verifier. */
  clientVerifier?: string;
  /** SHA-256 of the random value in the browser's flow cookie: /callback must come from the browser that started. */
  browserBinding: string;
}

/** The cookie that ties a pending flow to the browser that started it (one per flow, scoped to /callback). */
export function flowCookieName(state: string): string {
  return `gatehouse_flow_${createHash("sha256").update(state).digest("hex").slice(0, 16)}`;
}

const AUTHORIZE_PARAMS = ["response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state", "scope", "resource"] as const;

function html(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...PAGE_HEADERS, ...headers } });
}

function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 302, headers: { location, "cache-control": "no-store", ...headers } });
}

/** An error sent back to the client's (validated) redirect_uri, with its state and our issuer (RFC 9207). */
function redirectError(target: string, error: string, description: string, state: string | undefined, iss: string): Response {
  const url = new URL(target);
  url.searchParams.set("error", error);
  url.searchParams.set("error_description", description);
  if (state !== undefined) url.searchParams.set("state", state);
  url.searchParams.set("iss", iss);
  return redirect(url.href);
}

/**
 * The scopes asked of the upstream: the configured ones when there are any (a client cannot
 * widen what the operator allowed, least of all through a shared client), else what the
 * client asked for, else what the upstream publishes.
 */
function scopeFor(server: McpServerEntry, params: URLSearchParams, published: readonly string[]): string | undefined {
  if (server.config.scopes !== undefined && server.config.scopes.length > 0) return server.config.scopes.join(" ");
  return params.get("scope") ?? (published.length > 0 ? published.join(" ") : undefined);
}

function csrfToken(key: Buffer, nonce: string, fields: Record<string, string>): string {
  const canonical = AUTHORIZE_PARAMS.map((name) => `${name}=${fields[name] ?? ""}`).join("&");
  return createHmac("sha256", key).update(`${nonce}\n${canonical}`).digest("base64url");
}

export function cookieValue(headers: Headers, name: string): string | undefined {
  for (const part of (headers.get("cookie") ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return undefined;
}

export function createAuthorize(deps: AuthorizeDeps) {
  /** Validates the request up to the redirect_uri; returns the client or an error page. */
  async function validateClient(server: McpServerEntry, params: URLSearchParams): Promise<{ client: StoredClient; redirectUri: string } | Response> {
    const clientId = params.get("client_id");
    const client = clientId === null ? undefined : await deps.repo.getClient(clientId);
    if (client === undefined || client.serverId !== server.id) {
      return html(400, errorPage("Unknown client", `This application is not registered with ${server.name} at this gateway.`, "Start the connection again from your MCP client; it registers itself first."));
    }
    const registered = (client.metadata.redirect_uris as string[] | undefined) ?? [];
    const requested = params.get("redirect_uri") ?? (registered.length === 1 ? registered[0] : undefined);
    if (requested === undefined || !registered.includes(requested)) {
      return html(400, errorPage("Redirect address not registered", "The redirect_uri of this request does not exactly match one the application registered.", "Start the connection again from your MCP client."));
    }
    return { client, redirectUri: requested };
  }

  async function goUpstream(
    server: McpServerEntry,
    origin: string,
    client: StoredClient,
    redirectUri: string,
    params: URLSearchParams,
    userId?: string,
    clientVerifier?: string,
  ): Promise<Response> {
    const upstream = await deps.upstreams.get(server);
    const endpoint = upstream.as.authorization_endpoint;
    if (endpoint === undefined) {
      return redirectError(redirectUri, "server_error", `the upstream of ${server.name} has no authorization endpoint`, params.get("state") ?? undefined, issuerFor(origin, server));
    }
    const state = oauth.generateRandomState();
    const verifier = oauth.generateRandomCodeVerifier();
    // Confused deputy (MCP security best practices): only the browser that consented may finish.
    const binding = randomBytes(24).toString("base64url");
    const scope = scopeFor(server, params, upstream.scopes);
    const flow: PendingFlow = {
      clientId: client.clientId,
      redirectUri,
      ...(params.get("state") === null ? {} : { clientState: params.get("state")! }),
      codeChallenge: params.get("code_challenge")!,
      ...(scope === undefined ? {} : { scope }),
      upstreamVerifier: verifier,
      origin,
      ...(userId === undefined ? {} : { userId }),
      ...(clientVerifier === undefined ? {} : { clientVerifier }),
      browserBinding: createHash("sha256").update(binding).digest("hex"),
    };
    await deps.repo.putSingleUse("flow", state, server.id, flow, FLOW_TTL_MS);
    const url = new URL(endpoint);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("client_id", upstreamClientFor(server, client).client.client_id);
    url.searchParams.set("redirect_uri", callbackUrl(origin));
    url.searchParams.set("state", state);
    url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(verifier));
    url.searchParams.set("code_challenge_method", "S256");
    if (scope !== undefined) url.searchParams.set("scope", scope);
    // RFC 8707: the token's audience is the upstream MCP server, not the gateway.
    url.searchParams.set("resource", upstream.resource);
    const secure = origin.startsWith("https:") ? "; Secure" : "";
    return redirect(url.href, { "set-cookie": `${flowCookieName(state)}=${binding}; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=${FLOW_TTL_MS / 1000}${secure}` });
  }

  return {
    /** Starts a flow for a client the gateway drives itself (the UI's Connect button). */
    start: goUpstream,

    /** GET /{server}/authorize */
    async request(server: McpServerEntry, origin: string, params: URLSearchParams, secureCookies: boolean, userId?: string): Promise<Response> {
      const validated = await validateClient(server, params);
      if (validated instanceof Response) return validated;
      const { client, redirectUri } = validated;
      const state = params.get("state") ?? undefined;
      const iss = issuerFor(origin, server);
      if (params.get("response_type") !== "code") return redirectError(redirectUri, "unsupported_response_type", "only response_type=code is supported", state, iss);
      const challenge = params.get("code_challenge");
      if (challenge === null) return redirectError(redirectUri, "invalid_request", "code_challenge is required (PKCE, S256)", state, iss);
      if (params.get("code_challenge_method") !== "S256") return redirectError(redirectUri, "invalid_request", "code_challenge_method must be S256; plain is not accepted", state, iss);
      if (!isS256Challenge(challenge)) return redirectError(redirectUri, "invalid_request", "code_challenge is not a base64url SHA-256 value", state, iss);

      if (!usesSharedClient(server)) return goUpstream(server, origin, client, redirectUri, params, userId);

      const nonce = randomBytes(24).toString("base64url");
      const fields = Object.fromEntries(AUTHORIZE_PARAMS.flatMap((name) => (params.get(name) === null ? [] : [[name, params.get(name)!]])));
      if (fields.redirect_uri === undefined) fields.redirect_uri = redirectUri;
      const upstream = await deps.upstreams.get(server).catch(() => undefined);
      const body = consentPage({
        action: `${iss}/authorize`,
        clientName: typeof client.metadata.client_name === "string" ? client.metadata.client_name : client.clientId,
        redirectHost: new URL(redirectUri).host,
        serverName: server.name,
        scopes: (scopeFor(server, params, upstream?.scopes ?? []) ?? "").split(" ").filter((scope) => scope !== ""),
        fields: { ...fields, csrf: csrfToken(deps.csrfKey, nonce, fields) },
      });
      const cookie = `${CONSENT_COOKIE}=${nonce}; Path=/${server.name}/authorize; HttpOnly; SameSite=Lax; Max-Age=600${secureCookies ? "; Secure" : ""}`;
      return html(200, body, { "set-cookie": cookie });
    },

    /** POST /{server}/authorize: the consent form. */
    async consent(server: McpServerEntry, origin: string, form: URLSearchParams, headers: Headers, userId?: string): Promise<Response> {
      const validated = await validateClient(server, form);
      if (validated instanceof Response) return validated;
      const nonce = cookieValue(headers, CONSENT_COOKIE);
      const fields = Object.fromEntries(AUTHORIZE_PARAMS.flatMap((name) => (form.get(name) === null ? [] : [[name, form.get(name)!]])));
      const expected = nonce === undefined ? undefined : Buffer.from(csrfToken(deps.csrfKey, nonce, fields));
      const sent = Buffer.from(form.get("csrf") ?? "");
      if (expected === undefined || expected.length !== sent.length || !timingSafeEqual(expected, sent)) {
        return html(403, errorPage("This form has expired", "The consent form could not be verified (it is older than 10 minutes, or was not sent from this gateway's page).", "Start the connection again from your MCP client."));
      }
      const clearCookie = `${CONSENT_COOKIE}=; Path=/${server.name}/authorize; HttpOnly; SameSite=Lax; Max-Age=0`;
      if (form.get("decision") !== "allow") {
        const denied = redirectError(validated.redirectUri, "access_denied", "the user denied the request", form.get("state") ?? undefined, issuerFor(origin, server));
        denied.headers.set("set-cookie", clearCookie);
        return denied;
      }
      const response = await goUpstream(server, origin, validated.client, validated.redirectUri, form, userId);
      response.headers.append("set-cookie", clearCookie);
      return response;
    },
  };
}

export type Authorize = ReturnType<typeof createAuthorize>;
