/**
 * `POST /{server}/register`: RFC 7591 dynamic client registration of an MCP client.
 *
 * The gateway always registers the MCP client itself (a public client, PKCE protected,
 * `token_endpoint_auth_method: none`) and keeps what the upstream needs server-side:
 * when the server has a pre-stored `client_id` (the GitHub case) that one is used for every
 * MCP client; otherwise the gateway registers itself at the upstream's registration
 * endpoint, with its own `/callback` as redirect URI, and keeps those credentials sealed.
 * No fake secret is ever handed out.
 */
import { randomBytes } from "node:crypto";
import * as oauth from "oauth4webapi";
import type { Logger } from "../log.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { OauthRepository, StoredClient } from "../store/oauth-repository.js";
import { callbackUrl, usesSharedClient } from "./gateway-issuer.js";
import { allowHttp } from "../auth/upstream/allow-http.js";
import { oauthError } from "./oauth-error.js";
import { registrableRedirectUri } from "./redirect-uris.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

export interface RegistrationDeps {
  repo: OauthRepository;
  upstreams: UpstreamAuthorizations;
  log: Logger;
}

function invalidMetadata(description: string) {
  return oauthError("invalid_client_metadata", description);
}

function parseRequest(body: unknown): { redirectUris: string[]; clientName?: string; scope?: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidMetadata("the body must be a JSON object of client metadata (RFC 7591 §2)");
  const metadata = body as Record<string, unknown>;
  const uris = metadata.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) throw oauthError("invalid_redirect_uri", "redirect_uris: at least one redirect URI is required");
  uris.forEach((uri, index) => {
    const problem = registrableRedirectUri(uri);
    if (problem !== undefined) throw oauthError("invalid_redirect_uri", `redirect_uris[${index}] ${problem}`);
  });
  const grantTypes = metadata.grant_types;
  if (grantTypes !== undefined && (!Array.isArray(grantTypes) || grantTypes.some((grant) => grant !== "authorization_code" && grant !== "refresh_token"))) {
    throw invalidMetadata("grant_types: only authorization_code and refresh_token are supported");
  }
  const responseTypes = metadata.response_types;
  if (responseTypes !== undefined && (!Array.isArray(responseTypes) || responseTypes.some((type) => type !== "code"))) {
    throw invalidMetadata("response_types: only code is supported");
  }
  return {
    redirectUris: uris as string[],
    ...(typeof metadata.client_name === "string" ? { clientName: metadata.client_name.slice(0, 200) } : {}),
    ...(typeof metadata.scope === "string" ? { scope: metadata.scope } : {}),
  };
}

export async function registerClient(deps: RegistrationDeps, server: McpServerEntry, origin: string, body: unknown) {
  const request = parseRequest(body);
  let upstreamCredentials: StoredClient["upstreamCredentials"] = null;
  if (!usesSharedClient(server)) {
    const { as } = await deps.upstreams.get(server);
    if (as.registration_endpoint === undefined) {
      throw oauthError(
        "invalid_client_metadata",
        `MCP server '${server.name}' has no client_id and its authorization server offers no dynamic registration; configure client_id/client_secret for it`,
      );
    }
    try {
      const response = await oauth.dynamicClientRegistrationRequest(
        as,
        {
          redirect_uris: [callbackUrl(origin)],
          client_name: `Gatehouse for ${request.clientName ?? "an MCP client"}`,
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_basic",
        },
        { signal: AbortSignal.timeout(server.timeoutMs), ...allowHttp(as.registration_endpoint) },
      );
      const registered = await oauth.processDynamicClientRegistrationResponse(response);
      upstreamCredentials = {
        client_id: registered.client_id,
        ...(typeof registered.client_secret === "string" ? { client_secret: registered.client_secret } : {}),
        // The token requests must authenticate the way this registration says (not the server's config default).
        token_endpoint_auth_method: typeof registered.token_endpoint_auth_method === "string" ? registered.token_endpoint_auth_method : "client_secret_basic",
      };
    } catch (error) {
      const code = error instanceof oauth.ResponseBodyError ? error.error : undefined;
      deps.log.warn({ server: server.name, err: error instanceof Error ? error.message : String(error), oauth_error: code }, "upstream dynamic client registration failed");
      throw oauthError(code === "invalid_redirect_uri" || code === "invalid_client_metadata" ? code : "server_error", `the authorization server of MCP server '${server.name}' refused the registration${code === undefined ? "" : `: ${code}`}`, code === undefined ? 502 : 400);
    }
  }
  const clientId = `gh_${randomBytes(18).toString("base64url")}`;
  const issuedAt = Math.floor(Date.now() / 1000);
  const metadata = {
    client_id: clientId,
    client_id_issued_at: issuedAt,
    redirect_uris: request.redirectUris,
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    ...(request.clientName === undefined ? {} : { client_name: request.clientName }),
    ...(request.scope === undefined ? {} : { scope: request.scope }),
  };
  await deps.repo.saveClient({ clientId, serverId: server.id, metadata, upstreamCredentials });
  return metadata;
}
