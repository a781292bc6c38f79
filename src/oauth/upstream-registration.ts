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
import { oauthError } from "./oauth-error.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

export interface UpstreamRegistrationDeps {
  upstreams: UpstreamAuthorizations;
  log: Logger;
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
  try {
    const response = await oauth.dynamicClientRegistrationRequest(
      as,
      {
        redirect_uris: [callbackUrl(origin)],
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
    };
  } catch (error) {
    // The authorization server's `error` is its free text: only a standard code is repeated.
    const code = error instanceof oauth.ResponseBodyError ? standardOAuthErrorCode(error.error) : undefined;
    deps.log.warn({ server: server.name, err: error instanceof Error ? error.message : String(error), oauth_error: code }, "upstream dynamic client registration failed");
    throw oauthError("server_error", `the authorization server of MCP server '${server.name}' refused the gateway's registration${code === undefined ? "" : `: ${code}`}`, 502);
  }
}
