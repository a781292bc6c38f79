/**
 * Client ID Metadata Documents through a real gateway: the official SDK's OAuth client with
 * `clientMetadataUrl` completes the facade flow (consent page naming the document's host)
 * against oidc-provider and an upstream that verifies the audience; a private_key_jwt
 * client authenticates at /token with the keys of its document; and every failure is a page
 * that names the step.
 *
 * The documents are served over https by a server on 127.0.0.1 with a self-signed
 * certificate (metadata-document-host.ts) that the gateway is told to trust; the gateway
 * reaches 127.0.0.1 only because this test lists it in
 * `oauth_client_metadata_document_internal_hosts`, which is empty by default (the last test
 * shows a gateway with the defaults refusing it).
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { CookieJar, fetchWithCookies } from "../fixtures/headless-browser.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { connectWithOAuth, loopbackRedirectUri, pkcePair, TestOAuthClientProvider, type TestOAuthClientOptions } from "../fixtures/mcp-oauth-client.js";
import { startMetadataDocumentHost, type MetadataDocumentHost } from "../fixtures/metadata-document-host.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

let documents: MetadataDocumentHost;
let docBase: string;
let ca: string;
let upstream: ProtectedResourceUpstream;
let as: InteractiveAuthorizationServer;
let gateway: TestGateway;
let signingKey: CryptoKey;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  documents = await startMetadataDocumentHost();
  ({ base: docBase, ca } = documents);
  closers.push(() => documents.close());

  const keys = await generateKeyPair("ES256");
  signingKey = keys.privateKey;
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: "cimd-1", alg: "ES256", use: "sig" };
  // A native client: its redirect URI is loopback, any port at run time (RFC 8252 §7.3).
  documents.serve("/client.json", (url) => ({ client_id: url, client_name: "CIMD Test Client", redirect_uris: ["http://127.0.0.1:3000/callback"], token_endpoint_auth_method: "none" }));
  documents.serve("/jwt-client.json", (url) => ({
    client_id: url,
    client_name: "Signed Client",
    redirect_uris: ["http://127.0.0.1/callback"],
    token_endpoint_auth_method: "private_key_jwt",
    jwks: { keys: [jwk] },
  }));
  documents.serve("/wrong-id.json", () => ({ client_id: "https://someone-else.example/client.json", client_name: "x", redirect_uris: ["http://127.0.0.1/callback"] }));

  upstream = await startProtectedResourceUpstream({ name: "protected" });
  as = await startInteractiveAuthorizationServer({ resource: upstream.url });
  upstream.trust(as);
  gateway = await startTestGateway({
    general: { oauth_client_metadata_document_hosts: ["127.0.0.1"], oauth_client_metadata_document_internal_hosts: ["127.0.0.1"] },
    servers: { dyn: { url: upstream.url, auth_type: "oauth2" } },
    clientMetadataDocumentCa: ca,
  });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all([as?.close(), upstream?.close()]);
  for (const close of closers) await close().catch(() => undefined);
});

/** The SDK's provider with a URL client_id: the SDK uses it when the metadata says so. */
class DocumentClientProvider extends TestOAuthClientProvider {
  constructor(
    readonly clientMetadataUrl: string,
    options: TestOAuthClientOptions = {},
  ) {
    super(options);
  }
}

/** Also signs a private_key_jwt assertion for every token request. */
class SignedDocumentClientProvider extends DocumentClientProvider {
  readonly assertions: string[] = [];
  // A property, not a method: the SDK calls it unbound.
  addClientAuthentication = async (_headers: Headers, params: URLSearchParams, url: string | URL): Promise<void> => {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "cimd-1" })
      .setIssuer(this.clientMetadataUrl)
      .setSubject(this.clientMetadataUrl)
      .setAudience(String(url))
      .setIssuedAt()
      .setExpirationTime("2m")
      .setJti(crypto.randomUUID())
      .sign(signingKey);
    this.assertions.push(assertion);
    params.set("client_id", this.clientMetadataUrl);
    params.set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    params.set("client_assertion", assertion);
  };
}

/** A new user's key: the gateway keeps upstream tokens per user, so each flow here starts from none. */
const keyHeader = async () => ({ "x-litellm-api-key": `Bearer ${await gateway.generateKey({ user_id: `user-${crypto.randomUUID()}` })}` });

function authorizeUrl(clientId: string, redirectUri: string): string {
  const url = new URL(`${gateway.url}/dyn/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: pkcePair().challenge,
    code_challenge_method: "S256",
    state: "s1",
  }).toString();
  return url.href;
}

describe("Client ID Metadata Documents at the facade", () => {
  it("advertises client_id_metadata_document_supported and private_key_jwt in its RFC 8414 metadata", async () => {
    const response = await fetch(`${gateway.url}/.well-known/oauth-authorization-server/dyn`);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.client_id_metadata_document_supported).toBe(true);
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(["none", "private_key_jwt"]);
    expect(metadata.registration_endpoint).toBe(`${gateway.url}/dyn/register`);
  });

  it("the SDK's clientMetadataUrl client completes the flow without registering, and reaches the upstream", async () => {
    const provider = new DocumentClientProvider(`${docBase}/client.json`);
    const connection = await connectWithOAuth(`${gateway.url}/dyn/mcp`, await keyHeader(), { provider });
    closers.push(() => connection.client.close());
    expect(connection.authorized).toBe(true);
    expect(new URL(provider.authorizationUrls[0]!).searchParams.get("client_id")).toBe(`${docBase}/client.json`);
    expect(provider.clientInformation()?.client_id).toBe(`${docBase}/client.json`);
    const tools = await connection.client.listTools();
    expect(tools.tools.length).toBeGreaterThan(0);
  });

  it("the consent page names the document's host and warns about loopback-only redirect URIs", async () => {
    const response = await fetchWithCookies(authorizeUrl(`${docBase}/client.json`, loopbackRedirectUri().replace("/oauth/callback", "/callback")), new CookieJar());
    const page = await response.text();
    expect(response.status).toBe(200);
    expect(page).toContain(`identified by <code>${new URL(docBase).host}</code>`);
    expect(page).toContain("CIMD Test Client");
    expect(page).toMatch(/Warning:.*only returns to addresses on your own computer/);
  });

  it("a private_key_jwt client authenticates at /token with a key of its document's jwks", async () => {
    const provider = new SignedDocumentClientProvider(`${docBase}/jwt-client.json`);
    const connection = await connectWithOAuth(`${gateway.url}/dyn/mcp`, await keyHeader(), { provider });
    closers.push(() => connection.client.close());
    expect(provider.assertions.length).toBe(1);
    expect((await connection.client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it("a private_key_jwt client without an assertion is refused at /token (invalid_client)", async () => {
    const provider = new DocumentClientProvider(`${docBase}/jwt-client.json`);
    await expect(connectWithOAuth(`${gateway.url}/dyn/mcp`, await keyHeader(), { provider })).rejects.toThrow();
    // The SDK answers the token endpoint's invalid_client (and only that) by dropping everything it holds.
    expect(provider.invalidations).toContain("all");
    expect(provider.savedTokens).toEqual([]);
  });

  it("a redirect_uri the document does not list is a page that says so, never a redirect", async () => {
    const response = await fetch(authorizeUrl(`${docBase}/client.json`, "https://attacker.example/callback"), { redirect: "manual" });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("is not listed in the client&#39;s metadata document");
  });

  it("a document whose client_id is not its URL is refused, naming the step and the fix", async () => {
    const response = await fetch(authorizeUrl(`${docBase}/wrong-id.json`, "http://127.0.0.1/callback"), { redirect: "manual" });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/client metadata document \(validation\).*set &quot;client_id&quot; to exactly/);
  });

  it("an unreachable document is a 400 page, not a 500", async () => {
    const response = await fetch(authorizeUrl(`${docBase}/missing.json`, "http://127.0.0.1/callback"), { redirect: "manual" });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("client metadata document (fetch): the URL answered HTTP 404");
  });

  it("a host outside the trust policy is refused before anything is fetched", async () => {
    const response = await fetch(authorizeUrl("https://client.untrusted.example/client.json", "http://127.0.0.1/callback"), { redirect: "manual" });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("general_settings.oauth_client_metadata_document_hosts");
  });

  it("fetch amplification: past oauth_client_metadata_document_fetch_rate_limit_per_minute, /authorize with a new URL is a 429 page with Retry-After and fetches nothing", async () => {
    const limited = await startTestGateway({
      general: {
        oauth_client_metadata_document_hosts: ["127.0.0.1"],
        oauth_client_metadata_document_internal_hosts: ["127.0.0.1"],
        oauth_client_metadata_document_fetch_rate_limit_per_minute: 2,
      },
      servers: { dyn: { url: upstream.url, auth_type: "oauth2" } },
      clientMetadataDocumentCa: ca,
    });
    try {
      const authorizeAt = (clientId: string) => {
        const url = new URL(authorizeUrl(clientId, "http://127.0.0.1/callback"));
        return fetch(`${limited.url}/dyn/authorize${url.search}`, { redirect: "manual" });
      };
      const fetched = () => documents.requests.filter((path) => path.startsWith("/amplify-")).length;
      for (const index of [1, 2]) expect((await authorizeAt(`${docBase}/amplify-${index}.json`)).status).toBe(400);
      expect(fetched()).toBe(2);
      const refused = await authorizeAt(`${docBase}/amplify-3.json`);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(refused.headers.get("location")).toBeNull();
      expect(await refused.text()).toMatch(/too many documents the gateway had not cached were requested from this address; try again in \d+ s.*oauth_client_metadata_document_fetch_rate_limit_per_minute/);
      expect(fetched()).toBe(2);
    } finally {
      await limited.close();
    }
  });

  it("with the default settings a loopback document is refused (SSRF guard), and DCR still works", async () => {
    const defaults = await startTestGateway({ servers: { dyn: { url: upstream.url, auth_type: "oauth2" } }, clientMetadataDocumentCa: ca });
    try {
      const url = new URL(authorizeUrl(`${docBase}/client.json`, "http://127.0.0.1/callback"));
      const response = await fetch(`${defaults.url}/dyn/authorize${url.search}`, { redirect: "manual" });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain("is an internal address, which the gateway never fetches");
      const registered = await fetch(`${defaults.url}/dyn/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_name: "old client", redirect_uris: ["http://127.0.0.1/callback"] }),
      });
      expect(registered.status).toBe(201);
    } finally {
      await defaults.close();
    }
  });
});
