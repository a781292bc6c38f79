/**
 * The `Mcp-Session-Id` of the aggregate `/mcp` endpoint (README, "Sessions on /mcp"): what
 * a session needs that the client said once, in `initialize` (its capabilities and protocol
 * version), and whose session it is (the gateway key), sealed with AES-256-GCM under a key
 * derived from the salt key. Every instance that shares the salt key opens it, so no
 * instance is pinned; what changes during the session (its upstream sessions, whether it
 * ended) is in the database.
 *
 *     Mcp-Session-Id: gh1.<base64url(iv | ciphertext | tag)>
 *
 * An id that does not open, was issued to another key, or is older than the maximum age is
 * answered 404 (MCP transports spec: the client starts a new session).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { Caller } from "../auth/inbound/caller.js";
import { GatewayError, JsonRpcCode } from "../errors.js";

const PREFIX = "gh1.";
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The client capabilities a session keeps: those that shape what the gateway declares upstream. */
const KEPT_CAPABILITIES = ["roots", "sampling", "elicitation", "tasks"] as const;
const MAX_CAPABILITIES_JSON = 4096;
/** Session ids one instance keeps opened (oldest dropped first). */
const OPENED_IDS = 10_000;

export interface AggregateSession {
  /** Random, 128 bits: the session's identity (stored only as a hash). */
  nonce: string;
  /** The key that opened it (`Caller.keyId`) and its subject. */
  keyId: string;
  subject: string;
  /**
   * Whose it is (`streamOwner`): the key's subject, or for a caller without a key (servers
   * that delegate auth, where every such caller has the same subject) a hash of the
   * credential it presented, so that one of them cannot continue another's session.
   */
  owner: string;
  /** What the client declared in `initialize` (roots, sampling, elicitation, tasks only). */
  clientCapabilities: Record<string, unknown>;
  protocolVersion: string;
  /** Epoch ms. */
  issuedAt: number;
  /** The level its client set with logging/setLevel (from the database, per request; not sealed). */
  logLevel?: string;
}

export interface SessionSeal {
  issue(caller: Caller, owner: string, clientCapabilities: unknown, protocolVersion: string): AggregateSession & { id: string };
  /** The session behind an id, or a 404 `session_not_found` GatewayError. */
  open(id: string, caller: Caller, owner: string): AggregateSession;
}

export function sessionSeal(saltKey: string, options: { maxAgeMs: number; now?: () => number }): SessionSeal {
  const key = Buffer.from(hkdfSync("sha256", saltKey, "gatehouse", "aggregate mcp session v1", 32));
  const now = options.now ?? Date.now;
  /** Ids opened lately and what they hold (an id opens to the same session every time): a session's requests are not each decrypted. */
  const opened = new Map<string, AggregateSession>();

  function seal(session: AggregateSession): string {
    return `${PREFIX}${sealJson(key, { n: session.nonce, k: session.keyId, s: session.subject, o: session.owner, c: session.clientCapabilities, p: session.protocolVersion, t: session.issuedAt })}`;
  }

  return {
    issue(caller, owner, clientCapabilities, protocolVersion) {
      const session: AggregateSession = {
        nonce: randomBytes(16).toString("base64url"),
        keyId: caller.keyId,
        subject: caller.subject,
        owner,
        clientCapabilities: keptCapabilities(clientCapabilities),
        protocolVersion,
        issuedAt: now(),
      };
      return { ...session, id: seal(session) };
    },
    open(id, caller, owner) {
      let session = opened.get(id);
      if (session === undefined) {
        session = unseal(key, id);
        if (session !== undefined) {
          opened.set(id, session);
          if (opened.size > OPENED_IDS) opened.delete(opened.keys().next().value!);
        }
      }
      if (session === undefined || session.keyId !== caller.keyId || session.subject !== caller.subject || session.owner !== owner || now() - session.issuedAt > options.maxAgeMs) throw aggregateSessionNotFound();
      return session;
    },
  };
}

function unseal(key: Buffer, id: string): AggregateSession | undefined {
  if (!id.startsWith(PREFIX) || id.length > 8192) return undefined;
  const opened = openJson(key, id.slice(PREFIX.length));
  if (opened === undefined) return undefined;
  const { n, k, s, o, c, p, t } = opened;
  if (typeof n !== "string" || typeof k !== "string" || typeof s !== "string" || typeof o !== "string" || typeof p !== "string" || typeof t !== "number" || typeof c !== "object" || c === null) return undefined;
  return { nonce: n, keyId: k, subject: s, owner: o, clientCapabilities: c as Record<string, unknown>, protocolVersion: p, issuedAt: t };
}

/** A JSON object encrypted and authenticated with AES-256-GCM under `key`: base64url(iv | ciphertext | tag). */
export function sealJson(key: Buffer, value: Record<string, unknown>): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  return Buffer.concat([iv, cipher.update(JSON.stringify(value), "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64url");
}

/** The object `sealJson` sealed, or undefined when the text was not sealed under `key` (or was changed). */
export function openJson(key: Buffer, text: string): Record<string, unknown> | undefined {
  if (text.length > 16_384) return undefined;
  const sealed = Buffer.from(text, "base64url");
  // Exactly as sealed: the decoder skips characters outside its alphabet, so any number of spellings would open (and be cached) as one.
  if (sealed.length <= IV_BYTES + TAG_BYTES || sealed.toString("base64url") !== text) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const parsed: unknown = JSON.parse(Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString("utf8"));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The capabilities worth keeping, as long as they stay small (a client's extras are dropped). */
export function keptCapabilities(declared: unknown): Record<string, unknown> {
  if (typeof declared !== "object" || declared === null || Array.isArray(declared)) return {};
  const kept: Record<string, unknown> = {};
  for (const name of KEPT_CAPABILITIES) {
    const value = (declared as Record<string, unknown>)[name];
    if (typeof value === "object" && value !== null && !Array.isArray(value)) kept[name] = value;
  }
  return JSON.stringify(kept).length <= MAX_CAPABILITIES_JSON ? kept : Object.fromEntries(Object.keys(kept).map((name) => [name, {}]));
}

export function aggregateSessionNotFound(): GatewayError {
  return new GatewayError({
    status: 404,
    code: "session_not_found",
    message: "Session not found: this Mcp-Session-Id was not issued to your key by this gateway, has ended, or is too old; start a new session (initialize without Mcp-Session-Id)",
    rpcCode: JsonRpcCode.InvalidRequest,
  });
}
