/**
 * The UI's Connect flow (seed, "Reverse proxy and ingress configuration"):
 * `GET /v1/mcp/server/oauth/{server_id}/authorize?redirect_uri=...` by a signed-in user (a
 * gateway key or the UI session). The redirect_uri must pass the same-origin policy
 * (redirect-policy.ts); the gateway registers itself as the client, keeps the client-side
 * PKCE verifier in the sealed flow, and sends the browser upstream. `/callback` relays a
 * gateway code to the redirect_uri; `/ui/mcp/oauth/callback` (or the `/token` sibling)
 * redeems it and stores the upstream tokens for the user who started.
 */
import * as oauth from "oauth4webapi";
import { GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { Authorize } from "./authorize.js";
import { isInteractive } from "./gateway-issuer.js";
import { checkRedirectUri, type TrustedRedirectOrigin } from "./redirect-policy.js";
import { registerClient, type RegistrationDeps } from "./register.js";
import type { TokenEndpoint } from "./token.js";

export interface ConnectDeps {
  registration: RegistrationDeps;
  authorize: Authorize;
  token: TokenEndpoint;
  trustedOrigins: readonly TrustedRedirectOrigin[];
  log: Logger;
}

/** What the gateway saw when it resolved its origin, for the log line of a refusal. */
export interface OriginEvidence {
  origin: string;
  host: string | null;
  forwarded: Record<string, string | null>;
  peer: string | undefined;
}

/** The seed's 400 `{"detail":"invalid_request"}`, with what to change. */
function refusedRedirect(reason: string, origin: string): GatewayError {
  return new GatewayError({
    status: 400,
    code: "invalid_request",
    message: "invalid_request",
    extra: {
      error_description: reason,
      hint: `the gateway resolved its public origin as ${origin}; if users reach it at another address, set PROXY_BASE_URL to that origin (or trust your ingress with general_settings.use_x_forwarded_for and mcp_trusted_proxy_ranges); for another first-party app, add its host to MCP_TRUSTED_REDIRECT_ORIGINS`,
    },
  });
}

export function createConnect(deps: ConnectDeps) {
  function interactive(server: McpServerEntry): McpServerEntry {
    if (!isInteractive(server)) {
      throw new GatewayError({ status: 400, code: "not_interactive", message: `MCP server '${server.name}' does not use interactive OAuth; there is nothing to connect` });
    }
    return server;
  }

  function checkRedirect(redirectUri: string | undefined, evidence: OriginEvidence): string {
    if (redirectUri === undefined) throw refusedRedirect("redirect_uri is required", evidence.origin);
    const verdict = checkRedirectUri(redirectUri, evidence.origin, deps.trustedOrigins);
    if (!verdict.ok) {
      deps.log.warn(
        { redirect_uri: redirectUri, reason: verdict.reason, resolved_origin: evidence.origin, host: evidence.host, forwarded: evidence.forwarded, peer: evidence.peer },
        "refused a Connect redirect_uri",
      );
      throw refusedRedirect(verdict.reason, evidence.origin);
    }
    return verdict.url.href;
  }

  return {
    checkRedirect,

    async authorize(server: McpServerEntry, evidence: OriginEvidence, params: URLSearchParams, userId: string): Promise<Response> {
      interactive(server);
      const redirectUri = checkRedirect(params.get("redirect_uri") ?? undefined, evidence);
      const client = await registerClient(deps.registration, server, { redirect_uris: [redirectUri], client_name: "Gatehouse UI" }, { firstParty: true });
      const verifier = oauth.generateRandomCodeVerifier();
      const flowParams = new URLSearchParams({ code_challenge: await oauth.calculatePKCECodeChallenge(verifier) });
      const state = params.get("state");
      if (state !== null) flowParams.set("state", state);
      const registered = await deps.registration.repo.getClient(client.client_id);
      if (registered === undefined) throw new GatewayError({ status: 500, code: "server_error", message: "the Connect client vanished after registration" });
      return deps.authorize.start(server, evidence.origin, registered, redirectUri, flowParams, userId, verifier);
    },

    /** Redeems a Connect code (it names its server; `serverId`, when given, must be that one) and stores the user's tokens. */
    finish(snapshot: RegistrySnapshot, code: string, serverId?: string): Promise<{ server: McpServerEntry; userId: string; expiresIn?: number }> {
      return deps.token.redeemConnect(snapshot, code, serverId);
    },
  };
}

export type Connect = ReturnType<typeof createConnect>;
