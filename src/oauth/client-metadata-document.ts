/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00; the
 * MCP 2026-07-28 authorization spec prefers them over dynamic registration): an MCP client
 * whose `client_id` is an https URL is known by the JSON document at that URL.
 *
 * Steps, in order: the URL is a valid client_id (§3: https, a path, no dot segments,
 * fragment or userinfo); its host passes the operator's trust policy; the document is
 * fetched (single-flight, cached per HTTP cache headers, and a fetch that misses the cache
 * counted against the caller's address: anyone can send a URL client_id, and each new URL
 * is an outbound request the gateway makes for them) through the SSRF guard; it is
 * validated (§4.1: `client_id` equals the URL; `client_name` and `redirect_uris` present; no
 * shared secrets, §4.1: `private_key_jwt` with `jwks` or `jwks_uri`, or `none`).
 *
 * The SSRF guard (§6.5): an attacker chooses the URL, so the gateway resolves the host
 * itself, refuses any loopback, private, link-local, shared, multicast or reserved address,
 * and connects to exactly the address it checked (undici `connect.lookup`: no second DNS
 * answer to rebind to). No redirects are followed, the body is capped, the whole fetch has a
 * deadline. Hosts the operator lists as internal skip the address check (and may use http
 * when on loopback: local development and tests only; the default list is empty).
 *
 * Every refusal is a GatewayError with a client-safe message naming the step and what to
 * change; nothing here answers a 500.
 */
import { createHash } from "node:crypto";
import { lookup as dnsLookup } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { Agent, request } from "undici";
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { isLoopbackHostname } from "../loopback.js";
import { oauthError } from "./oauth-error.js";
import { registrableRedirectUri } from "./redirect-uris.js";
import { GatewayError, isGatewayError } from "../errors.js";
import type { AddressRateLimit } from "./address-rate-limit.js";

export interface ClientMetadataDocumentOptions {
  /**
   * Trust policy: host patterns whose client_id URLs are accepted. `*` any host;
   * `example.com` that host; `*.example.com` its subdomains. Empty: documents are refused.
   */
  trustedHosts: readonly string[];
  /** Hosts fetched even when they resolve to internal addresses (and over http when on loopback). Default none. */
  internalHosts?: readonly string[];
  /** Deadline of one fetch, headers and body. Default 5 s. */
  timeoutMs?: number;
  /** Largest document (and JWK set) read. Default 16 KiB. */
  maxBytes?: number;
  /** Freshness when the answer has no cache headers; cache headers are honoured up to `maxCacheSeconds`. */
  defaultCacheSeconds?: number;
  maxCacheSeconds?: number;
  /** DNS resolution (tests put a resolver here that answers private addresses). */
  resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
  now?: () => number;
  /** Extra trusted CA certificates (PEM) for document hosts; production uses the system store (or NODE_EXTRA_CA_CERTS). */
  ca?: string;
  /** Fetches that miss the cache, per caller address (cache hits, and callers joining a fetch in flight, are free). Default: no limit. */
  fetchLimit?: AddressRateLimit;
}

/** The setting behind `fetchLimit`, named in the refusal. */
const FETCH_LIMIT_SETTING = "general_settings.oauth_client_metadata_document_fetch_rate_limit_per_minute";

/** A validated client metadata document. */
export interface ClientMetadataDocument {
  clientId: string;
  /** The host of the client_id URL: shown on the consent page. */
  host: string;
  clientName: string;
  redirectUris: string[];
  tokenEndpointAuthMethod: "none" | "private_key_jwt";
  /** The client's keys for private_key_jwt. */
  keys?: JWTVerifyGetKey;
  /** The metadata kept with the client (StoredClient.metadata). */
  metadata: Record<string, unknown>;
}

const DEFAULTS = { timeoutMs: 5000, maxBytes: 16 * 1024, defaultCacheSeconds: 300, maxCacheSeconds: 24 * 3600 };
const MAX_CLIENT_ID_LENGTH = 2048;

/** Is this client_id a URL (a metadata document) rather than an id the gateway issued? */
export function isClientIdUrl(clientId: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(clientId);
}

/** A refusal the client is told; the detail makes the log line (with the request id) an info line an operator finds. */
function refused(step: string, problem: string, change: string, code = "invalid_client", status = 400) {
  return oauthError(code, `client metadata document (${step}): ${problem}; ${change}`, status, `client metadata document ${step}: ${problem}`);
}

/** Addresses no document fetch may reach (RFC 6890 special-purpose ranges). */
const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24],
  ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const) INTERNAL.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 128], ["::1", 128], ["64:ff9b::", 96], ["64:ff9b:1::", 48], ["100::", 64], ["2001::", 23], ["2001:db8::", 32], ["2002::", 16],
  ["fc00::", 7], ["fe80::", 10], ["fec0::", 10], ["ff00::", 8],
] as const) INTERNAL.addSubnet(net, prefix, "ipv6");

/** Whether an address is internal: a special-purpose range, or an IPv4-mapped/compatible form of one. */
export function isInternalAddress(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const family = isIP(bare);
  if (family === 0) return true;
  if (family === 4) return INTERNAL.check(bare, "ipv4");
  const mapped = /^::(?:ffff:(?:0:)?)?(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped !== null) return INTERNAL.check(mapped[1]!, "ipv4");
  if (/^::ffff:/.test(bare)) return true;
  return INTERNAL.check(bare, "ipv6");
}

function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  if (p === "*") return true;
  if (p.startsWith("*.")) return host.endsWith(p.slice(1)) && host.length > p.length - 1;
  return host === p;
}

/** The client_id URL rules of §3; answers the parsed URL. */
function parseClientIdUrl(clientId: string, internalHosts: readonly string[]): URL {
  const change = "the client must use an https URL with a path, without fragment, userinfo or dot segments, as its client_id";
  if (clientId.length > MAX_CLIENT_ID_LENGTH) throw refused("client_id", `longer than ${MAX_CLIENT_ID_LENGTH} characters`, change);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\u0000-\u0020\u007f\\]/.test(clientId)) throw refused("client_id", "contains a space, a backslash or a control character", change);
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    throw refused("client_id", "is not a URL", change);
  }
  const host = url.hostname.toLowerCase();
  const httpAllowed = url.protocol === "http:" && isLoopbackHostname(host) && internalHosts.some((pattern) => hostMatches(pattern, host));
  if (url.protocol !== "https:" && !httpAllowed) throw refused("client_id", `scheme ${url.protocol} is not https`, change);
  if (url.hash !== "" || clientId.includes("#")) throw refused("client_id", "has a fragment", change);
  if (url.username !== "" || url.password !== "") throw refused("client_id", "has userinfo", change);
  if (url.pathname === "/" || url.pathname === "") throw refused("client_id", "has no path", change);
  if (clientId.split("?")[0]!.split("/").slice(3).some((segment) => segment === "." || segment === ".." || /^%2e%2e?$|^\.%2e$/i.test(segment))) {
    throw refused("client_id", "has a dot segment", change);
  }
  // The exact string is the identifier: a URL that normalises differently is another client.
  if (url.href !== clientId) throw refused("client_id", `is not in normal form (${url.href})`, change);
  return url;
}

/** Cache lifetime from Cache-Control / Expires (RFC 9111), in seconds; 0: do not reuse. */
function freshnessSeconds(headers: Record<string, string | string[] | undefined>, nowMs: number, fallback: number, max: number): number {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(",") : value;
  };
  const cacheControl = (header("cache-control") ?? "").toLowerCase();
  if (/(^|,)\s*(no-store|no-cache|private)\b/.test(cacheControl)) return 0;
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)/.exec(cacheControl);
  if (maxAge !== null) return Math.min(Number(maxAge[1]), max);
  const expires = header("expires");
  if (expires !== undefined) {
    const at = Date.parse(expires);
    return Number.isNaN(at) ? 0 : Math.max(0, Math.min(Math.floor((at - nowMs) / 1000), max));
  }
  return Math.min(fallback, max);
}

interface CacheEntry {
  document: ClientMetadataDocument;
  freshUntil: number;
}

export function createClientMetadataDocuments(options: ClientMetadataDocumentOptions) {
  const internalHosts = options.internalHosts ?? [];
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
  const defaultCache = options.defaultCacheSeconds ?? DEFAULTS.defaultCacheSeconds;
  const maxCache = options.maxCacheSeconds ?? DEFAULTS.maxCacheSeconds;
  const now = options.now ?? Date.now;
  const resolve =
    options.resolve ??
    ((hostname: string) =>
      new Promise<{ address: string; family: number }[]>((done, fail) =>
        dnsLookup(hostname, { all: true }, (error, addresses) => (error ? fail(error) : done(addresses))),
      ));

  const isInternalHost = (host: string) => internalHosts.some((pattern) => hostMatches(pattern, host));

  /** The lookup undici connects with: the checked address is the one connected to (no rebinding window). */
  const guardedLookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const allowed = isInternalHost(hostname.toLowerCase()) ? addresses : addresses.filter((entry) => !isInternalAddress(entry.address));
        if (allowed.length === 0) {
          const error = Object.assign(new Error(`${hostname} resolves only to internal addresses`), { code: "GATEHOUSE_INTERNAL_ADDRESS" });
          callback(error, "", 0);
          return;
        }
        if ((lookupOptions as { all?: boolean }).all === true) (callback as unknown as (e: null, a: typeof allowed) => void)(null, allowed);
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
  const agent = new Agent({ connect: { lookup: guardedLookup, timeout: timeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, maxRedirections: 0 } as Agent.Options);

  /** GET through the guard; answers the parsed JSON and the cache headers. */
  async function fetchJson(url: URL, step: string, change: string): Promise<{ body: unknown; headers: Record<string, string | string[] | undefined> }> {
    const host = url.hostname.toLowerCase();
    if (isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0 && isInternalAddress(host) && !isInternalHost(host)) {
      throw refused(step, `${url.host} is an internal address, which the gateway never fetches`, change);
    }
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, { method: "GET", dispatcher: agent, signal, headers: { accept: "application/json" } });
    } catch (error) {
      const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
      if (code === "GATEHOUSE_INTERNAL_ADDRESS") throw refused(step, `${url.host} resolves to an internal address, which the gateway never fetches`, change);
      if (signal.aborted || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT") throw refused(step, `${url.host} did not answer within ${timeoutMs} ms`, change);
      throw refused(step, `${url.host} could not be reached (${code ?? "connection failed"})`, change);
    }
    const { statusCode, headers, body } = response;
    if (statusCode >= 300 && statusCode < 400) {
      await body.dump().catch(() => undefined);
      throw refused(step, `the URL answered a redirect (HTTP ${statusCode}); redirects are not followed`, "serve the document at the client_id URL itself");
    }
    if (statusCode !== 200) {
      await body.dump().catch(() => undefined);
      throw refused(step, `the URL answered HTTP ${statusCode}`, change);
    }
    const declared = Number(headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await body.dump().catch(() => undefined);
      throw refused(step, `the document is larger than ${maxBytes} bytes`, "keep the document small");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          body.destroy();
          throw refused(step, `the document is larger than ${maxBytes} bytes`, "keep the document small");
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw refused(step, `${url.host} did not send the whole document within ${timeoutMs} ms`, change);
    }
    try {
      return { body: JSON.parse(Buffer.concat(chunks).toString("utf8")), headers };
    } catch {
      throw refused(step, "the answer is not JSON", "serve the client metadata as a JSON object");
    }
  }

  async function keysFor(metadata: Record<string, unknown>): Promise<JWTVerifyGetKey | undefined> {
    const change = "publish the client's public keys as `jwks` (a JWK set) or `jwks_uri` (an https URL of one)";
    if (metadata.jwks !== undefined && metadata.jwks_uri !== undefined) throw refused("validation", "has both jwks and jwks_uri", "publish only one of them");
    let set: unknown = metadata.jwks;
    if (metadata.jwks_uri !== undefined) {
      if (typeof metadata.jwks_uri !== "string") throw refused("validation", "jwks_uri is not a string", change);
      const uri = parseClientIdUrl(metadata.jwks_uri, internalHosts);
      set = (await fetchJson(uri, "jwks_uri", change)).body;
    }
    if (set === undefined) throw refused("validation", "token_endpoint_auth_method is private_key_jwt but there is no jwks or jwks_uri", change);
    if (typeof set !== "object" || set === null || !Array.isArray((set as { keys?: unknown }).keys)) throw refused("validation", "the JWK set has no `keys` array", change);
    try {
      return createLocalJWKSet(set as JSONWebKeySet);
    } catch {
      throw refused("validation", "the JWK set is invalid", change);
    }
  }

  async function validate(url: URL, body: unknown): Promise<ClientMetadataDocument> {
    const clientId = url.href;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw refused("validation", "the document is not a JSON object", "serve the client metadata as a JSON object");
    const metadata = body as Record<string, unknown>;
    if (metadata.client_id !== clientId) {
      throw refused("validation", `its client_id ${JSON.stringify(metadata.client_id)} is not the URL it was fetched from`, `set "client_id" to exactly ${clientId}`);
    }
    if (typeof metadata.client_name !== "string" || metadata.client_name.trim() === "" || metadata.client_name.length > 200) {
      throw refused("validation", "client_name is missing, empty or longer than 200 characters", 'add a "client_name" the user will recognise');
    }
    const uris = metadata.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || uris.length > 20) throw refused("validation", "redirect_uris must list 1 to 20 redirect URIs", 'list the client\'s redirect URIs in "redirect_uris"');
    uris.forEach((uri, index) => {
      const problem = registrableRedirectUri(uri);
      if (problem !== undefined) throw refused("validation", `redirect_uris[${index}] ${problem}`, "fix the redirect URI in the document");
    });
    for (const secret of ["client_secret", "client_secret_expires_at"]) {
      if (metadata[secret] !== undefined) throw refused("validation", `has ${secret}; a metadata document is public and must not hold a shared secret`, "remove it and use private_key_jwt or none");
    }
    const method = metadata.token_endpoint_auth_method ?? "none";
    if (method !== "none" && method !== "private_key_jwt") {
      throw refused("validation", `token_endpoint_auth_method ${JSON.stringify(method)} is not supported`, 'use "none" (a public client with PKCE) or "private_key_jwt"');
    }
    const grants = metadata.grant_types;
    if (grants !== undefined && (!Array.isArray(grants) || grants.some((grant) => grant !== "authorization_code" && grant !== "refresh_token"))) {
      throw refused("validation", "grant_types may hold only authorization_code and refresh_token", "fix grant_types");
    }
    const responseTypes = metadata.response_types;
    if (responseTypes !== undefined && (!Array.isArray(responseTypes) || responseTypes.some((type) => type !== "code"))) {
      throw refused("validation", "response_types may hold only code", "fix response_types");
    }
    const keys = method === "private_key_jwt" ? await keysFor(metadata) : undefined;
    return {
      clientId,
      host: url.host,
      clientName: metadata.client_name,
      redirectUris: uris as string[],
      tokenEndpointAuthMethod: method,
      ...(keys === undefined ? {} : { keys }),
      metadata: {
        client_id: clientId,
        client_name: metadata.client_name,
        redirect_uris: uris,
        token_endpoint_auth_method: method,
        ...(typeof metadata.client_uri === "string" ? { client_uri: metadata.client_uri } : {}),
        client_id_metadata_document: true,
      },
    };
  }

  const cache = new Map<string, CacheEntry>();
  const pending = new Map<string, Promise<ClientMetadataDocument>>();

  async function load(url: URL): Promise<ClientMetadataDocument> {
    const { body, headers } = await fetchJson(url, "fetch", `make sure ${url.href} serves the client's metadata document`);
    const document = await validate(url, body);
    const seconds = freshnessSeconds(headers, now(), defaultCache, maxCache);
    if (seconds > 0) {
      // Bounded: a flood of distinct client_ids drops the oldest entries, not the process.
      if (cache.size >= 1000) cache.delete(cache.keys().next().value!);
      cache.set(url.href, { document, freshUntil: now() + seconds * 1000 });
    } else cache.delete(url.href);
    return document;
  }

  /** Counts a fetch the cache cannot spare against the caller's address; past the limit, a 429 that says when to come back. */
  function admitFetch(address: string): void {
    const verdict = options.fetchLimit?.take(address) ?? { allowed: true };
    if (verdict.allowed) return;
    throw new GatewayError({
      status: 429,
      // RFC 6749 §4.1.2.1's code for a server that cannot take the request now.
      code: "temporarily_unavailable",
      message:
        `client metadata document (fetch): too many documents the gateway had not cached were requested from this address; ` +
        `try again in ${verdict.retryAfterSeconds} s, or ask the gateway's operator to raise ${FETCH_LIMIT_SETTING}`,
      headers: { "retry-after": String(verdict.retryAfterSeconds) },
    });
  }

  return {
    /** Whether the trust policy accepts any document at all (advertised in RFC 8414 metadata). */
    enabled: options.trustedHosts.length > 0,

    /**
     * The validated document of a URL client_id, from the cache while fresh. `address` is the
     * caller's (trusted X-Forwarded-For or the peer): a fetch this call starts counts against it.
     */
    async resolve(clientId: string, address: string): Promise<ClientMetadataDocument> {
      const url = parseClientIdUrl(clientId, internalHosts);
      const host = url.hostname.toLowerCase();
      if (!options.trustedHosts.some((pattern) => hostMatches(pattern, host))) {
        throw refused("trust policy", `the host ${url.hostname} is not trusted by this gateway`, "ask the gateway's operator to add it to general_settings.oauth_client_metadata_document_hosts");
      }
      const cached = cache.get(url.href);
      if (cached !== undefined && cached.freshUntil > now()) return cached.document;
      // One fetch per URL at a time: later callers wait for it (and are not counted).
      let inflight = pending.get(url.href);
      if (inflight === undefined) {
        admitFetch(address);
        inflight = load(url).finally(() => pending.delete(url.href));
        pending.set(url.href, inflight);
      }
      return inflight;
    },

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

export type ClientMetadataDocuments = ReturnType<typeof createClientMetadataDocuments>;

/**
 * RFC 8252 §7.3: for a loopback redirect URI the port is the native app's to choose at run
 * time, so any port matches; every other part (and every other URI) must match exactly.
 */
export function documentRedirectUriMatches(registered: string, requested: string): boolean {
  if (registered === requested) return true;
  let a: URL, b: URL;
  try {
    a = new URL(registered);
    b = new URL(requested);
  } catch {
    return false;
  }
  const loopback = (url: URL) => url.protocol === "http:" && (url.hostname === "127.0.0.1" || url.hostname === "[::1]" || url.hostname === "localhost");
  if (!loopback(a) || !loopback(b)) return false;
  return a.hostname === b.hostname && a.pathname === b.pathname && a.search === b.search && b.hash === "" && b.username === "" && b.password === "";
}

/** Every redirect URI is on loopback: any local program can receive the code (spec: warn the user). */
export function onlyLoopbackRedirects(uris: readonly string[]): boolean {
  return uris.every((uri) => {
    try {
      const host = new URL(uri).hostname;
      return host === "127.0.0.1" || host === "[::1]" || host === "localhost";
    } catch {
      return false;
    }
  });
}

/**
 * The gateway's key for a document client at one server: the URL is the same for every
 * server, while the stored client (its upstream registration, its completion) is per server.
 */
export function documentClientKey(serverId: string, clientId: string): string {
  return `cimd_${createHash("sha256").update(`${serverId}\n${clientId}`).digest("base64url")}`;
}
