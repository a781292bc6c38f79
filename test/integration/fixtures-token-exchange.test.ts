/**
 * The token-exchange authorization server fixture, validated without the gateway:
 * oauth4webapi (the library the gateway uses) trades subject tokens minted by the
 * fixture for access tokens (RFC 8693), which are checked with jose against the
 * provider's JWK set and by the JWT-verifying upstream; then what the server refuses,
 * and the counting, fault and hold controls tests rely on.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as oauth from "oauth4webapi";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { startJwtUpstream } from "../fixtures/jwt-upstream.js";
import {
  ACCESS_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  startTokenExchangeServer,
  TOKEN_EXCHANGE_GRANT,
  type TokenExchangeServer,
  type TokenExchangeServerOptions,
} from "../fixtures/token-exchange-as.js";

const RESOURCE = "http://127.0.0.1:9/mcp";
const BASIC = { client_id: "gatehouse-obo", client_secret: "obo-client-secret-7c2e91" };
const POST = { client_id: "gatehouse-obo-post", client_secret: "obo-post-secret-30a8d4", token_endpoint_auth_method: "client_secret_post" as const };

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function started(options: Partial<TokenExchangeServerOptions> = {}): Promise<TokenExchangeServer> {
  const server = await startTokenExchangeServer({ resource: RESOURCE, clients: [BASIC, POST], ...options });
  cleanups.push(() => server.close());
  return server;
}

interface Exchange {
  client?: { client_id: string; client_secret: string; token_endpoint_auth_method?: string };
  parameters: Record<string, string>;
}

async function exchangeResponse(server: TokenExchangeServer, { client = BASIC, parameters }: Exchange): Promise<Response> {
  const as: oauth.AuthorizationServer = { issuer: server.issuer, token_endpoint: server.tokenUrl };
  const auth = client.token_endpoint_auth_method === "client_secret_post" ? oauth.ClientSecretPost(client.client_secret) : oauth.ClientSecretBasic(client.client_secret);
  return oauth.genericTokenEndpointRequest(as, { client_id: client.client_id }, auth, TOKEN_EXCHANGE_GRANT, parameters, {
    [oauth.allowInsecureRequests]: true,
  });
}

async function exchange(server: TokenExchangeServer, request: Exchange): Promise<oauth.TokenEndpointResponse> {
  const as: oauth.AuthorizationServer = { issuer: server.issuer, token_endpoint: server.tokenUrl };
  const client = { client_id: (request.client ?? BASIC).client_id };
  return oauth.processGenericTokenEndpointResponse(as, client, await exchangeResponse(server, request));
}

/** The OAuth error the exchange was refused with. */
async function refusal(server: TokenExchangeServer, request: Exchange): Promise<oauth.ResponseBodyError> {
  const error: unknown = await exchange(server, request).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(oauth.ResponseBodyError);
  return error as oauth.ResponseBodyError;
}

function subjectParameters(subjectToken: string, extra: Record<string, string> = {}): Record<string, string> {
  return { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...extra };
}

async function verified(server: TokenExchangeServer, accessToken: string) {
  return jwtVerify(accessToken, createRemoteJWKSet(new URL(server.jwksUri)), { issuer: server.issuer, audience: RESOURCE });
}

describe("the token-exchange authorization server", () => {
  it("exchanges a subject JWT for an access token to the resource, on behalf of the user, acted by the client", async () => {
    const server = await started({ issuedTokenTtl: 900 });
    const subjectToken = await server.mintSubjectToken({ sub: "alice@example.com" });

    const response = await exchange(server, { parameters: subjectParameters(subjectToken, { resource: RESOURCE }) });

    expect(response).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: "bearer", expires_in: 900 });
    expect(response.scope).toBeUndefined();
    const { payload, protectedHeader } = await verified(server, response.access_token);
    expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "at+jwt" });
    expect(payload).toMatchObject({ sub: "alice@example.com", act: { sub: BASIC.client_id }, client_id: BASIC.client_id, aud: RESOURCE });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(server.issuedTokens()).toEqual([response.access_token]);
    expect(server.tokenRequests()).toBe(1);
    expect(server.lastTokenRequest()).toEqual({
      authMethod: "basic",
      params: { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, resource: RESOURCE },
    });
  });

  it("issues tokens the JWT-verifying upstream accepts", async () => {
    const upstream = await startJwtUpstream({});
    cleanups.push(() => upstream.close());
    const server = await started({ resource: upstream.url });
    upstream.trust(server);
    const { access_token } = await exchange(server, { parameters: subjectParameters(await server.mintSubjectToken({ sub: "bob" })) });

    const response = await fetch(upstream.url, {
      method: "POST",
      headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
    });
    expect(response.status).toBe(200);
    await response.body?.cancel();
    expect(upstream.claims(access_token)).toMatchObject({ sub: "bob", act: { sub: BASIC.client_id }, aud: upstream.url });
  });

  it("accepts a client_secret_post client, a jwt subject type and a requested scope, and never records the secret", async () => {
    const server = await started();
    const subjectToken = await server.mintSubjectToken({ sub: "carol" });

    const response = await exchange(server, {
      client: POST,
      parameters: { subject_token: subjectToken, subject_token_type: JWT_TOKEN_TYPE, scope: "mcp:read", audience: RESOURCE },
    });

    expect(response.scope).toBe("mcp:read");
    const { payload } = await verified(server, response.access_token);
    expect(payload).toMatchObject({ sub: "carol", act: { sub: POST.client_id }, scope: "mcp:read", subject_token_type: JWT_TOKEN_TYPE });
    const last = server.lastTokenRequest();
    expect(last?.authMethod).toBe("post");
    expect(last?.params).toMatchObject({ client_id: POST.client_id, scope: "mcp:read" });
    expect(last?.params).not.toHaveProperty("client_secret");
    expect(JSON.stringify(last)).not.toContain(POST.client_secret);
  });

  it("exchanges an opaque subject token it minted", async () => {
    const server = await started();
    const subjectToken = server.mintOpaqueSubjectToken("dave");
    expect(subjectToken.split(".")).toHaveLength(1);

    const { access_token } = await exchange(server, { parameters: subjectParameters(subjectToken) });

    const { payload } = await verified(server, access_token);
    expect(payload).toMatchObject({ sub: "dave", act: { sub: BASIC.client_id } });
  });

  it("refuses expired, foreign and unknown subject tokens with invalid_grant", async () => {
    const server = await started();
    const expired = await server.mintSubjectToken({ sub: "erin", expiresInSeconds: -60 });
    const otherAudience = await server.mintSubjectToken({ sub: "erin", audience: "someone-else" });
    const { access_token: exchanged } = await exchange(server, { parameters: subjectParameters(await server.mintSubjectToken({ sub: "erin" })) });

    for (const subjectToken of [expired, otherAudience, exchanged, "not-a-token-it-minted"]) {
      const error = await refusal(server, { parameters: subjectParameters(subjectToken) });
      expect(error.status).toBe(400);
      expect(error.error).toBe("invalid_grant");
      expect(error.error_description).toBe("subject token is invalid or expired");
    }
    expect(server.issuedTokens()).toEqual([exchanged]);
  });

  it("refuses a wrong client secret with invalid_client, as a Basic challenge when the client used Basic", async () => {
    const server = await started();
    const subjectToken = await server.mintSubjectToken({ sub: "frank" });

    // oidc-provider answers a failed client_secret_basic with `WWW-Authenticate: Basic
    // error="invalid_client"`, which oauth4webapi reports as a challenge, not a body error.
    const challenged: unknown = await exchange(server, { client: { ...BASIC, client_secret: "wrong" }, parameters: subjectParameters(subjectToken) }).catch(
      (thrown: unknown) => thrown,
    );
    expect(challenged).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const { status, cause, response } = challenged as oauth.WWWAuthenticateChallengeError;
    expect(status).toBe(401);
    expect(cause).toEqual([expect.objectContaining({ scheme: "basic", parameters: expect.objectContaining({ error: "invalid_client" }) })]);
    expect(await response.json()).toMatchObject({ error: "invalid_client" });
    expect(server.lastTokenRequest()?.authMethod).toBe("basic");

    const posted = await refusal(server, { client: { ...POST, client_secret: "wrong" }, parameters: subjectParameters(subjectToken) });
    expect(posted.status).toBe(401);
    expect(posted.error).toBe("invalid_client");
    expect(server.lastTokenRequest()?.authMethod).toBe("post");
    expect(JSON.stringify(server.lastTokenRequest())).not.toContain("wrong");
    expect(server.issuedTokens()).toEqual([]);
  });

  it("refuses another resource or audience with invalid_target", async () => {
    const server = await started();
    const subjectToken = await server.mintSubjectToken({ sub: "grace" });

    const targets: Array<Record<string, string>> = [{ resource: "http://127.0.0.1:9/other" }, { audience: "another-service" }];
    for (const target of targets) {
      const error = await refusal(server, { parameters: subjectParameters(subjectToken, target) });
      expect(error.error).toBe("invalid_target");
    }
    expect(server.issuedTokens()).toEqual([]);
  });

  it("refuses missing or unsupported token types with invalid_request, and unknown scopes with invalid_scope", async () => {
    const server = await started();
    const subjectToken = await server.mintSubjectToken({ sub: "heidi" });

    const missing = await refusal(server, { parameters: { subject_token: subjectToken } });
    expect(missing.error).toBe("invalid_request");
    expect(missing.error_description).toContain("subject_token_type");
    const unsupported = await refusal(server, { parameters: { subject_token: subjectToken, subject_token_type: "urn:ietf:params:oauth:token-type:saml2" } });
    expect(unsupported.error).toBe("invalid_request");
    const noSubject = await refusal(server, { parameters: { subject_token_type: ACCESS_TOKEN_TYPE } });
    expect(noSubject.error).toBe("invalid_request");
    const scope = await refusal(server, { parameters: subjectParameters(subjectToken, { scope: "mcp:read admin" }) });
    expect(scope.error).toBe("invalid_scope");
    expect(server.tokenRequests()).toBe(4);
  });

  it("answers with the planned fault until it is cleared, counting faulted requests", async () => {
    const server = await started();
    const subjectToken = await server.mintSubjectToken({ sub: "ivan" });

    server.setFault({ status: 503, body: "down for maintenance" });
    const unavailable = await exchangeResponse(server, { parameters: subjectParameters(subjectToken) });
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await unavailable.text()).toBe("down for maintenance");

    server.setFault({ status: 400, body: JSON.stringify({ error: "invalid_grant", error_description: "canned" }), contentType: "application/json" });
    const canned = await refusal(server, { parameters: subjectParameters(subjectToken) });
    expect(canned.error).toBe("invalid_grant");
    expect(canned.error_description).toBe("canned");
    expect(server.issuedTokens()).toEqual([]);

    server.setFault(undefined);
    const { access_token } = await exchange(server, { parameters: subjectParameters(subjectToken) });
    expect(server.issuedTokens()).toEqual([access_token]);
    expect(server.tokenRequests()).toBe(3);
  });

  it("parks token requests while held and lets them through in the order the test chooses", async () => {
    const server = await started();
    const hold = server.hold();
    const finished: string[] = [];
    const first = exchange(server, { parameters: subjectParameters(server.mintOpaqueSubjectToken("first")) }).then((r) => finished.push(r.access_token));
    await server.whenTokenRequests(1);
    const second = exchange(server, { parameters: subjectParameters(server.mintOpaqueSubjectToken("second")) }).then((r) => finished.push(r.access_token));
    await hold.whenWaiting(2);
    expect(server.tokenRequests()).toBe(2);
    expect(server.issuedTokens()).toEqual([]);

    hold.releaseNewest();
    await second;
    expect(hold.waiting()).toBe(1);
    hold.end();
    await first;

    const subjects = await Promise.all(finished.map(async (token) => (await verified(server, token)).payload.sub));
    expect(subjects).toEqual(["second", "first"]);
    expect(server.issuedTokens()).toEqual(finished);
  });

  it("signs subject tokens with the identity provider's key, not the provider's", async () => {
    const server = await started();
    const subjectToken = await server.mintSubjectToken({ sub: "judy" });
    expect(decodeProtectedHeader(subjectToken)).toMatchObject({ alg: "RS256", typ: "JWT" });
    await expect(jwtVerify(subjectToken, createRemoteJWKSet(new URL(server.jwksUri)))).rejects.toThrow();
  });
});
