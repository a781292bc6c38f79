/**
 * `delegate_auth_to_upstream: true` (LiteLLM's MCP OAuth docs, "Delegate Auth to Upstream";
 * README, "Delegating auth to the upstream"): the MCP client runs OAuth with the upstream's
 * own issuer, and the gateway forwards the client's `Authorization` untouched
 * (`delegated`). Only for `auth_type: oauth2` with the interactive flow (the server's kind
 * is then `delegated`); anywhere else the flag is ignored (and the load logs it).
 *
 * An Authorization header holding a gateway key is never forwarded, however the key is
 * written in it (LiteLLM #30559, issue 15 item 9): the upstream then sees no credential.
 */
import { forwardableAuthorization } from "../inbound/credential-screen.js";
import type { UpstreamAuth, UpstreamCredentials } from "./strategy.js";

export function delegatedAuth(): UpstreamAuth {
  return {
    async credentials(context): Promise<UpstreamCredentials> {
      const authorization = await forwardableAuthorization(context);
      return { headers: authorization === undefined ? {} : { authorization }, resolution: "delegated" };
    },
  };
}
