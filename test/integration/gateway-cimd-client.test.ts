/**
 * The gateway as a Client ID Metadata Document client toward upstream authorization servers
 * (per-server `registration`): which client the gateway chooses for each mode and public
 * origin. The hand-written authorization server advertises CIMD and refuses any client_id
 * that is not an https URL; the whole sign-in against a real one (oidc-provider) is in
 * gateway-cimd-client-oidc.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startHostileAuthorizationServer, type HostileAuthorizationServer } from "../fixtures/hostile-authorization-server.js";
import { loopbackRedirectUri, pkcePair } from "../fixtures/mcp-oauth-client.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const PUBLIC = "https://gateway.example";
const DOCUMENT_PATH = "/.well-known/gatehouse/oauth-client.json";

let cimdAs: HostileAuthorizationServer;
let plainAs: HostileAuthorizationServer;
let cimdUp: ProtectedResourceUpstream;
let plainUp: ProtectedResourceUpstream;
/** Public origin https (PROXY_BASE_URL). */
let httpsGateway: TestGateway;
/** Public origin http://127.0.0.1:PORT. */
let httpGateway: TestGateway;

beforeAll(async () => {
  cimdAs = await startHostileAuthorizationServer({ clientIdMetadataDocuments: true });
  plainAs = await startHostileAuthorizationServer();
  cimdUp = await startProtectedResourceUpstream({ name: "cimd-up", trust: cimdAs });
  plainUp = await startProtectedResourceUpstream({ name: "plain-up", trust: plainAs });
  httpsGateway = await startTestGateway({
    env: { PROXY_BASE_URL: PUBLIC },
    servers: {
      "auto-cimd": { url: cimdUp.url, auth_type: "oauth2" },
      "auto-plain": { url: plainUp.url, auth_type: "oauth2" },
      "dcr-forced": { url: cimdUp.url, auth_type: "oauth2", registration: "dcr" },
      "cimd-unadvertised": { url: plainUp.url, auth_type: "oauth2", registration: "cimd" },
    },
  });
  httpGateway = await startTestGateway({
    servers: {
      "auto-http": { url: cimdUp.url, auth_type: "oauth2" },
      "cimd-http": { url: cimdUp.url, auth_type: "oauth2", registration: "cimd" },
    },
  });
});

afterAll(async () => {
  await httpsGateway?.close();
  await httpGateway?.close();
  await cimdUp?.close();
  await plainUp?.close();
  await cimdAs?.close();
  await plainAs?.close();
});

/** Registers an MCP client at the gateway and sends its authorization request; returns the gateway's answer. */
async function authorize(gateway: TestGateway, server: string): Promise<Response> {
  const redirectUri = loopbackRedirectUri();
  const registered = await fetch(`${gateway.url}/${server}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "probe", redirect_uris: [redirectUri] }),
  });
  expect(registered.status, await registered.clone().text()).toBe(201);
  const { client_id: clientId } = (await registered.json()) as { client_id: string };
  const url = new URL(`${gateway.url}/${server}/authorize`);
  const params = { response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: pkcePair().challenge, code_challenge_method: "S256", state: "s" };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return fetch(url, { redirect: "manual" });
}

/** Follows the gateway's redirect to the authorization server; returns the client_id it received and its verdict. */
async function atAuthorizationServer(as: HostileAuthorizationServer, answer: Response): Promise<{ clientId: string | null; error: string | null }> {
  expect(answer.status, await answer.clone().text()).toBe(302);
  const location = new URL(answer.headers.get("location")!);
  expect(location.origin).toBe(as.issuer);
  const back = await fetch(location, { redirect: "manual" });
  const received = as.requests().filter((request) => request.path === "/authorize").at(-1)!;
  return { clientId: new URLSearchParams(received.search).get("client_id"), error: new URL(back.headers.get("location")!).searchParams.get("error") };
}

describe("the gateway's Client ID Metadata Document", () => {
  it(`is served at ${DOCUMENT_PATH} under the public origin, client_id being its own URL, a public client redirecting to /callback`, async () => {
    const response = await fetch(`${httpsGateway.url}${DOCUMENT_PATH}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(await response.json()).toEqual({
      client_id: `${PUBLIC}${DOCUMENT_PATH}`,
      client_name: "Gatehouse",
      redirect_uris: [`${PUBLIC}/callback`],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "web",
    });
  });

  it("behind a loopback http origin says application_type native", async () => {
    const document = (await (await fetch(`${httpGateway.url}${DOCUMENT_PATH}`)).json()) as Record<string, unknown>;
    expect(document.client_id).toBe(`${httpGateway.url}${DOCUMENT_PATH}`);
    expect(document.application_type).toBe("native");
  });
});

describe("registration: auto", () => {
  it("uses the document when the authorization server advertises client_id_metadata_document_supported and the origin is https: no registration, the AS accepts the client_id", async () => {
    const before = cimdAs.registrations();
    const seen = await atAuthorizationServer(cimdAs, await authorize(httpsGateway, "auto-cimd"));
    expect(seen.clientId).toBe(`${PUBLIC}${DOCUMENT_PATH}`);
    expect(seen.error).toBe("invalid_scope"); // the fixture's answer to an accepted client
    expect(cimdAs.registrations()).toBe(before);
  });

  it("falls back to dynamic registration when the authorization server does not advertise it", async () => {
    const before = plainAs.registrations();
    const seen = await atAuthorizationServer(plainAs, await authorize(httpsGateway, "auto-plain"));
    expect(seen.clientId).toMatch(/^hostile-client-\d+$/);
    expect(plainAs.registrations()).toBe(before + 1);
  });

  it("falls back to dynamic registration behind an http origin, and says so in a debug line", async () => {
    const before = cimdAs.registrations();
    const answer = await authorize(httpGateway, "auto-http");
    expect(answer.status, await answer.clone().text()).toBe(302);
    expect(new URL(answer.headers.get("location")!).searchParams.get("client_id")).toMatch(/^hostile-client-\d+$/);
    expect(cimdAs.registrations()).toBe(before + 1);
    const line = await httpGateway.waitForLog((entry) => entry.server === "auto-http" && String(entry.msg).includes("Client ID Metadata Documents"));
    expect(line.level).toBe(20);
  });
});

describe("registration: dcr and cimd", () => {
  it("dcr registers even where the document would do", async () => {
    const before = cimdAs.registrations();
    const answer = await authorize(httpsGateway, "dcr-forced");
    expect(answer.status, await answer.clone().text()).toBe(302);
    expect(new URL(answer.headers.get("location")!).searchParams.get("client_id")).toMatch(/^hostile-client-\d+$/);
    expect(cimdAs.registrations()).toBe(before + 1);
  });

  it("startup warns that registration cimd cannot sign in without an https PROXY_BASE_URL, naming the server; an https one gets no such warning", () => {
    const warnings = (gateway: TestGateway) => gateway.logs.filter((line) => Number(line.level) === 40 && String(line.msg).includes("registration cimd")).map((line) => String(line.msg));
    expect(warnings(httpGateway)).toEqual([expect.stringMatching(/'cimd-http' has registration cimd, but PROXY_BASE_URL is not set.*set PROXY_BASE_URL to the gateway's public https origin/)]);
    expect(warnings(httpsGateway)).toEqual([]);
  });

  it("cimd refuses an http public origin with a message naming the server and PROXY_BASE_URL, and registers nothing", async () => {
    const before = cimdAs.registrations();
    const answer = await authorize(httpGateway, "cimd-http");
    const page = await answer.text();
    expect(answer.status).not.toBe(302);
    expect(page).toContain("cimd-http");
    expect(page).toContain("is not https");
    expect(page).toContain("PROXY_BASE_URL");
    expect(cimdAs.registrations()).toBe(before);
  });

  it("cimd refuses an authorization server that does not advertise the documents, naming the server", async () => {
    const before = plainAs.registrations();
    const answer = await authorize(httpsGateway, "cimd-unadvertised");
    const page = await answer.text();
    expect(answer.status).not.toBe(302);
    expect(page).toContain("cimd-unadvertised");
    expect(page).toContain("does not advertise client_id_metadata_document_supported");
    expect(plainAs.registrations()).toBe(before);
  });
});

describe("registration in the config", () => {
  const parse = (server: Record<string, unknown>) => () =>
    parseConfig(JSON.stringify({ mcp_servers: { s: { url: "https://mcp.example/mcp", auth_type: "oauth2", ...server } } }), { file: "config.yaml", env: {} });

  it("pre-registered needs client_id", () => {
    expect(parse({ registration: "pre-registered" })).toThrow(/registration pre-registered needs client_id/);
  });

  it("cimd and dcr refuse a client_id they would ignore", () => {
    expect(parse({ registration: "cimd", client_id: "x" })).toThrow(/registration cimd makes the gateway its own client/);
    expect(parse({ registration: "dcr", client_id: "x" })).toThrow(/registration dcr makes the gateway its own client/);
  });

  it("refuses an unknown mode", () => {
    expect(parse({ registration: "magic" })).toThrow(/registration/);
  });
});
