/**
 * The gateway's own Client ID Metadata Document (MCP authorization 2026-07-28, "Client ID
 * Metadata Documents"; draft-ietf-oauth-client-id-metadata-document-00): the gateway, as a
 * client of upstream authorization servers, is identified by the URL of this document,
 * served at GATEWAY_CLIENT_METADATA_PATH under its public origin. The client is public
 * (`none`), always with PKCE, and redirects only to the gateway's `/callback`.
 *
 * The draft requires an https client_id: behind an http origin the document is still
 * served, but the gateway never uses it (upstream-registration.ts falls back to dynamic
 * registration).
 */
import { callbackUrl } from "./gateway-issuer.js";
import { applicationType } from "./upstream-registration.js";

export const GATEWAY_CLIENT_METADATA_PATH = "/.well-known/gatehouse/oauth-client.json";

export const gatewayClientMetadataUrl = (origin: string) => `${origin}${GATEWAY_CLIENT_METADATA_PATH}`;

/** Whether an authorization server may fetch the document: its URL, the client_id, must be https. */
export const cimdUsableAt = (origin: string) => origin.startsWith("https://");

/**
 * The startup warning for servers with `registration: cimd` whose sign-ins cannot work as
 * configured: PROXY_BASE_URL is http, or absent while no trusted ingress can tell the
 * gateway its https origin (the request's own URL, plain http, is then the public origin).
 */
export function cimdOriginWarning(cimdServers: readonly string[], origin: { proxyBaseUrl: string | undefined; useXForwardedFor: boolean }): string | undefined {
  if (cimdServers.length === 0) return undefined;
  const names = cimdServers.map((name) => `'${name}'`).join(", ");
  if (origin.proxyBaseUrl !== undefined) {
    if (cimdUsableAt(origin.proxyBaseUrl)) return undefined;
    return `MCP server${cimdServers.length > 1 ? "s" : ""} ${names} ha${cimdServers.length > 1 ? "ve" : "s"} registration cimd, but PROXY_BASE_URL ${origin.proxyBaseUrl} is not https: every sign-in to ${cimdServers.length > 1 ? "them" : "it"} will fail (a Client ID Metadata Document's URL must be https); set PROXY_BASE_URL to the gateway's public https origin, or set registration to auto`;
  }
  if (origin.useXForwardedFor) return undefined;
  return `MCP server${cimdServers.length > 1 ? "s" : ""} ${names} ha${cimdServers.length > 1 ? "ve" : "s"} registration cimd, but PROXY_BASE_URL is not set: the gateway's public origin is the request's own URL, plain http, and sign-ins will fail; set PROXY_BASE_URL to the gateway's public https origin (or trust your ingress's X-Forwarded-Proto with use_x_forwarded_for and mcp_trusted_proxy_ranges)`;
}

export interface GatewayClientMetadata {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: "none";
  application_type: "native" | "web";
}

export function gatewayClientMetadata(origin: string): GatewayClientMetadata {
  const redirectUri = callbackUrl(origin);
  return {
    client_id: gatewayClientMetadataUrl(origin),
    client_name: "Gatehouse",
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    application_type: applicationType(redirectUri),
  };
}
