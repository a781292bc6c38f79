/**
 * Which `redirect_uri` the UI's Connect flow may send an authorization code to (LiteLLM's
 * "Why the same-origin check exists"; README, "Connecting an interactive server from the
 * UI"): the gateway's own public origin; any loopback address (`localhost`, 127.0.0.0/8,
 * [::1]; any port, http or https); or an https origin listed in
 * MCP_TRUSTED_REDIRECT_ORIGINS (`host`, `host:port`, or `*.suffix` for strictly deeper
 * subdomains). Everything that could make a parser and a browser disagree about the host is
 * refused outright: userinfo, fragments, backslashes, percent-encoded or trailing-dot
 * hosts, control characters.
 */
import { isLoopbackRedirectHost } from "../loopback.js";

export interface TrustedRedirectOrigin {
  /** Lowercase host, without the `*.` of a wildcard. */
  host: string;
  /** Explicit port; without one only the default https port matches. */
  port?: string;
  wildcard: boolean;
}

/** Parses MCP_TRUSTED_REDIRECT_ORIGINS once, at startup; malformed entries are reported, not used. */
export function parseTrustedRedirectOrigins(value: string | undefined): { origins: TrustedRedirectOrigin[]; warnings: string[] } {
  const origins: TrustedRedirectOrigin[] = [];
  const warnings: string[] = [];
  for (const raw of (value ?? "").split(",").map((entry) => entry.trim()).filter((entry) => entry !== "")) {
    const wildcard = raw.startsWith("*.");
    const rest = (wildcard ? raw.slice(2) : raw).toLowerCase();
    const match = /^([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?$/.exec(rest);
    const port = match?.[2];
    // A port that no URL can carry (0, above 65535, leading zeros) would silently match nothing.
    const portValid = port === undefined || (/^[1-9]\d*$/.test(port) && Number(port) <= 65535);
    if (match === null || (wildcard && !match[1]!.includes(".")) || !portValid) {
      warnings.push(`MCP_TRUSTED_REDIRECT_ORIGINS: '${raw}' is not a host, host:port or *.suffix entry; it is ignored`);
      continue;
    }
    origins.push({ host: match[1]!, ...(match[2] === undefined ? {} : { port: match[2] }), wildcard });
  }
  return { origins, warnings };
}

export type RedirectVerdict = { ok: true; url: URL } | { ok: false; reason: string };

/** The authority as written (between `//` and the path), before any URL parser normalises it. */
function rawAuthority(uri: string): string {
  const afterScheme = uri.slice(uri.indexOf("//") + 2);
  return afterScheme.split(/[/?#]/, 1)[0] ?? "";
}

export function checkRedirectUri(uri: string, publicOrigin: string, trusted: readonly TrustedRedirectOrigin[]): RedirectVerdict {
  if (uri.length > 2048) return { ok: false, reason: "redirect_uri is too long" };
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\u0000-\u0020\u007f\\]/.test(uri)) return { ok: false, reason: "redirect_uri contains a backslash, a space or a control character" };
  // Exactly two slashes: URL parsers disagree on what follows a third ("http:///host").
  if (!/^https?:\/\/[^/]/i.test(uri)) return { ok: false, reason: "redirect_uri must be an absolute http:// or https:// URL (scheme://host/...)" };
  if (uri.includes("#")) return { ok: false, reason: "redirect_uri must not contain a fragment" };
  const authority = rawAuthority(uri);
  if (authority.includes("@")) return { ok: false, reason: "redirect_uri must not contain userinfo (user@host)" };
  if (authority.includes("%")) return { ok: false, reason: "redirect_uri must not percent-encode its host" };
  // The parser drops an IPv4 address's trailing dot before the host can be checked: look at what was sent.
  if (/\.(?::\d*)?$/.test(authority)) return { ok: false, reason: "redirect_uri must not end its host with a dot" };
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { ok: false, reason: "redirect_uri is not a valid URL" };
  }
  if (url.hostname.endsWith(".")) return { ok: false, reason: "redirect_uri must not end its host with a dot" };
  // A DNS name (or IP literal) only: no empty labels, no `*` or other characters a wildcard match would let through.
  if (!url.hostname.startsWith("[") && !/^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/.test(url.hostname)) {
    return { ok: false, reason: "redirect_uri has an invalid host name (empty label or characters outside a DNS name)" };
  }
  if (url.origin === publicOrigin) return { ok: true, url };
  if (isLoopbackRedirectHost(url.hostname)) return { ok: true, url };
  const host = url.hostname.toLowerCase();
  for (const entry of trusted) {
    const hostMatches = entry.wildcard ? host.endsWith(`.${entry.host}`) && host !== entry.host : host === entry.host;
    // A port-less entry means the default https port, which URL leaves empty.
    const portMatches = (entry.port ?? "") === (url.port === "443" ? "" : url.port);
    if (hostMatches && portMatches) {
      if (url.protocol !== "https:") return { ok: false, reason: "redirect_uri on a trusted origin (MCP_TRUSTED_REDIRECT_ORIGINS) must use https" };
      return { ok: true, url };
    }
  }
  return { ok: false, reason: `redirect_uri origin ${url.origin} is not the gateway's origin, a loopback address, or in MCP_TRUSTED_REDIRECT_ORIGINS` };
}
