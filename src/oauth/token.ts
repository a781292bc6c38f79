/**
 * `POST /{server}/token`: the MCP client redeems the gateway's code, or refreshes.
 *
 * authorization_code: the code is consumed once and must not have expired; client_id and
 * redirect_uri must match; the client's code_verifier must match the challenge it sent at
 * /authorize (RFC 7636 §4.6). The gateway then redeems the upstream's code with its own
 * verifier and client credentials (oauth4webapi), applies `token_validation`, stores the
 * tokens for the calling user when a gateway key came with the request, and answers with
 * the upstream's tokens (the client sends them back as its bearer; README, "Interactive
 * OAuth for MCP clients").
 * The first code a client redeems marks it completed (trusted, kept).
 * refresh_token: forwarded upstream with the server's client credentials.
 * Answers carry `Cache-Control: no-store` (RFC 6749 §5.1).
 */
import * as oauth from "oauth4webapi";
import { oauthErrorCode } from "../auth/upstream/token-endpoint.js";
import { callerUserKey, type Caller } from "../auth/inbound/caller.js";
import { isGatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { OauthRepository, StoredUserToken } from "../store/oauth-repository.js";
import type { IssuedCode } from "./callback.js";
import { assertSameIssuer, validateUpstreamResponse } from "./authorization-response.js";
import { callbackUrl } from "./gateway-issuer.js";
import { upstreamClientAt } from "./issuer-binding.js";
import { allowHttp } from "../auth/upstream/allow-http.js";
import { oauthError } from "./oauth-error.js";
import { verifierMatches } from "./pkce.js";
import { validateTokenResponse } from "./token-validation.js";
import { upstreamClientSecrets as clientSecrets, upstreamReason } from "./upstream-reason.js";
import { refreshAtUpstream } from "./upstream-refresh.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";
import type { TokenEvents } from "../observability/metrics.js";
import type { AuditedCaller, AuditTrail } from "../observability/audit.js";
import { documentClientKey, isClientIdUrl, type ClientMetadataDocuments } from "./client-metadata-document.js";
import { createClientAssertionVerifier } from "./client-assertion.js";
import { issuerFor } from "./gateway-issuer.js";

export interface TokenDeps {
  repo: OauthRepository;
  upstreams: UpstreamAuthorizations;
  log: Logger;
  /** Token requests to upstream authorization servers (metrics). */
  events?: TokenEvents;
  /** The audit trail: each stored connection is recorded (`connected`). */
  audit?: Pick<AuditTrail, "record">;
  now?: () => number;
  /** Client ID Metadata Documents: URL client_ids, and their private_key_jwt keys. */
  documents?: ClientMetadataDocuments;
}

/** Where a token request came from. */
export interface Requester {
  /** The gateway origin the request came to (the audience of a client assertion). */
  origin: string | undefined;
  /** The caller's address (trusted X-Forwarded-For or the peer): a metadata document fetch counts against it. */
  address: string;
}

export const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" } as const;

/** Who connected, for the audit trail, when only the user key the tokens go under is known (the UI's Connect flow). */
function userKeyCaller(user: string): AuditedCaller {
  return { kind: "user", keyId: user, subject: user, ...(user.startsWith("user:") ? { userId: user.slice("user:".length) } : {}) };
}

/**
 * The upstream token endpoint refused (or failed) a step: the client hears the server, the
 * step, the standard OAuth code and what the operator should change; the upstream's reason
 * (status, `error`, `error_description`, the client secret masked) is the error's detail,
 * which the HTTP layer logs with the request id.
 */
function upstreamRefused(server: McpServerEntry, step: "code exchange" | "refresh", error: unknown, as: oauth.AuthorizationServer | undefined, secrets: readonly string[]): never {
  const detail = `token endpoint ${as?.token_endpoint ?? "(unknown)"}: ${upstreamReason(error, secrets)}`;
  const who = `the authorization server of MCP server '${server.name}'`;
  // A 401 invalid_client comes as a WWW-Authenticate challenge (oidc-provider answers so to HTTP Basic), the rest in the body.
  const code = oauthErrorCode(error);
  if (error instanceof oauth.ResponseBodyError || (error instanceof oauth.WWWAuthenticateChallengeError && code !== undefined)) {
    // The authorization server's `error` is its free text: only a standard code is repeated (it may echo the client secret).
    // An upstream invalid_client is the gateway's misconfiguration, not the client's.
    if (code === "invalid_client" || code === "unauthorized_client") {
      const accepted = as?.token_endpoint_auth_methods_supported;
      throw oauthError(
        "server_error",
        `${who} refused the gateway's client authentication at the ${step} (${code}); the operator must check client_id, client_secret and token_endpoint_auth_method for this server${accepted === undefined ? "" : ` (it accepts ${accepted.join(", ")})`}`,
        502,
        detail,
      );
    }
    // invalid_grant stays invalid_grant (an expired or replayed refresh token; Obot #7501): the client signs in again.
    if (code === "invalid_grant") {
      throw oauthError("invalid_grant", `${who} refused the ${step} (invalid_grant: the ${step === "refresh" ? "refresh token" : "authorization code"} expired or was revoked); sign in again`, 400, detail);
    }
    if (code === "invalid_scope") {
      throw oauthError("invalid_scope", `${who} refused the scopes at the ${step} (invalid_scope); the operator must set the server's scopes to ones that authorization server grants`, 400, detail);
    }
    throw oauthError("invalid_request", `${who} refused the ${step}: ${code ?? "an error that is not a standard OAuth code"} (the gateway log has its description)`, 400, detail);
  }
  throw oauthError("server_error", `${who} could not be reached or answered invalidly at the ${step}; the operator should check its token endpoint (the gateway log has the detail)`, 502, detail);
}

export function toStoredToken(
  token: oauth.TokenEndpointResponse,
  clientId: string,
  issuer: string,
  now: number,
  ttlSeconds: number | undefined,
  previousRefresh?: string,
): StoredUserToken {
  const lifetime = ttlSeconds ?? token.expires_in;
  return {
    clientId,
    issuer,
    access_token: token.access_token,
    ...(token.refresh_token === undefined && previousRefresh !== undefined ? { refresh_token: previousRefresh } : {}),
    ...(token.refresh_token === undefined ? {} : { refresh_token: token.refresh_token }),
    token_type: token.token_type,
    ...(token.scope === undefined ? {} : { scope: token.scope }),
    ...(lifetime === undefined ? {} : { expiresAt: now + lifetime * 1000 }),
  };
}

function publicAnswer(token: oauth.TokenEndpointResponse): Record<string, unknown> {
  return {
    access_token: token.access_token,
    token_type: token.token_type,
    ...(token.expires_in === undefined ? {} : { expires_in: token.expires_in }),
    ...(token.refresh_token === undefined ? {} : { refresh_token: token.refresh_token }),
    ...(token.scope === undefined ? {} : { scope: token.scope }),
  };
}

export function createTokenEndpoint(deps: TokenDeps) {
  const now = deps.now ?? Date.now;
  const verifyAssertion = createClientAssertionVerifier((clientId, jti, until) => deps.repo.claimAssertionJti(clientId, jti, until), now);

  /** The stored client a token request names: a metadata-document URL maps to its per-server key. */
  const storedClientId = (server: McpServerEntry, clientId: string | null) =>
    clientId !== null && isClientIdUrl(clientId) && deps.documents !== undefined ? documentClientKey(server.id, clientId) : clientId;

  /** A document client authenticates as its current document says (none, or private_key_jwt). */
  async function authenticate(server: McpServerEntry, storedId: string, form: URLSearchParams, requester: Requester): Promise<void> {
    const client = await deps.repo.getClient(storedId);
    const url = client?.metadata.client_id_metadata_document === true ? client.metadata.client_id : undefined;
    if (typeof url !== "string" || deps.documents === undefined) return;
    const { origin } = requester;
    const document = await deps.documents.resolve(url, requester.address);
    const issuer = origin === undefined ? undefined : issuerFor(origin, server);
    await verifyAssertion(document, form, issuer === undefined ? [] : [`${issuer}/token`, issuer]);
  }

  async function authorizationCode(server: McpServerEntry, form: URLSearchParams, caller: Caller | undefined, requester: Requester) {
    const code = form.get("code");
    const verifier = form.get("code_verifier");
    if (code === null) throw oauthError("invalid_request", "code is required");
    if (verifier === null) throw oauthError("invalid_request", "code_verifier is required (PKCE)");
    const consumed = await deps.repo.consume<IssuedCode>("code", code);
    if (consumed.status !== "ok" || consumed.serverId !== server.id) {
      throw oauthError("invalid_grant", consumed.status === "used" ? "this authorization code was already used" : "the authorization code is invalid or expired");
    }
    const issued = consumed.payload;
    if (form.get("client_id") !== null && storedClientId(server, form.get("client_id")) !== issued.clientId) throw oauthError("invalid_grant", "the code was issued to another client");
    if (form.get("redirect_uri") !== null && form.get("redirect_uri") !== issued.redirectUri) throw oauthError("invalid_grant", "redirect_uri differs from the authorization request");
    if (!verifierMatches(verifier, issued.codeChallenge)) throw oauthError("invalid_grant", "code_verifier does not match the code_challenge");
    await authenticate(server, issued.clientId, form, requester);
    return redeem(server, issued, caller);
  }

  /** Redeems the upstream code behind a gateway code, checks token_validation, stores the tokens for the user. */
  async function redeem(server: McpServerEntry, issued: IssuedCode, caller: Caller | undefined) {

    const client = await deps.repo.getClient(issued.clientId);
    if (client === undefined) throw oauthError("invalid_client", "the client is no longer registered", 401);
    const upstream = await deps.upstreams.get(server);
    // RFC 9207 and issuer binding: the code and the client's credentials go only to the issuer the flow went to.
    try {
      assertSameIssuer(server, upstream.as, issued.upstreamIssuer);
    } catch (error) {
      throw oauthError("invalid_grant", isGatewayError(error) ? error.message : String(error), 400, `code exchange: the flow went to issuer ${issued.upstreamIssuer ?? "(unrecorded)"}, the server's is now ${upstream.as.issuer}`);
    }
    const { client: upstreamClient, auth } = upstreamClientAt(server, client, upstream.as);
    let token: oauth.TokenEndpointResponse;
    try {
      const callback = validateUpstreamResponse(server, upstream.as, issued.upstreamIssuer, upstreamClient, new URLSearchParams(issued.upstreamCallback), issued.upstreamState);
      const response = await oauth.authorizationCodeGrantRequest(upstream.as, upstreamClient, auth, callback, callbackUrl(issued.origin), issued.upstreamVerifier, {
        additionalParameters: { resource: upstream.resource },
        signal: AbortSignal.timeout(server.timeoutMs),
        ...allowHttp(upstream.as.token_endpoint!),
      });
      token = await oauth.processAuthorizationCodeResponse(upstream.as, upstreamClient, response);
      deps.events?.tokenRequest(server.name, "authorization_code", "ok");
    } catch (error) {
      deps.events?.tokenRequest(server.name, "authorization_code", "error");
      if (isGatewayError(error)) throw error;
      upstreamRefused(server, "code exchange", error, upstream.as, clientSecrets(server, client));
    }
    validateTokenResponse(server.config.token_validation, token as unknown as Record<string, unknown>);
    const user = issued.userId ?? (caller === undefined ? undefined : callerUserKey(caller));
    if (user !== undefined) {
      await deps.repo.saveUserToken(server.id, user, toStoredToken(token, client.clientId, upstream.as.issuer, now(), server.config.token_storage_ttl_seconds));
      deps.audit?.record({ requestId: undefined, caller: caller ?? userKeyCaller(user), route: "connections", server: server.name, tool: "", outcome: "connected", durationMs: 0 });
    }
    // A completed flow: the client is trusted with error redirects from now on, and no longer expires (authorize.ts, oauth-repository.ts).
    await deps.repo.markCompleted(client.clientId);
    return publicAnswer(token);
  }

  /** The UI's Connect flow: the gateway redeems its own code with the verifier it kept, for the user who started it. */
  async function redeemConnect(snapshot: RegistrySnapshot, code: string, expectedServerId?: string): Promise<{ server: McpServerEntry; userId: string; expiresIn?: number }> {
    const consumed = await deps.repo.consume<IssuedCode>("code", code);
    if (consumed.status !== "ok") throw oauthError("invalid_grant", "the authorization code is invalid, expired or already used");
    // Checked before anything is redeemed upstream or stored: a code presented at another server's endpoint connects nothing.
    if (expectedServerId !== undefined && consumed.serverId !== expectedServerId) throw oauthError("invalid_grant", "the code belongs to another server");
    const server = snapshot.byIdOrName(consumed.serverId);
    if (server === undefined) throw oauthError("invalid_grant", "the MCP server of this code no longer exists");
    const issued = consumed.payload;
    if (issued.clientVerifier === undefined || issued.userId === undefined || !verifierMatches(issued.clientVerifier, issued.codeChallenge)) {
      throw oauthError("invalid_grant", "this code was not issued to the gateway's Connect flow");
    }
    const token = await redeem(server, issued, undefined);
    return { server, userId: issued.userId, ...(typeof token.expires_in === "number" ? { expiresIn: token.expires_in } : {}) };
  }

  async function refreshToken(server: McpServerEntry, form: URLSearchParams, requester: Requester) {
    const refresh = form.get("refresh_token");
    const clientId = storedClientId(server, form.get("client_id"));
    if (refresh === null) throw oauthError("invalid_request", "refresh_token is required");
    const client = clientId === null ? undefined : await deps.repo.getClient(clientId);
    if (client === undefined || client.serverId !== server.id) throw oauthError("invalid_client", "unknown client_id for this server", 401);
    await authenticate(server, client.clientId, form, requester);
    try {
      return publicAnswer((await refreshAtUpstream(deps.upstreams, server, client, refresh, deps.events)).token);
    } catch (error) {
      if (isGatewayError(error)) throw error;
      const as = await deps.upstreams.get(server).then((upstream) => upstream.as, () => undefined);
      upstreamRefused(server, "refresh", error, as, clientSecrets(server, client));
    }
  }

  return {
    redeemConnect,
    async exchange(server: McpServerEntry, form: URLSearchParams, caller: Caller | undefined, requester: Requester): Promise<Record<string, unknown>> {
      switch (form.get("grant_type")) {
        case "authorization_code":
          return authorizationCode(server, form, caller, requester);
        case "refresh_token":
          return refreshToken(server, form, requester);
        case null:
          throw oauthError("invalid_request", "grant_type is required");
        default:
          throw oauthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token");
      }
    },
  };
}

export type TokenEndpoint = ReturnType<typeof createTokenEndpoint>;
