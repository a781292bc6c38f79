/**
 * What kind of upstream server a config describes: decided once, when the server is
 * loaded, and kept on its registry entry (`entry.kind`), so no layer re-derives it from
 * the config's fields.
 *
 * Per-request `x-mcp-{server}-*` headers are not a kind: they replace any server's
 * configured credentials for one request.
 */
import type { ServerConfig } from "./schema.js";

export type ServerKind =
  /** `auth_type: none`: nothing is added upstream. */
  | "none"
  /** api_key, bearer_token, basic, authorization, token: one header, computed once. */
  | "static"
  /** `auth_type: oauth2`, machine to machine (RFC 6749 §4.4). */
  | "client_credentials"
  /** `auth_type: oauth2`, authorization code (RFC 6749 §4.1): each user connects through the gateway's OAuth facade. */
  | "interactive"
  /** An interactive server with `delegate_auth_to_upstream`: clients run OAuth with the upstream's own issuer. */
  | "delegated"
  /** `auth_type: oauth2_token_exchange` (RFC 8693). */
  | "token_exchange"
  /** `transport: stdio`: a local process the gateway runs; no credentials (auth_type is ignored, with a warning). */
  | "stdio";

export type Oauth2Flow = NonNullable<ServerConfig["oauth2_flow"]>;

type FlowFields = Pick<ServerConfig, "oauth2_flow" | "authorization_url" | "token_url" | "client_id" | "client_secret">;

/**
 * The seed's inference when `oauth2_flow` is omitted (README, authentication): an
 * authorization_url means interactive; token_url + client_id + client_secret alone means
 * client_credentials; anything else is interactive, with the upstream's own discovery.
 */
export function inferOauth2Flow(server: FlowFields): Oauth2Flow {
  if (server.oauth2_flow !== undefined) return server.oauth2_flow;
  if (server.authorization_url !== undefined) return "authorization_code";
  if (server.token_url !== undefined && server.client_id !== undefined && server.client_secret !== undefined) return "client_credentials";
  return "authorization_code";
}

export function serverKind(config: ServerConfig): ServerKind {
  if (config.transport === "stdio") return "stdio";
  switch (config.auth_type) {
    case "oauth2":
      if (inferOauth2Flow(config) === "client_credentials") return "client_credentials";
      return config.delegate_auth_to_upstream ? "delegated" : "interactive";
    case "oauth2_token_exchange":
      return "token_exchange";
    case "none":
      return "none";
    default:
      return "static";
  }
}

/** The servers whose users connect with the authorization code flow: the gateway's facade, or the upstream's own issuer when delegated. */
export function usesAuthorizationCode(kind: ServerKind): boolean {
  return kind === "interactive" || kind === "delegated";
}
