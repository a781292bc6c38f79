/**
 * `/{server}/authorize`: the MCP client's authorization request (OAuth 2.1 §4.1.1).
 *
 * Steps, in order: the client is one the gateway registered for this server; the
 * redirect_uri matches its registration exactly (until then errors are an HTML page, never
 * a redirect: RFC 6749 §4.1.2.1); response_type is `code`; PKCE is S256; then, when the
 * gateway uses one shared upstream client for many MCP clients, the user consents (MCP
 * security best practices: confused deputy); then, for a server without a pre-stored
 * client_id, the gateway registers itself upstream for this client if it has not yet
 * (upstream-registration.ts); finally a sealed, single-use, 10-minute pending flow is
 * stored and the browser goes upstream with the gateway's own PKCE, its `/callback`, the
 * scopes, and `resource` = the upstream's resource URI.
 *
 * Errors go back to the client's redirect_uri only for a client the gateway trusts
 * (RFC 9700 §4.11.2): one that has redeemed an authorization code before, or the gateway's
 * own Connect client. Anyone can register a client with any redirect_uri, so for any
 * other client an error is an HTML page that names the problem and redirects nowhere
 * (issue 15 item 12: `response_type=token` sent the browser on to the registered foreign
 * URI with no user step).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { Logger } from "../log.js";
import { isGatewayError } from "../errors.js";
import type { OauthRepository, StoredClient } from "../store/oauth-repository.js";
import { callbackUrl, issuerFor, upstreamClientFor, usesSharedClient } from "./gateway-issuer.js";
import { consentPage, errorPage, PAGE_HEADERS } from "./pages.js";
import { boundedLine } from "./upstream-reason.js";
import { oauthError } from "./oauth-error.js";
import { isS256Challenge } from "./pkce.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";
import type { ScopeChallenges } from "../auth/upstream/scope-challenges.js";
import { registrationBoundTo } from "./issuer-binding.js";
import { selectScope } from "./scope-selection.js";
import { obtainUpstreamClient } from "./upstream-client-choice.js";
import { documentClientKey, documentRedirectUriMatches, isClientIdUrl, onlyLoopbackRedirects, type ClientMetadataDocument, type ClientMetadataDocuments } from "./client-metadata-document.js";

export const FLOW_TTL_MS = 10 * 60_000;
const CONSENT_COOKIE = "gatehouse_consent";

export interface AuthorizeDeps {
  repo: OauthRepository;
  upstreams: UpstreamAuthorizations;
  /** HMAC key for the consent form's CSRF token. */
  csrfKey: Buffer;
  log: Logger;
  /** Client ID Metadata Documents (URL client_ids); without it such a client_id is unknown. */
  documents?: ClientMetadataDocuments;
  /** Upstream scope challenges, for scope selection and step-up (scope-selection.ts). */
  scopeChallenges?: ScopeChallenges;
}

/** What is kept, sealed, between /authorize and /callback. */
export interface PendingFlow {
  clientId: string;
  redirectUri: string;
  clientState?: string;
  codeChallenge: string;
  scope?: string;
  upstreamVerifier: string;
  /** RFC 9207: the issuer of the upstream authorization server the browser was sent to. */
  upstreamIssuer?: string;
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
 * Whether the browser may be sent to this client's redirect_uri without a user step
 * (RFC 9700 §4.11.2): it completed a flow before, or the gateway registered it for its own
 * Connect flow after the same-origin policy checked its redirect_uri.
 */
export function isTrustedClient(client: StoredClient): boolean {
  return client.completedAt !== undefined || client.firstParty === true;
}

/** Where an authorization error goes: the redirect_uri of a trusted client, else an HTML page (RFC 9700 §4.11.2). */
export interface ErrorTarget {
  client: StoredClient;
  redirectUri: string;
  state: string | undefined;
  iss: string;
}

export function authorizationError(target: ErrorTarget, error: string, description: string): Response {
  if (isTrustedClient(target.client)) return redirectError(target.redirectUri, error, description, target.state, target.iss);
  const status = error === "server_error" || error === "temporarily_unavailable" ? 502 : 400;
  return html(status, errorPage("Authorization refused", `${description} (${error}).`, "Start the connection again from your MCP client."));
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
  async function validateClient(server: McpServerEntry, params: URLSearchParams, address: string, requestId?: string): Promise<{ client: StoredClient; redirectUri: string; document?: ClientMetadataDocument } | Response> {
    const clientId = params.get("client_id");
    if (clientId !== null && isClientIdUrl(clientId) && deps.documents !== undefined) return validateDocumentClient(server, clientId, params, address, requestId);
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

  /**
   * A client known by its metadata document (client-metadata-document.ts). It is stored only
   * once the user consents, so an anonymous request stores nothing.
   */
  async function validateDocumentClient(server: McpServerEntry, clientId: string, params: URLSearchParams, address: string, requestId?: string) {
    let document: ClientMetadataDocument;
    try {
      document = await deps.documents!.resolve(clientId, address);
    } catch (error) {
      if (!isGatewayError(error) || !error.expose) throw error;
      deps.log.info({ server: server.name, request_id: requestId, step: "client metadata document", client_id: boundedLine(clientId, 200), err: error.message }, "refused an MCP client's metadata document at /authorize");
      // The fetch limit: nothing about the client is known yet, so a page (never a redirect), with Retry-After.
      if (error.status === 429) {
        return html(
          429,
          errorPage("Too many new client metadata documents", `Signing in to MCP server '${server.name}' stopped at the client's metadata document: ${boundedLine(error.message, 600)}.`, "Nothing was authorized; start the connection again from your MCP client later."),
          error.headers,
        );
      }
      return html(
        400,
        errorPage(
          "Client metadata document refused",
          `Signing in to MCP server '${server.name}' stopped at the client's metadata document: ${boundedLine(error.message, 600)}.`,
          "Nothing was authorized; start again once the client's document or the gateway's settings are fixed.",
        ),
      );
    }
    const requested = params.get("redirect_uri") ?? (document.redirectUris.length === 1 ? document.redirectUris[0] : undefined);
    if (requested === undefined || !document.redirectUris.some((registered) => documentRedirectUriMatches(registered, requested))) {
      return html(400, errorPage("Redirect address not listed", `The redirect_uri of this request is not listed in the client's metadata document at ${document.host}.`, "The client must send a redirect_uri from its document's redirect_uris (only a loopback one may differ, in its port)."));
    }
    const key = documentClientKey(server.id, clientId);
    const stored = await deps.repo.getClient(key);
    const client: StoredClient = stored ?? { clientId: key, serverId: server.id, metadata: document.metadata, upstreamCredentials: null };
    return { client: { ...client, metadata: document.metadata }, redirectUri: requested, document };
  }

  /** The user consented: the document client is stored (or refreshed), to keep its upstream registration and completion. */
  async function storeDocumentClient(server: McpServerEntry, document: ClientMetadataDocument): Promise<StoredClient> {
    const stored = await deps.repo.upsertDocumentClient(documentClientKey(server.id, document.clientId), server.id, document.metadata);
    if (stored === undefined) throw oauthError("server_error", "the client could not be stored; try again", 503);
    return { ...stored, metadata: document.metadata };
  }

  /**
   * First authorizations of one client running now: they share one upstream registration
   * (an attack review saw 25 concurrent authorizes of one anonymous client register 25
   * clients upstream). Across instances the stored one wins, at most one per instance.
   */
  const registering = new Map<string, Promise<StoredClient>>();

  /**
   * The client with the gateway's own upstream registration for it, made now if this is its
   * first authorization, or made again at `as` when the one stored came from another
   * authorization server (issuer-binding.ts: its credentials never go to this one).
   */
  function withUpstreamClient(server: McpServerEntry, origin: string, client: StoredClient, as: oauth.AuthorizationServer): Promise<StoredClient> {
    if (usesSharedClient(server) || (client.upstreamCredentials !== null && registrationBoundTo(server, client, as))) return Promise.resolve(client);
    let pending = registering.get(client.clientId);
    if (pending === undefined) {
      pending = registerOnce(server, origin, client, as).finally(() => registering.delete(client.clientId));
      registering.set(client.clientId, pending);
    }
    return pending;
  }

  async function registerOnce(server: McpServerEntry, origin: string, client: StoredClient, as: oauth.AuthorizationServer): Promise<StoredClient> {
    // Another instance (or an earlier request) may have registered it since this one read the client.
    const current = await deps.repo.getClient(client.clientId);
    if (current === undefined) throw oauthError("invalid_client", "the client is no longer registered; register again");
    if (current.upstreamCredentials !== null && registrationBoundTo(server, current, as)) return current;
    const clientName = typeof client.metadata.client_name === "string" ? client.metadata.client_name : undefined;
    const credentials = await obtainUpstreamClient(deps, server, origin, clientName);
    if (current.upstreamCredentials !== null) {
      deps.log.info(
        { server: server.name, client_id: client.clientId, previous_issuer: current.upstreamCredentials.issuer ?? "(unrecorded)", issuer: credentials.issuer },
        "the upstream authorization server changed: the gateway registered again there; the old registration is no longer used",
      );
    }
    // Two first authorizations at once on two instances: the registration stored first is the one every flow uses.
    const kept =
      current.upstreamCredentials === null
        ? await deps.repo.setUpstreamCredentials(client.clientId, credentials)
        : await deps.repo.replaceUnboundUpstreamCredentials(client.clientId, credentials.issuer ?? as.issuer, credentials);
    if (kept === undefined) throw oauthError("invalid_client", "the client is no longer registered; register again");
    return { ...current, upstreamCredentials: kept };
  }

  async function goUpstream(
    server: McpServerEntry,
    origin: string,
    client: StoredClient,
    redirectUri: string,
    params: URLSearchParams,
    userId?: string,
    clientVerifier?: string,
    requestId?: string,
  ): Promise<Response> {
    const target: ErrorTarget = { client, redirectUri, state: params.get("state") ?? undefined, iss: issuerFor(origin, server) };
    const upstream = await deps.upstreams.get(server);
    const endpoint = upstream.as.authorization_endpoint;
    if (endpoint === undefined) {
      deps.log.warn({ server: server.name, request_id: requestId, step: "authorization request", issuer: upstream.as.issuer }, "the upstream authorization server has no authorization_endpoint");
      return authorizationError(target, "server_error", `the authorization server of MCP server '${server.name}' (${upstream.as.issuer}) has no authorization endpoint; the operator must set authorization_url for this server`);
    }
    let registered: StoredClient;
    try {
      registered = await withUpstreamClient(server, origin, client, upstream.as);
    } catch (error) {
      if (!isGatewayError(error) || !error.expose) throw error;
      deps.log.warn(
        { server: server.name, request_id: requestId, step: "upstream client registration", issuer: upstream.as.issuer, err: error.message, detail: error.detail },
        "the gateway could not obtain its client at the upstream authorization server; the sign-in stopped",
      );
      return authorizationError(target, error.code, error.message);
    }
    const state = oauth.generateRandomState();
    const verifier = oauth.generateRandomCodeVerifier();
    // Confused deputy (MCP security best practices): only the browser that consented may finish.
    const binding = randomBytes(24).toString("base64url");
    const scope = selectScope(server, params.get("scope"), upstream, deps.scopeChallenges, userId);
    const flow: PendingFlow = {
      clientId: registered.clientId,
      redirectUri,
      ...(params.get("state") === null ? {} : { clientState: params.get("state")! }),
      codeChallenge: params.get("code_challenge")!,
      ...(scope === undefined ? {} : { scope }),
      upstreamVerifier: verifier,
      upstreamIssuer: upstream.as.issuer,
      origin,
      ...(userId === undefined ? {} : { userId }),
      ...(clientVerifier === undefined ? {} : { clientVerifier }),
      browserBinding: createHash("sha256").update(binding).digest("hex"),
    };
    await deps.repo.putSingleUse("flow", state, server.id, flow, FLOW_TTL_MS);
    const url = new URL(endpoint);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("client_id", upstreamClientFor(server, registered).client.client_id);
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
    /** `address`: the caller's (trusted X-Forwarded-For or the peer), which a metadata document fetch counts against. */
    async request(server: McpServerEntry, origin: string, params: URLSearchParams, secureCookies: boolean, address: string, userId?: string, requestId?: string): Promise<Response> {
      const validated = await validateClient(server, params, address, requestId);
      if (validated instanceof Response) return validated;
      const { client, redirectUri } = validated;
      const iss = issuerFor(origin, server);
      const target: ErrorTarget = { client, redirectUri, state: params.get("state") ?? undefined, iss };
      if (params.get("response_type") !== "code") return authorizationError(target, "unsupported_response_type", "only response_type=code is supported");
      const challenge = params.get("code_challenge");
      if (challenge === null) return authorizationError(target, "invalid_request", "code_challenge is required (PKCE, S256)");
      if (params.get("code_challenge_method") !== "S256") return authorizationError(target, "invalid_request", "code_challenge_method must be S256; plain is not accepted");
      if (!isS256Challenge(challenge)) return authorizationError(target, "invalid_request", "code_challenge is not a base64url SHA-256 value");

      // A document client always meets the consent page: it names the client_id's host (spec, CIMD security).
      if (!usesSharedClient(server) && validated.document === undefined) return goUpstream(server, origin, client, redirectUri, params, userId, undefined, requestId);

      const nonce = randomBytes(24).toString("base64url");
      const fields = Object.fromEntries(AUTHORIZE_PARAMS.flatMap((name) => (params.get(name) === null ? [] : [[name, params.get(name)!]])));
      if (fields.redirect_uri === undefined) fields.redirect_uri = redirectUri;
      const upstream = await deps.upstreams.get(server).catch(() => undefined);
      const body = consentPage({
        action: `${iss}/authorize`,
        clientName: typeof client.metadata.client_name === "string" ? client.metadata.client_name : client.clientId,
        redirectHost: new URL(redirectUri).host,
        ...(validated.document === undefined ? {} : { clientHost: validated.document.host, loopbackOnly: onlyLoopbackRedirects(validated.document.redirectUris) }),
        serverName: server.name,
        scopes: (selectScope(server, params.get("scope"), upstream ?? { scopes: [], challengeScopes: [] }, deps.scopeChallenges, userId) ?? "").split(" ").filter((scope) => scope !== ""),
        fields: { ...fields, csrf: csrfToken(deps.csrfKey, nonce, fields) },
      });
      const cookie = `${CONSENT_COOKIE}=${nonce}; Path=/${server.name}/authorize; HttpOnly; SameSite=Lax; Max-Age=600${secureCookies ? "; Secure" : ""}`;
      return html(200, body, { "set-cookie": cookie });
    },

    /** POST /{server}/authorize: the consent form. */
    async consent(server: McpServerEntry, origin: string, form: URLSearchParams, headers: Headers, address: string, userId?: string, requestId?: string): Promise<Response> {
      const validated = await validateClient(server, form, address, requestId);
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
      const client = validated.document === undefined ? validated.client : await storeDocumentClient(server, validated.document);
      const response = await goUpstream(server, origin, client, validated.redirectUri, form, userId, undefined, requestId);
      response.headers.append("set-cookie", clearCookie);
      return response;
    },
  };
}

export type Authorize = ReturnType<typeof createAuthorize>;
