/**
 * The gateway as a Client ID Metadata Document client, end to end against a real
 * authorization server that accepts CIMD: oidc-provider with its `clientIdMetadataDocument`
 * feature (draft-02). The gateway's public origin is https (PROXY_BASE_URL), as the draft
 * requires of a client_id; `hostsFetch` plays the DNS entry and TLS ingress that bring
 * that origin to the gateway's loopback listener, for the authorization server fetching
 * the document, the user's browser and the MCP client alike.
 */
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { hostsFetch } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, type TestOAuthClientProvider } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const PUBLIC = "https://gateway.example";
const DOCUMENT_URL = `${PUBLIC}/.well-known/gatehouse/oauth-client.json`;

let upstream: ProtectedResourceUpstream;
let gateway: TestGateway;
let as: InteractiveAuthorizationServer;
let viaPublicOrigin: typeof fetch;
/** Alice's MCP client (its tokens from the gateway), for the refresh. */
let alice: TestOAuthClientProvider | undefined;

beforeAll(async () => {
  upstream = await startProtectedResourceUpstream({ name: "cimd-real" });
  gateway = await startTestGateway({ env: { PROXY_BASE_URL: PUBLIC }, servers: { up: { url: upstream.url, auth_type: "oauth2" } } });
  viaPublicOrigin = hostsFetch({ [PUBLIC]: gateway.url });
  as = await startInteractiveAuthorizationServer({ resource: upstream.url, clientIdMetadataDocuments: { fetch: viaPublicOrigin } });
  upstream.trust(as);
});

afterAll(async () => {
  await gateway?.close();
  await as?.close();
  await upstream?.close();
});

/** Signs `user` in (at the gateway with `key`, upstream as the account of that name) and calls a tool. */
async function callAs(user: string, key = MASTER_KEY): Promise<{ result: unknown; provider: TestOAuthClientProvider }> {
  as.setAccountId(user);
  const { client, provider } = await connectWithOAuth(`${PUBLIC}/up/mcp`, { "x-litellm-api-key": `Bearer ${key}` }, { fetch: viaPublicOrigin });
  try {
    return { result: await client.callTool({ name: "echo", arguments: { message: `cimd for ${user}` } }), provider };
  } finally {
    await client.close();
  }
}

describe("the gateway's Client ID Metadata Document at an authorization server that accepts it (oidc-provider)", () => {
  it("signs the user in with the document's URL as client_id: the server fetches the document, no registration, public client with PKCE", async () => {
    const { result, provider } = await callAs("alice");
    alice = provider;

    expect(JSON.stringify(result)).toContain("cimd for alice");
    expect(as.registrations()).toEqual([]);
    expect(as.documentFetches()).toEqual([DOCUMENT_URL]);
    const [authorization] = as.authorizationRequests();
    expect(authorization).toMatchObject({ client_id: DOCUMENT_URL, redirect_uri: `${PUBLIC}/callback`, code_challenge_method: "S256" });
    const exchange = as.tokenRequests().find((request) => request.grant_type === "authorization_code");
    expect(exchange).toMatchObject({ authMethod: "none", status: 200, params: { client_id: DOCUMENT_URL, redirect_uri: `${PUBLIC}/callback` } });
    expect(exchange?.params["code_verifier"]).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);
    expect(upstream.acceptedTokens().length).toBeGreaterThan(0);
  });

  it("refreshes as the same public client: the document's URL as client_id, no client authentication", async () => {
    expect(alice, "the first test signed alice in").toBeDefined();
    const before = alice!.tokens()!;
    const grants = as.tokenRequests().length;

    await expect(auth(alice!, { serverUrl: `${PUBLIC}/up/mcp`, fetchFn: viaPublicOrigin })).resolves.toBe("AUTHORIZED");

    expect(alice!.tokens()!.access_token).not.toBe(before.access_token);
    expect(as.tokenRequests().slice(grants)).toMatchObject([{ grant_type: "refresh_token", authMethod: "none", status: 200, params: { client_id: DOCUMENT_URL } }]);
    expect(as.registrations()).toEqual([]);
  });

  it("a second user signing in uses the same document: no registration, the server's cached copy", async () => {
    const bobKey = await gateway.generateKey({ user_id: "bob" });
    const { result } = await callAs("bob", bobKey);

    expect(JSON.stringify(result)).toContain("cimd for bob");
    expect(as.registrations()).toEqual([]);
    expect(as.authorizationRequests().map((request) => request["client_id"])).toEqual([DOCUMENT_URL, DOCUMENT_URL]);
    expect(as.documentFetches()).toEqual([DOCUMENT_URL]);
    const subjects = upstream.acceptedTokens().map((token) => upstream.claims(token)?.sub);
    expect(new Set(subjects)).toEqual(new Set(["alice", "bob"]));
  });
});
