/**
 * private_key_jwt client assertions on two gateway instances that share one database,
 * behind one public origin (two-gateways.ts): an assertion accepted by one instance must be
 * refused by the other (RFC 7523 §3: a jti is used once). Each instance used to remember the
 * jtis it had seen in its own memory only, so the same assertion was accepted once per
 * instance. Once on PostgreSQL (skipped with the fixture's message when no server answers;
 * an error under CI=true), once on one SQLite file.
 *
 * Peers: a Client ID Metadata Document host over https (metadata-document-host.ts) whose
 * document publishes the client's ES256 key, oidc-provider as the upstream authorization
 * server, and an MCP server that checks the audience of its tokens. The SDK's OAuth client
 * completes the flow through the balancer; the refresh requests are then sent by hand to
 * one instance and the other, with one assertion.
 */
import { exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, postgresAvailable, type TestDatabase } from "../fixtures/databases.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, TestOAuthClientProvider, type OAuthConnection } from "../fixtures/mcp-oauth-client.js";
import { CLIENT_ASSERTION_TYPE, signClientAssertion, startMetadataDocumentHost, type MetadataDocumentHost } from "../fixtures/metadata-document-host.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";
import { startGatewayPair, startLoopbackProxy, type GatewayPair, type LoopbackProxy } from "../fixtures/two-gateways.js";
import type { TestGateway } from "../fixtures/gateway.js";

const KID = "replica-key";

/** The SDK's provider with a URL client_id that signs an assertion for every token request. */
class SignedDocumentClientProvider extends TestOAuthClientProvider {
  constructor(
    readonly clientMetadataUrl: string,
    private readonly key: CryptoKey,
  ) {
    super();
  }

  // A property, not a method: the SDK calls it unbound.
  addClientAuthentication = async (_headers: Headers, params: URLSearchParams, url: string | URL): Promise<void> => {
    params.set("client_id", this.clientMetadataUrl);
    params.set("client_assertion_type", CLIENT_ASSERTION_TYPE);
    params.set("client_assertion", await signClientAssertion(this.key, KID, this.clientMetadataUrl, String(url)));
  };
}

function describeGatewayPair(dialect: "postgres" | "sqlite"): void {
  let database: TestDatabase;
  let documents: MetadataDocumentHost;
  let upstream: ProtectedResourceUpstream;
  let as: InteractiveAuthorizationServer;
  let front: LoopbackProxy;
  let pair: GatewayPair;
  let signingKey: CryptoKey;
  let clientId: string;
  const connections: OAuthConnection[] = [];

  beforeAll(async () => {
    [database, documents, upstream, front] = await Promise.all([createTestDatabase(dialect), startMetadataDocumentHost(), startProtectedResourceUpstream({ name: "protected" }), startLoopbackProxy()]);
    const keys = await generateKeyPair("ES256");
    signingKey = keys.privateKey;
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: KID, alg: "ES256", use: "sig" };
    clientId = documents.serve("/signed-client.json", (url) => ({
      client_id: url,
      client_name: "Signed Client",
      redirect_uris: ["http://127.0.0.1/callback"],
      token_endpoint_auth_method: "private_key_jwt",
      jwks: { keys: [jwk] },
    }));
    as = await startInteractiveAuthorizationServer({ resource: upstream.url });
    upstream.trust(as);
    pair = await startGatewayPair({
      front,
      databaseUrl: database.url,
      general: { oauth_client_metadata_document_hosts: ["127.0.0.1"], oauth_client_metadata_document_internal_hosts: ["127.0.0.1"] },
      servers: { dyn: { url: upstream.url, auth_type: "oauth2" } },
      clientMetadataDocumentCa: documents.ca,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(connections.map((connection) => connection.client.close()));
    await pair?.close();
    await Promise.allSettled([front?.close(), as?.close(), upstream?.close(), documents?.close()]);
    await database?.drop();
  });

  /** A refresh request with this assertion, sent to one instance directly (the audience is the balancer's token endpoint). */
  async function refreshAt(gateway: TestGateway, assertion: string, refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${gateway.url}/dyn/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("replay across replicas: an assertion (jti) accepted by instance A is refused by instance B, and by A again", async () => {
    const provider = new SignedDocumentClientProvider(clientId, signingKey);
    const key = await pair.a.generateKey({ user_id: `replica-${dialect}` });
    const connection = await connectWithOAuth(`${front.url}/dyn/mcp`, { "x-litellm-api-key": `Bearer ${key}` }, { provider });
    connections.push(connection);
    const refreshToken = provider.savedTokens.at(-1)?.refresh_token;
    expect(refreshToken).toBeTypeOf("string");

    const audience = `${front.url}/dyn/token`;
    const assertion = await signClientAssertion(signingKey, KID, clientId, audience);
    const accepted = await refreshAt(pair.a, assertion, refreshToken!);
    expect(accepted.status).toBe(200);
    const nextRefresh = typeof accepted.body.refresh_token === "string" ? accepted.body.refresh_token : refreshToken!;

    for (const gateway of [pair.b, pair.a]) {
      const replayed = await refreshAt(gateway, assertion, nextRefresh);
      expect(replayed.status).toBe(401);
      expect(replayed.body).toMatchObject({ error: "invalid_client", error_description: expect.stringMatching(/this assertion \(jti\) was already used; sign a new assertion with a fresh jti/) });
    }

    // B accepts the same client with a fresh assertion: it refuses the replay, not the client.
    const fresh = await refreshAt(pair.b, await signClientAssertion(signingKey, KID, clientId, audience), nextRefresh);
    expect(fresh.status).toBe(200);
  });

  it("replay across replicas, at once: one assertion sent to both instances together is accepted by one only", async () => {
    const provider = new SignedDocumentClientProvider(clientId, signingKey);
    const key = await pair.b.generateKey({ user_id: `replica-race-${dialect}` });
    const connection = await connectWithOAuth(`${front.url}/dyn/mcp`, { "x-litellm-api-key": `Bearer ${key}` }, { provider });
    connections.push(connection);
    const refreshToken = provider.savedTokens.at(-1)!.refresh_token!;
    const assertion = await signClientAssertion(signingKey, KID, clientId, `${front.url}/dyn/token`);
    const answers = await Promise.all([refreshAt(pair.a, assertion, refreshToken), refreshAt(pair.b, assertion, refreshToken)]);
    expect(answers.filter((answer) => answer.body.error === "invalid_client")).toHaveLength(1);
    expect(answers.filter((answer) => answer.body.error === "invalid_client")[0]!.status).toBe(401);
  });
}

describe.skipIf(!(await postgresAvailable()))("private_key_jwt replay on two gateway instances sharing one PostgreSQL database", () => {
  describeGatewayPair("postgres");
});

describe("private_key_jwt replay on two gateway instances sharing one SQLite file", () => {
  describeGatewayPair("sqlite");
});
