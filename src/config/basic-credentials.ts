/**
 * The value of `auth_type: basic` (README, "config.yaml"), in the forms LiteLLM's configs
 * use: `user:pass` (encoded by the gateway), `Basic <base64>` (sent as it is, as newer
 * LiteLLM does), `Basic user:pass` (the rest encoded), and a bare base64 of `user:pass`
 * (LiteLLM's own docs show `auth_value: "dXNlcjpwYXNz"`; sent as it is). A raw `user:pass`
 * is never valid base64 (`:` is not in its alphabet), so the forms cannot be confused.
 */

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SCHEME = /^basic\s+/i;

/** `user:pass` as base64 when `value` is already one, else undefined. */
function encodedUserPass(value: string): string | undefined {
  if (value === "" || !BASE64.test(value)) return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  return decoded.includes(":") && !decoded.includes("\uFFFD") ? value : undefined;
}

/** The base64 credential to send after `Basic `, or undefined when `value` is in none of the forms. */
export function basicCredentials(value: string): string | undefined {
  const rest = value.replace(SCHEME, "");
  const encoded = encodedUserPass(rest);
  if (encoded !== undefined) return encoded;
  return rest.includes(":") ? Buffer.from(rest, "utf8").toString("base64") : undefined;
}

/** `Bearer x` configured for bearer_token (or `token x` for token) is `x`: the gateway adds the scheme once. */
export function withoutScheme(value: string, scheme: "bearer" | "token"): string {
  const match = new RegExp(`^${scheme}\\s+`, "i").exec(value);
  return match === null ? value : value.slice(match[0].length);
}
