/**
 * Keeps gateway keys on this side (a gateway key is never sent upstream; LiteLLM #30559,
 * issue 15 item 9): an inbound header that could go upstream (Authorization, an
 * `extra_headers` name, a per-request `x-mcp-{server}-{name}`) is not sent when any
 * credential in it is a gateway key, however it is written: a bare key, one of several
 * comma-separated credentials, a Bearer token, the user or password of `Basic
 * base64(user:password)`, a quoted or `name=value` piece. Master key and virtual keys
 * alike, and not only the key that authenticated the request.
 *
 * Cost: nothing on a request whose forwarded headers carry no credential (most carry only
 * `x-litellm-api-key`, which never goes upstream). Each candidate is compared with the
 * presented key and the master key on SHA-256 digests in constant time; only candidates
 * shaped like a virtual key (`sk-...`) are looked up, through the resolver's cache. One
 * screen lives for one request and remembers its answers, so `/mcp`'s fan-out screens a
 * header once.
 */
import { hash, timingSafeEqual } from "node:crypto";
import { isGatewayError } from "../../errors.js";
import type { RequestHeaders } from "../../headers.js";
import type { PresentedKey } from "./gateway-key.js";
import type { KeyResolver } from "./key-resolver.js";

export interface CredentialScreen {
  /** Whether some credential in `value` (an inbound header's value) is a gateway key, valid or expired. */
  carriesGatewayKey(value: string): Promise<boolean>;
}

/**
 * More distinct pieces than any credential header has: such a value is not screened piece
 * by piece (each could cost a lookup) but kept back whole (fail closed).
 */
export const MAX_CANDIDATES = 64;

/** Key lookups one request's screen makes at most, across all its headers. */
export const MAX_LOOKUPS_PER_REQUEST = 64;

const BEARER = /^bearer(\s+|$)/i;

const unquote = (value: string) => value.replace(/^"(.*)"$/s, "$1");

/**
 * What a receiver may decode from a token as base64. Decoders are lenient (Node's skips
 * whitespace and characters outside the alphabet and takes the url-safe alphabet too, as
 * the `basic-auth` package does), so `Basic .<base64>` or a tab inside still decodes to the
 * key: the screen decodes the same way instead of insisting on canonical base64.
 */
function base64Decoded(token: string): string | undefined {
  const compact = token.replace(/[^A-Za-z0-9+/_-]/g, "");
  if (compact.length < 8) return undefined;
  return Buffer.from(compact, "base64").toString("utf8");
}

/** A decoded `user:password` (RFC 7617 §2) and its two halves. */
function userPassPieces(decoded: string): string[] {
  const colon = decoded.indexOf(":");
  return colon < 0 ? [decoded] : [decoded, decoded.slice(0, colon), decoded.slice(colon + 1)];
}

/** Strings shaped like a virtual key anywhere in a text (`sk-` and url-safe characters). */
const KEY_SHAPED = /sk-[A-Za-z0-9_-]{8,}/g;

/**
 * Every string in a header value that a receiver could take as a credential: the whole
 * value, each comma-separated credential (RFC 9110 §5.3 joins repeated fields with ","),
 * what follows its auth scheme, each word and each `;` `=` `:`-separated piece of a word,
 * unquoted, what each of those decodes to as (lenient) base64 with its `user:password`
 * halves, and every `sk-...` string in any of them. Undefined when there are more than
 * MAX_CANDIDATES.
 */
export function credentialCandidates(value: string): Candidates | undefined {
  const found = new Set<string>();
  const decodedTexts: string[] = [];
  const add = (candidate: string) => {
    const trimmed = candidate.trim();
    if (trimmed !== "") found.add(trimmed);
  };
  const decode = (token: string) => {
    const decoded = base64Decoded(token);
    if (decoded === undefined) return;
    decodedTexts.push(decoded);
    for (const piece of userPassPieces(decoded)) add(piece);
  };
  add(value);
  for (const part of value.split(",")) {
    const words = part.trim().split(/\s+/);
    add(part);
    if (words.length > 1) {
      const rest = unquote(words.slice(1).join(" "));
      add(rest);
      decode(rest);
    }
    for (const word of words) {
      add(unquote(word));
      decode(word);
      for (const piece of word.split(/[;=:]/)) add(unquote(piece));
    }
    if (found.size > MAX_CANDIDATES) return undefined;
  }
  const texts = [value, ...decodedTexts];
  for (const text of texts) for (const match of text.matchAll(KEY_SHAPED)) add(match[0]);
  if (found.size > MAX_CANDIDATES) return undefined;
  return { pieces: [...found], texts };
}

/** What the screen compares: every piece a receiver could take as a credential, and the texts they came from (raw and decoded). */
export interface Candidates {
  pieces: string[];
  texts: string[];
}

const digest = (value: string) => hash("sha256", value, "buffer");

/** A request's screen: `keys` resolves master and virtual keys, `presented` is the key that authenticated it. */
export function credentialScreen(keys: KeyResolver, presented: PresentedKey | undefined): CredentialScreen {
  // Made on first use: most requests never screen anything.
  let answers: Map<string, Promise<boolean>> | undefined;
  let presentedDigest: Buffer | undefined;

  let lookups = 0;

  async function isGatewayKey(candidate: string): Promise<boolean> {
    // Each sk- piece may cost a key lookup (a cached miss evicts a valid key's entry): a request
    // spreading many over many headers is kept back past the budget instead (fail closed).
    if (keys.looksUp?.(candidate) === true && ++lookups > MAX_LOOKUPS_PER_REQUEST) return true;
    try {
      return (await keys.resolve(candidate)) !== undefined;
    } catch (error) {
      // An expired or blocked key is still a gateway key; a store failure is not an answer (it propagates: fail closed).
      if (isGatewayError(error) && (error.code === "key_expired" || error.code === "key_blocked")) return true;
      throw error;
    }
  }

  async function screen(value: string): Promise<boolean> {
    const candidates = credentialCandidates(value);
    if (candidates === undefined) return true;
    // Anywhere inside, raw or decoded: a receiver that finds the key in there has it.
    if (candidates.texts.some((text) => (presented !== undefined && text.includes(presented.key)) || keys.foundIn?.(text) === true)) return true;
    if (presented !== undefined) {
      const expected = (presentedDigest ??= digest(presented.key));
      if (candidates.pieces.some((candidate) => timingSafeEqual(digest(candidate), expected))) return true;
    }
    for (const candidate of candidates.pieces) if (await isGatewayKey(candidate)) return true;
    return false;
  }

  return {
    carriesGatewayKey(value) {
      answers ??= new Map();
      let answer = answers.get(value);
      if (answer === undefined) {
        answer = screen(value);
        answers.set(value, answer);
      }
      return answer;
    },
  };
}

/**
 * For calls that carry no client request (the UI's own tool calls): there is no inbound
 * header to forward, and if one ever appeared it would be kept back.
 */
export const FORWARD_NOTHING: CredentialScreen = { carriesGatewayKey: () => Promise.resolve(true) };

/** The client's Authorization header when it may go upstream: present, and no credential in it is a gateway key. */
export async function forwardableAuthorization(context: { headers: RequestHeaders; screen: CredentialScreen }): Promise<string | undefined> {
  const authorization = context.headers.get("authorization");
  if (authorization === null || (await context.screen.carriesGatewayKey(authorization))) return undefined;
  return authorization;
}

/** The client's own bearer token (its upstream token), never a gateway key. */
export async function clientBearerToken(context: { headers: RequestHeaders; screen: CredentialScreen }): Promise<string | undefined> {
  const authorization = context.headers.get("authorization");
  if (authorization === null || !BEARER.test(authorization)) return undefined;
  const token = authorization.replace(BEARER, "").trim();
  if (token === "" || (await context.screen.carriesGatewayKey(authorization))) return undefined;
  return token;
}

/** Whether the client's Authorization was kept back because it carries a gateway key (to say so in an error). */
export async function authorizationCarriesGatewayKey(context: { headers: RequestHeaders; screen: CredentialScreen }): Promise<boolean> {
  const authorization = context.headers.get("authorization");
  return authorization !== null && (await context.screen.carriesGatewayKey(authorization));
}
