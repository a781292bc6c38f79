/**
 * Sessions of the admin web UI: a login with the master key or a virtual key opens one.
 * The browser holds a random id in an HttpOnly cookie; the database holds its SHA-256 and
 * the key's identity (never the key), so "Log out" ends it on every instance, and a key
 * deleted or expired ends its sessions at the next page. Forms carry a CSRF token that is
 * an HMAC of the session id, so it needs no storage and dies with the session.
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

export interface UiSessions {
  /** Opens a session for a gateway key; undefined when the key is unknown. */
  login(key: string): Promise<{ id: string; session: UiSession } | undefined>;
  resolve(id: string): Promise<UiSession | undefined>;
  logout(id: string): Promise<void>;
  /** Whether `token` is the CSRF token of the session `id` (constant time). */
  checkCsrf(id: string, token: string | undefined): boolean;
}

const hash = (id: string) => createHash("sha256").update(id).digest("hex");

export function uiSessions(deps: { repo: UiSessionsRepository; keys: KeyResolver; keysRepo: KeysRepository; csrfKey: Buffer; now?: () => number }): UiSessions {
  const now = deps.now ?? Date.now;
  const csrfFor = (id: string) => createHmac("sha256", deps.csrfKey).update(`ui-session:${id}`).digest("base64url");

  async function callerOf(subject: string): Promise<Caller | undefined> {
    if (subject === "master") return masterCaller();
    if (!subject.startsWith("key:")) return undefined;
    const stored = await deps.keysRepo.findByToken(subject.slice("key:".length));
    if (stored === undefined || (stored.expiresAt !== null && Date.parse(stored.expiresAt) <= now())) return undefined;
    return callerFromKey(stored);
  }

  return {
    async login(key) {
      const caller = await deps.keys.resolve(key);
      if (caller === undefined) return undefined;
      const id = randomBytes(32).toString("base64url");
      const expiresAt = now() + SESSION_TTL_MS;
      await deps.repo.insert(hash(id), { subject: caller.subject, expiresAt });
      return { id, session: { caller, csrf: csrfFor(id), expiresAt } };
    },
    async resolve(id) {
      if (id.length === 0 || id.length > 128) return undefined;
      const stored = await deps.repo.find(hash(id));
      if (stored === undefined || stored.expiresAt <= now()) return undefined;
      const caller = await callerOf(stored.subject);
      return caller === undefined ? undefined : { caller, csrf: csrfFor(id), expiresAt: stored.expiresAt };
    },
    async logout(id) {
      await deps.repo.delete(hash(id));
    },
    checkCsrf(id, token) {
      if (token === undefined) return false;
      const expected = Buffer.from(csrfFor(id));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
