/**
 * Opens the credentials LiteLLM stores in `LiteLLM_MCPServerTable.credentials`. LiteLLM
 * encrypts each secret value on its own with key material from `LITELLM_SALT_KEY`, else its
 * master key, in one of three forms, told apart by a prefix:
 *
 * - `v3:gcm:` + base64url(nonce(12) || ciphertext || tag(16)): AES-256-GCM under
 *   HKDF-SHA256(ikm = salt key, no salt, info "litellm-at-rest-v3"); newest LiteLLM's default.
 * - `v2:gcm:` + the same layout: AES-256-GCM under SHA-256(salt key).
 * - no prefix: NaCl SecretBox (XSalsa20-Poly1305) under SHA-256(salt key), stored as
 *   base64url (older rows: standard base64) of nonce(24) || MAC(16) || ciphertext. Node's
 *   crypto has no XSalsa20-Poly1305, hence tweetnacl.
 *
 * LiteLLM uses a value that does not decrypt as it is stored (rows written before it
 * encrypted anything). The importer does the same, but it must also notice a wrong salt
 * key, which fails every decryption: `openLiteLLMSecret` says whether a value looked like
 * ciphertext, so the caller can tell "stored in plain text" from "wrong key".
 */
import { createDecipheriv, createHash, hkdfSync } from "node:crypto";
import nacl from "tweetnacl";

export type LiteLLMScheme = "v3:gcm" | "v2:gcm" | "nacl";

export type OpenedSecret =
  /** Decrypted with the key. */
  | { kind: "decrypted"; value: string; scheme: LiteLLMScheme }
  /** Not in any ciphertext form: LiteLLM uses it as stored, and so does the importer. */
  | { kind: "plain"; value: string }
  /** In a ciphertext form, but the key does not open it (a wrong salt key, or a value sealed under an older key). */
  | { kind: "undecryptable"; scheme: LiteLLMScheme };

export interface LiteLLMKeys {
  /** SHA-256(salt key): the SecretBox and `v2:gcm:` key. */
  readonly sha256: Buffer;
  /** HKDF-SHA256(salt key, info "litellm-at-rest-v3"): the `v3:gcm:` key. */
  readonly hkdf: Buffer;
}

const V3_PREFIX = "v3:gcm:";
const V2_PREFIX = "v2:gcm:";
const V3_INFO = "litellm-at-rest-v3";
const GCM_NONCE = 12;
const GCM_TAG = 16;
/** SecretBox nonce (24) + Poly1305 MAC (16): anything shorter is no SecretBox output. */
const SECRETBOX_OVERHEAD = nacl.secretbox.nonceLength + nacl.secretbox.overheadLength;

export function litellmKeys(saltKey: string): LiteLLMKeys {
  const material = Buffer.from(saltKey, "utf8");
  return Object.freeze({
    sha256: createHash("sha256").update(material).digest(),
    // RFC 5869 §2.2: no salt is a string of HashLen zeros, as Python's cryptography HKDF uses for salt=None.
    hkdf: Buffer.from(hkdfSync("sha256", material, Buffer.alloc(32), V3_INFO, 32)),
  });
}

export function openLiteLLMSecret(stored: string, keys: LiteLLMKeys): OpenedSecret {
  if (stored.startsWith(V3_PREFIX)) return openGcm(stored.slice(V3_PREFIX.length), keys.hkdf, "v3:gcm", stored);
  if (stored.startsWith(V2_PREFIX)) return openGcm(stored.slice(V2_PREFIX.length), keys.sha256, "v2:gcm", stored);
  const box = secretBoxBytes(stored);
  if (box === undefined) return { kind: "plain", value: stored };
  const opened = nacl.secretbox.open(box.subarray(nacl.secretbox.nonceLength), box.subarray(0, nacl.secretbox.nonceLength), keys.sha256);
  if (opened === null) return { kind: "undecryptable", scheme: "nacl" };
  return { kind: "decrypted", value: Buffer.from(opened).toString("utf8"), scheme: "nacl" };
}

function openGcm(encoded: string, key: Buffer, scheme: LiteLLMScheme, stored: string): OpenedSecret {
  const bytes = base64Bytes(encoded);
  if (bytes === undefined || bytes.length < GCM_NONCE + GCM_TAG) {
    // Only the prefix looks like ciphertext; LiteLLM would use the value as it is.
    return { kind: "plain", value: stored };
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, GCM_NONCE), { authTagLength: GCM_TAG });
    decipher.setAuthTag(bytes.subarray(bytes.length - GCM_TAG));
    const plaintext = Buffer.concat([decipher.update(bytes.subarray(GCM_NONCE, bytes.length - GCM_TAG)), decipher.final()]);
    return { kind: "decrypted", value: plaintext.toString("utf8"), scheme };
  } catch {
    return { kind: "undecryptable", scheme };
  }
}

/**
 * The bytes of a value in SecretBox's stored form: padded base64url as Python's
 * `urlsafe_b64encode` writes it (or standard base64, older rows), at least nonce + MAC long.
 * Anything else is not ciphertext.
 */
function secretBoxBytes(stored: string): Buffer | undefined {
  if (stored.length % 4 !== 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(stored)) return undefined;
  const bytes = base64Bytes(stored);
  return bytes !== undefined && bytes.length >= SECRETBOX_OVERHEAD ? bytes : undefined;
}

/** Strict base64 or base64url (padding optional): Node's decoder skips bad characters, so the value must re-encode to itself. */
function base64Bytes(text: string): Buffer | undefined {
  const unpadded = text.replace(/=+$/, "");
  const alphabet = /[+/]/.test(unpadded) ? "base64" : "base64url";
  if (alphabet === "base64" && /[-_]/.test(unpadded)) return undefined;
  const bytes = Buffer.from(unpadded, alphabet);
  return bytes.toString(alphabet).replace(/=+$/, "") === unpadded ? bytes : undefined;
}
