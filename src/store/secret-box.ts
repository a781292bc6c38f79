/**
 * Secrets at rest (server client_secret, auth_value, stored OAuth tokens): AES-256-GCM
 * under a key derived from GATEHOUSE_SALT_KEY.
 *
 * Each key is derived once, when the box is built, so sealing and opening cost one AEAD
 * call and no KDF: a peer gateway ran a 100k-iteration KDF on every decrypt and paid tens
 * of milliseconds per session. The salt key is already high-entropy operator config, so a
 * slow password KDF buys nothing here; HKDF (RFC 5869) is the right extractor.
 *
 * Sealed form: `gh1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts). `keyId` names the
 * key that sealed the row, so rotation picks the key without trial decryption: configure
 * the new key as current and the old one as previous; old rows still open, new rows use
 * the new key, and `needsRotation` finds the rows to re-seal.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

export interface SecretBox {
  /** Encrypt `plaintext`, binding it to `context` (AAD, e.g. "mcp_servers/<id>/secrets") so a ciphertext moved to another row or field does not decrypt. */
  seal(plaintext: string, context: string): string;
  /** Decrypt with whichever configured key sealed it; throws SecretBoxError (no plaintext, no key material in the message) when no key fits, the data was tampered with, or the context differs. */
  open(sealed: string, context: string): string;
  /**
   * True when `sealed` was made with an older key (it should be re-sealed with the current one).
   * Also true for a key that is not configured at all: `open` then says which key is missing.
   * Throws SecretBoxError when `sealed` is not in the sealed form.
   */
  needsRotation(sealed: string): boolean;
  /** Short non-secret id of the current key (for logs). */
  readonly currentKeyId: string;
}

/** A secret could not be sealed or opened. The message never holds plaintext or key material. */
export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretBoxError";
  }
}

const FORMAT_VERSION = "gh1";
const ALGORITHM = "aes-256-gcm";
const KEY_BYTES = 32;
/** NIST SP 800-38D §5.2.1.1 and §8.2.2: a 96-bit random IV is the recommended length; other lengths are hashed through GHASH. */
const IV_BYTES = 12;
/** NIST SP 800-38D §5.2.1.2: the full 128-bit tag. Node accepts shorter tags on decrypt unless told the length. */
const TAG_BYTES = 16;
/** RFC 5869 §3.1: a fixed, application-specific salt is fine when the input key has enough entropy. */
const HKDF_SALT = "gatehouse/secrets-at-rest";
/** RFC 5869 §3.2: `info` binds the derived key to its one use, so the same salt key can feed other derivations safely. */
const HKDF_INFO = "aes-256-gcm v1";
const KEY_ID_HEX = 12;
const KEY_ID_PATTERN = /^[0-9a-f]{12}$/;

interface DerivedKey {
  id: string;
  key: Buffer;
}

interface SealedParts {
  keyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function createSecretBox(currentKey: string, previousKeys: readonly string[] = []): SecretBox {
  const current = deriveKey(currentKey, "the secrets-at-rest key (GATEHOUSE_SALT_KEY)");
  const keys = new Map<string, Buffer>([[current.id, current.key]]);
  for (const previous of previousKeys) {
    const derived = deriveKey(previous, "a previous secrets-at-rest key");
    if (!keys.has(derived.id)) keys.set(derived.id, derived.key);
  }

  return Object.freeze({
    currentKeyId: current.id,
    seal: (plaintext: string, context: string) => seal(current, plaintext, context),
    open: (sealed: string, context: string) => open(keys, sealed, context),
    needsRotation: (sealed: string) => parseSealed(sealed).keyId !== current.id,
  });
}

function deriveKey(saltKey: string, what: string): DerivedKey {
  if (saltKey.trim() === "") throw new SecretBoxError(`${what} is empty; set it to a long random string`);
  const key = Buffer.from(hkdfSync("sha256", Buffer.from(saltKey, "utf8"), HKDF_SALT, HKDF_INFO, KEY_BYTES));
  // Hash the derived key, never the salt key: the id is logged and stored next to every row.
  const id = createHash("sha256").update(key).digest("hex").slice(0, KEY_ID_HEX);
  return { id, key };
}

function seal(current: DerivedKey, plaintext: string, context: string): string {
  // SP 800-38D §8.3 allows 2^32 seals per key with random IVs; stored secrets are far fewer, and rotation starts a new count.
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, current.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [FORMAT_VERSION, current.id, encode(iv), encode(ciphertext), encode(tag)].join(".");
}

function open(keys: ReadonlyMap<string, Buffer>, sealed: string, context: string): string {
  const parts = parseSealed(sealed, context);
  const key = keys.get(parts.keyId);
  if (key === undefined) {
    throw new SecretBoxError(
      `cannot open the secret for "${context}": it was sealed with key ${parts.keyId}, which is not configured; ` +
        "add the salt key that sealed it to the previous keys",
    );
  }
  try {
    const decipher = createDecipheriv(ALGORITHM, key, parts.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(parts.tag);
    return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString("utf8");
  } catch {
    // No `cause`: node's error says nothing useful, and nothing from the attempt may leak.
    throw new SecretBoxError(
      `cannot open the secret for "${context}": it was altered, or sealed for a different row or field; ` +
        "set the secret again",
    );
  }
}

function parseSealed(sealed: string, context?: string): SealedParts {
  const [version, keyId, ivText, ciphertextText, tagText, ...extra] = sealed.split(".");
  if (version !== FORMAT_VERSION || keyId === undefined || !KEY_ID_PATTERN.test(keyId) || extra.length > 0) {
    throw malformedError(context);
  }
  const iv = decode(ivText);
  const ciphertext = decode(ciphertextText);
  const tag = decode(tagText);
  if (iv?.length !== IV_BYTES || ciphertext === undefined || tag?.length !== TAG_BYTES) throw malformedError(context);
  return { keyId, iv, ciphertext, tag };
}

function encode(bytes: Buffer): string {
  return bytes.toString("base64url");
}

/** Node's base64url decoder skips bad characters and ignores trailing bits, so only a canonical encoding counts. */
function decode(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  const bytes = Buffer.from(text, "base64url");
  return encode(bytes) === text ? bytes : undefined;
}

function malformedError(context: string | undefined): SecretBoxError {
  const which = context === undefined ? "the stored secret" : `the stored secret for "${context}"`;
  return new SecretBoxError(
    `${which} is not in the sealed form ${FORMAT_VERSION}.<keyId>.<iv>.<ciphertext>.<tag>; set the secret again`,
  );
}
