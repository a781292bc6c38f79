/**
 * Protected resource metadata (RFC 9728) of servers that delegate auth upstream. The
 * client runs OAuth with the upstream's own authorization server, so the document is the
 * upstream's, but served at the gateway with `resource` set to the gateway URL the client
 * used: RFC 9728 §3.3 and §7.3 make clients refuse a document whose `resource` differs
 * from the URL they called (LiteLLM #29770, #36803; agentgateway #234, #1390).
 *
 * The upstream's 401 reaches the client as it was sent, except that the challenge's
 * `resource_metadata` URL is pointed at the gateway's copy (the only change); the URL the
 * upstream named is remembered and fetched for that copy, through the gateway's one
 * metadata discovery (single flight, a timeout per request); a document is used for five
 * minutes. When the named URL gives no answer, the well-known document is served, but only
 * for that request: a fallback is never kept as the server's document.
 */
import { GatewayError, JsonRpcCode } from "../errors.js";
import { maskUrl } from "../debug.js";
import type { MetadataDiscovery } from "../auth/upstream/metadata-discovery.js";
import type { McpServerEntry } from "../registry/server-entry.js";
import { challengeMetadataUrl, findResourceMetadata } from "./resource-metadata-challenge.js";

export { challengeMetadataUrl };
import { discoverResource } from "./upstream-authorization-server.js";

/** How long a document is used before it is fetched again. */
const MAX_AGE_MS = 5 * 60_000;

/** The challenge with its `resource_metadata` URL replaced by `gatewayUrl`; everything else byte for byte. */
export function pointChallengeAt(challenge: string, gatewayUrl: string): string {
  const found = findResourceMetadata(challenge);
  if (found === undefined) return challenge;
  return `${challenge.slice(0, found.index)}${found.name}"${gatewayUrl}"${challenge.slice(found.index + found.length)}`;
}

export interface DelegatedResourceMetadata {
  /** An upstream 401 named its metadata URL: use it for this server's document. */
  remember(server: McpServerEntry, challenge: string): void;
  /** The upstream's document with `resource` set to the gateway URL the client uses. */
  document(server: McpServerEntry, resource: string): Promise<Record<string, unknown>>;
}

export function delegatedResourceMetadata(options: { discovery: MetadataDiscovery }): DelegatedResourceMetadata {
  const { discovery } = options;
  const remembered = new Map<string, string>();

  return {
    remember(server, challenge) {
      const url = challengeMetadataUrl(challenge);
      // Only the upstream's own origin: a challenge must not send the gateway fetching elsewhere.
      if (url === undefined || !URL.canParse(url) || new URL(url).origin !== server.url.origin) return;
      remembered.set(server.id, url);
    },
    async document(server, resource) {
      return { ...(await upstreamDocument(discovery, server, remembered.get(server.id))), resource };
    },
  };
}

async function upstreamDocument(discovery: MetadataDiscovery, server: McpServerEntry, named: string | undefined): Promise<Record<string, unknown>> {
  if (named !== undefined) {
    const found = await discovery.resourceMetadataDocument(new URL(named), { maxAgeMs: MAX_AGE_MS });
    if (found.status === "found") return found.metadata;
  }
  const discovered = await discoverResource(discovery, server.url, MAX_AGE_MS);
  if (discovered !== undefined) return { ...discovered };
  throw new GatewayError({
    status: 502,
    code: "upstream_metadata_unavailable",
    // The upstream's address is for the log: anonymous callers of a delegating server are told the server only.
    message: `MCP server '${server.name}' delegates auth upstream, but its protected resource metadata (RFC 9728) could not be fetched (the gateway log names the address)`,
    detail: `protected resource metadata not found at ${maskUrl(server.url.href)}${named === undefined ? "" : ` nor at the challenge's ${maskUrl(named)}`}`,
    rpcCode: JsonRpcCode.UpstreamError,
    extra: { server: server.name },
  });
}
