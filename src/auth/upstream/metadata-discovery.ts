/**
 * Every upstream metadata lookup the gateway makes, under one policy: authorization
 * server metadata (RFC 8414, OpenID Connect Discovery 1.0 §4) and protected resource
 * metadata (RFC 9728, at its well-known URL or at the URL an upstream's challenge named),
 * and the challenge itself (the upstream's 401 to an MCP request without credentials).
 *
 * As jose's remote JWK set does:
 * - one request per URL at a time: concurrent callers share the pending promise;
 * - each request has its own `AbortSignal.timeout`; a caller with a shorter budget stops
 *   waiting at its budget without cutting the request others share;
 * - answers are kept in a bounded cache (the oldest entry leaves first) until they expire.
 *
 * What is never cached as an answer: a lookup that got no answer (unreachable, timed out,
 * 5xx, 429) is not cached at all, so an outage is not remembered once it ends; an answer
 * without usable metadata (404, not a document, another issuer) is kept as `absent` for
 * `absentTtlMs` only, and callers treat it as absent, never as a document.
 */
import * as oauth from "oauth4webapi";
import { allowHttp } from "./allow-http.js";

export type Discovered<T> =
  | { status: "found"; metadata: T }
  /** The server answered, without usable metadata. */
  | { status: "absent" }
  /** No answer: the caller may try again later. */
  | { status: "failed"; error: unknown };

export interface LookupOptions {
  /** How long this caller waits (and, if it starts the request, the request's timeout). Default: the discovery's `timeoutMs`. */
  timeoutMs?: number;
  /** An answer older than this is fetched again for this caller. Default: the discovery's `ttlMs`. */
  maxAgeMs?: number;
}

export interface MetadataDiscovery {
  /** RFC 8414 (`oauth2`) or OpenID (`oidc`) metadata of `issuer`; a document naming another issuer is absent (RFC 8414 §3.3). */
  authorizationServer(issuer: URL, algorithm: "oauth2" | "oidc", options?: LookupOptions): Promise<Discovered<oauth.AuthorizationServer>>;
  /** RFC 9728 metadata at the well-known URL of `resource`; a document naming another resource is absent (RFC 9728 §3.3). */
  protectedResource(resource: URL, options?: LookupOptions): Promise<Discovered<oauth.ResourceServer>>;
  /** A protected resource metadata document at `url` as an upstream's challenge named it (RFC 9728 §5.1): a JSON object listing authorization servers. */
  resourceMetadataDocument(url: URL, options?: LookupOptions): Promise<Discovered<Record<string, unknown>>>;
  /** RFC 9728 metadata at `url` (named by the upstream's challenge, §5.1); a document naming another resource than `resource` is absent (§3.3). */
  protectedResourceAt(url: URL, resource: URL, options?: LookupOptions): Promise<Discovered<oauth.ResourceServer>>;
  /**
   * The MCP 2025-03-26 way, for an upstream without RFC 9728 metadata: the RFC 8414 document
   * at `origin`'s root well-known URL, whose issuer may carry a path on that same origin
   * (servers of that era publish `{origin}/oauth` there). An issuer on another origin is absent.
   */
  legacyAuthorizationServer(origin: URL, options?: LookupOptions): Promise<Discovered<oauth.AuthorizationServer>>;
  /** The `WWW-Authenticate` of the 401 an MCP server answers to an MCP request without credentials; absent when it answers otherwise. */
  upstreamChallenge(upstream: URL, options?: LookupOptions): Promise<Discovered<string>>;
}

export interface MetadataDiscoveryOptions {
  now?: () => number;
  /** Each request's timeout. */
  timeoutMs?: number;
  /** How long a document is used. */
  ttlMs?: number;
  /** How long an answer without metadata is believed. */
  absentTtlMs?: number;
  /** Most URLs remembered at once. */
  maxEntries?: number;
}

export const DISCOVERY_TIMEOUT_MS = 10_000;
const TTL_MS = 60 * 60_000;
const ABSENT_TTL_MS = 60_000;
const MAX_ENTRIES = 1_000;
const MAX_DOCUMENT_BYTES = 64 * 1024;

type Answer = { status: "found"; metadata: unknown } | { status: "absent" };

/** The answer is no answer: the server is down or overloaded, and may be back soon. */
class NoAnswer extends Error {}

export function metadataDiscovery(options: MetadataDiscoveryOptions = {}): MetadataDiscovery {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DISCOVERY_TIMEOUT_MS;
  const ttlMs = options.ttlMs ?? TTL_MS;
  const absentTtlMs = options.absentTtlMs ?? ABSENT_TTL_MS;
  const maxEntries = options.maxEntries ?? MAX_ENTRIES;
  const answers = new Map<string, { answer: Answer; at: number }>();
  const pending = new Map<string, Promise<Discovered<unknown>>>();

  function remember(key: string, answer: Answer): void {
    answers.delete(key);
    if (answers.size >= maxEntries) answers.delete(answers.keys().next().value!);
    answers.set(key, { answer, at: now() });
  }

  function lookup<T>(key: string, call: LookupOptions, fetchAndProcess: (signal: AbortSignal) => Promise<T>): Promise<Discovered<T>> {
    const known = answers.get(key);
    if (known !== undefined) {
      const age = now() - known.at;
      const maxAge = Math.min(call.maxAgeMs ?? ttlMs, known.answer.status === "found" ? ttlMs : absentTtlMs);
      if (age < maxAge) return Promise.resolve(known.answer as Discovered<T>);
    }
    let shared = pending.get(key) as Promise<Discovered<T>> | undefined;
    if (shared === undefined) {
      const request = settle(fetchAndProcess, AbortSignal.timeout(call.timeoutMs ?? timeoutMs));
      shared = request.then((outcome) => {
        if (pending.get(key) === request) pending.delete(key);
        if (outcome.status !== "failed") remember(key, outcome);
        return outcome;
      });
      pending.set(key, request);
      return shared;
    }
    return call.timeoutMs === undefined ? shared : withinBudget(shared, call.timeoutMs);
  }

  return {
    authorizationServer(issuer, algorithm, call = {}) {
      return lookup(`${algorithm} ${issuer.href}`, call, async (signal) => {
        const response = await oauth.discoveryRequest(issuer, { algorithm, signal, ...allowHttp(issuer) });
        refuseNoAnswer(response);
        return oauth.processDiscoveryResponse(issuer, response);
      });
    },
    protectedResource(resource, call = {}) {
      return lookup(`rfc9728 ${resource.href}`, call, async (signal) => {
        const response = await oauth.resourceDiscoveryRequest(resource, { signal, ...allowHttp(resource) });
        refuseNoAnswer(response);
        return oauth.processResourceDiscoveryResponse(resource, response);
      });
    },
    resourceMetadataDocument(url, call = {}) {
      return lookup(`document ${url.href}`, call, async (signal) => {
        const response = await fetch(url, { headers: { accept: "application/json" }, redirect: "error", signal });
        refuseNoAnswer(response);
        const text = await response.text();
        if (!response.ok || text.length > MAX_DOCUMENT_BYTES) throw new Error("not a metadata document");
        const document: unknown = JSON.parse(text);
        if (typeof document !== "object" || document === null || Array.isArray(document)) throw new Error("not a JSON object");
        if (!Array.isArray((document as { authorization_servers?: unknown }).authorization_servers)) throw new Error("no authorization_servers");
        return document as Record<string, unknown>;
      });
    },
    protectedResourceAt(url, resource, call = {}) {
      return lookup(`rfc9728 ${url.href} for ${resource.href}`, call, async (signal) => {
        const response = await fetch(url, { headers: { accept: "application/json" }, redirect: "error", signal });
        refuseNoAnswer(response);
        return oauth.processResourceDiscoveryResponse(resource, response);
      });
    },
    legacyAuthorizationServer(origin, call = {}) {
      return lookup(`legacy ${origin.origin}`, call, async (signal) => {
        const response = await oauth.discoveryRequest(new URL(origin.origin), { algorithm: "oauth2", signal, ...allowHttp(origin) });
        refuseNoAnswer(response);
        const named: unknown = response.ok ? ((await response.clone().json().catch(() => undefined)) as { issuer?: unknown } | undefined)?.issuer : undefined;
        const issuer = typeof named === "string" && URL.canParse(named) && new URL(named).origin === origin.origin ? new URL(named) : new URL(origin.origin);
        // oauth4webapi checks the rest, and that the issuer is exactly the one chosen above.
        return oauth.processDiscoveryResponse(issuer, response);
      });
    },
    upstreamChallenge(upstream, call = {}) {
      return lookup(`challenge ${upstream.href}`, call, async (signal) => {
        // What an MCP client sends first (MCP authorization, "Authorization Flow Steps"): the 401 names the metadata.
        const response = await fetch(upstream, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "gatehouse", version: "discovery" } } }),
          redirect: "manual",
          signal,
        });
        await response.body?.cancel();
        refuseNoAnswer(response);
        const challenge = response.headers.get("www-authenticate");
        if (response.status !== 401 || challenge === null) throw new Error("no challenge");
        return challenge;
      });
    },
  };
}

function refuseNoAnswer(response: Response): void {
  if (response.status >= 500 || response.status === 429) throw new NoAnswer(`HTTP ${response.status}`);
}

/** The request's outcome: a document, an answer without one, or no answer (never cached). */
async function settle<T>(fetchAndProcess: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<Discovered<T>> {
  try {
    return { status: "found", metadata: await fetchAndProcess(signal) };
  } catch (error) {
    // A timeout or network error (also while reading the body) is no answer; anything else the server said is an answer without metadata.
    if (error instanceof NoAnswer || signal.aborted || error instanceof TypeError || isAbort(error)) return { status: "failed", error };
    return { status: "absent" };
  }
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError" || (error.cause instanceof Error && isAbort(error.cause)));
}

/** The shared lookup, or `failed` once this caller's budget is spent (the lookup goes on for the others). */
function withinBudget<T>(shared: Promise<Discovered<T>>, budgetMs: number): Promise<Discovered<T>> {
  let timer: NodeJS.Timeout | undefined;
  const spent = new Promise<Discovered<T>>((resolve) => {
    timer = setTimeout(() => resolve({ status: "failed", error: new DOMException(`no answer within ${budgetMs} ms`, "TimeoutError") }), budgetMs);
  });
  return Promise.race([shared, spent]).finally(() => clearTimeout(timer));
}
