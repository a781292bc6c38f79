/**
 * Where the caller's gateway key travels (CONTRACT §3): `x-litellm-api-key: Bearer <key>`
 * (a bare key too), or, only when that header is absent, `Authorization: Bearer <key>`.
 * Knowing which header carried it lets the proxy strip exactly that header upstream and
 * leave a client's own `Authorization` for OAuth pass-through.
 */
import { hash, timingSafeEqual } from "node:crypto";
import type { RequestHeaders } from "../../headers.js";

export const GATEWAY_KEY_HEADER = "x-litellm-api-key";

export type GatewayKeySource = "x-litellm-api-key" | "authorization";

export interface PresentedKey {
  key: string;
  source: GatewayKeySource;
}

const BEARER = /^bearer(\s+|$)/i;

function stripBearer(value: string): string {
  return value.replace(BEARER, "").trim();
}

export function extractGatewayKey(headers: RequestHeaders): PresentedKey | undefined {
  const dedicated = headers.get(GATEWAY_KEY_HEADER);
  if (dedicated !== null) {
    const key = stripBearer(dedicated);
    return key === "" ? undefined : { key, source: GATEWAY_KEY_HEADER };
  }
  const authorization = headers.get("authorization");
  if (authorization !== null && BEARER.test(authorization)) {
    const key = stripBearer(authorization);
    return key === "" ? undefined : { key, source: "authorization" };
  }
  return undefined;
}

/**
 * The bearer token of the Authorization header, unless it is the gateway key: whether the
 * key travelled there, or the client sent the key in both headers (LiteLLM #30559).
 */
export function clientBearerToken(headers: RequestHeaders, presented: PresentedKey | undefined): string | undefined {
  if (presented?.source === "authorization") return undefined;
  const authorization = headers.get("authorization");
  if (authorization === null || !BEARER.test(authorization)) return undefined;
  const token = stripBearer(authorization);
  if (token === "" || (presented !== undefined && sameSecret(token, presented.key))) return undefined;
  return token;
}

function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(hash("sha256", a, "buffer"), hash("sha256", b, "buffer"));
}
