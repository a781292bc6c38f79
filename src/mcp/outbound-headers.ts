/**
 * The headers a request carries upstream. Built from an allowlist rather than by copying
 * the client's headers and deleting some, so that nothing the gateway does not know
 * about (cookies, the gateway key, other servers' credentials) can leak upstream
 * (LiteLLM #30559).
 *
 * Precedence, lowest first: forwarded MCP headers and `extra_headers`, `static_headers`,
 * the server's credentials; per-request `x-mcp-{server}-*` headers replace the
 * configured credentials for that request (README, "Per-request upstream credentials").
 *
 * No client header holding a gateway key goes upstream, however the key is written in it
 * (the request's credential screen, issue 15 item 9): an `extra_headers` header is then
 * left out; a per-request header is refused with 400, since the client chose it as the
 * upstream's credential and would otherwise get the server's own credentials instead.
 */
import { GATEWAY_KEY_HEADER } from "../auth/inbound/gateway-key.js";
import { GATEWAY_OWNED, MCP_PARAM_HEADER_PREFIX, MCP_TRANSPORT_HEADERS, connectionTokens, type ResponseHeaders } from "../headers.js";
import { scrubberFor, type CredentialScrubber } from "../credential-scrubber.js";
import { gatewayKeyInClientSideCredential, gatewayKeyInPerRequestHeader, perRequestHeaders } from "../auth/upstream/per-request-headers.js";
import { staticAuthHeader } from "../auth/upstream/static-auth.js";
import type { StaticAuthType } from "../config/schema.js";
import type { RequestHeaders } from "../headers.js";
import type { UpstreamAuthContext, UpstreamCredentials } from "../auth/upstream/strategy.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export interface OutboundRequest {
  headers: Record<string, string>;
  credentials: UpstreamCredentials;
  /** Takes these credentials (and `static_headers` values) out of upstream text before a client or the log sees it. */
  scrubber: CredentialScrubber;
}

export type InboundRequestInfo = UpstreamAuthContext;

export interface OutboundOptions {
  /** Pass-through forwards the client's streamable-HTTP headers; an SDK client sets its own. */
  forwardMcpHeaders: boolean;
}

/**
 * The upstream request's headers and credentials. Returned as they are, without a promise,
 * when nothing needs waiting for (static credentials, a cached token, no `extra_headers` to
 * screen): the pass-through's hot path then awaits nothing here.
 */
export function outboundRequest(
  server: McpServerEntry,
  snapshot: RegistrySnapshot,
  inbound: InboundRequestInfo,
  options: OutboundOptions = FORWARD_MCP_HEADERS,
): OutboundRequest | Promise<OutboundRequest> {
  const headers: Record<string, string> = {};
  if (options.forwardMcpHeaders) {
    for (const name of MCP_TRANSPORT_HEADERS) {
      const value = inbound.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    // The body was read as UTF-8 JSON (a declared charset other than UTF-8 is refused): the
    // upstream must decode it the same way, so none of the client's parameters go along.
    if (headers["content-type"] !== undefined) headers["content-type"] = "application/json";
    // A 2026-07-28 request also mirrors tool arguments in Mcp-Param-* headers, which the upstream checks against the body.
    if (headers["mcp-method"] !== undefined) {
      inbound.headers.forEach((value, name) => {
        if (name.startsWith(MCP_PARAM_HEADER_PREFIX)) headers[name] = value;
      });
    }
  }
  if (server.extraHeaders.length > 0) return withExtraHeaders(server, snapshot, inbound, headers);
  return withCredentials(server, snapshot, inbound, headers);
}

const FORWARD_MCP_HEADERS: OutboundOptions = Object.freeze({ forwardMcpHeaders: true });

/** `extra_headers`: the client's values, except those holding a gateway key (screening may look keys up). */
async function withExtraHeaders(server: McpServerEntry, snapshot: RegistrySnapshot, inbound: InboundRequestInfo, headers: Record<string, string>): Promise<OutboundRequest> {
  // A listed header is still end-to-end only if the client did not make it hop-by-hop (RFC 9110 §7.6.1).
  const connectionScoped = connectionTokens(inbound.headers.get("connection"));
  for (const name of server.extraHeaders) {
    if (GATEWAY_OWNED.has(name) || connectionScoped.includes(name)) continue;
    if (name === GATEWAY_KEY_HEADER) continue;
    const value = inbound.headers.get(name);
    if (value !== null && !(await inbound.screen.carriesGatewayKey(value))) headers[name] = value;
  }
  return withCredentials(server, snapshot, inbound, headers);
}

function withCredentials(server: McpServerEntry, snapshot: RegistrySnapshot, inbound: InboundRequestInfo, headers: Record<string, string>): OutboundRequest | Promise<OutboundRequest> {
  Object.assign(headers, server.staticHeaders);
  const perRequest = perRequestHeaders(inbound.headers, server.name, snapshot.names, server.clientAuthHeader);
  if (perRequest !== undefined) return perRequestCredentials(server, inbound, headers, perRequest);
  const clientSide = server.clientAuthHeader === undefined ? undefined : clientSideCredential(inbound.headers, server);
  if (clientSide !== undefined) return perRequestCredentials(server, inbound, headers, clientSide.headers, clientSide);
  let credentials: UpstreamCredentials | Promise<UpstreamCredentials>;
  try {
    credentials = server.auth.credentials(inbound);
  } catch (error) {
    throw noCredentials(server, inbound, error);
  }
  if (credentials instanceof Promise) {
    return credentials.then(
      (resolved) => complete(server, inbound, headers, resolved),
      (error: unknown) => {
        throw noCredentials(server, inbound, error);
      },
    );
  }
  return complete(server, inbound, headers, credentials);
}

/**
 * `x-mcp-{server}-*` headers (or the client-side credential, `clientSide`)
 * replace the server's credentials, unless one holds a gateway key.
 */
async function perRequestCredentials(
  server: McpServerEntry,
  inbound: InboundRequestInfo,
  headers: Record<string, string>,
  perRequest: Record<string, string>,
  clientSide?: { header: string; value: string },
): Promise<OutboundRequest> {
  try {
    // The client's own value is screened, not the header built from it (basic encodes it).
    if (clientSide !== undefined) {
      if (await inbound.screen.carriesGatewayKey(clientSide.value)) throw gatewayKeyInClientSideCredential(server.name, clientSide.header);
    } else {
      for (const [name, value] of Object.entries(perRequest)) {
        if (await inbound.screen.carriesGatewayKey(value)) throw gatewayKeyInPerRequestHeader(server.name, name);
      }
    }
  } catch (error) {
    throw noCredentials(server, inbound, error);
  }
  return complete(server, inbound, headers, { headers: perRequest, resolution: "per-request-header" });
}

function complete(server: McpServerEntry, inbound: InboundRequestInfo, headers: Record<string, string>, credentials: UpstreamCredentials): OutboundRequest {
  Object.assign(headers, credentials.headers);
  inbound.debug?.record({ ...debugCall(server), resolution: credentials.resolution });
  return { headers, credentials, scrubber: scrubberFor(credentials, server.staticHeaders, server.url) };
}

/**
 * LiteLLM's deprecated client-side credential (`x-mcp-auth`, or the header
 * LITELLM_MCP_CLIENT_SIDE_AUTH_HEADER_NAME names): one value, sent to each static-credential
 * server the request reaches that has no `x-mcp-{server}-*` header, formatted by that
 * server's auth_type as its configured credential would be. Servers of other kinds never
 * receive it.
 */
function clientSideCredential(
  headers: RequestHeaders,
  server: { clientAuthHeader: string | undefined; config: { auth_type: string } },
): { headers: Record<string, string>; header: string; value: string } | undefined {
  if (server.clientAuthHeader === undefined) return undefined;
  const value = headers.get(server.clientAuthHeader);
  if (value === null || value === "") return undefined;
  const header = staticAuthHeader(server.config.auth_type as StaticAuthType, value);
  return header === undefined ? undefined : { headers: { [header[0]]: header[1] }, header: server.clientAuthHeader, value };
}

/** The report says what happened: no credential, and why (e.g. upstream_authorization_required). */
function noCredentials(server: McpServerEntry, inbound: InboundRequestInfo, error: unknown): unknown {
  inbound.debug?.record({ ...debugCall(server), resolution: `(none: ${(error as { code?: string }).code ?? "failed"})` });
  return error;
}

/** Origin and path only: a query or userinfo in a configured URL may hold a secret. */
function debugCall(server: McpServerEntry) {
  return { server: server.name, authType: server.config.auth_type, url: server.url.origin + server.url.pathname };
}

/**
 * The upstream response headers an MCP client needs (MCP transports spec): the body's
 * type, the session and protocol version, caching and back-off. An allowlist, so nothing
 * else an upstream sends lands on the gateway's origin, where the admin UI lives
 * (issue 15 item 1): no `Set-Cookie`, no `Location`, no `Link` preloads, no CSP or CORS
 * of the upstream's choosing. Content-Length is the adapter's to set (the body may be
 * rewritten); Content-Encoding is refused with the body (`relayed-body.ts`).
 */
const RELAYED_RESPONSE_HEADERS = ["content-type", "mcp-session-id", "mcp-protocol-version", "retry-after"] as const;

/**
 * On every relayed answer: the browser never sniffs it into a type the gateway did not
 * check (`nosniff`), and should it render it anyway, it runs sandboxed, with no script and
 * no access to the gateway's origin (CSP `sandbox`).
 */
export const RELAYED_ANSWER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
  // An answer is one caller's (a tool result, a session): an upstream's `public, max-age` must not let a shared cache keep it.
  "cache-control": "no-store",
});

/**
 * Response headers from the upstream that the client may see. `challenge`: the upstream's
 * `WWW-Authenticate` is relayed too (a delegating server's 401, the client's to answer).
 */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>, options: { challenge: boolean } = { challenge: false }): ResponseHeaders {
  const headers: ResponseHeaders = { ...RELAYED_ANSWER_HEADERS };
  // Headers named in Connection are hop-by-hop (RFC 9110 §7.6.1), even allowlisted ones.
  const connection = upstream["connection"];
  const named = connectionTokens(typeof connection === "string" ? connection : undefined);
  for (const name of RELAYED_RESPONSE_HEADERS) {
    const value = upstream[name];
    if (value !== undefined && !named.includes(name)) headers[name] = value;
  }
  const challenge = upstream["www-authenticate"];
  if (options.challenge && challenge !== undefined && isBearerOnly(challenge)) headers["www-authenticate"] = challenge;
  return headers;
}

/**
 * MCP authorization challenges are Bearer (RFC 6750 §3). A Basic, Digest, Negotiate or NTLM
 * challenge relayed on the gateway's origin would make a browser ask for a password there
 * (and send it to the gateway), so only Bearer challenges are relayed.
 */
function isBearerOnly(challenge: string | string[]): boolean {
  const text = typeof challenge === "string" ? challenge : challenge.join(", ");
  return /^\s*bearer\b/i.test(text) && !/(^|,)\s*(basic|digest|negotiate|ntlm|kerberos)\b/i.test(text);
}

/**
 * The upstream answered 401 to these credentials: drop them from the strategy's cache,
 * and say whether one retry with fresh ones may succeed (a cached token revoked or
 * expired early). Never for credentials the client sent itself.
 */
export function retryAfterUnauthorized(server: McpServerEntry, credentials: UpstreamCredentials): boolean {
  if (credentials.resolution === "per-request-header") return false;
  server.auth.invalidate?.(credentials);
  credentials.onRejected?.().catch(() => undefined);
  return server.auth.retryOnUnauthorized === true;
}
