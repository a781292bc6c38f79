/**
 * Picks the upstream credential strategy for a server, once, at load time.
 */
import { inferOauth2Flow } from "../../config/load.js";
import type { ServerConfig } from "../../config/schema.js";
import type { Logger } from "../../log.js";
import { delegatedAuth, delegatesAuthToUpstream } from "./delegate.js";
import { clientCredentialsAuth } from "./m2m-client-credentials.js";
import { DEFAULT_TOKEN_TIMEOUT_MS } from "./token-endpoint.js";
import { oauth2Interactive, type UserTokenSource } from "./oauth2-interactive.js";
import { staticAuth } from "./static-auth.js";
import { tokenExchangeAuth } from "./token-exchange.js";
import type { UpstreamAuth } from "./strategy.js";
import type { TokenEvents } from "../../observability/metrics.js";

/** What strategies may use besides the server's config. */
export interface StrategyContext {
  log?: Logger;
  now?: () => number;
  /** Per-user tokens of interactive servers (the OAuth facade's store). */
  userTokens?: UserTokenSource;
  /** Told of token requests and cache hits (metrics). */
  tokenEvents?: TokenEvents;
}

export function selectUpstreamAuth(serverId: string, serverName: string, server: ServerConfig, context: StrategyContext = {}): UpstreamAuth {
  switch (server.auth_type) {
    case "oauth2":
      if (inferOauth2Flow(server) === "client_credentials") {
        return clientCredentialsAuth({
          serverName,
          tokenUrl: server.token_url!,
          clientId: server.client_id!,
          clientSecret: server.client_secret!,
          scopes: server.scopes,
          resource: server.resource,
          audience: server.audience,
          authMethod: server.token_endpoint_auth_method,
          timeoutMs: Math.min(server.timeout * 1000, DEFAULT_TOKEN_TIMEOUT_MS),
          ...(context.log === undefined ? {} : { log: context.log }),
          ...(context.now === undefined ? {} : { now: context.now }),
          ...(context.tokenEvents === undefined ? {} : { events: context.tokenEvents }),
        });
      }
      if (delegatesAuthToUpstream(server)) return delegatedAuth();
      return oauth2Interactive(serverId, serverName, context.userTokens);
    case "oauth2_token_exchange":
      return tokenExchangeAuth({
        serverId,
        serverName,
        endpoint: server.token_exchange_endpoint ?? server.token_url!,
        clientId: server.client_id!,
        clientSecret: server.client_secret,
        authMethod: server.token_endpoint_auth_method,
        subjectTokenType: server.subject_token_type,
        audience: server.audience,
        scopes: server.scopes,
        resource: server.resource,
        timeoutMs: Math.min(server.timeout * 1000, DEFAULT_TOKEN_TIMEOUT_MS),
        ...(context.log === undefined ? {} : { log: context.log }),
        ...(context.now === undefined ? {} : { now: context.now }),
        ...(context.tokenEvents === undefined ? {} : { events: context.tokenEvents }),
      });
    default:
      return staticAuth(server.auth_type, server.auth_value ?? server.authentication_token);
  }
}
