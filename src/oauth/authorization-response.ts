/**
 * RFC 9207 on the upstream side (MCP authorization 2026-07-28, "Authorization Response
 * Validation"): the issuer of the upstream authorization server is recorded with the pending
 * flow when the browser is sent there, and the authorization response that comes back to
 * `/callback` is checked against it before its code goes to any token endpoint. A present
 * `iss` must equal the recorded issuer, by simple string comparison (RFC 3986 §6.2.1, no
 * normalisation); an absent one is refused when the server advertises
 * `authorization_response_iss_parameter_supported`. This defeats a mix-up attack: an
 * authorization server the gateway also talks to cannot make it redeem a code at another.
 * oauth4webapi's `validateAuthResponse` does the comparison; the checks before it only
 * give the refusal words an operator can act on.
 */
import * as oauth from "oauth4webapi";
import type { McpServerEntry } from "../registry/server-entry.js";
import { oauthError } from "./oauth-error.js";

/** A value from the response, quoted in a message: bounded, one line. */
function quoted(value: string): string {
  const line = value.replace(/[\r\n\t]/g, " ");
  return JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}...` : line);
}

/**
 * The authorization server the flow went to must still be the server's (its metadata may
 * have changed in between); a flow recorded without one (before this check existed) is
 * refused: it lasts 10 minutes, and the user starts again.
 */
export function assertSameIssuer(server: McpServerEntry, as: oauth.AuthorizationServer, recorded: string | undefined): void {
  if (recorded === as.issuer) return;
  throw oauthError(
    "server_error",
    `the authorization server of MCP server '${server.name}' changed during the sign-in (it was ${recorded ?? "not recorded"}, it is now ${as.issuer}); start the connection again`,
    502,
  );
}

/**
 * Validates the upstream's authorization response against the recorded issuer and state.
 * Throws oauth4webapi's AuthorizationResponseError for an upstream refusal (`error=...`,
 * after its `iss` was checked), and a GatewayError naming the server, the step and what to
 * change for anything else.
 */
export function validateUpstreamResponse(
  server: McpServerEntry,
  as: oauth.AuthorizationServer,
  recordedIssuer: string | undefined,
  client: oauth.Client,
  query: URLSearchParams,
  state: string,
): URLSearchParams {
  assertSameIssuer(server, as, recordedIssuer);
  const iss = query.get("iss");
  if (iss === null && as.authorization_response_iss_parameter_supported === true) {
    throw oauthError(
      "server_error",
      `the authorization server of MCP server '${server.name}' (${as.issuer}) advertises authorization_response_iss_parameter_supported but its authorization response at /callback has no iss (RFC 9207); the response was refused. Its operator must send iss, or stop advertising it`,
      502,
    );
  }
  if (iss !== null && iss !== as.issuer) {
    throw oauthError(
      "server_error",
      `the authorization response of MCP server '${server.name}' at /callback names issuer ${quoted(iss)}, not ${as.issuer} where the sign-in was sent (RFC 9207: a possible mix-up attack); the response was refused. If ${quoted(iss)} is that server's real issuer, set issuer to it in the server's config`,
      502,
    );
  }
  return oauth.validateAuthResponse(as, client, query, state);
}
