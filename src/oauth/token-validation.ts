/**
 * `token_validation` (seed): rules `{dotted.path: expected}` checked against the upstream's
 * token response, and, when the access token is a JWT, against its claims. Any mismatch
 * fails the exchange with `token_validation_failed`; the message names the rule's path,
 * never a value from the token.
 */
import { decodeJwt } from "jose/jwt/decode";
import { oauthError } from "./oauth-error.js";

function at(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split(".")) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function claimsOf(accessToken: unknown): Record<string, unknown> | undefined {
  if (typeof accessToken !== "string" || accessToken.split(".").length !== 3) return undefined;
  try {
    return decodeJwt(accessToken) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function validateTokenResponse(rules: Readonly<Record<string, unknown>> | undefined, response: Record<string, unknown>): void {
  if (rules === undefined) return;
  const claims = claimsOf(response.access_token);
  for (const [path, expected] of Object.entries(rules)) {
    const found = at(response, path);
    const actual = found !== undefined ? found : claims === undefined ? undefined : at(claims, path);
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      throw oauthError("token_validation_failed", `the upstream token does not satisfy the server's token_validation rule '${path}'`, 403);
    }
  }
}
