/**
 * `delegate_auth_to_upstream: true` (seed "Delegate Auth to Upstream", CONTRACT §5): the
 * MCP client runs OAuth with the upstream's own issuer, and the gateway forwards the
 * client's `Authorization` untouched (`delegated`). Only for `auth_type: oauth2` with the
 * interactive flow; anywhere else the flag is ignored (and the load logs it).
 *
 * The gateway key is never forwarded: not when it travelled in Authorization, and not
 * when the client sent it in both headers (LiteLLM #30559).
 */
import { inferOauth2Flow } from "../../config/load.js";
import type { ServerConfig } from "../../config/schema.js";
import { clientBearerToken } from "../inbound/gateway-key.js";
import type { UpstreamAuth, UpstreamCredentials } from "./strategy.js";

/** Whether the server really delegates: the flag, on an interactive oauth2 server. */
export function delegatesAuthToUpstream(config: ServerConfig): boolean {
  return config.delegate_auth_to_upstream && config.auth_type === "oauth2" && inferOauth2Flow(config) === "authorization_code";
}

export function delegatedAuth(): UpstreamAuth {
  return {
    credentials({ headers, presentedKey }): UpstreamCredentials {
      const authorization = headers.get("authorization");
      const isBearer = authorization !== null && /^bearer(\s|$)/i.test(authorization);
      if (authorization === null) return { headers: {}, resolution: "delegated" };
      const forward = isBearer ? clientBearerToken(headers, presentedKey) !== undefined : presentedKey?.source !== "authorization";
      return { headers: forward ? { authorization } : {}, resolution: "delegated" };
    },
  };
}
