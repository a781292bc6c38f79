/**
 * The gateway as an authorization server toward MCP clients, one issuer per interactive
 * server: `{origin}/{server}`. Every document and redirect is built from these, so the
 * issuer in metadata, the `authorization_servers` entry and the `iss` on redirects are
 * always identical (the MCP SDK checks RFC 8414 §3.3 issuer equality; LiteLLM #36479).
 */
import { usesAuthorizationCode } from "../config/server-kind.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { StoredClient } from "../store/oauth-repository.js";
import * as oauth from "oauth4webapi";
import { clientSecretBasic } from "../auth/upstream/client-auth.js";

export const issuerFor = (origin: string, server: McpServerEntry) => `${origin}/${server.name}`;
export const callbackUrl = (origin: string) => `${origin}/callback`;

/** `auth_type: oauth2` with the authorization code flow (delegating or not): the servers the OAuth facade serves. */
export function isInteractive(server: McpServerEntry): boolean {
  return usesAuthorizationCode(server.kind);
}

/** The server keeps one upstream client for all MCP clients (the GitHub case): consent is needed. */
export function usesSharedClient(server: McpServerEntry): boolean {
  return server.config.client_id !== undefined;
}

export interface UpstreamClient {
  client: oauth.Client;
  auth: oauth.ClientAuth;
}

/**
 * How a pre-stored client authenticates when the config does not say: the first of
 * client_secret_post / client_secret_basic the authorization server's metadata lists
 * (RFC 8414 §2 `token_endpoint_auth_methods_supported`), else client_secret_post (issue
 * 18: a server offering only client_secret_basic was sent client_secret_post).
 */
export function advertisedClientAuthMethod(as: oauth.AuthorizationServer | undefined): "client_secret_post" | "client_secret_basic" {
  const supported = as?.token_endpoint_auth_methods_supported ?? [];
  return supported.find((method): method is "client_secret_post" | "client_secret_basic" => method === "client_secret_post" || method === "client_secret_basic") ?? "client_secret_post";
}

/**
 * The client the gateway is at the upstream for this MCP client: its own registration
 * there, or the server's pre-stored one. `as` is the upstream authorization server, whose
 * metadata says how a pre-stored client authenticates when the config does not.
 */
export function upstreamClientFor(server: McpServerEntry, registered: StoredClient, as?: oauth.AuthorizationServer): UpstreamClient {
  const own = registered.upstreamCredentials;
  const clientId = own?.client_id ?? server.config.client_id;
  const secret = own === null ? server.config.client_secret : own.client_secret;
  if (clientId === undefined) throw new Error(`no upstream client for server '${server.name}'`);
  // The gateway's own upstream registration says how it authenticates; else the server's config, else the metadata.
  const method = own === null ? (server.config.token_endpoint_auth_method ?? advertisedClientAuthMethod(as)) : (own.token_endpoint_auth_method ?? "client_secret_basic");
  const auth =
    secret === undefined || method === "none"
      ? oauth.None()
      : method === "client_secret_basic"
        ? clientSecretBasic(secret)
        : oauth.ClientSecretPost(secret);
  return { client: { client_id: clientId }, auth };
}

