/**
 * LiteLLM's M2M test server (README, "Machine-to-machine OAuth"), a TypeScript twin of
 * BerriAI/mock-oauth2-mcp-server: an OAuth 2.0 authorization server that knows one
 * confidential client and the client_credentials grant, and a streamable-HTTP MCP server
 * with one tool, `echo`, that only answers requests bearing a token it issued.
 *
 * Routes:
 *   POST /oauth/token                              RFC 6749 §4.4 client credentials grant
 *   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
 *   GET  /.well-known/oauth-protected-resource     RFC 9728 metadata for /mcp
 *   POST /mcp                                      MCP (stateless, JSON responses)
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { z } from "zod";
import { GatewayError, JsonRpcCode, toGatewayError } from "../errors.js";

export const MOCK_CLIENT_ID = "test-client";
export const MOCK_CLIENT_SECRET = "test-secret";
const DEFAULT_TOKEN_TTL_SECONDS = 3600;

export interface MockServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  log?: (line: string) => void;
  /** Lifetime of issued tokens (`expires_in`). Default 3600. */
  tokenTtlSeconds?: number;
  /** Clock in epoch milliseconds, for tests. Default Date.now. */
  now?: () => number;
}

export interface MockServer {
  /** Origin, e.g. `http://127.0.0.1:8765`; the token endpoint is `${url}/oauth/token`, MCP is `${url}/mcp`. */
  url: string;
  port: number;
  /** How many access tokens were issued since start. */
  tokensIssued(): number;
  close(): Promise<void>;
}

interface IssuedToken {
  clientId: string;
  expiresAt: number;
}

type ClientAuthMethod = "client_secret_basic" | "client_secret_post";

interface AuthenticatedClient {
  clientId: string;
  method: ClientAuthMethod;
}

interface TokenStore {
  issue(clientId: string): { token: string; expiresIn: number };
  isValid(token: string): boolean;
  count(): number;
}

function createTokenStore(ttlSeconds: number, now: () => number): TokenStore {
  const tokens = new Map<string, IssuedToken>();
  let issued = 0;
  const sweepExpired = (): void => {
    for (const [token, entry] of tokens) if (entry.expiresAt <= now()) tokens.delete(token);
  };
  return {
    issue(clientId) {
      sweepExpired();
      const token = randomBytes(32).toString("base64url");
      tokens.set(token, { clientId, expiresAt: now() + ttlSeconds * 1000 });
      issued++;
      return { token, expiresIn: ttlSeconds };
    },
    isValid(token) {
      const entry = tokens.get(token);
      if (entry === undefined) return false;
      if (entry.expiresAt > now()) return true;
      tokens.delete(token);
      return false;
    },
    count: () => issued,
  };
}

// ---------------------------------------------------------------------------------------
// Token endpoint (RFC 6749 §4.4, errors per §5.2)
// ---------------------------------------------------------------------------------------

function oauthError(status: number, error: string, description: string, headers?: Record<string, string>): GatewayError {
  return new GatewayError({ status, code: error, message: description, ...(headers ? { headers } : {}) });
}

/** RFC 6749 §4.4.2: the parameters arrive as application/x-www-form-urlencoded. */
async function readTokenRequest(c: Context): Promise<URLSearchParams> {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded") {
    throw oauthError(400, "invalid_request", "the token request body must be application/x-www-form-urlencoded");
  }
  const params = new URLSearchParams(await c.req.text());
  // RFC 6749 §3.2: parameters must not be included more than once.
  for (const name of ["grant_type", "client_id", "client_secret", "scope"]) {
    if (params.getAll(name).length > 1) throw oauthError(400, "invalid_request", `'${name}' is included more than once`);
  }
  return params;
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function decodeBasicCredentials(authorization: string): { clientId: string; clientSecret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(authorization);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, " "));
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function secretsEqual(presented: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** RFC 6749 §2.3.1: client_secret_basic or client_secret_post, never both (§2.3). */
function authenticateClient(authorization: string | undefined, params: URLSearchParams): AuthenticatedClient {
  const usesBasic = authorization !== undefined && /^Basic\s/i.test(authorization);
  const bodySecret = params.get("client_secret");
  if (usesBasic && bodySecret !== null) {
    throw oauthError(400, "invalid_request", "use one client authentication method: HTTP Basic or 'client_secret' in the body, not both");
  }
  const basic = usesBasic ? decodeBasicCredentials(authorization) : undefined;
  const method: ClientAuthMethod = usesBasic ? "client_secret_basic" : "client_secret_post";
  const clientId = usesBasic ? basic?.clientId : (params.get("client_id") ?? undefined);
  const clientSecret = usesBasic ? basic?.clientSecret : (bodySecret ?? undefined);
  const bodyClientId = params.get("client_id");
  if (usesBasic && basic && bodyClientId !== null && bodyClientId !== basic.clientId) {
    throw oauthError(400, "invalid_request", "'client_id' in the body does not match the HTTP Basic client");
  }
  const valid =
    clientId !== undefined && clientSecret !== undefined && clientId === MOCK_CLIENT_ID && secretsEqual(clientSecret, MOCK_CLIENT_SECRET);
  if (!valid) {
    const challenge = usesBasic ? { "www-authenticate": 'Basic realm="mock-oauth2", charset="UTF-8"' } : undefined;
    throw oauthError(401, "invalid_client", `client authentication failed (${method}): unknown client or wrong secret`, challenge);
  }
  return { clientId, method };
}

function checkGrantType(params: URLSearchParams): void {
  const grantType = params.get("grant_type");
  if (grantType === null || grantType === "") throw oauthError(400, "invalid_request", "missing required parameter 'grant_type'");
  if (grantType !== "client_credentials") {
    throw oauthError(400, "unsupported_grant_type", `grant_type '${grantType}' is not supported; use 'client_credentials'`);
  }
}

/** RFC 6749 §5.1: tokens must not be cached. */
const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

function oauthErrorResponse(c: Context, thrown: unknown): Response {
  const error = toGatewayError(thrown);
  const body = error.expose
    ? { error: error.code, error_description: error.message }
    : { error: "server_error", error_description: "internal error" };
  return c.json(body, error.status as ContentfulStatusCode, { ...NO_STORE, ...error.headers });
}

function tokenEndpoint(tokens: TokenStore, log: (line: string) => void) {
  return async (c: Context): Promise<Response> => {
    try {
      const params = await readTokenRequest(c);
      checkGrantType(params);
      const client = authenticateClient(c.req.header("authorization"), params);
      const { token, expiresIn } = tokens.issue(client.clientId);
      const scope = params.get("scope")?.trim().split(/\s+/).filter(Boolean).join(" ");
      log(`mock-server: issued an access token to '${client.clientId}' (${client.method}), expires in ${expiresIn}s`);
      return c.json({ access_token: token, token_type: "Bearer", expires_in: expiresIn, ...(scope ? { scope } : {}) }, 200, NO_STORE);
    } catch (error) {
      log(`mock-server: token request rejected: ${error instanceof Error ? error.message : String(error)}`);
      return oauthErrorResponse(c, error);
    }
  };
}

// ---------------------------------------------------------------------------------------
// Metadata (RFC 8414, RFC 9728)
// ---------------------------------------------------------------------------------------

function originOf(c: Context): string {
  return new URL(c.req.url).origin;
}

function authorizationServerMetadata(c: Context): Response {
  const issuer = originOf(c);
  return c.json({
    issuer,
    token_endpoint: `${issuer}/oauth/token`,
    grant_types_supported: ["client_credentials"],
    token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
    // No authorization endpoint, so no response types (the field is required by RFC 8414 §2).
    response_types_supported: [],
  });
}

function protectedResourceMetadata(c: Context): Response {
  const origin = originOf(c);
  return c.json({ resource: `${origin}/mcp`, authorization_servers: [origin], bearer_methods_supported: ["header"] });
}

// ---------------------------------------------------------------------------------------
// MCP at /mcp, behind the bearer check (RFC 6750 §3)
// ---------------------------------------------------------------------------------------

function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
}

function requireIssuedToken(tokens: TokenStore, log: (line: string) => void) {
  return async (c: Context, next: () => Promise<void>): Promise<Response | void> => {
    const token = bearerToken(c.req.header("authorization"));
    if (token !== undefined && tokens.isValid(token)) return next();
    const description = token === undefined ? "no bearer token: get one from POST /oauth/token" : "the access token is unknown or expired";
    log(`mock-server: ${c.req.method} /mcp answered 401: ${description}`);
    const resourceMetadata = `${originOf(c)}/.well-known/oauth-protected-resource`;
    return c.json({ error: "invalid_token", error_description: description }, 401, {
      "www-authenticate": `Bearer error="invalid_token", error_description="${description}", resource_metadata="${resourceMetadata}"`,
    });
  };
}

function createEchoServer(): McpServer {
  const server = new McpServer({ name: "mock-oauth2-mcp-server", version: "0.1.0" });
  server.registerTool(
    "echo",
    {
      description: "Echoes back the provided message",
      inputSchema: { message: z.string().describe("The message to echo back") },
    },
    ({ message }) => ({ content: [{ type: "text", text: message }] }),
  );
  return server;
}

/** Stateless streamable HTTP: one server and transport per request, as in the SDK's example. */
async function handleMcp(c: Context): Promise<Response> {
  if (c.req.method !== "POST") {
    const body = { jsonrpc: "2.0", error: { code: JsonRpcCode.InvalidRequest, message: "this MCP server is stateless: use POST" }, id: null };
    return c.json(body, 405, { allow: "POST" });
  }
  const server = createEchoServer();
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  try {
    await server.connect(transport);
    return await transport.handleRequest(c.req.raw);
  } finally {
    await server.close();
  }
}

// ---------------------------------------------------------------------------------------
// Composition
// ---------------------------------------------------------------------------------------

/** The mock server as a Hono app, for in-process tests with `app.request()`. */
export function createMockApp(options: Omit<MockServerOptions, "port" | "host"> = {}): { app: Hono; tokensIssued: () => number } {
  const log = options.log ?? (() => {});
  const tokens = createTokenStore(options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS, options.now ?? Date.now);
  const app = new Hono();
  app.post("/oauth/token", tokenEndpoint(tokens, log));
  app.all("/oauth/token", (c) => c.json({ error: "invalid_request", error_description: "use POST" }, 405, { allow: "POST" }));
  app.get("/.well-known/oauth-authorization-server", authorizationServerMetadata);
  app.get("/.well-known/oauth-protected-resource", protectedResourceMetadata);
  app.get("/.well-known/oauth-protected-resource/mcp", protectedResourceMetadata);
  app.use("/mcp", requireIssuedToken(tokens, log));
  app.all("/mcp", handleMcp);
  app.onError((error, c) => {
    log(`mock-server: ${c.req.method} ${c.req.path} failed: ${error.stack ?? error.message}`);
    return c.json({ error: "server_error", error_description: "internal error" }, 500);
  });
  return { app, tokensIssued: tokens.count };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** A host as it appears in a URL: wildcard binds are reached over loopback, IPv6 in brackets. */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

export async function startMockServer(options: MockServerOptions): Promise<MockServer> {
  const host = options.host ?? "127.0.0.1";
  const log = options.log ?? (() => {});
  const { app, tokensIssued } = createMockApp(options);
  const server = createServer(getRequestListener(app.fetch, { overrideGlobalObjects: false }));
  const { port } = await listen(server, options.port, host);
  const url = `http://${urlHost(host)}:${port}`;
  log(
    `mock-server: listening on ${url}; client_id '${MOCK_CLIENT_ID}', client_secret '${MOCK_CLIENT_SECRET}', ` +
      `token_url ${url}/oauth/token, MCP ${url}/mcp`,
  );
  return {
    url,
    port,
    tokensIssued,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
