/**
 * Client ID Metadata Documents: the SSRF guard, validation, trust policy and cache, against
 * real HTTP servers on 127.0.0.1 (allowed only through `internalHosts`, which production
 * leaves empty) and a fake resolver for private answers (nothing is sent to them: the
 * guard refuses before connecting).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import {
  createClientMetadataDocuments,
  documentRedirectUriMatches,
  isInternalAddress,
  onlyLoopbackRedirects,
} from "../../../src/oauth/client-metadata-document.js";
import { createClientAssertionVerifier } from "../../../src/oauth/client-assertion.js";
import { addressRateLimit } from "../../../src/oauth/address-rate-limit.js";
import { GatewayError } from "../../../src/errors.js";

type Handler = (request: IncomingMessage, response: ServerResponse) => void;
let server: Server;
let base: string;
const routes = new Map<string, Handler>();
let hits = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    hits += 1;
    const handler = routes.get(request.url ?? "");
    if (handler === undefined) response.writeHead(404).end();
    else handler(request, response);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

function serve(path: string, document: (url: string) => unknown, headers: Record<string, string> = {}): string {
  const url = `${base}${path}`;
  routes.set(path, (_request, response) => response.writeHead(200, { "content-type": "application/json", ...headers }).end(JSON.stringify(document(url))));
  return url;
}

/** The caller's address: only the fetch-limit tests set a limit. */
const CALLER = "198.51.100.7";
const valid = (url: string) => ({ client_id: url, client_name: "Test Client", redirect_uris: ["http://127.0.0.1:3000/callback"] });
const local = (extra: Partial<Parameters<typeof createClientMetadataDocuments>[0]> = {}) =>
  createClientMetadataDocuments({ trustedHosts: ["*"], internalHosts: ["127.0.0.1"], timeoutMs: 500, ...extra });

describe("client metadata documents: fetch and validation", () => {
  it("accepts a valid document and reports its host", async () => {
    const url = serve("/ok.json", valid);
    const document = await local().resolve(url, CALLER);
    expect(document).toMatchObject({ clientId: url, clientName: "Test Client", host: new URL(url).host, tokenEndpointAuthMethod: "none" });
  });

  it("refuses a document whose client_id is not its URL", async () => {
    const url = serve("/other-id.json", () => ({ ...valid("https://elsewhere.example/c.json") }));
    await expect(local().resolve(url, CALLER)).rejects.toThrow(/client metadata document \(validation\): its client_id "https:\/\/elsewhere.example\/c.json" is not the URL/);
  });

  it("refuses a document without client_name or redirect_uris, or with a shared secret", async () => {
    const noName = serve("/no-name.json", (url) => ({ client_id: url, redirect_uris: ["https://a.example/cb"] }));
    await expect(local().resolve(noName, CALLER)).rejects.toThrow(/client_name is missing/);
    const noUris = serve("/no-uris.json", (url) => ({ client_id: url, client_name: "x" }));
    await expect(local().resolve(noUris, CALLER)).rejects.toThrow(/redirect_uris must list/);
    const secret = serve("/secret.json", (url) => ({ ...valid(url), client_secret: "s", token_endpoint_auth_method: "client_secret_post" }));
    await expect(local().resolve(secret, CALLER)).rejects.toThrow(/must not hold a shared secret/);
    const badUri = serve("/bad-uri.json", (url) => ({ ...valid(url), redirect_uris: ["javascript:alert(1)"] }));
    await expect(local().resolve(badUri, CALLER)).rejects.toThrow(/redirect_uris\[0\] scheme javascript: is not allowed/);
  });

  it("refuses private_key_jwt without keys", async () => {
    const url = serve("/jwt-no-keys.json", (u) => ({ ...valid(u), token_endpoint_auth_method: "private_key_jwt" }));
    await expect(local().resolve(url, CALLER)).rejects.toThrow(/no jwks or jwks_uri/);
  });

  it("refuses a body that is not JSON", async () => {
    routes.set("/not-json", (_q, response) => response.writeHead(200).end("<html>"));
    await expect(local().resolve(`${base}/not-json`, CALLER)).rejects.toThrow(/the answer is not JSON/);
  });

  it("refuses an https-less client_id, one without a path, and one with a fragment", async () => {
    const documents = createClientMetadataDocuments({ trustedHosts: ["*"] });
    await expect(documents.resolve("http://client.example/c.json", CALLER)).rejects.toThrow(/scheme http: is not https/);
    await expect(documents.resolve("https://client.example/", CALLER)).rejects.toThrow(/has no path/);
    await expect(documents.resolve("https://client.example/c.json#x", CALLER)).rejects.toThrow(/has a fragment/);
    await expect(documents.resolve("https://client.example/a/../c.json", CALLER)).rejects.toThrow(/dot segment|normal form/);
  });
});

describe("client metadata documents: SSRF guard", () => {
  it("refuses a loopback document when the host is not listed as internal (the production default)", async () => {
    const before = hits;
    const documents = createClientMetadataDocuments({ trustedHosts: ["*"] });
    const url = serve("/loopback.json", valid).replace("http:", "https:");
    await expect(documents.resolve(url, CALLER)).rejects.toThrow(/127\.0\.0\.1:\d+ is an internal address, which the gateway never fetches/);
    expect(hits).toBe(before);
  });

  it("refuses names that resolve to private, link-local or mapped addresses, before connecting", async () => {
    for (const address of ["10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "0.0.0.0"]) {
      const documents = createClientMetadataDocuments({ trustedHosts: ["*"], resolve: async () => [{ address, family: address.includes(":") ? 6 : 4 }] });
      await expect(documents.resolve("https://rebind.example/client.json", CALLER), address).rejects.toThrow(/rebind\.example(:\d+)? resolves to an internal address/);
    }
  });

  it("refuses internal address literals", async () => {
    const documents = createClientMetadataDocuments({ trustedHosts: ["*"] });
    await expect(documents.resolve("https://169.254.169.254/latest/meta-data", CALLER)).rejects.toThrow(/internal address/);
    await expect(documents.resolve("https://[::ffff:7f00:1]/c.json", CALLER)).rejects.toThrow(/internal address/);
    expect(isInternalAddress("8.8.8.8")).toBe(false);
    expect(isInternalAddress("2606:4700::1111")).toBe(false);
  });

  it("does not follow redirects", async () => {
    routes.set("/redirect.json", (_q, response) => response.writeHead(302, { location: `${base}/ok.json` }).end());
    await expect(local().resolve(`${base}/redirect.json`, CALLER)).rejects.toThrow(/answered a redirect \(HTTP 302\); redirects are not followed/);
  });

  it("refuses an oversize document, declared or streamed", async () => {
    serve("/big.json", (url) => ({ ...valid(url), padding: "x".repeat(20_000) }));
    await expect(local().resolve(`${base}/big.json`, CALLER)).rejects.toThrow(/larger than 16384 bytes/);
    routes.set("/big-chunked", (_q, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(`{"padding":"${"x".repeat(40_000)}"}`);
    });
    await expect(local({ maxBytes: 1024 }).resolve(`${base}/big-chunked`, CALLER)).rejects.toThrow(/larger than 1024 bytes/);
  });

  it("gives up on a slow document", async () => {
    routes.set("/slow.json", (_q, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.write("{");
    });
    await expect(local({ timeoutMs: 300 }).resolve(`${base}/slow.json`, CALLER)).rejects.toThrow(/did not (answer|send the whole document) within 300 ms/);
  });
});

describe("client metadata documents: a document dripped byte by byte", () => {
  it("is cut off at the deadline of the whole fetch, not of each read", async () => {
    const drips = new Set<NodeJS.Timeout>();
    routes.set("/drip.json", (_q, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      const timer = setInterval(() => response.write(" "), 20);
      drips.add(timer);
      response.on("close", () => clearInterval(timer));
    });
    try {
      await expect(local({ timeoutMs: 300 }).resolve(`${base}/drip.json`, CALLER)).rejects.toThrow(/did not send the whole document within 300 ms/);
    } finally {
      for (const timer of drips) clearInterval(timer);
    }
  });
});

describe("client metadata documents: trust policy and cache", () => {
  it("refuses a host outside the trust policy, naming the setting", async () => {
    const documents = createClientMetadataDocuments({ trustedHosts: ["*.trusted.example"] });
    await expect(documents.resolve("https://client.other.example/c.json", CALLER)).rejects.toThrow(/host client\.other\.example is not trusted.*oauth_client_metadata_document_hosts/);
    expect(createClientMetadataDocuments({ trustedHosts: [] }).enabled).toBe(false);
  });

  it("reuses a document while its max-age runs, and fetches again after", async () => {
    let clock = 1_000_000;
    let served = 0;
    routes.set("/cached.json", (_q, response) => {
      served += 1;
      response.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=60" }).end(JSON.stringify(valid(`${base}/cached.json`)));
    });
    const documents = local({ now: () => clock });
    await documents.resolve(`${base}/cached.json`, CALLER);
    await documents.resolve(`${base}/cached.json`, CALLER);
    expect(served).toBe(1);
    clock += 61_000;
    await documents.resolve(`${base}/cached.json`, CALLER);
    expect(served).toBe(2);
  });

  it("does not reuse a no-store document", async () => {
    let served = 0;
    routes.set("/no-store.json", (_q, response) => {
      served += 1;
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(valid(`${base}/no-store.json`)));
    });
    const documents = local();
    await documents.resolve(`${base}/no-store.json`, CALLER);
    await documents.resolve(`${base}/no-store.json`, CALLER);
    expect(served).toBe(2);
  });
});

/** What `resolve` threw, for a look at its status and headers. */
async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(() => undefined, (thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

describe("client metadata documents: fetch amplification (one address cannot make the gateway fetch URL after URL)", () => {
  it("refuses an address's fetches past the limit with 429 temporarily_unavailable and Retry-After; cache hits and other addresses are not counted", async () => {
    let clock = 1_000_000;
    let served = 0;
    const cacheable = (path: string) => {
      routes.set(path, (_q, response) => {
        served += 1;
        response.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" }).end(JSON.stringify(valid(`${base}${path}`)));
      });
      return `${base}${path}`;
    };
    const [first, second, third] = [cacheable("/amp-1.json"), cacheable("/amp-2.json"), cacheable("/amp-3.json")];
    const now = () => clock;
    const documents = local({ now, fetchLimit: addressRateLimit({ limit: 2, now }) });
    await documents.resolve(first, CALLER);
    clock += 10_000;
    await documents.resolve(second, CALLER);
    expect(served).toBe(2);

    const refused = await refusal(documents.resolve(third, CALLER));
    expect(refused).toMatchObject({ status: 429, code: "temporarily_unavailable", headers: { "retry-after": "50" } });
    expect(refused.message).toMatch(/too many documents the gateway had not cached were requested from this address; try again in 50 s.*oauth_client_metadata_document_fetch_rate_limit_per_minute/);
    expect(served).toBe(2);

    // Cached documents still resolve for the address over its limit, without counting.
    for (let index = 0; index < 5; index++) await documents.resolve(first, CALLER);
    // Another address has its own count; an address in the same IPv6 /64 shares one.
    await documents.resolve(third, "198.51.100.8");
    expect(served).toBe(3);
    const v6 = local({ now, fetchLimit: addressRateLimit({ limit: 1, now }) });
    await v6.resolve(cacheable("/amp-v6-1.json"), "2001:db8:1:2::1");
    expect((await refusal(v6.resolve(cacheable("/amp-v6-2.json"), "2001:db8:1:2:ffff::9"))).status).toBe(429);

    clock += 50_000;
    await documents.resolve(cacheable("/amp-4.json"), CALLER);
  });

  it("a refused (404) document counts too: failures are not cached, so each one is a fetch", async () => {
    const documents = local({ fetchLimit: addressRateLimit({ limit: 1 }) });
    await expect(documents.resolve(`${base}/missing-amp.json`, CALLER)).rejects.toThrow(/answered HTTP 404/);
    expect((await refusal(documents.resolve(`${base}/missing-amp.json`, CALLER))).status).toBe(429);
  });

  it("0 means no limit", async () => {
    const url = serve("/amp-unlimited.json", valid, { "cache-control": "no-store" });
    const documents = local({ fetchLimit: addressRateLimit({ limit: 0 }) });
    for (let index = 0; index < 5; index++) await documents.resolve(url, CALLER);
  });

  it("concurrent requests for one URL share one fetch, and count once", async () => {
    let served = 0;
    let arrived!: () => void;
    const requested = new Promise<void>((resolve) => (arrived = resolve));
    let answer!: () => void;
    routes.set("/amp-shared.json", (_q, response) => {
      served += 1;
      answer = () => response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(valid(`${base}/amp-shared.json`)));
      arrived();
    });
    const documents = local({ timeoutMs: 5_000, fetchLimit: addressRateLimit({ limit: 1 }) });
    const callers = Array.from({ length: 5 }, () => documents.resolve(`${base}/amp-shared.json`, CALLER));
    await requested;
    answer();
    const resolved = await Promise.all(callers);
    expect(served).toBe(1);
    expect(new Set(resolved).size).toBe(1);
    // The one fetch was this address's one: the next uncached fetch is refused.
    expect((await refusal(documents.resolve(`${base}/amp-shared.json`, CALLER))).status).toBe(429);
  });
});

describe("client metadata documents: redirect URIs", () => {
  it("matches loopback redirect URIs on any port (RFC 8252 §7.3), everything else exactly", () => {
    expect(documentRedirectUriMatches("http://127.0.0.1:3000/callback", "http://127.0.0.1:51234/callback")).toBe(true);
    expect(documentRedirectUriMatches("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback")).toBe(true);
    expect(documentRedirectUriMatches("http://127.0.0.1:3000/callback", "http://127.0.0.1:3000/other")).toBe(false);
    expect(documentRedirectUriMatches("http://127.0.0.1:3000/callback", "http://localhost:3000/callback")).toBe(false);
    expect(documentRedirectUriMatches("https://app.example/cb", "https://app.example:444/cb")).toBe(false);
    expect(onlyLoopbackRedirects(["http://127.0.0.1:3000/cb", "http://localhost/cb"])).toBe(true);
    expect(onlyLoopbackRedirects(["http://127.0.0.1:3000/cb", "https://app.example/cb"])).toBe(false);
  });
});

/** The database's part, for one test: one set of jtis that every verifier (instance) shares. */
function sharedJtis() {
  const recorded = new Set<string>();
  return {
    recorded,
    claim: async (clientId: string, jti: string) => {
      if (recorded.has(`${clientId}\n${jti}`)) return false;
      recorded.add(`${clientId}\n${jti}`);
      return true;
    },
  };
}

describe("private_key_jwt", () => {
  it("accepts an assertion signed with a key of the document's jwks, once", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    const url = serve("/jwt.json", (u) => ({ ...valid(u), token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] } }));
    const document = await local().resolve(url, CALLER);
    const verify = createClientAssertionVerifier(sharedJtis().claim);
    const audience = "http://gw.example/github/token";
    const sign = (claims: { iss?: string; aud?: string; jti?: string } = {}) =>
      new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(claims.iss ?? url)
        .setSubject(url)
        .setAudience(claims.aud ?? audience)
        .setIssuedAt()
        .setExpirationTime("2m")
        .setJti(claims.jti ?? crypto.randomUUID())
        .sign(privateKey);
    const form = (assertion: string) =>
      new URLSearchParams({ client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion });
    const good = await sign({ jti: "once" });
    await expect(verify(document, form(good), [audience])).resolves.toBeUndefined();
    await expect(verify(document, form(good), [audience])).rejects.toThrow(/already used/);
    await expect(verify(document, form(await sign({ aud: "http://other.example/token" })), [audience])).rejects.toThrow(/claim aud/);
    await expect(verify(document, form(await sign({ iss: "https://attacker.example/c.json" })), [audience])).rejects.toThrow(/claim iss/);
    await expect(verify(document, new URLSearchParams(), [audience])).rejects.toThrow(/requires a client_assertion/);
    const other = await generateKeyPair("ES256");
    const forged = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(url).setSubject(url).setAudience(audience).setExpirationTime("2m").setJti("f").sign(other.privateKey);
    await expect(verify(document, form(forged), [audience])).rejects.toThrow(/signature does not verify/);
  });

  it("replay across replicas: a jti one instance accepted is refused by another sharing the record, and a refused assertion records nothing", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k2", alg: "ES256" };
    const url = serve("/jwt-replicas.json", (u) => ({ ...valid(u), token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] } }));
    const document = await local().resolve(url, CALLER);
    const jtis = sharedJtis();
    const [a, b] = [createClientAssertionVerifier(jtis.claim), createClientAssertionVerifier(jtis.claim)];
    const audience = "http://gw.example/github/token";
    const sign = (aud = audience) =>
      new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k2" }).setIssuer(url).setSubject(url).setAudience(aud).setExpirationTime("2m").setJti("replica-jti").sign(privateKey);
    const form = (assertion: string) => new URLSearchParams({ client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion });

    await expect(b(document, form(await sign("http://other.example/token")), [audience])).rejects.toThrow(/claim aud/);
    expect(jtis.recorded.size).toBe(0);
    const assertion = await sign();
    // Two requests with one assertion at one instance at once: one passes.
    const outcomes = await Promise.allSettled([a(document, form(assertion), [audience]), a(document, form(assertion), [audience])]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(["fulfilled", "rejected"]);
    await expect(b(document, form(assertion), [audience])).rejects.toThrow(/client authentication \(private_key_jwt\): this assertion \(jti\) was already used; sign a new assertion/);
  });

  it("reads the keys from jwks_uri through the same guard", async () => {
    const { publicKey } = await generateKeyPair("RS256");
    routes.set("/keys.json", (_q, response) => void exportJWK(publicKey).then((jwk) => response.writeHead(200).end(JSON.stringify({ keys: [jwk] }))));
    const url = serve("/jwks-uri.json", (u) => ({ ...valid(u), token_endpoint_auth_method: "private_key_jwt", jwks_uri: `${base}/keys.json` }));
    expect((await local().resolve(url, CALLER)).keys).toBeTypeOf("function");
    const remote = serve("/jwks-internal.json", (u) => ({ ...valid(u), token_endpoint_auth_method: "private_key_jwt", jwks_uri: "https://169.254.169.254/keys" }));
    await expect(local().resolve(remote, CALLER)).rejects.toThrow(/\(jwks_uri\): 169\.254\.169\.254 is an internal address/);
  });
});
