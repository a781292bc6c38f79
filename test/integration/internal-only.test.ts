/**
 * `available_on_public_internet: false` through real gateways and real upstream MCP servers:
 * an internal-only server does not exist for callers outside `mcp_internal_ip_ranges`.
 *
 * Which peer a request comes from is controlled by binding the client socket (as in
 * public-origin.test.ts): every gateway listens on 127.0.0.1, Linux routes all of 127/8 to
 * lo, so a request sent with `localAddress: "127.0.0.2"` reaches the gateway from the peer
 * 127.0.0.2. 127/8 is internal by default, so the gateways here narrow the internal ranges
 * (to 127.0.0.1/32, or to 10.0.0.0/8 for the X-Forwarded-For cases): 127.0.0.2 is then the
 * public internet. `gateway.fetch` and `gateway.connect` (undici) come from 127.0.0.1.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway, type TestGatewayOptions } from "../fixtures/gateway.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";
import { rawJson, rawRequest, type RawAnswer, type RawRequest } from "../fixtures/raw-http.js";

const INTERNAL_PEER = "127.0.0.1";
const PUBLIC_PEER = "127.0.0.2";
type Peer = typeof INTERNAL_PEER | typeof PUBLIC_PEER;

/** Only 127.0.0.1 is internal; 127.0.0.2 plays a caller on the public internet. */
const ONLY_LOOPBACK_ONE = { mcp_internal_ip_ranges: ["127.0.0.1/32"] };

/** An interactive oauth2 server whose discovery documents need no upstream (configured endpoints and scopes). */
const INTERACTIVE = {
  url: "http://127.0.0.1:1/mcp",
  auth_type: "oauth2",
  client_id: "gatehouse-ui-client",
  client_secret: "gh-ui-secret-8c1d3e5f7a9b",
  authorization_url: "http://127.0.0.1:1/oauth/authorize",
  token_url: "http://127.0.0.1:1/oauth/token",
  scopes: ["repo", "read:org"],
};

// --- resources, closed after every test -----------------------------------------------------

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((resource) => resource.close()));
});

async function gatewayWith(options: TestGatewayOptions): Promise<TestGateway> {
  const gateway = await startTestGateway(options);
  open.push(gateway);
  return gateway;
}

async function upstream(label: string): Promise<Upstream> {
  const started = await upstreamNamed(label, { mode: "json" }, true);
  open.push(started);
  return started;
}

/** Upstreams `public` and `internal` behind a gateway where only 127.0.0.1 is internal. */
async function twoServers(general: Record<string, unknown> = ONLY_LOOPBACK_ONE) {
  const [publicUpstream, internalUpstream] = await Promise.all([upstream("public"), upstream("internal")]);
  const gateway = await gatewayWith({
    servers: {
      public: { url: publicUpstream.url },
      internal: { url: internalUpstream.url, available_on_public_internet: false },
    },
    general,
  });
  return { gateway, publicUpstream, internalUpstream };
}

// --- requests from a chosen peer ------------------------------------------------------------


/** One HTTP request from a chosen local address (the peer the gateway sees); no keep-alive. */
const send = (gateway: TestGateway, path: string, from: Peer, init: Omit<Partial<RawRequest>, "localAddress"> = {}) =>
  rawRequest(new URL(path, gateway.url), { ...init, method: init.method ?? "GET", localAddress: from });

const keyHeader = (key: string) => ({ "x-litellm-api-key": `Bearer ${key}` });
const json = rawJson;

function mcpPost(gateway: TestGateway, path: string, from: Peer, body: string, headers: Record<string, string> = keyHeader(gateway.masterKey)): Promise<RawAnswer> {
  return send(gateway, path, from, { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });
}

/** The aggregated tool names `/mcp` lists for this peer (and headers). */
async function aggregateTools(gateway: TestGateway, from: Peer, headers: Record<string, string> = keyHeader(gateway.masterKey)): Promise<string[]> {
  const answer = await mcpPost(gateway, "/mcp", from, rpc("tools/list"), headers);
  expect(answer.status, answer.text).toBe(200);
  return ((json(answer)["result"] as { tools: Array<{ name: string }> }).tools).map((tool) => tool.name).sort();
}

interface RestTool {
  name: string;
  mcp_info: { server_name: string };
}

/** The servers whose tools `/mcp-rest/tools/list` shows this peer (and headers). */
async function restServers(gateway: TestGateway, from: Peer, headers: Record<string, string> = keyHeader(gateway.masterKey)): Promise<string[]> {
  const answer = await send(gateway, "/mcp-rest/tools/list", from, { headers });
  expect(answer.status, answer.text).toBe(200);
  return [...new Set((json(answer)["tools"] as RestTool[]).map((tool) => tool.mcp_info.server_name))].sort();
}

function restCall(gateway: TestGateway, from: Peer, body: unknown, key = gateway.masterKey): Promise<RawAnswer> {
  return send(gateway, "/mcp-rest/tools/call", from, { method: "POST", headers: { "content-type": "application/json", ...keyHeader(key) }, body: JSON.stringify(body) });
}

/** Status, content type and body, with the server's name replaced, to compare with a server that does not exist. */
function shape(answer: RawAnswer, name: string) {
  return { status: answer.status, contentType: answer.headers["content-type"], wwwAuthenticate: answer.headers["www-authenticate"], body: answer.text.replaceAll(name, "NAME") };
}

const toolCalls = (requests: readonly RecordedRequest[]) =>
  requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").length;

const warnings = (gateway: TestGateway, pattern: RegExp) => gateway.logs.filter((line) => line["level"] === 40 && pattern.test(String(line["msg"])));

// --- 1. internal vs public callers ----------------------------------------------------------

describe("an internal-only server seen from inside mcp_internal_ip_ranges (127.0.0.1)", () => {
  it("is listed by the aggregate /mcp beside the public one", async () => {
    const { gateway } = await twoServers();
    const names = await aggregateTools(gateway, INTERNAL_PEER);
    expect(names).toContain("public-where");
    expect(names).toContain("internal-where");
    expect(names).toContain("internal-only_internal");
    // The SDK client (undici, also from 127.0.0.1) sees the same list and can call the internal tool.
    const client = await gateway.connect("/mcp");
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(names);
    expect(await client.callTool({ name: "internal-where", arguments: {} })).toEqual({ content: [{ type: "text", text: "internal" }] });
  });

  it("answers at /internal/mcp and /mcp/internal", async () => {
    const { gateway } = await twoServers();
    const client = await gateway.connect("/internal/mcp");
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain("only_internal");
    expect(await client.callTool({ name: "where", arguments: {} })).toEqual({ content: [{ type: "text", text: "internal" }] });
    const raw = await mcpPost(gateway, "/mcp/internal", INTERNAL_PEER, rpc("tools/list"));
    expect(raw.status, raw.text).toBe(200);
    expect(raw.text).toContain("only_internal");
  });

  it("is listed and callable through REST", async () => {
    const { gateway } = await twoServers();
    expect(await restServers(gateway, INTERNAL_PEER)).toEqual(["internal", "public"]);
    const one = await send(gateway, "/mcp-rest/tools/list?server_name=internal", INTERNAL_PEER, { headers: keyHeader(gateway.masterKey) });
    expect(one.status, one.text).toBe(200);
    expect((json(one)["tools"] as RestTool[]).map((tool) => tool.name)).toContain("only_internal");
    const called = await restCall(gateway, INTERNAL_PEER, { server_name: "internal", name: "where", arguments: {} });
    expect(called.status, called.text).toBe(200);
    expect(json(called)).toEqual({ content: [{ type: "text", text: "internal" }] });
    // Unprefixed and prefixed names route to it too.
    expect(json(await restCall(gateway, INTERNAL_PEER, { name: "only_internal" }))).toEqual({ content: [{ type: "text", text: "only internal" }] });
    expect(json(await restCall(gateway, INTERNAL_PEER, { name: "internal-where" }))).toEqual({ content: [{ type: "text", text: "internal" }] });
  });
});

describe("an internal-only server seen from the public internet (127.0.0.2)", () => {
  it("is missing from the aggregate /mcp, whose public tools remain; its upstream is never contacted", async () => {
    const { gateway, internalUpstream } = await twoServers();
    const names = await aggregateTools(gateway, PUBLIC_PEER);
    expect(names).toContain("public-where");
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((name) => name.startsWith("public-"))).toBe(true);
    // Calling its tool through the aggregate: the same answer as a tool of a server that does not exist.
    const call = (name: string) => mcpPost(gateway, "/mcp", PUBLIC_PEER, rpc("tools/call", { name, arguments: {} }));
    expect(shape(await call("internal-where"), "internal")).toEqual(shape(await call("doesnotexist-where"), "doesnotexist"));
    expect(internalUpstream.requests).toEqual([]);
  });

  it("answers /internal/mcp and /mcp/internal exactly like a server that does not exist (404 unknown_server)", async () => {
    const { gateway, internalUpstream } = await twoServers();
    const internal = await mcpPost(gateway, "/internal/mcp", PUBLIC_PEER, rpc("tools/list"));
    const missing = await mcpPost(gateway, "/doesnotexist/mcp", PUBLIC_PEER, rpc("tools/list"));
    expect(internal.status).toBe(404);
    expect(internal.text).toContain("unknown_server");
    expect(shape(internal, "internal")).toEqual(shape(missing, "doesnotexist"));

    const mcpFirst = await mcpPost(gateway, "/mcp/internal", PUBLIC_PEER, rpc("tools/list"));
    expect(shape(mcpFirst, "internal")).toEqual(shape(await mcpPost(gateway, "/mcp/doesnotexist", PUBLIC_PEER, rpc("tools/list")), "doesnotexist"));

    // The GET stream and DELETE too.
    for (const method of ["GET", "DELETE"]) {
      const headers = { accept: "text/event-stream", ...keyHeader(gateway.masterKey) };
      const hidden = await send(gateway, "/internal/mcp", PUBLIC_PEER, { method, headers });
      const absent = await send(gateway, "/doesnotexist/mcp", PUBLIC_PEER, { method, headers });
      expect(hidden.status, method).toBe(404);
      expect(shape(hidden, "internal"), method).toEqual(shape(absent, "doesnotexist"));
    }
    expect(internalUpstream.requests).toEqual([]);
  });

  it("is missing from REST tools/list, and ?server_name=internal answers like an unknown server", async () => {
    const { gateway, internalUpstream } = await twoServers();
    expect(await restServers(gateway, PUBLIC_PEER)).toEqual(["public"]);
    const headers = keyHeader(gateway.masterKey);
    const hidden = await send(gateway, "/mcp-rest/tools/list?server_name=internal", PUBLIC_PEER, { headers });
    const absent = await send(gateway, "/mcp-rest/tools/list?server_name=doesnotexist", PUBLIC_PEER, { headers });
    expect(hidden.status).toBe(404);
    expect(shape(hidden, "internal")).toEqual(shape(absent, "doesnotexist"));
    expect(internalUpstream.requests).toEqual([]);
  });

  it("REST tools/call to it answers like an unknown server (or tool), and never reaches its upstream", async () => {
    const { gateway, internalUpstream, publicUpstream } = await twoServers();
    const byServer = (server: string) => restCall(gateway, PUBLIC_PEER, { server_name: server, name: "where", arguments: {} });
    const hidden = await byServer("internal");
    expect(hidden.status).toBe(404);
    expect(shape(hidden, "internal")).toEqual(shape(await byServer("doesnotexist"), "doesnotexist"));

    const byId = (server: string) => restCall(gateway, PUBLIC_PEER, { server_id: server, name: "where" });
    expect(shape(await byId("internal"), "internal")).toEqual(shape(await byId("doesnotexist"), "doesnotexist"));

    const prefixed = (server: string) => restCall(gateway, PUBLIC_PEER, { name: `${server}-where` });
    expect(shape(await prefixed("internal"), "internal")).toEqual(shape(await prefixed("doesnotexist"), "doesnotexist"));

    // A tool name only the internal server offers: unknown, like a tool nobody offers.
    const unique = await restCall(gateway, PUBLIC_PEER, { name: "only_internal" });
    expect(shape(unique, "only_internal")).toEqual(shape(await restCall(gateway, PUBLIC_PEER, { name: "only_nobody" }), "only_nobody"));
    // `where` is offered by both, but only one is visible: not ambiguous from here.
    expect(json(await restCall(gateway, PUBLIC_PEER, { name: "where" }))).toEqual({ content: [{ type: "text", text: "public" }] });

    expect(toolCalls(internalUpstream.requests)).toBe(0);
    expect(internalUpstream.requests).toEqual([]);
    expect(toolCalls(publicUpstream.requests)).toBe(1);
  });

  it("a virtual key limited to [internal] gets the restricted key's 403, identical to a nonexistent server, and sees no tools", async () => {
    const { gateway, internalUpstream } = await twoServers();
    const key = await gateway.generateKey({ key_alias: "internal-only-key", object_permission: { mcp_servers: ["internal"] } });

    // From inside, the key works.
    const inside = await mcpPost(gateway, "/internal/mcp", INTERNAL_PEER, rpc("tools/list"), keyHeader(key));
    expect(inside.status, inside.text).toBe(200);
    expect(await aggregateTools(gateway, INTERNAL_PEER, keyHeader(key))).toContain("internal-where");
    const seenInside = internalUpstream.requests.length;

    // From outside, its only server is forbidden exactly like one that does not exist.
    const hidden = await mcpPost(gateway, "/internal/mcp", PUBLIC_PEER, rpc("tools/list"), keyHeader(key));
    const absent = await mcpPost(gateway, "/doesnotexist/mcp", PUBLIC_PEER, rpc("tools/list"), keyHeader(key));
    const notMine = await mcpPost(gateway, "/public/mcp", PUBLIC_PEER, rpc("tools/list"), keyHeader(key));
    expect(hidden.status).toBe(403);
    expect(hidden.text).toContain("server_not_allowed");
    expect(shape(hidden, "internal")).toEqual(shape(absent, "doesnotexist"));
    expect(shape(notMine, "public")).toEqual(shape(absent, "doesnotexist"));

    expect(await aggregateTools(gateway, PUBLIC_PEER, keyHeader(key))).toEqual([]);
    expect(await restServers(gateway, PUBLIC_PEER, keyHeader(key))).toEqual([]);
    const restHidden = await send(gateway, "/mcp-rest/tools/list?server_name=internal", PUBLIC_PEER, { headers: keyHeader(key) });
    const restAbsent = await send(gateway, "/mcp-rest/tools/list?server_name=doesnotexist", PUBLIC_PEER, { headers: keyHeader(key) });
    expect(restHidden.status).toBe(403);
    expect(shape(restHidden, "internal")).toEqual(shape(restAbsent, "doesnotexist"));
    const callHidden = await restCall(gateway, PUBLIC_PEER, { server_name: "internal", name: "where" }, key);
    const callAbsent = await restCall(gateway, PUBLIC_PEER, { server_name: "doesnotexist", name: "where" }, key);
    expect(callHidden.status).toBe(403);
    expect(shape(callHidden, "internal")).toEqual(shape(callAbsent, "doesnotexist"));

    expect(internalUpstream.requests.length).toBe(seenInside);
  });

  it("x-mcp-servers: internal on /mcp lists no tools from outside (and only its tools from inside)", async () => {
    const { gateway, internalUpstream } = await twoServers();
    const narrowed = { ...keyHeader(gateway.masterKey), "x-mcp-servers": "internal" };
    const inside = await aggregateTools(gateway, INTERNAL_PEER, narrowed);
    expect(inside).toContain("internal-where");
    expect(inside.every((name) => name.startsWith("internal-"))).toBe(true);
    const seenInside = internalUpstream.requests.length;
    expect(await aggregateTools(gateway, PUBLIC_PEER, narrowed)).toEqual([]);
    expect(await aggregateTools(gateway, PUBLIC_PEER, { ...narrowed, "x-mcp-servers": "internal,public" })).toEqual(expect.arrayContaining(["public-where"]));
    expect((await aggregateTools(gateway, PUBLIC_PEER, { ...narrowed, "x-mcp-servers": "internal,public" })).every((name) => name.startsWith("public-"))).toBe(true);
    expect(internalUpstream.requests.length).toBe(seenInside);
  });

  it("with the default internal ranges, both loopback peers are internal", async () => {
    const { gateway } = await twoServers({});
    for (const from of [INTERNAL_PEER, PUBLIC_PEER] as const) {
      expect(await restServers(gateway, from), from).toEqual(["internal", "public"]);
    }
  });
});

// --- 2. X-Forwarded-For -------------------------------------------------------------------

describe("the client address behind a trusted proxy (use_x_forwarded_for, mcp_trusted_proxy_ranges [127.0.0.2/32], internal [10.0.0.0/8])", () => {
  const FORWARDING = { use_x_forwarded_for: true, mcp_trusted_proxy_ranges: ["127.0.0.2/32"], mcp_internal_ip_ranges: ["10.0.0.0/8"] };

  /** Whether the internal server is visible to a request from `from` forwarding `forwardedFor`, by every route. */
  async function internalVisible(gateway: TestGateway, from: Peer, forwardedFor: string | undefined): Promise<boolean> {
    const headers = { ...keyHeader(gateway.masterKey), ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }) };
    const rest = await restServers(gateway, from, headers);
    const aggregate = await aggregateTools(gateway, from, headers);
    const passthrough = await mcpPost(gateway, "/internal/mcp", from, rpc("tools/list"), headers);
    expect(rest).toContain("public");
    expect(aggregate).toContain("public-where");
    const visible = rest.includes("internal");
    // Every route agrees.
    expect(aggregate.includes("internal-where"), `aggregate, XFF ${forwardedFor}`).toBe(visible);
    expect(passthrough.status, `passthrough, XFF ${forwardedFor}`).toBe(visible ? 200 : 404);
    return visible;
  }

  it("a trusted proxy forwarding an internal client: internal", async () => {
    const { gateway } = await twoServers(FORWARDING);
    expect(await internalVisible(gateway, PUBLIC_PEER, "10.1.2.3")).toBe(true);
    // Ports that proxies append are stripped; trusted hops on the right are skipped.
    expect(await internalVisible(gateway, PUBLIC_PEER, "10.1.2.3:5678")).toBe(true);
    expect(await internalVisible(gateway, PUBLIC_PEER, "10.1.2.3, 127.0.0.2")).toBe(true);
  });

  it("a trusted proxy forwarding a public client: public", async () => {
    const { gateway } = await twoServers(FORWARDING);
    expect(await internalVisible(gateway, PUBLIC_PEER, "203.0.113.9")).toBe(false);
  });

  it("a spoofed internal address on the left of the chain is ignored: the rightmost untrusted hop wins", async () => {
    const { gateway } = await twoServers(FORWARDING);
    expect(await internalVisible(gateway, PUBLIC_PEER, "10.1.2.3, 203.0.113.9")).toBe(false);
    expect(await internalVisible(gateway, PUBLIC_PEER, "10.1.2.3, 203.0.113.9, 127.0.0.2")).toBe(false);
  });

  it("a trusted proxy without X-Forwarded-For, or with only trusted hops: the proxy's own address (not internal)", async () => {
    const { gateway } = await twoServers(FORWARDING);
    expect(await internalVisible(gateway, PUBLIC_PEER, undefined)).toBe(false);
    expect(await internalVisible(gateway, PUBLIC_PEER, "127.0.0.2")).toBe(false);
  });

  it("an untrusted peer (127.0.0.1) cannot claim an internal address: the header is ignored", async () => {
    const { gateway } = await twoServers(FORWARDING);
    expect(await internalVisible(gateway, INTERNAL_PEER, "10.1.2.3")).toBe(false);
  });

  it("use_x_forwarded_for: false ignores the header even from the listed proxy", async () => {
    const { gateway } = await twoServers({ ...FORWARDING, use_x_forwarded_for: false });
    expect(await internalVisible(gateway, PUBLIC_PEER, "10.1.2.3")).toBe(false);
    expect(await internalVisible(gateway, INTERNAL_PEER, "10.1.2.3")).toBe(false);
  });

  it("the OAuth discovery routes follow the same client address", async () => {
    const gateway = await gatewayWith({ servers: { gh: { ...INTERACTIVE, available_on_public_internet: false } }, general: FORWARDING });
    const prm = (from: Peer, forwardedFor: string) => send(gateway, "/.well-known/oauth-protected-resource/gh/mcp", from, { headers: { "x-forwarded-for": forwardedFor } });
    expect((await prm(PUBLIC_PEER, "10.1.2.3")).status).toBe(200);
    expect((await prm(PUBLIC_PEER, "10.1.2.3, 203.0.113.9")).status).toBe(404);
    expect((await prm(INTERNAL_PEER, "10.1.2.3")).status).toBe(404);
  });
});

// --- 3. OAuth discovery and facade routes ---------------------------------------------------

describe("an internal-only interactive oauth2 server's OAuth routes", () => {
  async function gateway() {
    return gatewayWith({ servers: { gh: { ...INTERACTIVE, available_on_public_internet: false } }, general: ONLY_LOOPBACK_ONE });
  }

  const DISCOVERY = (name: string) => [
    `/.well-known/oauth-protected-resource/${name}/mcp`,
    `/.well-known/oauth-protected-resource/mcp/${name}`,
    `/.well-known/oauth-authorization-server/${name}`,
    `/.well-known/openid-configuration/${name}`,
    `/${name}/.well-known/openid-configuration`,
    `/${name}/.well-known/oauth-authorization-server`,
  ];

  it("serves the discovery documents to an internal caller", async () => {
    const gw = await gateway();
    for (const path of DISCOVERY("gh")) {
      const answer = await send(gw, path, INTERNAL_PEER);
      expect(answer.status, `${path}: ${answer.text}`).toBe(200);
    }
    const prm = json(await send(gw, "/.well-known/oauth-protected-resource/gh/mcp", INTERNAL_PEER));
    expect(prm).toMatchObject({ resource: `${gw.url}/gh/mcp`, authorization_servers: [`${gw.url}/gh`], scopes_supported: ["repo", "read:org"] });
  });

  it("answers 404 to a public caller, exactly as for a server that does not exist", async () => {
    const gw = await gateway();
    for (const path of DISCOVERY("gh")) {
      const hidden = await send(gw, path, PUBLIC_PEER);
      expect(hidden.status, path).toBe(404);
      const absent = await send(gw, path.replace("gh", "doesnotexist"), PUBLIC_PEER);
      expect(shape(hidden, "gh"), path).toEqual(shape(absent, "doesnotexist"));
    }
  });

  it("hides the facade's register, authorize and token endpoints from a public caller", async () => {
    const gw = await gateway();
    const register = (name: string) =>
      send(gw, `/${name}/register`, PUBLIC_PEER, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: ["http://localhost:3000/cb"] }) });
    const hiddenRegister = await register("gh");
    expect(hiddenRegister.status).toBe(404);
    expect(shape(hiddenRegister, "gh")).toEqual(shape(await register("doesnotexist"), "doesnotexist"));

    const authorize = (name: string) =>
      send(gw, `/${name}/authorize?response_type=code&client_id=x&redirect_uri=${encodeURIComponent("http://localhost:3000/cb")}&code_challenge=abc&code_challenge_method=S256`, PUBLIC_PEER);
    const hiddenAuthorize = await authorize("gh");
    expect(hiddenAuthorize.status).toBe(404);
    expect(shape(hiddenAuthorize, "gh")).toEqual(shape(await authorize("doesnotexist"), "doesnotexist"));

    const token = (name: string) =>
      send(gw, `/${name}/token`, PUBLIC_PEER, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=authorization_code&code=x" });
    const hiddenToken = await token("gh");
    expect(hiddenToken.status).toBe(404);
    expect(shape(hiddenToken, "gh")).toEqual(shape(await token("doesnotexist"), "doesnotexist"));

    // From inside, registration works.
    const inside = await send(gw, "/gh/register", INTERNAL_PEER, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ redirect_uris: ["http://localhost:3000/cb"] }) });
    expect(inside.status, inside.text).toBe(201);
  });

  it("/gh/mcp: the 401 OAuth challenge from inside, 404 unknown_server from outside (no challenge that reveals it)", async () => {
    const gw = await gateway();
    const inside = await mcpPost(gw, "/gh/mcp", INTERNAL_PEER, rpc("tools/list"));
    expect(inside.status, inside.text).toBe(401);
    expect(inside.headers["www-authenticate"]).toBe(`Bearer resource_metadata="${gw.url}/.well-known/oauth-protected-resource/gh/mcp", scope="repo read:org"`);
    const outside = await mcpPost(gw, "/gh/mcp", PUBLIC_PEER, rpc("tools/list"));
    expect(outside.status).toBe(404);
    expect(outside.headers["www-authenticate"]).toBeUndefined();
    expect(shape(outside, "gh")).toEqual(shape(await mcpPost(gw, "/doesnotexist/mcp", PUBLIC_PEER, rpc("tools/list")), "doesnotexist"));
  });

  // Documents a bug: src/http/routes/connect.ts mounts authenticate(deps.keys) without
  // `network`, so its callers never get fromPublicInternet and serverForCaller shows them
  // internal-only servers. A public caller with the master key can start the Connect flow.
  it("the Connect endpoint /v1/mcp/server/oauth/{server}/authorize hides an internal-only server from a public caller (404 like an unknown server; it used to start its OAuth flow)", async () => {
    const gw = await gateway();
    const connect = (name: string, from: Peer) =>
      send(gw, `/v1/mcp/server/oauth/${name}/authorize?redirect_uri=${encodeURIComponent("http://localhost:3000/cb")}`, from, { headers: keyHeader(gw.masterKey) });
    // From inside, the flow starts (a redirect to the upstream's authorization_url).
    const inside = await connect("gh", INTERNAL_PEER);
    expect(inside.status, inside.text).toBe(302);
    // From outside, the server must not exist.
    const absent = await connect("doesnotexist", PUBLIC_PEER);
    expect(absent.status).toBe(404);
    const hidden = await connect("gh", PUBLIC_PEER);
    expect(shape(hidden, "gh")).toEqual(shape(absent, "doesnotexist"));
  });
});

// --- 4. invalid internal ranges -----------------------------------------------------------

describe("invalid mcp_internal_ip_ranges entries", () => {
  it("are each named in a startup warning and ignored; the valid entries still apply", async () => {
    const { gateway } = await twoServers({ mcp_internal_ip_ranges: ["10.0.0.0/33", "banana", "127.0.0.2/", "127.0.0.1/32"] });
    const said = warnings(gateway, /mcp_internal_ip_ranges: '.*' is not an IPv4 or IPv6 CIDR/).map((line) => String(line["msg"]));
    expect(said).toEqual([expect.stringContaining("'10.0.0.0/33'"), expect.stringContaining("'banana'"), expect.stringContaining("'127.0.0.2/'")]);
    for (const line of said) expect(line).toMatch(/ignored/);
    // Logged before the gateway listens.
    const listening = gateway.logs.findIndex((line) => line["msg"] === "gatehouse is listening");
    expect(listening).toBeGreaterThanOrEqual(0);
    for (const line of warnings(gateway, /mcp_internal_ip_ranges/)) expect(gateway.logs.indexOf(line)).toBeLessThan(listening);
    // "127.0.0.2/" did not become a /0: 127.0.0.2 is public, 127.0.0.1 internal.
    expect(await restServers(gateway, INTERNAL_PEER)).toEqual(["internal", "public"]);
    expect(await restServers(gateway, PUBLIC_PEER)).toEqual(["public"]);
  });

  it("with no valid entry at all, nobody is internal (not everybody)", async () => {
    const { gateway } = await twoServers({ mcp_internal_ip_ranges: ["banana", "127.0.0.1/33", "/"] });
    expect(warnings(gateway, /mcp_internal_ip_ranges: '.*' is not an IPv4 or IPv6 CIDR/)).toHaveLength(3);
    expect(await restServers(gateway, INTERNAL_PEER)).toEqual(["public"]);
    expect(await restServers(gateway, PUBLIC_PEER)).toEqual(["public"]);
  });

  it("valid ranges log no such warning", async () => {
    const { gateway } = await twoServers();
    expect(warnings(gateway, /mcp_internal_ip_ranges/)).toEqual([]);
  });
});

// --- 5. startup -----------------------------------------------------------------------------

describe("startup with available_on_public_internet: false", () => {
  it("is accepted (it used to be refused) and logs nothing about it for a plain server", async () => {
    const { gateway } = await twoServers();
    expect(gateway.logs.some((line) => line["msg"] === "gatehouse is listening")).toBe(true);
    expect(warnings(gateway, /available_on_public_internet/)).toEqual([]);
  });

  it("with delegate_auth_to_upstream on an interactive oauth2 server: exactly one warning naming mcp_internal_ip_ranges", async () => {
    const delegating = await upstream("deleg");
    const gateway = await gatewayWith({
      servers: {
        deleg: { ...INTERACTIVE, url: delegating.url, delegate_auth_to_upstream: true, available_on_public_internet: false },
        // Neither of these warns about mcp_internal_ip_ranges: one does not delegate, the other's flag is ignored.
        plain: { ...INTERACTIVE, available_on_public_internet: false },
        keyed: { url: delegating.url, auth_type: "bearer_token", auth_value: "t0k3n", delegate_auth_to_upstream: true, available_on_public_internet: false },
      },
      general: ONLY_LOOPBACK_ONE,
    });
    const said = warnings(gateway, /mcp_internal_ip_ranges/);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ server: "deleg" });
    expect(String(said[0]!["msg"])).toMatch(/available_on_public_internet: false/);
    expect(String(said[0]!["msg"])).toMatch(/delegate_auth_to_upstream: true/);
  });

  it("the delegate bypass of an internal-only server works from inside only; from outside, no key is a plain 401 as for an unknown server", async () => {
    const delegating = await upstream("deleg");
    const gateway = await gatewayWith({
      servers: { deleg: { ...INTERACTIVE, url: delegating.url, delegate_auth_to_upstream: true, available_on_public_internet: false } },
      general: ONLY_LOOPBACK_ONE,
    });
    // Inside: no gateway key, the request goes upstream as the seed documents (and warns about).
    const inside = await mcpPost(gateway, "/deleg/mcp", INTERNAL_PEER, rpc("tools/list"), {});
    expect(inside.status, inside.text).toBe(200);
    expect(inside.text).toContain("only_deleg");
    const seenInside = delegating.requests.length;
    expect(seenInside).toBeGreaterThan(0);

    // Outside: the bypass does not apply, and the 401 is the one any unknown server gets.
    const hidden = await mcpPost(gateway, "/deleg/mcp", PUBLIC_PEER, rpc("tools/list"), {});
    const absent = await mcpPost(gateway, "/doesnotexist/mcp", PUBLIC_PEER, rpc("tools/list"), {});
    expect(hidden.status).toBe(401);
    expect(shape(hidden, "deleg")).toEqual(shape(absent, "doesnotexist"));
    const viaAggregate = await mcpPost(gateway, "/mcp", PUBLIC_PEER, rpc("tools/list"), { "x-mcp-servers": "deleg" });
    expect(viaAggregate.status).toBe(401);
    // A client Authorization from outside is not a way in either.
    const withBearer = await mcpPost(gateway, "/deleg/mcp", PUBLIC_PEER, rpc("tools/list"), { authorization: "Bearer upstream-user-token" });
    expect(withBearer.status).toBe(401);
    expect(delegating.requests.length).toBe(seenInside);
  });
});
