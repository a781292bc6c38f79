/**
 * One interface for every way of getting upstream credentials. Each strategy lives in
 * its own file and never imports another; `select-strategy.ts` picks one per server at
 * load time, so nothing is decided per request that could be decided once.
 */
import type { DebugRecorder } from "../../debug.js";
import type { CancelSource } from "../../exchange.js";
import type { RequestHeaders } from "../../headers.js";
import type { Caller } from "../inbound/caller.js";
import type { CredentialScreen } from "../inbound/credential-screen.js";
import type { PresentedKey } from "../inbound/gateway-key.js";

/** What `x-mcp-debug-auth-resolution` reports: the mechanism actually used. */
export type AuthResolution =
  | "no-auth"
  | "static-token"
  | "per-request-header"
  | "m2m-client-credentials"
  | "oauth2-passthrough"
  | "stored-user-token"
  | "token-exchange"
  | "delegated";

export interface UpstreamAuthContext {
  /** The inbound request's headers. */
  headers: RequestHeaders;
  /** The gateway key and the header that carried it (that header never goes upstream). */
  presentedKey: PresentedKey | undefined;
  /** Says which inbound header values hold a gateway key: those never go upstream, in any header. */
  screen: CredentialScreen;
  /** Who is calling: per-user credentials are looked up for them. */
  caller?: Caller;
  /** Present when the client asked for debug headers: told what was actually used. */
  debug?: DebugRecorder;
  /** For token requests (oauth4webapi takes an AbortSignal). */
  signal?: AbortSignal;
  /** The client's going away, for the upstream MCP calls. */
  cancel?: CancelSource;
  /** The inbound request's id, for log lines about getting the credentials (a refused refresh). */
  requestId?: string;
}

export interface UpstreamCredentials {
  /** Headers to add to the upstream request (lowercase names). */
  headers: Readonly<Record<string, string>>;
  resolution: AuthResolution;
  /** The upstream refused these credentials (401): forget whatever stored them. */
  onRejected?: () => Promise<void>;
}

export interface UpstreamAuth {
  credentials(context: UpstreamAuthContext): UpstreamCredentials | Promise<UpstreamCredentials>;
  /** The upstream answered 401 to these credentials: forget them if they were cached. */
  invalidate?(credentials: UpstreamCredentials): void;
  /**
   * After an upstream 401 and `invalidate`, fresh credentials may succeed (a cached token
   * was revoked or expired early): the proxy then retries the request once, never more.
   */
  retryOnUnauthorized?: boolean;
}

export const NO_CREDENTIALS: UpstreamCredentials = Object.freeze({ headers: Object.freeze({}), resolution: "no-auth" });
