/**
 * Which redirect URIs an MCP client may register (OAuth 2.1 §2.3.1, RFC 8252 §7.3): https,
 * or http on a loopback host for native clients. No fragment, no userinfo. At authorize,
 * the redirect_uri must then match a registered one exactly.
 */
import { isLoopbackRedirectHost } from "../loopback.js";

export function registrableRedirectUri(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  // What URL parsers read differently: a backslash is "/" to WHATWG, part of userinfo to others (as in Connect's redirect_uri check).
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\u0000-\u0020\u007f\\]/.test(value)) return "must not contain a backslash, a space or a control character";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not an absolute URL";
  }
  if (url.hash !== "" || value.includes("#")) return "must not contain a fragment";
  if (url.username !== "" || url.password !== "") return "must not contain userinfo";
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && isLoopbackRedirectHost(url.hostname)) return undefined;
  if (url.protocol === "http:") return "http:// is allowed only on a loopback host (localhost, 127.0.0.1, [::1])";
  // Private-use schemes of native apps (RFC 8252 §7.1), e.g. cursor://...; they contain a '.' or are app-specific.
  if (/^[a-z][a-z0-9+.-]*:$/.test(url.protocol) && !["javascript:", "data:", "file:", "vbscript:"].includes(url.protocol)) return undefined;
  return `scheme ${url.protocol} is not allowed`;
}
