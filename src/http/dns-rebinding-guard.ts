/**
 * DNS-rebinding protection (MCP transports spec, "Security Warning": servers MUST validate
 * `Origin`, and answer 403 to a present, invalid one; issue 15 item 14). A page on
 * `evil.example` whose name the attacker re-points at 127.0.0.1 is same-origin with the
 * gateway in the victim's browser, so two checks run before any route:
 *
 * - Listening only on loopback, every request must name the gateway in `Host`: a loopback
 *   name (`localhost`, `*.localhost`, 127.0.0.0/8, `[::1]`, any port) or the host of
 *   PROXY_BASE_URL. A rebinding page sends its own name.
 * - On the MCP routes (`/mcp`, `/{server}/mcp`, `/mcp/{server}`, `/mcp-rest/*`) and the
 *   OAuth facade (`/{server}/register|authorize|token`), a present `Origin` must be the
 *   public origin (seed rules: PROXY_BASE_URL, trusted X-Forwarded-*, else the request's
 *   own), a loopback origin, or listed (general_settings.mcp_allowed_origins /
 *   LITELLM_CORS_ORIGINS). `Origin: null` (sandboxed frames, file pages, no-referrer forms)
 *   is refused there. Discovery documents (`/.well-known/*`) stay open to every origin: they
 *   are public and browser-based MCP clients read them cross-origin.
 *
 * Requests without `Origin` (MCP clients outside browsers, top-level navigations) pass the
 * second check; requests without `Host` (HTTP/1.0) pass the first: a browser always sends it.
 */
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { Logger } from "../log.js";
import { isLoopbackHostname, isLoopbackListenAddress } from "../loopback.js";
import { publicOrigin, type OriginSettings } from "../oauth/public-origin.js";
import type { NodeExchange } from "./exchange.js";

export interface RebindingGuardOptions {
  /** The address the gateway listens on (--host). */
  listenHost: string;
  origin: OriginSettings;
  /** Normalised extra origins (RuntimeSettings.allowedOrigins). */
  allowedOrigins: readonly string[];
  log: Logger;
}

/** How a refusal is worded on this route, as the route's own errors are. */
type Style = "jsonrpc" | "rest" | "oauth";

const FACADE_ENDPOINTS = new Set(["register", "authorize", "token"]);

/**
 * The routes whose `Origin` is checked, with their error style; undefined for the others.
 * Read from the path's segments, percent-decoded and without empty ones, so `//mcp`,
 * `/mcp/` or `/%6Dcp` cannot slip past a check the router would still route.
 */
export function checkedRoute(url: string): Style | undefined {
  const path = url.split("?", 1)[0]!;
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape: judge the path as sent.
  }
  const segments = decoded.split("/").filter((segment) => segment !== "");
  const [first, second] = segments;
  if (first === "mcp-rest") return "rest";
  if (segments.length === 1 && first === "mcp") return "jsonrpc";
  if (segments.length === 2 && (first === "mcp" || second === "mcp")) return "jsonrpc";
  if (segments.length === 2 && second !== undefined && FACADE_ENDPOINTS.has(second)) return "oauth";
  return undefined;
}

/** The host name of a `Host` header value (`name[:port]`, `[v6][:port]`), lowercase. */
export function hostnameOf(host: string): string {
  const value = host.trim().toLowerCase();
  if (value.startsWith("[")) return value.slice(0, value.indexOf("]") + 1);
  return value.replace(/:\d*$/, "");
}

/** Whether `origin` (an Origin header's value) is one this gateway's MCP and OAuth routes answer. */
export function originAllowed(origin: string, ownOrigin: string | undefined, allowed: readonly string[]): boolean {
  // `null`, or anything that is not exactly scheme://host[:port], is refused.
  if (!/^https?:\/\/[^/?#\\@%\s]+$/i.test(origin) || !URL.canParse(origin)) return false;
  const url = new URL(origin);
  return url.origin === ownOrigin || isLoopbackHostname(url.hostname) || allowed.includes(url.origin);
}

/** `name[:port]` or `[v6][:port]`: a Host the request's own origin can be built from. */
const AUTHORITY = /^(?:[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

const clip = (value: string) => (value.length > 100 ? `${value.slice(0, 100)}...` : value);

function hostRefused(host: string, proxyHost: string | undefined): GatewayError {
  const names = `localhost, 127.0.0.0/8 and [::1]${proxyHost === undefined ? "" : ` and ${proxyHost} (PROXY_BASE_URL)`}`;
  return new GatewayError({
    status: 403,
    code: "host_not_allowed",
    rpcCode: JsonRpcCode.Forbidden,
    message:
      `Host '${clip(host)}' is not a name of this gateway: it listens only on loopback and answers to ${names} (DNS-rebinding protection); ` +
      "behind a reverse proxy that forwards its own Host, set PROXY_BASE_URL to the gateway's public origin",
  });
}

function originRefused(origin: string): GatewayError {
  return new GatewayError({
    status: 403,
    code: "origin_not_allowed",
    rpcCode: JsonRpcCode.Forbidden,
    message:
      `Origin '${clip(origin)}' may not call this gateway's MCP and OAuth routes (DNS-rebinding protection, MCP transports spec): ` +
      "only the gateway's public origin, loopback origins and origins listed in general_settings.mcp_allowed_origins (or LITELLM_CORS_ORIGINS) may",
  });
}

/**
 * The check, as the router's first step: answers 403 and returns true for a refused
 * request; returns false (untouched) otherwise. Every route is behind it.
 */
export function dnsRebindingGuard(options: RebindingGuardOptions): (exchange: NodeExchange) => boolean {
  const loopbackOnly = isLoopbackListenAddress(options.listenHost);
  const proxyBase = options.origin.proxyBaseUrl === undefined ? undefined : new URL(options.origin.proxyBaseUrl);
  const proxyHost = proxyBase === undefined ? undefined : hostnameOf(proxyBase.host);
  if (!loopbackOnly && proxyBase === undefined) {
    // The Origin check then compares with an origin built from the request's own Host, which a rebinding page chooses.
    options.log.warn(
      { listen: options.listenHost },
      "the gateway listens beyond loopback without PROXY_BASE_URL: DNS-rebinding protection cannot tell its own origin from a rebinding page's; set PROXY_BASE_URL to the origin users reach it at",
    );
  }

  function refuse(exchange: NodeExchange, error: GatewayError, style: Style): true {
    void exchange.fail(error, style);
    return true;
  }

  return (exchange) => {
    const request = exchange.incoming;
    const host = request.headers.host;
    if (loopbackOnly && host !== undefined) {
      const name = hostnameOf(host);
      if (!isLoopbackHostname(name) && name !== proxyHost) return refuse(exchange, hostRefused(host, proxyHost), checkedRoute(exchange.path) ?? "rest");
    }
    const origin = request.headers.origin;
    // Most requests (MCP clients outside browsers) carry no Origin: nothing more to do.
    if (origin === undefined) return false;
    const route = checkedRoute(exchange.path);
    if (route === undefined) return false;
    const own =
      host !== undefined && AUTHORITY.test(host)
        ? publicOrigin(options.origin, { url: `http://${host}/`, headers: exchange.headers, peer: exchange.peer })
        : options.origin.proxyBaseUrl;
    return originAllowed(origin, own, options.allowedOrigins) ? false : refuse(exchange, originRefused(origin), route);
  };
}
