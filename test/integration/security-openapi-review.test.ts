/**
 * SECURITY item 24 (OpenAPI servers): holes an attack review found, each fixed; the tests
 * are named after what broke.
 *
 * 1. An exploded form object (the default for query and cookie parameters) sends its keys as
 *    parameters of their own: `q: {"q": "x", "admin": "1"}` became `?q=x&admin=1`, whatever
 *    the parameter's schema said, so a key limited by `allowed_params` to `q` set any query
 *    parameter or cookie.
 * 2. A spec's `Host` header parameter was a tool argument, and undici sends a given Host: a
 *    call chose the virtual host behind the API's address that the credentials went to.
 * 3. A reference bomb (schemas that each refer twice to the next) inlined to 2^n copies in
 *    the parser, its validator and the tools list: a few kilobytes of spec froze the
 *    gateway's event loop (the API's spec check, or a URL spec a hostile host serves).
 * 4. An API that sent its headers and then never ended its body held the call (and the key's
 *    parallel slot) forever: `timeout` bounded only the wait for the headers.
 * 5. The gateway's log showed a URL spec's query (often its access token).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { listenOnLoopback } from "../fixtures/loopback.js";
import { startRestApi, type RestApi } from "../fixtures/rest-api.js";

const API_TOKEN = "api-t0ken-0123456789abcdef";
const SPEC_TOKEN = "spec-t0ken-9876543210fedcba";
const ok = { "200": { description: "ok" } };

const SPEC = {
  openapi: "3.0.3",
  info: { title: "hostile review", version: "1" },
  paths: {
    "/search": {
      get: {
        operationId: "search",
        parameters: [
          { name: "q", in: "query", schema: { type: "string" } },
          { name: "admin", in: "query", schema: { type: "boolean" } },
          { name: "color", in: "query", schema: { type: "object", properties: { R: { type: "integer" }, G: { type: "integer" } } } },
          { name: "filter", in: "query", schema: { type: "object", additionalProperties: { type: "string" } } },
          { name: "theme", in: "cookie", schema: { type: "string" } },
        ],
        responses: ok,
      },
    },
    "/vhost": {
      get: {
        operationId: "vhost",
        parameters: [
          { name: "Host", in: "header", schema: { type: "string" } },
          { name: "Transfer-Encoding", in: "header", schema: { type: "string" } },
          { name: "X-Trace", in: "header", schema: { type: "string" } },
        ],
        responses: ok,
      },
    },
    "/slow": { get: { operationId: "slow", responses: ok } },
  },
};

/** Schemas that each refer twice to the next: `depth` levels inline to 2^depth copies. */
function referenceBomb(depth: number, swagger: boolean): Record<string, unknown> {
  const prefix = swagger ? "#/definitions" : "#/components/schemas";
  const schemas: Record<string, unknown> = {};
  for (let level = 0; level < depth; level++) {
    schemas[`L${level}`] = level === depth - 1 ? { type: "string" } : { type: "object", properties: { a: { $ref: `${prefix}/L${level + 1}` }, b: { $ref: `${prefix}/L${level + 1}` } } };
  }
  if (swagger) {
    return {
      swagger: "2.0",
      info: { title: "bomb", version: "1" },
      paths: { "/x": { post: { operationId: "x", parameters: [{ name: "body", in: "body", schema: { $ref: `${prefix}/L0` } }], responses: ok } } },
      definitions: schemas,
    };
  }
  return {
    openapi: "3.0.3",
    info: { title: "bomb", version: "1" },
    paths: { "/x": { post: { operationId: "x", requestBody: { content: { "application/json": { schema: { $ref: `${prefix}/L0` } } } }, responses: ok } } },
    components: { schemas },
  };
}

let api: RestApi;
let specHost: RestApi;
/** An API whose `/slow` sends its headers and the start of a JSON body, then nothing. */
let stalling: Server;
let stallingUrl: string;
let dir: string;
let gateway: TestGateway;
let client: Client;

beforeAll(async () => {
  [api, specHost] = await Promise.all([startRestApi(), startRestApi()]);
  stalling = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.write('{"items": [');
  });
  stallingUrl = await listenOnLoopback(stalling);
  api.respond = (request) => (request.rawPath === "/search" || request.rawPath === "/vhost" ? { status: 200, headers: { "content-type": "application/json" }, body: "{}" } : undefined);
  specHost.respond = (request) => {
    if (request.rawPath === "/bomb.json") return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(referenceBomb(40, false)) };
    if (request.rawPath === "/bomb-swagger.json") return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(referenceBomb(40, true)) };
    if (request.rawPath === "/spec.json") return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(SPEC) };
    return undefined;
  };
  dir = await mkdtemp(join(tmpdir(), "gatehouse-openapi-review-"));
  const specFile = join(dir, "spec.json");
  await writeFile(specFile, JSON.stringify(SPEC));
  gateway = await startTestGateway({
    servers: {
      rest: {
        spec_path: specFile,
        url: api.url,
        auth_type: "bearer_token",
        auth_value: API_TOKEN,
        allowed_params: { search: ["q", "color", "filter", "theme"] },
      },
      stalling: { spec_path: specFile, url: stallingUrl, timeout: 1 },
      // A URL spec whose query carries the spec host's credential.
      remote: { spec_path: `${specHost.url}/spec.json?access_token=${SPEC_TOKEN}`, url: api.url },
    },
  });
  client = await gateway.connect("/rest/mcp");
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  stalling?.closeAllConnections();
  await Promise.all([api?.close(), specHost?.close(), new Promise((resolve) => stalling?.close(resolve))]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function call(name: string, args: Record<string, unknown>): Promise<CallToolResult | Error> {
  try {
    return (await client.callTool({ name, arguments: args })) as CallToolResult;
  } catch (error) {
    return error as Error;
  }
}

describe("1. an exploded form object's keys are parameters of their own", () => {
  it("a string query parameter given an object cannot add query parameters (allowed_params allowed only q)", async () => {
    const before = api.requests.length;
    const outcome = await call("search", { q: { q: "x", admin: "true" } });
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/q: q, admin would be sent as query parameters of their own; its schema declares no properties/);
    expect(api.requests.length).toBe(before);
  });

  it("an object parameter sends only its declared properties; a cookie parameter cannot set other cookies", async () => {
    const undeclared = await call("search", { color: { R: 1, admin: "true" } });
    expect((undeclared as Error).message).toMatch(/color: admin would be sent as query parameters of their own; its schema declares R, G/);
    const cookie = await call("search", { theme: { theme: "dark", session: "stolen" } });
    expect((cookie as Error).message).toMatch(/theme: theme, session would be sent as cookie parameters of their own/);

    const before = api.requests.length;
    const sent = (await call("search", { q: "x", color: { R: 1, G: 2 }, theme: "dark" })) as CallToolResult;
    expect(sent.isError).toBeFalsy();
    expect(api.requests.length).toBe(before + 1);
    expect(api.last().rawQuery).toBe("q=x&R=1&G=2");
    expect(api.last().headers.cookie).toBe("theme=dark");
  });

  it("a free-form object (additionalProperties) still sends any key: its schema says so", async () => {
    await call("search", { filter: { status: "open" } });
    expect(api.last().rawQuery).toBe("status=open");
  });
});

describe("2. header parameters the connection owns", () => {
  it("a spec's Host header parameter is no tool argument: a call cannot choose the virtual host its credentials go to", async () => {
    const tools = await client.listTools();
    const vhost = tools.tools.find((tool) => tool.name === "vhost")!;
    expect(Object.keys(vhost.inputSchema.properties ?? {})).toEqual(["X-Trace"]);
    const refused = await call("vhost", { Host: "admin.internal" });
    expect((refused as Error).message).toMatch(/unknown argument Host/);

    await call("vhost", { "X-Trace": "t1" });
    expect(api.last().headers.host).toBe(new URL(api.url).host);
    expect(api.last().headers["x-trace"]).toBe("t1");
    expect(api.last().headers.authorization).toBe(`Bearer ${API_TOKEN}`);
    expect(gateway.logs.some((line) => String(line.msg).includes("header parameter Host is not sent (the gateway sets it)"))).toBe(true);
  });
});

describe("3. reference bombs", () => {
  for (const [file, kind] of [
    ["bomb.json", "OpenAPI 3.0"],
    ["bomb-swagger.json", "Swagger 2.0"],
  ] as const) {
    it(`a ${kind} spec whose $refs inline to 2^40 schemas is refused at once, not inlined (the spec check froze the gateway)`, async () => {
      const started = Date.now();
      const response = await gateway.fetch("/v1/mcp/server", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ server_name: `bomb-${kind === "Swagger 2.0" ? "v2" : "v3"}`, spec_path: `${specHost.url}/${file}`, url: api.url }),
      });
      const body = (await response.json()) as { detail: string };
      expect(response.status).toBe(400);
      expect(body.detail).toMatch(/its \$refs inline to more than 4000000 objects and arrays \(a reference bomb\?\); the gateway does not serve it/);
      // Inlining 2^40 copies would never end; the measure is about the document's size.
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  }
});

describe("4. an API's answer is bounded in time", () => {
  it("an API that sends its headers and never ends its body fails the call at the server's timeout (it was held forever)", async () => {
    const stallingClient = await gateway.connect("/stalling/mcp");
    const started = Date.now();
    // The same error as an MCP upstream that does not answer within its timeout.
    await expect(stallingClient.callTool({ name: "slow", arguments: {} })).rejects.toThrow(/did not answer within 1 s/);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);
});

describe("5. a URL spec's credentials", () => {
  it("the gateway's log never shows a URL spec's query (the spec host's access token was logged)", async () => {
    const remote = await gateway.connect("/remote/mcp");
    expect((await remote.listTools()).tools.length).toBeGreaterThan(0);
    const loaded = await gateway.waitForLog((line) => line.server === "remote" && line.msg === "loaded the OpenAPI spec of a server");
    expect(loaded.spec_path).toBe(`${specHost.url}/spec.json?…`);
    expect(JSON.stringify(gateway.logs)).not.toContain(SPEC_TOKEN);
  });
});
