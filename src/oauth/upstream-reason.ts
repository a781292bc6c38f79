/**
 * What an upstream authorization server said when it refused a step, for the log line that
 * carries the request id (README, Troubleshooting): its HTTP status, its OAuth `error` and
 * `error_description` (RFC 6749 §5.2, RFC 7591 §3.2.2), bounded and on one line. Never the
 * body beyond those fields, never a token or code; the client secret, which a careless
 * server may echo in its description, is masked (issue 15 item 11).
 */
import * as oauth from "oauth4webapi";
import { credentialScrubber } from "../credential-scrubber.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { StoredClient } from "../store/oauth-repository.js";

/** Upstream text as one bounded line: control characters out, at most `max` characters. */
export function boundedLine(value: string, max = 300): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is removed
  const line = value.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

function httpStatus(error: unknown): number | undefined {
  if (error instanceof oauth.ResponseBodyError || error instanceof oauth.WWWAuthenticateChallengeError) return error.status;
  if (error instanceof oauth.OperationProcessingError && error.cause instanceof Response) return error.cause.status;
  return undefined;
}

/** `HTTP 400 error=invalid_client_metadata (its description)`, or the local failure (timeout, unreachable, invalid answer). */
export function upstreamReason(error: unknown, secrets: readonly string[] = []): string {
  const parts: string[] = [];
  const status = httpStatus(error);
  if (status !== undefined) parts.push(`HTTP ${status}`);
  if (error instanceof oauth.ResponseBodyError || error instanceof oauth.AuthorizationResponseError) {
    parts.push(`error=${boundedLine(error.error, 64)}`);
    if (error.error_description !== undefined) parts.push(`(${boundedLine(error.error_description)})`);
  } else if (error instanceof oauth.WWWAuthenticateChallengeError) {
    // A 401 whose OAuth error is in the WWW-Authenticate challenge (RFC 6749 §5.2 with HTTP Basic).
    const challenge = error.cause.find((candidate) => candidate.parameters.error !== undefined) ?? error.cause[0];
    parts.push(`challenge ${boundedLine(challenge?.scheme ?? "(none)", 32)}`);
    if (challenge?.parameters.error !== undefined) parts.push(`error=${boundedLine(challenge.parameters.error, 64)}`);
    if (challenge?.parameters.error_description !== undefined) parts.push(`(${boundedLine(challenge.parameters.error_description)})`);
  } else {
    parts.push(boundedLine(error instanceof Error ? `${error.name}: ${error.message}` : String(error)));
  }
  return credentialScrubber(secrets.filter((secret) => secret !== "")).text(parts.join(" "));
}

/** The client secret the gateway authenticates with at the server's authorization server: its own registration's, else the configured one. */
export function upstreamClientSecrets(server: McpServerEntry, client: Pick<StoredClient, "upstreamCredentials">): string[] {
  const secret = client.upstreamCredentials === null ? server.config.client_secret : client.upstreamCredentials.client_secret;
  return secret === undefined ? [] : [secret];
}
