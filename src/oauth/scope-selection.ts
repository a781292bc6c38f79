/**
 * The scope of an upstream authorization request (MCP authorization, "Scope Selection
 * Strategy" and "Step-Up Authorization Flow"):
 *
 * 1. with `scopes` configured: those (the operator's choice, as LiteLLM requests them); a
 *    client may add to them only scopes the upstream itself demanded in an
 *    `insufficient_scope` challenge (a client cannot widen what the operator allowed
 *    otherwise, least of all through a shared client);
 * 2. else the `scope` of the upstream's latest 401 challenge (the spec's first choice): to
 *    a user's call, else to the gateway's discovery probe (a request without a token);
 * 3. else the scopes the MCP client asked for (its `scope`, which the SDK takes from the
 *    gateway's challenge or metadata, where the upstream's `scopes_supported` are relayed);
 * 4. else the upstream's RFC 9728 `scopes_supported` (the spec's second choice); else no
 *    `scope` at all.
 *
 * Then, for a user a step-up was asked of (`403 insufficient_scope` from the upstream), the
 * union with every scope those challenges named, so earlier grants are not lost.
 */
import { scopeTokens, unionScopes, type ScopeChallenges } from "../auth/upstream/scope-challenges.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export function selectScope(
  server: McpServerEntry,
  requested: string | null,
  upstream: { scopes: readonly string[]; challengeScopes: readonly string[] },
  challenges: ScopeChallenges | undefined,
  userKey: string | undefined,
): string | undefined {
  const configured = server.config.scopes ?? [];
  const asked = scopeTokens(requested);
  let base: string[];
  if (configured.length > 0) {
    const demanded = new Set(challenges?.demanded(server.id) ?? []);
    base = unionScopes(configured, asked.filter((scope) => demanded.has(scope)));
  } else {
    const seen = challenges?.unauthorized(server.id) ?? [];
    const challenged = seen.length > 0 ? seen : upstream.challengeScopes;
    base = challenged.length > 0 ? [...challenged] : asked.length > 0 ? asked : [...upstream.scopes];
  }
  const scopes = unionScopes(base, challenges?.stepUp(server.id, userKey) ?? []);
  return scopes.length === 0 ? undefined : scopes.join(" ");
}
