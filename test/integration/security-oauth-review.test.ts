/**
 * Issue 15 items 7 and 12, holes an attack review found after the first fix, through the
 * real gateway's HTTP interface (these routes are Hono-only: the fast lane takes no OAuth
 * route). Each test is named after what broke and checks that it no longer does.
 *
 * Peers: an upstream MCP server publishing RFC 9728 metadata (protected-resource-upstream)
 * that names a hand-written authorization server whose registration endpoint is slow
 * (300 ms, as a real one across a network can be) and counts every registration.
 *
 * The gateway trusts X-Forwarded-* from 127.0.0.1, as behind an ingress; each test uses
 * its own client addresses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startHostileAuthorizationServer, type HostileAuthorizationServer } from "../fixtures/hostile-authorization-server.js";
import { loopbackRedirectUri, pkcePair } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const EVIL_REDIRECT = "https://evil.example/landing";

let as: HostileAuthorizationServer;
let anonUp: ProtectedResourceUpstream;
let gateway: TestGateway;
let limitedKey: string;

beforeAll(async () => {
  as = await startHostileAuthorizationServer({ registrationDelayMs: 300 });
  anonUp = await startProtectedResourceUpstream({ name: "anon-up", trust: as });
  gateway = await startTestGateway({
    general: { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: ["127.0.0.1/32"] },
    servers: { anon: { url: anonUp.url, auth_type: "oauth2" } },
  });
  limitedKey = await gateway.generateKey({ object_permission: { mcp_servers: ["anon"] } });
});

afterAll(async () => {
  await gateway?.close();
  await anonUp?.close();
  await as?.close();
});

let counter = 0;
const freshV4 = () => `198.51.100.${++counter}`;

async function register(redirectUri: string, address: string): Promise<Response> {
  return fetch(`${gateway.url}/anon/register`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": address },
    body: JSON.stringify({ client_name: "probe", redirect_uris: [redirectUri] }),
  });
}

async function registeredClient(redirectUri: string, address = freshV4()): Promise<string> {
  const response = await register(redirectUri, address);
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

function authorizeUrl(clientId: string, redirectUri: string, extra: Record<string, string> = {}): URL {
  const url = new URL(`${gateway.url}/anon/authorize`);
  const params = { response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: "S256", state: "s", ...extra };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url;
}

describe("item 7: anonymous registration costs the operator nothing more", () => {
  it("one anonymous client and 25 concurrent GET /anon/authorize make the gateway register itself upstream once (SECURITY.md: 'once')", async () => {
    // Warm the discovery cache so only the registration races.
    const warmRedirect = loopbackRedirectUri();
    const warm2 = await registeredClient(warmRedirect);
    const warmAnswer = await fetch(authorizeUrl(warm2, warmRedirect), { redirect: "manual" });
    expect(warmAnswer.status, await warmAnswer.text()).toBe(302);

    const redirectUri = loopbackRedirectUri();
    const clientId = await registeredClient(redirectUri);
    const before = as.registrations();
    const answers = await Promise.all(Array.from({ length: 25 }, () => fetch(authorizeUrl(clientId, redirectUri), { redirect: "manual" })));
    for (const answer of answers) expect(answer.status).toBe(302);
    expect(as.registrations() - before).toBe(1);
  });

  it("the per-address registration limit counted each IPv6 address alone (one /64 registered without limit): it counts by /64", async () => {
    const statuses: number[] = [];
    for (let index = 1; index <= 15; index++) statuses.push((await register(loopbackRedirectUri(), `2001:db8:42:7::${index.toString(16)}`)).status);
    expect(statuses.slice(0, 10).every((status) => status === 201)).toBe(true);
    expect(statuses.slice(10)).toContain(429);
  });

  it("a limited key registered clients through /v1/mcp/server/oauth/{id}/register without any limit: the per-address limit applies there too", async () => {
    const statuses: number[] = [];
    for (let index = 0; index < 15; index++) {
      const response = await fetch(`${gateway.url}/v1/mcp/server/oauth/anon/register`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${limitedKey}`, "x-forwarded-for": "198.51.100.250" },
        body: JSON.stringify({ redirect_uris: [loopbackRedirectUri()] }),
      });
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 10).every((status) => status === 201)).toBe(true);
    expect(statuses.slice(10)).toContain(429);
  });
});

describe("item 12: a client that never completed a flow got redirect trust from a limited key", () => {
  /** A client registered by a limited key through the Connect route (first-party: trusted with redirects). */
  async function connectClient(redirectUri: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${gateway.url}/v1/mcp/server/oauth/anon/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${limitedKey}`, ...headers },
      body: JSON.stringify({ redirect_uris: [redirectUri] }),
    });
  }

  it("behind a trusted ingress without PROXY_BASE_URL, X-Forwarded-Host evil.example no longer makes a Connect client trusted: /anon/authorize?response_type=token shows a page, no redirect to evil.example", async () => {
    const registered = await connectClient(EVIL_REDIRECT, { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.251" });
    expect(registered.status, await registered.clone().text()).toBe(201);
    const clientId = ((await registered.json()) as { client_id: string }).client_id;

    // The victim follows a link; nothing in it is trusted and no flow was ever completed.
    const answer = await fetch(authorizeUrl(clientId, EVIL_REDIRECT, { response_type: "token" }), { redirect: "manual" });
    const location = answer.headers.get("location");
    expect(location === null ? null : new URL(location).origin).not.toBe("https://evil.example");
    expect(answer.status).toBe(400);
  });

  it("on loopback, a loopback URI registered by a limited key through Connect is not trusted with error redirects before a completed flow", async () => {
    const target = "http://127.0.0.1:9/anything";
    const registered = await connectClient(target);
    expect(registered.status).toBe(201);
    const clientId = ((await registered.json()) as { client_id: string }).client_id;
    const answer = await fetch(authorizeUrl(clientId, target, { response_type: "token" }), { redirect: "manual" });
    expect(answer.headers.get("location")).toBeNull();
    expect(answer.status).toBe(400);
  });
});
