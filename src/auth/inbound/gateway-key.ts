/**
 * Where the caller's gateway key travels (README, "Gateway keys (inbound)"):
 * `x-litellm-api-key: Bearer <key>` (a bare key too), or, only when that header is absent,
 * `Authorization: Bearer <key>`. Which headers may still go upstream is the credential
 * screen's question (credential-screen.ts): any header holding a gateway key stays here.
 */
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
