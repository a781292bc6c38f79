import { createHash, hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SecretBoxError, createSecretBox } from "../../../src/store/secret-box.js";

const OLD_KEY = "old-salt-key-4f1c9a7e2b";
const NEW_KEY = "new-salt-key-93d0e6b1aa";
const CONTEXT = "mcp_servers/github/secrets";
const SECRET = "client-secret-hunter2";

/** Replace the dot-separated part at `index` of a sealed string. */
function withPart(sealed: string, index: number, replace: (part: string) => string): string {
  const parts = sealed.split(".");
  parts[index] = replace(parts[index] ?? "");
  return parts.join(".");
}

/** Flip the first character of a base64url part to another valid one, so the bytes change but stay canonical. */
function flipFirst(part: string): string {
  return (part.startsWith("A") ? "B" : "A") + part.slice(1);
}

function openError(run: () => unknown): SecretBoxError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretBoxError);
    return error as SecretBoxError;
  }
  throw new Error("expected a SecretBoxError");
}

describe("secret box (secrets at rest, AES-256-GCM)", () => {
  it("round-trips ASCII, unicode and the empty string", () => {
    const box = createSecretBox(NEW_KEY);
    for (const plaintext of [SECRET, "pässwörd 🔑 秘密", ""]) {
      expect(box.open(box.seal(plaintext, CONTEXT), CONTEXT)).toBe(plaintext);
    }
  });

  it("writes gh1.<keyId>.<iv>.<ciphertext>.<tag> without the plaintext in it", () => {
    const box = createSecretBox(NEW_KEY);
    const sealed = box.seal(SECRET, CONTEXT);
    expect(sealed).toMatch(/^gh1\.[0-9a-f]{12}\.[\w-]{16}\.[\w-]*\.[\w-]{22}$/);
    expect(sealed.split(".")[1]).toBe(box.currentKeyId);
    expect(sealed).not.toContain(SECRET);
    expect(sealed).not.toContain(Buffer.from(SECRET).toString("base64url"));
    expect(sealed).not.toContain(NEW_KEY);
  });

  it("seals the same plaintext differently each time (random IV)", () => {
    const box = createSecretBox(NEW_KEY);
    const first = box.seal(SECRET, CONTEXT);
    const second = box.seal(SECRET, CONTEXT);
    expect(first).not.toBe(second);
    expect(first.split(".")[2]).not.toBe(second.split(".")[2]);
  });

  it("does not open a ciphertext under another context (moved to another row or field)", () => {
    const box = createSecretBox(NEW_KEY);
    const sealed = box.seal(SECRET, CONTEXT);
    expect(() => box.open(sealed, "mcp_servers/gitlab/secrets")).toThrow(SecretBoxError);
    expect(() => box.open(sealed, "")).toThrow(SecretBoxError);
  });

  it.each([
    ["iv", 2],
    ["ciphertext", 3],
    ["tag", 4],
  ])("refuses a tampered %s", (_name, index) => {
    const box = createSecretBox(NEW_KEY);
    const tampered = withPart(box.seal(SECRET, CONTEXT), index, flipFirst);
    expect(() => box.open(tampered, CONTEXT)).toThrow(SecretBoxError);
  });

  it("refuses a non-canonical base64url part that would decode to the same bytes", () => {
    const box = createSecretBox(NEW_KEY);
    const sealed = box.seal(SECRET, CONTEXT);
    // A 16-byte tag is 22 base64url characters; the last one carries 4 unused bits.
    const padded = withPart(sealed, 4, (tag) => `${tag}==`);
    const junk = withPart(sealed, 4, (tag) => `${tag.slice(0, 11)}!${tag.slice(11)}`);
    expect(() => box.open(padded, CONTEXT)).toThrow(SecretBoxError);
    expect(() => box.open(junk, CONTEXT)).toThrow(SecretBoxError);
  });

  it("fails with a SecretBoxError that names neither the plaintext nor any key when the key is wrong", () => {
    const sealed = createSecretBox(OLD_KEY).seal(SECRET, CONTEXT);
    const error = openError(() => createSecretBox(NEW_KEY).open(sealed, CONTEXT));
    expect(error.message).toContain(CONTEXT);
    for (const secret of [SECRET, OLD_KEY, NEW_KEY]) expect(error.message).not.toContain(secret);
    expect(error.cause).toBeUndefined();
  });

  it("names neither the plaintext nor the key when the data was tampered with", () => {
    const box = createSecretBox(NEW_KEY);
    const tampered = withPart(box.seal(SECRET, CONTEXT), 3, flipFirst);
    const error = openError(() => box.open(tampered, CONTEXT));
    for (const secret of [SECRET, NEW_KEY]) expect(error.message).not.toContain(secret);
    expect(error.cause).toBeUndefined();
  });

  it("derives the key id from the HKDF output, never from the raw salt key", () => {
    const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex").slice(0, 12);
    const derived = Buffer.from(hkdfSync("sha256", NEW_KEY, "gatehouse/secrets-at-rest", "aes-256-gcm v1", 32));
    const box = createSecretBox(NEW_KEY);
    expect(box.currentKeyId).toBe(sha256(derived));
    expect(box.currentKeyId).not.toBe(sha256(Buffer.from(NEW_KEY)));
    expect(createSecretBox(NEW_KEY).currentKeyId).toBe(box.currentKeyId);
    expect(createSecretBox(OLD_KEY).currentKeyId).not.toBe(box.currentKeyId);
  });

  describe("key rotation", () => {
    it("opens rows sealed with a previous key and seals new rows with the current one", () => {
      const oldBox = createSecretBox(OLD_KEY);
      const rotated = createSecretBox(NEW_KEY, [OLD_KEY]);
      const oldSealed = oldBox.seal(SECRET, CONTEXT);

      expect(rotated.open(oldSealed, CONTEXT)).toBe(SECRET);
      expect(rotated.needsRotation(oldSealed)).toBe(true);

      const resealed = rotated.seal(rotated.open(oldSealed, CONTEXT), CONTEXT);
      expect(resealed.split(".")[1]).toBe(rotated.currentKeyId);
      expect(rotated.needsRotation(resealed)).toBe(false);
      expect(rotated.open(resealed, CONTEXT)).toBe(SECRET);
    });

    it("does not let the old key open rows sealed with the new one", () => {
      const newSealed = createSecretBox(NEW_KEY, [OLD_KEY]).seal(SECRET, CONTEXT);
      expect(() => createSecretBox(OLD_KEY).open(newSealed, CONTEXT)).toThrow(SecretBoxError);
    });

    it("accepts duplicate previous keys, and the current key among them", () => {
      const box = createSecretBox(NEW_KEY, [OLD_KEY, OLD_KEY, NEW_KEY]);
      const sealed = box.seal(SECRET, CONTEXT);
      expect(box.needsRotation(sealed)).toBe(false);
      expect(box.open(sealed, CONTEXT)).toBe(SECRET);
      expect(box.open(createSecretBox(OLD_KEY).seal(SECRET, CONTEXT), CONTEXT)).toBe(SECRET);
    });
  });

  describe("malformed input", () => {
    const box = createSecretBox(NEW_KEY);
    const sealed = box.seal(SECRET, CONTEXT);
    const [, keyId = "", iv = "", ciphertext = "", tag = ""] = sealed.split(".");

    it.each([
      ["an empty string", ""],
      ["the plaintext itself", SECRET],
      ["a wrong prefix", `gh2.${keyId}.${iv}.${ciphertext}.${tag}`],
      ["no prefix", `${keyId}.${iv}.${ciphertext}.${tag}`],
      ["a missing tag", `gh1.${keyId}.${iv}.${ciphertext}`],
      ["an empty tag", `gh1.${keyId}.${iv}.${ciphertext}.`],
      ["a short tag", `gh1.${keyId}.${iv}.${ciphertext}.${tag.slice(0, 16)}`],
      ["an empty iv", `gh1.${keyId}..${ciphertext}.${tag}`],
      ["an extra part", `${sealed}.AAAA`],
      ["a key id that is not hex", `gh1.ZZZZZZZZZZZZ.${iv}.${ciphertext}.${tag}`],
    ])("refuses %s with a SecretBoxError", (_name, input) => {
      expect(() => box.open(input, CONTEXT)).toThrow(SecretBoxError);
      expect(() => box.needsRotation(input)).toThrow(SecretBoxError);
    });
  });

  it("refuses an empty or blank salt key at construction", () => {
    expect(() => createSecretBox("")).toThrow(SecretBoxError);
    expect(() => createSecretBox("   ")).toThrow(SecretBoxError);
    expect(() => createSecretBox(NEW_KEY, [""])).toThrow(SecretBoxError);
  });
});
