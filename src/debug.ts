/**
 * Debug headers (LiteLLM's "Debugging OAuth"; README, "Debug headers"): a request with
 * `x-litellm-mcp-debug: true` gets, on every response (a gateway 401 included), what the
 * gateway actually did for it: the inbound auth it saw, the upstream credential mode it
 * used and the URL it called, per server. Recorded where the upstream request is built,
 * after credentials were resolved, so the report is never a prediction (LiteLLM reported
 * the first server's configured mode, and `no-auth` on /mcp). Every secret is masked to
 * its last 4 characters.
 */

import type { RequestHeaders } from "./headers.js";

export const DEBUG_REQUEST_HEADER = "x-litellm-mcp-debug";

export interface UpstreamCallRecord {
  server: string;
  authType: string;
  resolution: string;
  url: string;
}

/** Collects what happened during one request. */
export class DebugRecorder {
  private readonly calls = new Map<string, UpstreamCallRecord>();

  /** The latest call per server wins (a retry with a fresh token replaces the first attempt). */
  record(call: UpstreamCallRecord): void {
    this.calls.set(call.server, call);
  }

  get records(): UpstreamCallRecord[] {
    return [...this.calls.values()];
  }
}

/**
 * Auth schemes shown in clear. Any other leading word stays masked: in a value such as
 * `s3cret-part more-secret` it is part of the secret, not a scheme.
 */
const AUTH_SCHEMES = new Set(["bearer", "basic", "token", "digest", "dpop", "negotiate", "ntlm", "apikey"]);

/** `Bearer****ef01`: the scheme, then only the last 4 characters of the credential (of 12 or more). */
export function maskCredential(value: string): string {
  const trimmed = value.trim();
  const match = /^(\S+)\s+(\S.*)$/s.exec(trimmed);
  const [scheme, secret] = match !== null && AUTH_SCHEMES.has(match[1]!.toLowerCase()) ? [match[1]!, match[2]!] : ["", trimmed];
  const tail = secret.length >= 12 ? secret.slice(-4) : "";
  return `${scheme}****${tail}`;
}

/**
 * An upstream URL as shown in `x-mcp-debug-outbound-url`: credentials some servers carry
 * in the URL (userinfo, `?api_key=...`) are masked; every query value is, since the
 * gateway cannot tell which are secret. The fragment is never sent upstream: dropped.
 * `mask` masks one value (the admin API passes its own, whose form round-trips).
 */
export function maskUrl(href: string, mask: (value: string) => string = maskCredential): string {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return mask(href);
  }
  const userinfo = url.username !== "" || url.password !== "" ? "****@" : "";
  const query = [...url.searchParams].map(([name, value]) => `${encodeURIComponent(name)}=${mask(value)}`).join("&");
  return `${url.protocol}//${userinfo}${url.host}${url.pathname}${query === "" ? "" : `?${query}`}`;
}

function bearer(value: string | null): string | undefined {
  const match = value === null ? null : /^bearer\s+(.+)$/i.exec(value.trim());
  return match?.[1]?.trim();
}

/** The response headers for a request that asked for them. */
export function debugHeaders(request: RequestHeaders, recorder: DebugRecorder, gatewayKey: string | undefined): Record<string, string> {
  const inbound: string[] = [];
  for (const name of ["x-litellm-api-key", "authorization"]) {
    const value = request.get(name);
    if (value !== null) inbound.push(`${name}=${maskCredential(value)}`);
  }
  const token = bearer(request.get("authorization"));
  const sameAsKey = token !== undefined && gatewayKey !== undefined && token === gatewayKey;
  const calls = recorder.records;
  const perServer = (pick: (call: UpstreamCallRecord) => string) =>
    calls.length === 0 ? "(none: no upstream was called)" : calls.length === 1 ? pick(calls[0]!) : calls.map((call) => `${call.server}=${pick(call)}`).join(", ");
  return {
    "x-mcp-debug-inbound-auth": inbound.length === 0 ? "(none)" : inbound.join("; "),
    "x-mcp-debug-oauth2-token":
      token === undefined ? "(none)" : `${maskCredential(`Bearer ${token}`)}${sameAsKey ? " (SAME_AS_LITELLM_KEY - likely misconfigured)" : ""}`,
    "x-mcp-debug-auth-resolution": perServer((call) => call.resolution),
    "x-mcp-debug-outbound-url": perServer((call) => maskUrl(call.url)),
    "x-mcp-debug-server-auth-type": perServer((call) => call.authType),
  };
}
