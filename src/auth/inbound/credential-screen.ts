/**
 * Keeps gateway keys on this side (CONTRACT §3, LiteLLM #30559, issue 15 item 9): an inbound
 * header that could go upstream (Authorization, an `extra_headers` name, a per-request
 * `x-mcp-{server}-{name}`) is not sent when any credential in it is a gateway key, however
 * it is written: a bare key, one of several comma-separated credentials, a Bearer token,
 * the user or password of `Basic base64(user:password)`, a quoted or `name=value` piece.
 * Master key and virtual keys alike, and not only the key that authenticated the request.
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

const BEARER = /^bearer(\s+|$)/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const unquote = (value: string) => value.replace(/^"(.*)"$/s, "$1");

/** `user:password` of a Basic credential (RFC 7617 §2), and its two halves. */
function basicPieces(token: string): string[] {
  if (!BASE64.test(token)) return [];
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? [decoded] : [decoded, decoded.slice(0, colon), decoded.slice(colon + 1)];
}

/**
 * Every string in a header value that a receiver could take as a credential: the whole
 * value, each comma-separated credential (RFC 9110 §5.3 joins repeated fields with ","),
 * what follows its auth scheme, each word and each `;` `=` `:`-separated piece of a word,
 * unquoted, and the decoded parts of a Basic credential. Undefined when there are more
 * than MAX_CANDIDATES.
 */
export function credentialCandidates(value: string): string[] | undefined {
  const found = new Set<string>();
  const add = (candidate: string) => {
    const trimmed = candidate.trim();
    if (trimmed !== "") found.add(trimmed);
  };
  add(value);
  for (const part of value.split(",")) {
    const words = part.trim().split(/\s+/);
    add(part);
    if (words.length > 1) add(unquote(words.slice(1).join(" ")));
    for (const word of words) {
      add(unquote(word));
      for (const piece of word.split(/[;=:]/)) add(unquote(piece));
    }
    if (words.length > 1 && /^basic$/i.test(words[0]!)) for (const piece of basicPieces(unquote(words[1]!))) add(piece);
    if (found.size > MAX_CANDIDATES) return undefined;
  }
  return [...found];
}

const digest = (value: string) => hash("sha256", value, "buffer");

/** A request's screen: `keys` resolves master and virtual keys, `presented` is the key that authenticated it. */
export function credentialScreen(keys: KeyResolver, presented: PresentedKey | undefined): CredentialScreen {
  // Made on first use: most requests never screen anything.
  let answers: Map<string, Promise<boolean>> | undefined;
  let presentedDigest: Buffer | undefined;

  async function isGatewayKey(candidate: string): Promise<boolean> {
    try {
      return (await keys.resolve(candidate)) !== undefined;
    } catch (error) {
      // An expired key is still a gateway key; a store failure is not an answer (it propagates: fail closed).
      if (isGatewayError(error) && error.code === "key_expired") return true;
      throw error;
    }
  }

  async function screen(value: string): Promise<boolean> {
    const candidates = credentialCandidates(value);
    if (candidates === undefined) return true;
    if (presented !== undefined) {
      const expected = (presentedDigest ??= digest(presented.key));
      if (candidates.some((candidate) => timingSafeEqual(digest(candidate), expected))) return true;
    }
    for (const candidate of candidates) if (await isGatewayKey(candidate)) return true;
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
