/**
 * The gateway as the OAuth client of upstreams that the conformance suite found it could
 * not work with (issue 18), each against a real oidc-provider and a real upstream MCP server:
 * - an authorization server whose registration response omits `client_secret_expires_at`;
 * - a pre-stored client at an authorization server offering only client_secret_basic;
 * - an upstream whose 401 challenge names its RFC 9728 document at a non-well-known URL
 *   (and one whose challenge names another resource's document, which must not be used).
 * (An upstream without RFC 9728 metadata, the 2025-03-26 way, is the conformance suite's
 * `auth/2025-03-26-oauth-endpoint-fallback` scenario: test/conformance/auth-client.test.ts.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer, type InteractiveAuthorizationServerOptions } from "../fixtures/interactive-as.js";
import { connectWithOAuth } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream, type ProtectedResourceUpstreamOptions } from "../fixtures/protected-resource-upstream.js";

const PRESTORED = { client_id: "gatehouse-basic-only", client_secret: "basic-only-secret-8c2e41f7" };

const running: Array<{ close(): Promise<unknown> }> = [];

afterEach(async () => {
  for (const peer of running.splice(0).reverse()) await peer.close();
});

interface Peers {
  upstream: ProtectedResourceUpstream;
  as: InteractiveAuthorizationServer;
  gateway: TestGateway;
}

/** An upstream, its authorization server, and a gateway whose server `up` is that upstream (`server` adds to its config). */
async function start(options: {
  upstream?: ProtectedResourceUpstreamOptions;
  as?: Omit<InteractiveAuthorizationServerOptions, "resource" | "clients">;
  server?: (as: { issuer: string }) => Record<string, unknown>;
  prestored?: boolean;
}): Promise<Peers> {
  const upstream = await startProtectedResourceUpstream({ name: "interop", ...options.upstream });
  running.push(upstream);
  let gateway: TestGateway | undefined;
  const as = await startInteractiveAuthorizationServer({
    resource: upstream.url,
    ...options.as,
    clients: async (issuer) => {
      gateway = await startTestGateway({ servers: { up: { url: upstream.url, auth_type: "oauth2", ...options.server?.({ issuer }) } } });
      return options.prestored === true ? [{ ...PRESTORED, redirect_uris: [`${gateway.url}/callback`], token_endpoint_auth_method: "client_secret_basic" }] : [];
    },
  });
  running.push(as, gateway!);
  upstream.trust(as);
  return { upstream, as, gateway: gateway! };
}

async function callThroughGateway(gateway: TestGateway): Promise<unknown> {
  const { client } = await connectWithOAuth(`${gateway.url}/up/mcp`, { "x-litellm-api-key": `Bearer ${MASTER_KEY}` });
  try {
    return await client.callTool({ name: "echo", arguments: { message: "interop" } });
  } finally {
    await client.close();
  }
}

describe("the gateway as OAuth client of upstreams found in issue 18", () => {
  it("registration_without_client_secret_expires_at_is_accepted", async () => {
    const { as, upstream, gateway } = await start({ as: { omitSecretExpiry: true } });

    const result = await callThroughGateway(gateway);

    expect(JSON.stringify(result)).toContain("interop");
    expect(as.registrations()).toHaveLength(1);
    // The registration's secret authenticates the code exchange, as registered (client_secret_basic).
    expect(as.tokenRequests().at(-1)).toMatchObject({ grant_type: "authorization_code", authMethod: "basic", status: 200 });
    expect(upstream.acceptedTokens()).toHaveLength(1);
  });

  it("prestored_client_uses_the_only_advertised_auth_method_client_secret_basic", async () => {
    const { as, gateway } = await start({
      as: { clientAuthMethods: ["client_secret_basic", "none"] },
      server: ({ issuer }) => ({ ...PRESTORED, issuer }),
      prestored: true,
    });

    const result = await callThroughGateway(gateway);

    expect(JSON.stringify(result)).toContain("interop");
    expect(as.registrations()).toEqual([]);
    expect(as.tokenRequests().at(-1)).toMatchObject({ grant_type: "authorization_code", authMethod: "basic", status: 200 });
  });

  it("resource_metadata_named_by_the_upstream_challenge_is_used_when_not_at_the_well_known_url", async () => {
    const { as, upstream, gateway } = await start({ upstream: { metadataPath: "/metadata/mcp-resource.json" } });
    // The well-known URLs do not have it: only the challenge leads there.
    expect((await fetch(`${upstream.origin}/.well-known/oauth-protected-resource/mcp`)).status).not.toBe(200);

    const result = await callThroughGateway(gateway);

    expect(JSON.stringify(result)).toContain("interop");
    expect(as.authorizationRequests().at(-1)).toMatchObject({ resource: upstream.url });
    expect(upstream.acceptedTokens()).toHaveLength(1);
  });

  it("resource_metadata_named_by_the_challenge_describing_another_resource_is_not_used", async () => {
    // `other` trusts an authorization server the hostile upstream would like the gateway to register at.
    const other = await startProtectedResourceUpstream({ name: "other" });
    running.push(other);
    const elsewhere = await startInteractiveAuthorizationServer({ resource: other.url });
    running.push(elsewhere);
    other.trust(elsewhere);
    const { as, upstream, gateway } = await start({ upstream: { challengeNames: other.resourceMetadataUrl } });

    const result = await callThroughGateway(gateway);

    // RFC 9728 §3.3: a document whose `resource` is not the upstream is not its metadata; the well-known one is used.
    expect(JSON.stringify(result)).toContain("interop");
    expect(elsewhere.registrations()).toEqual([]);
    expect(elsewhere.authorizationRequests()).toEqual([]);
    expect(as.registrations()).toHaveLength(1);
    expect(upstream.acceptedTokens()).toHaveLength(1);
  });
});
