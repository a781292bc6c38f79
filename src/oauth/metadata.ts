/**
 * Discovery documents the gateway serves for each interactive server:
 * RFC 9728 protected resource metadata (whose `resource` is exactly the gateway URL the
 * client uses, §3.3) and RFC 8414 authorization server metadata (whose `issuer` is
 * exactly `{origin}/{server}`, the `authorization_servers` entry).
 */
import type { McpServerEntry } from "../registry/server-entry.js";
import { CLIENT_ASSERTION_ALGORITHMS } from "./client-assertion.js";
import { issuerFor } from "./gateway-issuer.js";
import type { UpstreamAuthorizations } from "./upstream-authorization-server.js";

/** The two gateway URLs of a server's MCP endpoint. */
export type McpPathForm = "server-first" | "mcp-first";

export function gatewayResourceUrl(origin: string, server: McpServerEntry, form: McpPathForm): string {
  return form === "server-first" ? `${origin}/${server.name}/mcp` : `${origin}/mcp/${server.name}`;
}

export function protectedResourceMetadataUrl(origin: string, server: McpServerEntry, form: McpPathForm): string {
  return form === "server-first"
    ? `${origin}/.well-known/oauth-protected-resource/${server.name}/mcp`
    : `${origin}/.well-known/oauth-protected-resource/mcp/${server.name}`;
}

/**
 * Where the aggregate `/mcp` points a delegating server's challenge: its metadata, with
 * `resource` naming `/mcp`, the URL that client called.
 */
export function aggregateResourceMetadataUrl(origin: string, server: McpServerEntry): string {
  return `${origin}/.well-known/oauth-protected-resource/mcp?server=${encodeURIComponent(server.name)}`;
}

export async function protectedResourceMetadata(origin: string, server: McpServerEntry, form: McpPathForm, upstreams: UpstreamAuthorizations) {
  const scopes = await scopesOf(server, upstreams);
  return {
    resource: gatewayResourceUrl(origin, server, form),
    authorization_servers: [issuerFor(origin, server)],
    bearer_methods_supported: ["header"],
    ...(scopes.length === 0 ? {} : { scopes_supported: scopes }),
    resource_name: server.config.description ?? server.name,
  };
}

/** `documents`: whether the gateway accepts Client ID Metadata Documents (its trust policy admits any host). */
export async function authorizationServerMetadata(origin: string, server: McpServerEntry, upstreams: UpstreamAuthorizations, documents = false) {
  const issuer = issuerFor(origin, server);
  const scopes = await scopesOf(server, upstreams);
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    registration_endpoint: `${issuer}/register`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: documents ? ["none", "private_key_jwt"] : ["none"],
    ...(documents ? { token_endpoint_auth_signing_alg_values_supported: CLIENT_ASSERTION_ALGORITHMS, client_id_metadata_document_supported: true } : {}),
    authorization_response_iss_parameter_supported: true,
    ...(scopes.length === 0 ? {} : { scopes_supported: scopes }),
  };
}

/** The configured scopes, else what the upstream publishes; none when the upstream cannot be reached. */
async function scopesOf(server: McpServerEntry, upstreams: UpstreamAuthorizations): Promise<string[]> {
  if (server.config.scopes !== undefined) return [...server.config.scopes];
  try {
    return (await upstreams.get(server)).scopes;
  } catch {
    return [];
  }
}
