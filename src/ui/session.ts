/**
 * Sessions of the admin web UI: a login with the master key or a virtual key opens one.
 * The browser holds a random id, signed (HMAC), in an HttpOnly cookie, so a forged or
 * mangled cookie is refused without a database read; the database holds its SHA-256 and
 * the key's identity (never the key), so "Log out" ends it on every instance, and a key
 * deleted or expired ends its sessions at the next page. Forms carry a CSRF token that is
 * an HMAC of the session id, so it needs no storage and dies with the session.
 *
 * Each session is bound to a keyed fingerprint (HMAC) of the key that opened it: of the
 * master key itself, or of the virtual key's hash. A restart with another master key (same
 * salt key and database) ends every master session, where the old cookie would otherwise
 * still mint keys (issue 15 item 4).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { masterCaller, type Caller } from "../auth/inbound/caller.js";
import type { KeyResolver } from "../auth/inbound/key-resolver.js";
import { callerFromKey } from "../auth/inbound/virtual-keys.js";
import type { KeysRepository } from "../store/keys-repository.js";
import type { UiSessionsRepository } from "../store/ui-sessions-repository.js";

export const SESSION_COOKIE = "gatehouse_session";
export const SESSION_TTL_MS = 8 * 60 * 60_000;

export interface UiSession {
  caller: Caller;
  /** The token every form of this session carries. */
  csrf: string;
  expiresAt: number;
}

/** `cookie` below is the cookie's value: the session id and its signature. */
export interface UiSessions {
  /** Opens a session for a gateway key; undefined when the key is unknown. */
  login(key: string): Promise<{ cookie: string; session: UiSession } | undefined>;
  resolve(cookie: string): Promise<UiSession | undefined>;
  logout(cookie: string): Promise<void>;
  /** Whether `token` is the CSRF token of the session (constant time). */
  checkCsrf(cookie: string, token: string | undefined): boolean;
}

const hash = (id: string) => createHash("sha256").update(id).digest("hex");

export interface UiSessionsDeps {
  repo: UiSessionsRepository;
  keys: KeyResolver;
  keysRepo: KeysRepository;
  csrfKey: Buffer;
  /** The current master key: master sessions are bound to its fingerprint. */
  masterKey: string;
  now?: () => number;
}

export function uiSessions(deps: UiSessionsDeps): UiSessions {
  const now = deps.now ?? Date.now;
  const mac = (purpose: string, id: string) => createHmac("sha256", deps.csrfKey).update(`${purpose}:${id}`).digest("base64url");
  const masterBinding = mac("ui-binding", `master:${deps.masterKey}`);
  /** The fingerprint a session of `subject` must carry: of the master key, or of the virtual key's hash. */
  const bindingOf = (subject: string) => (subject === "master" ? masterBinding : mac("ui-binding", subject));
  const csrfFor = (id: string) => mac("ui-session", id);
  const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  /** The session id of a well-signed cookie value. */
  function idOf(cookie: string): string | undefined {
    const dot = cookie.indexOf(".");
    if (dot <= 0 || cookie.length > 200) return undefined;
    const id = cookie.slice(0, dot);
    return sameText(cookie.slice(dot + 1), mac("ui-cookie", id)) ? id : undefined;
  }

  async function callerOf(subject: string, binding: string | null): Promise<Caller | undefined> {
    if (binding === null || !sameText(binding, bindingOf(subject))) return undefined;
    if (subject === "master") return masterCaller();
    if (!subject.startsWith("key:")) return undefined;
    const stored = await deps.keysRepo.findByToken(subject.slice("key:".length));
    // A blocked, expired or regenerated key (its old hash is gone) ends its sessions.
    if (stored === undefined || stored.blocked || (stored.expiresAt !== null && Date.parse(stored.expiresAt) <= now())) return undefined;
    return callerFromKey(stored);
  }

  return {
    async login(key) {
      const caller = await deps.keys.resolve(key);
      if (caller === undefined) return undefined;
      const id = randomBytes(32).toString("base64url");
      const expiresAt = now() + SESSION_TTL_MS;
      await deps.repo.insert(hash(id), { subject: caller.subject, expiresAt, binding: bindingOf(caller.subject) });
      return { cookie: `${id}.${mac("ui-cookie", id)}`, session: { caller, csrf: csrfFor(id), expiresAt } };
    },
    async resolve(cookie) {
      const id = idOf(cookie);
      if (id === undefined) return undefined;
      const stored = await deps.repo.find(hash(id));
      if (stored === undefined || stored.expiresAt <= now()) return undefined;
      const caller = await callerOf(stored.subject, stored.binding);
      return caller === undefined ? undefined : { caller, csrf: csrfFor(id), expiresAt: stored.expiresAt };
    },
    async logout(cookie) {
      const id = idOf(cookie);
      if (id !== undefined) await deps.repo.delete(hash(id));
    },
    checkCsrf(cookie, token) {
      const id = idOf(cookie);
      return id !== undefined && token !== undefined && sameText(token, csrfFor(id));
    },
  };
}
