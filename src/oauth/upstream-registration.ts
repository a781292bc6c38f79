/**
 * The gateway registers itself at the upstream's authorization server (RFC 7591), for one
 * MCP client of a server without a pre-stored client_id, with its own `/callback` as
 * redirect URI. Done at that client's first authorization, never at its registration with
 * the gateway (issue 15 item 7: every anonymous `POST /{server}/register` registered a
 * client upstream too).
 */
import * as oauth from "oauth4webapi";
import { allowHttp } from "../auth/upstream/allow-http.js";
import { standardOAuthErrorCode } from "../auth/upstream/token-endpoint.js";
import type { Logger } from "../log.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { UpstreamCredentials } from "../store/oauth-repository.js";
import { callbackUrl } from "./gateway-issuer.js";
import { GatewayError } from "../errors.js";
import { oauthError } from "./oauth-error.js";
import { upstreamReason } from "./upstream-reason.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

export interface UpstreamRegistrationDeps {
  upstreams: UpstreamAuthorizations;
  log: Logger;
}

/**
 * OpenID Connect Dynamic Client Registration `application_type` (MCP authorization
 * 2026-07-28, "Application Type and Redirect URI Constraints"): `native` for a gateway
 * reached on a loopback address over http (a locally-hosted web application), else `web`
 * (the gateway's confidential client, normally behind an https origin). Omitting it means
 * `web` under OIDC, which refuses loopback redirect URIs for some servers; non-OIDC servers
 * ignore it.
 */
export function applicationType(redirectUri: string): "native" | "web" {
  const url = new URL(redirectUri);
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(url.hostname);
  return url.protocol === "http:" && loopback ? "native" : "web";
}

/**
 * RFC 7591 §3.2.1 makes `client_secret_expires_at` required with a `client_secret`, and
 * oauth4webapi refuses a registration without it; authorization servers omit it (the MCP
 * conformance suite's does, the MCP SDK client accepts it), and issue 18 found every such
 * registration refused. Its absence is read as 0, "does not expire", which is how those
 * servers mean it. Any other answer is passed on untouched.
 */
async function withSecretExpiry(response: Response): Promise<Response> {
  if (response.status !== 201 || !(response.headers.get("content-type") ?? "").includes("json")) return response;
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new Response(text, { status: response.status, headers: response.headers });
  }
  const lacksExpiry = typeof body === "object" && body !== null && !Array.isArray(body) && "client_secret" in body && !("client_secret_expires_at" in body);
  return new Response(lacksExpiry ? JSON.stringify({ ...(body as Record<string, unknown>), client_secret_expires_at: 0 }) : text, { status: response.status, headers: response.headers });
}

export async function registerAtUpstream(deps: UpstreamRegistrationDeps, server: McpServerEntry, origin: string, clientName: string | undefined): Promise<UpstreamCredentials> {
  const { as } = await deps.upstreams.get(server);
  if (as.registration_endpoint === undefined) {
    throw oauthError(
      "server_error",
      `MCP server '${server.name}' has no client_id and its authorization server offers no dynamic registration; the operator must configure client_id (and client_secret with token_url or issuer) for it`,
      502,
    );
  }
  const redirectUri = callbackUrl(origin);
  const type = applicationType(redirectUri);
  try {
    const response = await oauth.dynamicClientRegistrationRequest(
      as,
      {
        redirect_uris: [redirectUri],
        application_type: type,
        client_name: `Gatehouse for ${clientName ?? "an MCP client"}`,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
      { signal: AbortSignal.timeout(server.timeoutMs), ...allowHttp(as.registration_endpoint) },
    );
    const registered = await oauth.processDynamicClientRegistrationResponse(await withSecretExpiry(response));
    return {
      client_id: registered.client_id,
      ...(typeof registered.client_secret === "string" ? { client_secret: registered.client_secret } : {}),
      // The token requests must authenticate the way this registration says (not the server's config default).
      token_endpoint_auth_method: typeof registered.token_endpoint_auth_method === "string" ? registered.token_endpoint_auth_method : "client_secret_basic",
      // Bound to the authorization server that issued it (issuer-binding.ts).
      issuer: as.issuer,
    };
  } catch (error) {
    // The authorization server's `error` is its free text: only a standard code is repeated to the client; the log (with the request id, authorize.ts) gets its reason.
    const code = error instanceof oauth.ResponseBodyError ? standardOAuthErrorCode(error.error) : undefined;
    throw new GatewayError({
      status: 502,
      code: "server_error",
      message:
        `the authorization server of MCP server '${server.name}' ${error instanceof oauth.ResponseBodyError ? "refused" : "did not complete"} the gateway's dynamic client registration${code === undefined ? "" : ` (${code})`} ` +
        `for redirect_uri ${redirectUri} with application_type ${type}; the operator must make that acceptable there (or set PROXY_BASE_URL to the gateway's public https origin), ` +
        "or register the gateway there and configure client_id and client_secret for this server",
      expose: true,
      detail: `registration endpoint ${as.registration_endpoint}: ${upstreamReason(error)}`,
      cause: error,
    });
  }
}
