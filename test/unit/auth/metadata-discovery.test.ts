/**
 * The gateway's one metadata discovery against a real authorization server (oidc-provider)
 * on a fake clock: one request per URL at a time, a timeout per request, a bounded cache
 * with expiry, and no fallback kept as an answer (no answer is never cached; an answer
 * without metadata only briefly).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metadataDiscovery, type MetadataDiscoveryOptions } from "../../../src/auth/upstream/metadata-discovery.js";
import { startSilentServer } from "../../fixtures/faulty-peers.js";
import { startAuthorizationServer, type AuthorizationServer } from "../../fixtures/oidc-provider.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../../fixtures/protected-resource-upstream.js";
import { startUpstream, type Upstream } from "../../fixtures/upstream-mcp.js";

const HOUR = 60 * 60_000;
const MINUTE = 60_000;

let as: AuthorizationServer;

beforeAll(async () => {
  as = await startAuthorizationServer({ resource: "http://127.0.0.1:1/mcp" });
});
afterAll(async () => {
  await as?.close();
});

function discovery(options: MetadataDiscoveryOptions = {}) {
  const clock = { now: 1_000_000 };
  return { clock, discovery: metadataDiscovery({ now: () => clock.now, ...options }) };
}

describe("metadata discovery", () => {
  it("finds the provider's OpenID metadata, naming its token endpoint", async () => {
    const { discovery: lookups } = discovery();
    const found = await lookups.authorizationServer(new URL(as.issuer), "oidc");
    expect(found.status).toBe("found");
    expect(found.status === "found" && found.metadata.token_endpoint).toBe(as.tokenUrl);
  });

  it("sends one request for concurrent lookups of one URL (single flight)", async () => {
    const { discovery: lookups } = discovery();
    const before = as.discoveryRequests();
    const answers = await Promise.all(Array.from({ length: 5 }, () => lookups.authorizationServer(new URL(as.issuer), "oidc")));
    expect(answers.every((answer) => answer.status === "found")).toBe(true);
    expect(as.discoveryRequests() - before).toBe(1);
  });

  it("keeps a document until it expires, then asks again", async () => {
    const { clock, discovery: lookups } = discovery();
    const before = as.discoveryRequests();
    await lookups.authorizationServer(new URL(as.issuer), "oidc");
    clock.now += HOUR - 1;
    expect((await lookups.authorizationServer(new URL(as.issuer), "oidc")).status).toBe("found");
    expect(as.discoveryRequests() - before).toBe(1);
    clock.now += 1;
    expect((await lookups.authorizationServer(new URL(as.issuer), "oidc")).status).toBe("found");
    expect(as.discoveryRequests() - before).toBe(2);
  });

  it("a caller's shorter max age fetches a document again sooner", async () => {
    const { clock, discovery: lookups } = discovery();
    const before = as.discoveryRequests();
    await lookups.authorizationServer(new URL(as.issuer), "oidc");
    clock.now += 5 * MINUTE;
    await lookups.authorizationServer(new URL(as.issuer), "oidc", { maxAgeMs: 5 * MINUTE });
    expect(as.discoveryRequests() - before).toBe(2);
  });

  it("an answer without metadata (oidc-provider publishes no RFC 9728 document) is absent, believed for a minute only", async () => {
    const { clock, discovery: lookups } = discovery();
    const before = as.discoveryRequests();
    const resource = new URL(`${as.issuer}/mcp`);
    expect((await lookups.protectedResource(resource)).status).toBe("absent");
    clock.now += MINUTE - 1;
    expect((await lookups.protectedResource(resource)).status).toBe("absent");
    expect(as.discoveryRequests() - before).toBe(1);
    clock.now += 1;
    await lookups.protectedResource(resource);
    expect(as.discoveryRequests() - before).toBe(2);
  });

  it("a lookup that got no answer is not cached: the next call, at the same instant, finds the recovered server", async () => {
    const { discovery: lookups } = discovery();
    await as.setDown(true);
    try {
      expect((await lookups.authorizationServer(new URL(as.issuer), "oidc")).status).toBe("failed");
    } finally {
      await as.setDown(false);
    }
    expect((await lookups.authorizationServer(new URL(as.issuer), "oidc")).status).toBe("found");
  });

  it("gives up a request that gets no answer after its timeout, and closes it", async () => {
    const silent = await startSilentServer();
    try {
      const { discovery: lookups } = discovery({ timeoutMs: 200 });
      const started = Date.now();
      const outcome = await lookups.protectedResource(new URL(`${silent.origin}/mcp`));
      expect(outcome.status).toBe("failed");
      expect(Date.now() - started).toBeLessThan(2_000);
      await silent.waitUntil(() => silent.open() === 0);
      expect(silent.requests).toEqual(["GET /.well-known/oauth-protected-resource/mcp"]);
      // Not cached: asked again.
      await lookups.protectedResource(new URL(`${silent.origin}/mcp`), { timeoutMs: 100 });
      expect(silent.requests).toHaveLength(2);
    } finally {
      await silent.close();
    }
  });

  it("a caller with a shorter budget stops waiting; the request it joined goes on to its own timeout, sent once", async () => {
    const silent = await startSilentServer();
    try {
      const { discovery: lookups } = discovery({ timeoutMs: 300 });
      const url = new URL(`${silent.origin}/mcp`);
      const first = lookups.protectedResource(url);
      expect((await lookups.protectedResource(url, { timeoutMs: 50 })).status).toBe("failed");
      expect(silent.requests).toHaveLength(1);
      expect((await first).status).toBe("failed");
    } finally {
      await silent.close();
    }
  });

  it("remembers at most maxEntries URLs, dropping the oldest", async () => {
    const { discovery: lookups } = discovery({ maxEntries: 1 });
    const before = as.discoveryRequests();
    await lookups.authorizationServer(new URL(as.issuer), "oidc");
    await lookups.authorizationServer(new URL(as.issuer), "oauth2");
    await lookups.authorizationServer(new URL(as.issuer), "oauth2");
    expect(as.discoveryRequests() - before).toBe(2);
    await lookups.authorizationServer(new URL(as.issuer), "oidc");
    expect(as.discoveryRequests() - before).toBe(3);
  });
});

describe("metadata discovery: the upstream's challenge and the document it names (issue 18)", () => {
  let upstream: ProtectedResourceUpstream;
  let open: Upstream;

  beforeAll(async () => {
    upstream = await startProtectedResourceUpstream({ name: "challenging", metadataPath: "/docs/prm.json", trust: { issuer: as.issuer, jwksUri: as.jwksUri } });
    open = await startUpstream({ name: "open" });
  });
  afterAll(async () => {
    await Promise.all([upstream?.close(), open?.close()]);
  });

  it("reads the WWW-Authenticate of the upstream's 401 to an MCP request without credentials, and keeps it an hour", async () => {
    const { clock, discovery: lookups } = discovery();
    const before = upstream.rejected();
    const found = await lookups.upstreamChallenge(new URL(upstream.url));
    expect(found.status === "found" && found.metadata).toContain(`resource_metadata="${upstream.origin}/docs/prm.json"`);
    clock.now += HOUR - 1;
    await lookups.upstreamChallenge(new URL(upstream.url));
    expect(upstream.rejected() - before).toBe(1);
  });

  it("an upstream that does not answer 401 has no challenge", async () => {
    const { discovery: lookups } = discovery();
    expect((await lookups.upstreamChallenge(new URL(open.url))).status).toBe("absent");
  });

  it("the named document counts only for the resource it names (RFC 9728 §3.3)", async () => {
    const { discovery: lookups } = discovery();
    const named = new URL(`${upstream.origin}/docs/prm.json`);
    const found = await lookups.protectedResourceAt(named, new URL(upstream.url));
    expect(found.status === "found" && found.metadata.authorization_servers).toEqual([as.issuer]);
    expect((await lookups.protectedResourceAt(named, new URL(open.url))).status).toBe("absent");
  });
});

describe("metadata discovery: the MCP 2025-03-26 way (issue 18)", () => {
  async function serving(document: (origin: string) => Record<string, unknown>) {
    const { createServer } = await import("node:http");
    const server = createServer((request, response) => {
      if (request.url !== "/.well-known/oauth-authorization-server") return void response.writeHead(404).end();
      const address = server.address() as { port: number };
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(document(`http://127.0.0.1:${address.port}`)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return { origin, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it("takes the root document whose issuer has a path on the same origin (as servers of that era publish it)", async () => {
    const peer = await serving((origin) => ({ issuer: `${origin}/oauth`, authorization_endpoint: `${origin}/oauth/authorize`, token_endpoint: `${origin}/oauth/token` }));
    try {
      const found = await discovery().discovery.legacyAuthorizationServer(new URL(`${peer.origin}/mcp`));
      expect(found.status === "found" && found.metadata.issuer).toBe(`${peer.origin}/oauth`);
    } finally {
      await peer.close();
    }
  });

  it("refuses a root document naming an issuer on another origin (a mix-up)", async () => {
    const peer = await serving(() => ({ issuer: "https://elsewhere.example.com", authorization_endpoint: "https://elsewhere.example.com/authorize", token_endpoint: "https://elsewhere.example.com/token" }));
    try {
      const found = await discovery().discovery.legacyAuthorizationServer(new URL(`${peer.origin}/mcp`));
      expect(found.status).not.toBe("found");
    } finally {
      await peer.close();
    }
  });
});
