import { describe, expect, it } from "vitest";
import { litellmKeys, openLiteLLMSecret } from "../../../src/litellm-import/litellm-secrets.js";
import { litellmEncrypt, type LiteLLMScheme } from "../../fixtures/litellm-encryption.js";

const SALT = "sk-litellm-salt-7f3a91c2";
const keys = litellmKeys(SALT);

describe("LiteLLM credential decryption", () => {
  for (const scheme of ["nacl", "v2:gcm", "v3:gcm"] as const satisfies readonly LiteLLMScheme[]) {
    it(`opens ${scheme} values written with the salt key`, () => {
      for (const secret of ["ghp_0123456789abcdef", "", "ü-unicode:pass", "x".repeat(500)]) {
        expect(openLiteLLMSecret(litellmEncrypt(secret, SALT, scheme), keys)).toEqual({ kind: "decrypted", value: secret, scheme });
      }
    });

    it(`reports ${scheme} values sealed under another key as undecryptable, without their content`, () => {
      const opened = openLiteLLMSecret(litellmEncrypt("hunter2-secret", "another-salt", scheme), keys);
      expect(opened).toEqual({ kind: "undecryptable", scheme });
    });
  }

  it("opens SecretBox values stored in standard base64 (older LiteLLM rows)", () => {
    let stored = litellmEncrypt("token-with-standard-b64", SALT, "nacl", { standardBase64: true });
    for (let attempt = 0; !/[+/]/.test(stored) && attempt < 50; attempt++) stored = litellmEncrypt("token-with-standard-b64", SALT, "nacl", { standardBase64: true });
    expect(openLiteLLMSecret(stored, keys)).toEqual({ kind: "decrypted", value: "token-with-standard-b64", scheme: "nacl" });
  });

  it("uses values that are not ciphertext as they are, as LiteLLM does", () => {
    for (const plain of ["ghp_short", "Bearer abc.def", "user:password", "v2:gcm:not-base64!", "abcd"]) {
      expect(openLiteLLMSecret(plain, keys)).toEqual({ kind: "plain", value: plain });
    }
  });

  it("opens values Python's cryptography library wrote (the library LiteLLM uses), so the key derivation is LiteLLM's, not only ours", () => {
    // Made with cryptography 48: HKDF(SHA256, length=32, salt=None, info=b"litellm-at-rest-v3") and AESGCM, nonce 00..0b.
    expect(openLiteLLMSecret("v3:gcm:AAECAwQFBgcICQoL6w1Uo6Lw5pUexmbyskDJTfIrjbb5u01glDgulRKk-mM=", keys)).toEqual({ kind: "decrypted", value: "python-v3-secret", scheme: "v3:gcm" });
    // AESGCM under hashlib.sha256(salt).digest().
    expect(openLiteLLMSecret("v2:gcm:AAECAwQFBgcICQoLbzq8y7tIpjDAMGJN8j4nlIGOauyFOvnf8qG-O_V4QPA=", keys)).toEqual({ kind: "decrypted", value: "python-v2-secret", scheme: "v2:gcm" });
  });

  it("derives the keys from the salt key as LiteLLM does (SHA-256 and HKDF with info litellm-at-rest-v3)", () => {
    expect(keys.sha256.toString("hex")).toHaveLength(64);
    expect(keys.hkdf.equals(keys.sha256)).toBe(false);
    expect(litellmKeys(SALT).hkdf.equals(keys.hkdf)).toBe(true);
  });
});
