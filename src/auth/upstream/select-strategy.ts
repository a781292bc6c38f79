/**
 * Picks the upstream credential strategy for a server, once, at load time, by the kind
 * the registry decided. The composition root hands `upstreamAuthFactory(...)` to the
 * registry, which builds each server's strategy with it.
 */
import type { StaticAuthType } from "../../config/schema.js";
import type { Logger } from "../../log.js";
import type { ServerAuthSpec, UpstreamAuthFactory } from "../../registry/server-entry.js";
import { delegatedAuth } from "./delegate.js";
import { clientCredentialsAuth } from "./m2m-client-credentials.js";
import { DEFAULT_TOKEN_TIMEOUT_MS } from "./token-endpoint.js";
import { oauth2Interactive, type UserTokenSource } from "./oauth2-interactive.js";
import { staticAuth } from "./static-auth.js";
import { tokenExchangeAuth } from "./token-exchange.js";
import type { UpstreamAuth } from "./strategy.js";
import type { TokenEvents } from "../../observability/metrics.js";
import type { MetadataDiscovery } from "./metadata-discovery.js";

/** What strategies may use besides the server's config. */
export interface StrategyContext {
  log?: Logger;
  now?: () => number;
  /** Per-user tokens of interactive servers (the OAuth facade's store). */
  userTokens?: UserTokenSource;
  /** Told of token requests and cache hits (metrics). */
  tokenEvents?: TokenEvents;
  /** The gateway's upstream metadata lookups, shared by every strategy. */
  discovery?: MetadataDiscovery;
}

export function upstreamAuthFactory(context: StrategyContext = {}): UpstreamAuthFactory {
  return (server) => selectUpstreamAuth(server, context);
}

export function selectUpstreamAuth({ id: serverId, name: serverName, kind, config: server }: ServerAuthSpec, context: StrategyContext = {}): UpstreamAuth {
  switch (kind) {
    case "client_credentials":
      return clientCredentialsAuth({ ...tokenEndpointOptions(server, context), serverName, tokenUrl: server.token_url!, clientSecret: server.client_secret! });
    case "delegated":
      return delegatedAuth();
    case "interactive":
      return oauth2Interactive(serverId, serverName, context.userTokens);
    case "token_exchange":
      return tokenExchangeAuth({
        ...tokenEndpointOptions(server, context),
        serverId,
        serverName,
        endpoint: server.token_exchange_endpoint ?? server.token_url!,
        clientSecret: server.client_secret,
        subjectTokenType: server.subject_token_type,
      });
    case "stdio":
      // A process has no HTTP request to carry a credential; its env holds what it needs.
      return staticAuth("none", undefined);
    case "none":
    case "static":
      return staticAuth(server.auth_type as StaticAuthType, server.auth_value ?? server.authentication_token);
  }
}

/** What both token-endpoint strategies (client_credentials, token exchange) take alike from the server and the context. */
function tokenEndpointOptions(server: ServerAuthSpec["config"], context: StrategyContext) {
  return {
    clientId: server.client_id!,
    authMethod: server.token_endpoint_auth_method,
    scopes: server.scopes,
    resource: server.resource,
    audience: server.audience,
    timeoutMs: Math.min(server.timeout * 1000, DEFAULT_TOKEN_TIMEOUT_MS),
    ...(context.log === undefined ? {} : { log: context.log }),
    ...(context.now === undefined ? {} : { now: context.now }),
    ...(context.tokenEvents === undefined ? {} : { events: context.tokenEvents }),
    ...(context.discovery === undefined ? {} : { discovery: context.discovery }),
  };
}
