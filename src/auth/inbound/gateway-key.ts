/**
 * Where the caller's gateway key travels (CONTRACT §3): `x-litellm-api-key: Bearer <key>`
 * (a bare key too), or, only when that header is absent, `Authorization: Bearer <key>`.
 * Knowing which header carried it lets the proxy strip exactly that header upstream and
 * leave a client's own `Authorization` for OAuth pass-through.
 */

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

export function extractGatewayKey(headers: Headers): PresentedKey | undefined {
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

/** The bearer token of the Authorization header, unless that header carried the gateway key. */
export function clientBearerToken(headers: Headers, presented: PresentedKey | undefined): string | undefined {
  if (presented?.source === "authorization") return undefined;
  const authorization = headers.get("authorization");
  if (authorization === null || !BEARER.test(authorization)) return undefined;
  const token = stripBearer(authorization);
  return token === "" ? undefined : token;
}
