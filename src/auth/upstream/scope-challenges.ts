/**
 * What interactive upstreams said about scopes in their Bearer challenges (RFC 6750 §3), for
 * the MCP authorization "Scope Selection Strategy" and "Step-Up Authorization Flow":
 *
 * - the `scope` of an upstream's latest 401 challenge: the first choice for an authorization
 *   request (scope-selection.ts);
 * - the scopes of each `403 error="insufficient_scope"` a user's call got: the user is sent
 *   through consent again with the union of what they were asked for before and these, and
 *   an MCP client may ask the gateway for them (and only them beyond the configured ones).
 *
 * Kept in memory, per instance, bounded: a hostile upstream can make its own users request
 * odd scopes of its own authorization server, nothing more. A step-up that lands on another
 * instance still works for MCP clients (they send the scopes back in `scope`) when that
 * instance has seen the same challenge; the UI's Connect uses what this instance saw.
 */

/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` or `\`; bounded. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
const MAX_SCOPES = 64;
const MAX_USERS = 10_000;

export interface BearerChallenge {
  error?: string;
  scope?: string[];
  error_description?: string;
}

/** Splits a scope string into valid scope tokens (duplicates and invalid ones dropped). */
export function scopeTokens(value: string | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  return [...new Set(value.split(" ").filter((token) => SCOPE_TOKEN.test(token)))].slice(0, MAX_SCOPES);
}

export function unionScopes(...sets: ReadonlyArray<readonly string[]>): string[] {
  return [...new Set(sets.flat())];
}

/** The auth-params of the first Bearer challenge in a WWW-Authenticate value (quoted-string or token values). */
export function parseBearerChallenge(header: string | string[] | undefined): BearerChallenge | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(", ") : header;
  const start = /(?:^|,)\s*bearer(?:\s+|$)/i.exec(text);
  if (start === null) return undefined;
  const params: Record<string, string> = {};
  const param = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/y;
  param.lastIndex = start.index + start[0].length;
  for (let match = param.exec(text); match !== null; match = param.exec(text)) {
    const name = match[1]!.toLowerCase();
    if (!(name in params)) params[name] = match[2] === undefined ? match[3]! : match[2].replace(/\\(.)/g, "$1");
  }
  return {
    ...(params.error === undefined ? {} : { error: params.error }),
    ...(params.scope === undefined ? {} : { scope: scopeTokens(params.scope) }),
    ...(params.error_description === undefined ? {} : { error_description: params.error_description }),
  };
}

export interface ScopeChallenges {
  /** An upstream's 401 challenge named these scopes (replaces the last). */
  recordUnauthorized(serverId: string, scopes: readonly string[]): void;
  /** A user's call got `insufficient_scope` for these: answers the union the user must now be asked for. */
  recordInsufficient(serverId: string, userKey: string | undefined, scopes: readonly string[]): string[];
  /** The scope of the upstream's latest 401 challenge, if any. */
  unauthorized(serverId: string): string[];
  /** Every scope the upstream demanded in an insufficient_scope challenge (what a client may add). */
  demanded(serverId: string): string[];
  /** The scopes this user was asked for by step-ups so far. */
  stepUp(serverId: string, userKey: string | undefined): string[];
}

export function scopeChallenges(): ScopeChallenges {
  const unauthorized = new Map<string, string[]>();
  const demanded = new Map<string, Set<string>>();
  const perUser = new Map<string, string[]>();
  const userKey = (serverId: string, user: string) => `${serverId}\n${user}`;

  return {
    recordUnauthorized(serverId, scopes) {
      if (scopes.length > 0) unauthorized.set(serverId, [...scopes].slice(0, MAX_SCOPES));
    },
    recordInsufficient(serverId, user, scopes) {
      const known = demanded.get(serverId) ?? new Set<string>();
      for (const scope of scopes) if (known.size < MAX_SCOPES) known.add(scope);
      demanded.set(serverId, known);
      const accepted = scopes.filter((scope) => known.has(scope));
      if (user === undefined) return accepted;
      const key = userKey(serverId, user);
      const union = unionScopes(perUser.get(key) ?? [], accepted).slice(0, MAX_SCOPES);
      // Least recently challenged users go first when the map is full.
      perUser.delete(key);
      if (perUser.size >= MAX_USERS) perUser.delete(perUser.keys().next().value!);
      perUser.set(key, union);
      return union;
    },
    unauthorized: (serverId) => [...(unauthorized.get(serverId) ?? [])],
    demanded: (serverId) => [...(demanded.get(serverId) ?? [])],
    stepUp: (serverId, user) => (user === undefined ? [] : [...(perUser.get(userKey(serverId, user)) ?? [])]),
  };
}
