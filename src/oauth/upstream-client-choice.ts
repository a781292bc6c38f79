/**
 * Which client the gateway is at an upstream authorization server, for a server without a
 * configured client_id (one with it uses that shared client: gateway-issuer.ts), by the
 * server's `registration` (README, "The gateway's client at upstream authorization servers"):
 * - `auto` (default): its Client ID Metadata Document when the authorization server
 *   advertises `client_id_metadata_document_supported` and the public origin is https,
 *   else dynamic registration (RFC 7591), else an error naming the server;
 * - `cimd`: the document only, or an error naming the server and what is missing;
 * - `dcr`: dynamic registration only.
 * The document's client is public (`none`) with PKCE and client_id = the document's URL;
 * like a registration it is bound to the issuer it was chosen for (issuer-binding.ts).
 */
import { cimdUsableAt, gatewayClientMetadataUrl } from "./gateway-client-metadata.js";
import { oauthError } from "./oauth-error.js";
import { registerAtUpstream, type UpstreamRegistrationDeps } from "./upstream-registration.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { UpstreamCredentials } from "../store/oauth-repository.js";

export async function obtainUpstreamClient(deps: UpstreamRegistrationDeps, server: McpServerEntry, origin: string, clientName: string | undefined): Promise<UpstreamCredentials> {
  const mode = server.config.registration ?? "auto";
  if (mode === "pre-registered") {
    // The config refuses pre-registered without client_id; fail closed all the same.
    throw oauthError("server_error", `MCP server '${server.name}' has registration pre-registered but no client_id; the operator must configure client_id`, 502);
  }
  if (mode === "dcr") return registerAtUpstream(deps, server, origin, clientName);
  const { as } = await deps.upstreams.get(server);
  const advertised = as.client_id_metadata_document_supported === true;
  const https = cimdUsableAt(origin);
  if (advertised && https) return { client_id: gatewayClientMetadataUrl(origin), token_endpoint_auth_method: "none", issuer: as.issuer };
  if (mode === "cimd") {
    const missing = advertised
      ? `the gateway's public origin ${origin} is not https, and a Client ID Metadata Document's URL must be (set PROXY_BASE_URL to the gateway's public https origin)`
      : `its authorization server ${as.issuer} does not advertise client_id_metadata_document_supported (set registration to auto or dcr)`;
    throw oauthError("server_error", `MCP server '${server.name}' has registration cimd, but ${missing}`, 502);
  }
  if (advertised) {
    deps.log.debug({ server: server.name, origin, issuer: as.issuer }, "the upstream authorization server accepts Client ID Metadata Documents, but the gateway's public origin is not https: using dynamic registration instead (set PROXY_BASE_URL to an https origin to use the document)");
  }
  return registerAtUpstream(deps, server, origin, clientName);
}
