/**
 * Upstream text with the gateway's own credentials taken out (issue 15 item 11): an
 * upstream that answers `-32603 "invalid credentials: Bearer <secret>"` must not show the
 * server's secret to a caller who may only use the server, nor write it to the log.
 *
 * The values looked for are exactly those the gateway sent in the request's credential
 * headers and `static_headers`, and the secrets in the server's configured URL, in the forms an upstream is likely to echo them: as sent,
 * the token after an auth scheme, `user:pass` and the password behind a Basic header, and
 * each of those base64, base64url, URL-encoded and JSON-escaped. Values shorter than
 * `MIN_SECRET_LENGTH` are left alone: scrubbing them would mangle ordinary text.
 *
 * A scrubber with nothing to look for is `NO_SCRUBBING`, whose every method returns its
 * input, so requests without credentials pay nothing.
 */
import { GatewayError } from "./errors.js";

/** Shorter values are not looked for (an 8-character match is rarely a coincidence). */
export const MIN_SECRET_LENGTH = 8;

export interface CredentialScrubber {
  /** False when there is nothing to look for: every method then returns its input. */
  readonly active: boolean;
  text(value: string): string;
  /** The same bytes when nothing was found. */
  bytes(value: Buffer): Buffer;
  /** Every string inside a JSON value (a tool result, a relayed message); the same object when nothing was found. */
  value<T>(value: T): T;
  /** A GatewayError whose message, detail and extras are scrubbed; the same error when nothing was found. */
  error(error: GatewayError): GatewayError;
  /** A scrub of one byte stream cut into chunks anywhere. */
  stream(): StreamScrub;
}

export interface StreamScrub {
  /** The scrubbed bytes that are safe to pass on now (the tail that could start a secret is held back). */
  write(chunk: Buffer): Buffer;
  /** What was held back, at the end of the stream. */
  end(): Buffer;
}

/** Auth schemes whose token follows a space (RFC 9110 §11.4); the scheme itself is no secret. */
const AUTH_SCHEME = /^(bearer|basic|token|digest|dpop|negotiate|ntlm|apikey)\s+(\S.*)$/is;

/** What replaces a secret: its last 4 characters when they are plain enough for any context (JSON, URL, SSE). */
function maskOf(secret: string): string {
  const tail = secret.slice(-4);
  return secret.length >= 12 && /^[A-Za-z0-9_-]{4}$/.test(tail) ? `****${tail}` : "****";
}

/** The secrets one header value holds: the value, or the token after its scheme; for Basic also `user:pass` and the password. */
function secretsOf(headerValue: string): string[] {
  const value = headerValue.trim();
  const scheme = AUTH_SCHEME.exec(value);
  if (scheme === null) {
    // `SSWS <token>`, `s3cret-part more-secret`: the whole value, and the part after the first space.
    const space = value.search(/\s/);
    return space === -1 ? [value] : [value, value.slice(space).trim()];
  }
  const token = scheme[2]!.trim();
  if (scheme[1]!.toLowerCase() !== "basic") return [token];
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon === -1 ? [token, decoded] : [token, decoded, decoded.slice(colon + 1)];
}

/** The forms an upstream may echo a secret in. */
function encodingsOf(secret: string): string[] {
  const utf8 = Buffer.from(secret, "utf8");
  const base64 = utf8.toString("base64");
  const json = JSON.stringify(secret).slice(1, -1);
  // Encoders that escape more than JSON needs: PHP's json_encode writes `\/`, Go's encoding/json `\u003c`, `\u003e`, `\u0026`.
  const slashes = json.replace(/\//g, "\\/");
  const html = (text: string) => text.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
  return [secret, base64, base64.replace(/=+$/, ""), utf8.toString("base64url"), encodeURIComponent(secret), json, slashes, html(json), html(slashes)];
}

/**
 * Secrets in a configured upstream URL: its userinfo, query values that carry a
 * credential (by name or shape), and token-shaped path segments (`/s/<key>/mcp`).
 */
function urlSecrets(url: URL): string[] {
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const secrets = [url.username, url.password].filter((part) => part !== "").map(decode);
  for (const [name, value] of url.searchParams) if (carriesCredential(name, value)) secrets.push(value);
  for (const segment of url.pathname.split("/")) if (TOKEN_SHAPED.test(decode(segment))) secrets.push(decode(segment));
  return secrets;
}

interface Needle {
  text: string;
  bytes: Buffer;
  mask: string;
  maskBytes: Buffer;
}

/** A scrubber for the secrets in these header values. */
export function credentialScrubber(headerValues: Iterable<string>): CredentialScrubber {
  const byText = new Map<string, string>();
  for (const headerValue of headerValues) {
    for (const secret of secretsOf(headerValue)) {
      if (secret.length < MIN_SECRET_LENGTH) continue;
      const mask = maskOf(secret);
      for (const form of encodingsOf(secret)) {
        // Header values hold no line break, so neither does a needle: the stream scrub relies on it.
        if (form.length >= MIN_SECRET_LENGTH && !form.includes("\n") && !byText.has(form)) byText.set(form, mask);
      }
    }
  }
  if (byText.size === 0) return NO_SCRUBBING;
  // Longest first: where two forms match at the same place, the longer one is the secret (an escaped form over the raw one).
  const needles: Needle[] = [...byText]
    .sort(([a], [b]) => b.length - a.length)
    .map(([text, mask]) => ({ text, bytes: Buffer.from(text, "utf8"), mask, maskBytes: Buffer.from(mask, "utf8") }));
  const longest = Math.max(...needles.map((needle) => needle.bytes.length));
  return new Scrubber(needles, longest);
}

class Scrubber implements CredentialScrubber {
  readonly active = true;

  constructor(
    private readonly needles: readonly Needle[],
    private readonly longest: number,
  ) {}

  text(value: string): string {
    let out: string | undefined;
    let pos = 0;
    for (;;) {
      let found: Needle | undefined;
      let at = -1;
      for (const needle of this.needles) {
        const index = value.indexOf(needle.text, pos);
        if (index !== -1 && (at === -1 || index < at)) [found, at] = [needle, index];
      }
      if (found === undefined) break;
      out = (out ?? "") + value.slice(pos, at) + found.mask;
      pos = at + found.text.length;
    }
    return out === undefined ? value : out + value.slice(pos);
  }

  bytes(value: Buffer): Buffer {
    const { parts, pos } = this.scan(value);
    if (parts.length === 0) return value;
    parts.push(value.subarray(pos));
    return Buffer.concat(parts);
  }

  value<T>(value: T): T {
    return scrubStrings(value, (text) => this.text(text)) as T;
  }

  error(error: GatewayError): GatewayError {
    const message = this.text(error.message);
    const detail = error.detail === undefined ? undefined : this.text(error.detail);
    const extra = this.value(error.extra);
    if (message === error.message && detail === error.detail && extra === error.extra) return error;
    // The cause is left behind: its message holds what was just taken out.
    return new GatewayError({ status: error.status, code: error.code, message, detail, rpcCode: error.rpcCode, headers: error.headers, extra, expose: error.expose });
  }

  stream(): StreamScrub {
    let held = Buffer.alloc(0);
    return {
      write: (chunk) => {
        const data = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
        const { parts, pos } = this.scan(data);
        // A secret cut by the chunk boundary starts within the last `longest - 1` bytes, and after the last line break.
        const holdFrom = Math.max(pos, data.lastIndexOf(0x0a) + 1, data.length - (this.longest - 1));
        held = Buffer.from(data.subarray(holdFrom));
        if (parts.length === 0) return data.subarray(0, holdFrom);
        parts.push(data.subarray(pos, holdFrom));
        return Buffer.concat(parts);
      },
      end: () => held,
    };
  }

  /** Every whole secret in `data`: the bytes before each and its mask, and where the unscanned rest starts. */
  private scan(data: Buffer): { parts: Buffer[]; pos: number } {
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      let found: Needle | undefined;
      let at = -1;
      for (const needle of this.needles) {
        const index = data.indexOf(needle.bytes, pos);
        if (index !== -1 && (at === -1 || index < at)) [found, at] = [needle, index];
      }
      if (found === undefined) return { parts, pos };
      parts.push(data.subarray(pos, at), found.maskBytes);
      pos = at + found.bytes.length;
    }
  }
}

function scrubStrings(value: unknown, text: (value: string) => string): unknown {
  if (typeof value === "string") return text(value);
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let changed = false;
    const items = value.map((item) => {
      const scrubbed = scrubStrings(item, text);
      changed ||= scrubbed !== item;
      return scrubbed;
    });
    return changed ? items : value;
  }
  let changed = false;
  const entries = Object.entries(value).map(([key, item]) => {
    const scrubbed = scrubStrings(item, text);
    changed ||= scrubbed !== item;
    return [key, scrubbed] as const;
  });
  return changed ? Object.fromEntries(entries) : value;
}

const identity = <T>(value: T): T => value;

/** Nothing to look for. */
export const NO_SCRUBBING: CredentialScrubber = Object.freeze({
  active: false,
  text: identity,
  bytes: identity,
  value: identity,
  error: identity,
  stream: () => ({ write: identity, end: () => Buffer.alloc(0) }),
});

/**
 * Header names that carry a credential. `static_headers` and per-request headers carry
 * anything (a tenant, a region, a team name); only these, or a value shaped like a token,
 * are scrubbed, so that a team named `platform` does not turn into `****` in every answer.
 */
const CREDENTIAL_NAME = /auth|token|key|secret|passw|session|cookie|signature|credential/i;
const TOKEN_SHAPED = /^(?=.*[A-Za-z])(?=.*\d)\S{20,}$/;

function carriesCredential(name: string, value: string): boolean {
  return CREDENTIAL_NAME.test(name) || TOKEN_SHAPED.test(value.trim());
}

/**
 * The scrubber for what a stdio server answers: its configured `env` values that carry a
 * credential (by name, e.g. `GITHUB_TOKEN`, or shape), as for `static_headers`. Ordinary
 * values (`NODE_ENV: production`) are left alone, so they do not turn into `****`.
 */
export function envScrubber(env: Readonly<Record<string, string>>): CredentialScrubber {
  return credentialScrubber(Object.entries(env).filter(([name, value]) => carriesCredential(name, value)).map(([, value]) => value));
}

const byCredentials = new WeakMap<object, WeakMap<object, CredentialScrubber>>();

/**
 * The scrubber for one upstream request: every value of the credential strategy's headers
 * (the static auth_value, an M2M, exchanged or user token), and the credential-carrying
 * ones of `static_headers` and per-request `x-mcp-{server}-*` headers. Static and cached
 * credentials are the same objects from request to request, so their scrubber is built
 * once and remembered.
 */
export function scrubberFor(
  credentials: { headers: Readonly<Record<string, string>>; resolution: string },
  staticHeaders: Readonly<Record<string, string>>,
  /** The server's configured URL: a secret in it is scrubbed too. */
  url?: URL,
): CredentialScrubber {
  // The URL belongs to one server entry, as its static headers do: it keys the cache when given.
  const perServerKey: object = url ?? staticHeaders;
  let perStatic = byCredentials.get(credentials.headers);
  let scrubber = perStatic?.get(perServerKey);
  if (scrubber !== undefined) return scrubber;
  const chosen = credentials.resolution === "per-request-header";
  const values = Object.entries(credentials.headers)
    .filter(([name, value]) => !chosen || carriesCredential(name, value))
    .concat(Object.entries(staticHeaders).filter(([name, value]) => carriesCredential(name, value)))
    .map(([, value]) => value)
    .concat(url === undefined ? [] : urlSecrets(url));
  scrubber = credentialScrubber(values);
  if (perStatic === undefined) byCredentials.set(credentials.headers, (perStatic = new WeakMap()));
  perStatic.set(perServerKey, scrubber);
  return scrubber;
}
