/**
 * OpenAPI servers (README, "OpenAPI servers") end to end: published OpenAPI documents
 * (@readme/oas-examples' Swagger Petstore 3.0 and 3.1, parameters-style) served by the
 * gateway from a loopback REST API that records every request as it arrived. The official
 * SDK client lists and calls the tools on the server's own `/{server}/mcp` (own names) and
 * on `/mcp` (prefixed), and REST does on `/mcp-rest/tools/*`; every assertion on a call is
 * on what reached the API (method, raw path and query, headers, body) and on the result.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startRestApi, type RestAnswer, type RestApi, type RestRequest } from "../fixtures/rest-api.js";
import { example, figmaSpec } from "../unit/openapi/specs.js";
import { signInToUi } from "../fixtures/ui-session.js";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
const json = (status: number, value: unknown): RestAnswer => ({ status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) });

/** The Swagger Petstore as its document describes it, under /v2. */
function petstore(request: RestRequest): RestAnswer | undefined {
  if (request.rawPath === "/v2/pet/findByStatus") return json(200, [{ id: 1, name: "Rex", status: "available" }]);
  const pet = /^\/v2\/pet\/([^/]+)$/.exec(request.rawPath);
  if (pet !== null && request.method === "GET") {
    const id = decodeURIComponent(pet[1]!);
    if (id === "1") return json(200, { id: 1, name: "Rex", status: "available", photoUrls: [] });
    if (id === "7") return { status: 200, headers: { "content-type": "image/png" }, body: PNG };
    if (id === "500") return { status: 500, headers: { "content-type": "text/plain" }, body: "database on fire" };
    return json(404, { code: 1, type: "error", message: "Pet not found" });
  }
  if (pet !== null && request.method === "DELETE") return { status: 204 };
  if (request.rawPath === "/v2/pet" && request.method === "POST") return json(200, { id: 3, ...(JSON.parse(request.body) as object) });
  if (request.rawPath === "/v2/store/inventory") return json(200, { available: 1, sold: 0 });
  return undefined;
}

let api: RestApi;
let gateway: TestGateway;

beforeAll(async () => {
  api = await startRestApi();
  api.respond = (request) => (request.rawPath.startsWith("/v2/") ? petstore(request) : json(200, { ok: true }));
  gateway = await startTestGateway({
    servers: {
      petstore30: { spec_path: example("3.0/yaml/petstore.yaml"), url: `${api.url}/v2` },
      petstore31: { spec_path: example("3.1/yaml/petstore.yaml"), url: `${api.url}/v2` },
      styles: { spec_path: example("3.0/yaml/parameters-style.yaml"), url: api.url },
      petstore20: { spec_path: example("2.0/yaml/petstore.yaml"), url: `${api.url}/v2` },
      // Figma's published REST API (OpenAPI 3.1, 54 operations, recursive schemas); its token goes in a header the spec names.
      figma: { spec_path: figmaSpec, url: api.url, static_headers: { "X-Figma-Token": "figd_test_token" } },
    },
  });
});

afterAll(async () => {
  await gateway?.close();
  await api?.close();
});

/** The one request the API received while `run` ran. */
async function arrived<T>(run: () => Promise<T>): Promise<{ result: T; request: RestRequest }> {
  const before = api.requests.length;
  const result = await run();
  expect(api.requests.length, "requests the API received").toBe(before + 1);
  return { result, request: api.last() };
}

const textOf = (result: CallToolResult) => (result.content[0] as { text: string }).text;

describe.each(["petstore30", "petstore31"])("%s (Swagger Petstore, published document)", (server) => {
  let own: Client;
  let aggregate: Client;

  beforeAll(async () => {
    own = await gateway.connect(`/${server}/mcp`);
    aggregate = await gateway.connect("/mcp");
  });

  it("lists the document's 20 operations on /{server}/mcp by their own names, with schemas and annotations", async () => {
    const { tools } = await own.listTools();
    expect(tools).toHaveLength(20);
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["addpet", "getpetbyid", "deletepet", "findpetsbystatus", "getinventory", "loginuser"]));
    const getPetById = tools.find((tool) => tool.name === "getpetbyid")!;
    expect(getPetById.description).toBe("Find pet by ID");
    expect(getPetById.inputSchema).toMatchObject({ type: "object", required: ["petId"], properties: { petId: { type: "integer", format: "int64" } } });
    expect(getPetById.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((tool) => tool.name === "deletepet")!.annotations).toMatchObject({ destructiveHint: true, idempotentHint: true });
  });

  it("lists them prefixed with the server's name on /mcp, beside the other servers' tools", async () => {
    const names = (await aggregate.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining([`${server}-getpetbyid`, `${server}-addpet`, "petstore30-getpetbyid", "petstore31-getpetbyid", "styles-query_form_exploded"]));
    expect(names.filter((name) => name.startsWith(`${server}-`))).toHaveLength(20);
  });

  it("a GET answered with a JSON object: its text and structuredContent, sent as GET /v2/pet/1 with Accept JSON", async () => {
    const { result, request } = await arrived(() => own.callTool({ name: "getpetbyid", arguments: { petId: 1 } }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "GET", rawPath: "/v2/pet/1", rawQuery: "", body: "" });
    expect(request.headers.accept).toBe("application/json, */*;q=0.5");
    expect(result.isError).toBeFalsy();
    expect(JSON.parse(textOf(result))).toEqual({ id: 1, name: "Rex", status: "available", photoUrls: [] });
    expect(result.structuredContent).toEqual({ id: 1, name: "Rex", status: "available", photoUrls: [] });
  });

  it("the same call through /mcp under its prefixed name reaches the same request", async () => {
    const { result, request } = await arrived(() => aggregate.callTool({ name: `${server}-getpetbyid`, arguments: { petId: 1 } }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "GET", rawPath: "/v2/pet/1" });
    expect(result.structuredContent).toMatchObject({ name: "Rex" });
  });

  it("a JSON array answer is text only (structuredContent must be an object); an exploded array query is repeated", async () => {
    const { result, request } = await arrived(() => own.callTool({ name: "findpetsbystatus", arguments: { status: ["available", "sold"] } }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "GET", rawPath: "/v2/pet/findByStatus", rawQuery: "status=available&status=sold" });
    expect(JSON.parse(textOf(result))).toEqual([{ id: 1, name: "Rex", status: "available" }]);
    expect(result.structuredContent).toBeUndefined();
  });

  it("a POST sends the body argument as JSON, readOnly-free, with its content type", async () => {
    const body = { name: "Kitty", photoUrls: ["http://x/y.png"], status: "pending" };
    const { result, request } = await arrived(() => own.callTool({ name: "addpet", arguments: { body } }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "POST", rawPath: "/v2/pet" });
    expect(request.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request.body)).toEqual(body);
    expect(result.structuredContent).toEqual({ id: 3, ...body });
  });

  it("a 404 is a result with isError, the status and the API's body", async () => {
    const { result, request } = await arrived(() => own.callTool({ name: "getpetbyid", arguments: { petId: 99 } }) as Promise<CallToolResult>);
    expect(request.rawPath).toBe("/v2/pet/99");
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('HTTP 404 Not Found: {"code":1,"type":"error","message":"Pet not found"}');
    expect(result.structuredContent).toBeUndefined();
  });

  it("a 500 is a result with isError and the API's text", async () => {
    const { result } = await arrived(() => own.callTool({ name: "getpetbyid", arguments: { petId: 500 } }) as Promise<CallToolResult>);
    expect(result).toMatchObject({ isError: true, content: [{ type: "text", text: "HTTP 500 Internal Server Error: database on fire" }] });
  });

  it("a 204 is the status as text; a DELETE sends its header parameter", async () => {
    const { result, request } = await arrived(() => own.callTool({ name: "deletepet", arguments: { petId: 2, api_key: "delete-me" } }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "DELETE", rawPath: "/v2/pet/2" });
    expect(request.headers.api_key).toBe("delete-me");
    expect(result).toEqual({ content: [{ type: "text", text: "204 No Content" }] });
  });

  it("an image answer is image content, the bytes as sent", async () => {
    const { result } = await arrived(() => own.callTool({ name: "getpetbyid", arguments: { petId: 7 } }) as Promise<CallToolResult>);
    expect(result.content).toEqual([{ type: "image", mimeType: "image/png", data: PNG.toString("base64") }]);
  });

  it("a missing required argument is refused (-32602) before any request", async () => {
    const before = api.requests.length;
    await expect(own.callTool({ name: "getpetbyid", arguments: {} })).rejects.toMatchObject({ code: -32602, message: expect.stringContaining("missing required argument petId") });
    expect(api.requests.length).toBe(before);
  });

  it("/mcp-rest/tools/list lists them by their own names with the server's name; /mcp-rest/tools/call calls one", async () => {
    const listed = await gateway.fetch(`/mcp-rest/tools/list?server_name=${server}`);
    expect(listed.status).toBe(200);
    const { tools } = (await listed.json()) as { tools: Array<{ name: string; mcp_info: { server_name: string } }> };
    expect(tools).toHaveLength(20);
    expect(tools.find((tool) => tool.name === "getinventory")?.mcp_info.server_name).toBe(server);
    const { result, request } = await arrived(async () => {
      const response = await gateway.fetch("/mcp-rest/tools/call", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "getinventory", server_name: server, arguments: {} }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as CallToolResult;
    });
    expect(request).toMatchObject({ method: "GET", rawPath: "/v2/store/inventory" });
    expect(result).toMatchObject({ content: [{ type: "text", text: '{"available":1,"sold":0}' }], structuredContent: { available: 1, sold: 0 } });
  });

  it("/mcp-rest/tools/call with the prefixed name and no server_name; a 404 is an isError result, not an HTTP error", async () => {
    const response = await gateway.fetch("/mcp-rest/tools/call", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: `${server}-getpetbyid`, arguments: { petId: 404 } }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ isError: true, content: [{ type: "text", text: expect.stringMatching(/^HTTP 404 Not Found: /) }] });
    expect(api.last().rawPath).toBe("/v2/pet/404");
  });
});

/**
 * parameters-style.yaml: every style of every location, sent through the gateway, against
 * the Style Examples of the OpenAPI Parameter Object (`color` as a string, an array, an object).
 */
describe("parameter styles (parameters-style.yaml): what reaches the API", () => {
  const color = { primitive: "blue", array: ["blue", "black", "brown"], object: { R: 100, G: 200, B: 150 } };
  /** An object with the keys parameters-style.yaml's object schema declares. */
  const DECLARED = { name: "Rex", description: "good" };
  let styles: Client;

  beforeAll(async () => {
    styles = await gateway.connect("/styles/mcp");
  });

  async function send(tool: string, args: Record<string, unknown> = color): Promise<RestRequest> {
    const { result, request } = await arrived(() => styles.callTool({ name: tool.toLowerCase(), arguments: args }) as Promise<CallToolResult>);
    expect(result.isError, textOf(result)).toBeFalsy();
    return request;
  }

  it.each([
    ["paths_standard", "/anything/path/blue/blue,black,brown/R,100,G,200,B,150"],
    ["paths_simple_nonExploded", "/anything/path/simple/blue/blue,black,brown/R,100,G,200,B,150"],
    ["paths_simple_exploded", "/anything/path/simple/blue/blue,black,brown/R=100,G=200,B=150"],
    ["paths_label_nonExploded", "/anything/path/label/.blue/.blue,black,brown/.R,100,G,200,B,150"],
    ["paths_label_exploded", "/anything/path/label/.blue/.blue.black.brown/.R=100.G=200.B=150"],
    ["paths_matrix_nonExploded", "/anything/path/matrix/;primitive=blue/;array=blue,black,brown/;object=R,100,G,200,B,150"],
    ["paths_matrix_exploded", "/anything/path/matrix/;primitive=blue/;array=blue;array=black;array=brown/;R=100;G=200;B=150"],
  ])("path %s arrives as %s", async (tool, path) => {
    expect(await send(tool)).toMatchObject({ rawPath: path, rawQuery: "" });
  });

  it.each([
    // An exploded form object sends its keys as parameters of their own: only the ones its schema declares (name, description).
    ["query_standard", "/anything/query", "primitive=blue&array=blue&array=black&array=brown&name=Rex&description=good"],
    ["query_form_nonExploded", "/anything/query/form", "primitive=blue&array=blue,black,brown&object=R,100,G,200,B,150"],
    ["query_form_exploded", "/anything/query/form", "primitive=blue&array=blue&array=black&array=brown&name=Rex&description=good"],
    ["query_spaceDelimited_nonExploded", "/anything/query/spaceDelimited", "array=blue%20black%20brown&object=R%20100%20G%20200%20B%20150"],
    ["query_pipeDelimited_nonExploded", "/anything/query/pipeDelimited", "array=blue|black|brown&object=R|100|G|200|B|150"],
    ["query_deepObject_nonExploded", "/anything/query/deepObject", "object[R]=100&object[G]=200&object[B]=150"],
  ])("query %s arrives as %s?%s", async (tool, path, query) => {
    const { primitive, ...rest } = color;
    const exploded = tool.endsWith("_standard") || tool.endsWith("_exploded");
    const args: Record<string, unknown> =
      tool.includes("Delimited") || tool.includes("deepObject") ? (tool.includes("deepObject") ? { object: color.object } : { array: rest.array, object: rest.object }) : { primitive, ...rest, ...(exploded ? { object: DECLARED } : {}) };
    expect(await send(tool, args)).toMatchObject({ rawPath: path, rawQuery: query });
  });

  it.each([
    ["headers_standard", "/anything/headers", { primitive: "blue", array: "blue,black,brown", object: "R,100,G,200,B,150" }],
    ["headers_simple_nonExploded", "/anything/headers/simple", { primitive: "blue", array: "blue,black,brown", object: "R,100,G,200,B,150" }],
    ["headers_simple_exploded", "/anything/headers/simple", { primitive: "blue", array: "blue,black,brown", object: "R=100,G=200,B=150" }],
  ])("header %s arrives on %s as %j", async (tool, path, headers) => {
    const request = await send(tool);
    expect(request.rawPath).toBe(path);
    expect(request.headers).toMatchObject(headers);
  });

  it.each([
    ["cookies_standard", "primitive=blue; array=blue; array=black; array=brown; name=Rex; description=good"],
    ["cookies_form_nonExploded", "primitive=blue; array=blue,black,brown; object=R,100,G,200,B,150"],
    ["cookies_form_exploded", "primitive=blue; array=blue; array=black; array=brown; name=Rex; description=good"],
  ])("cookie %s arrives at /cookies as one Cookie header %s (the path's #fragment is not sent)", async (tool, cookie) => {
    const request = await send(tool, tool.endsWith("_nonExploded") ? color : { ...color, object: DECLARED });
    expect(request.headers.cookie).toBe(cookie);
    expect(request.rawPath).toBe("/cookies");
  });

  it("values that need encoding are percent-encoded in path and query; a '/' in a path value never makes a new segment", async () => {
    const request = await send("paths_simple_nonExploded", { primitive: "a/b c", array: ["x&y"], object: { "k=": "v?" } });
    expect(request.rawPath).toBe("/anything/path/simple/a%2Fb%20c/x%26y/k%3D,v%3F");
    const query = await send("query_form_exploded", { primitive: "é & =" });
    expect(query.rawQuery).toBe("primitive=%C3%A9%20%26%20%3D");
  });
});

/** general_settings.openapi_max_response_bytes, the server's `timeout`, and credentials echoed back. */
describe("limits: answer size, timeout, credentials echoed", () => {
  const SECRET = "sk-upstream-secret-4b1d9e";
  let limitedApi: RestApi;
  let limited: TestGateway;
  let client: Client;
  /** Answers held back until the test ends. */
  let releaseHeld: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (releaseHeld = resolve));

  beforeAll(async () => {
    limitedApi = await startRestApi();
    limitedApi.respond = (request) => {
      const id = /^\/v2\/pet\/(\d+)$/.exec(request.rawPath)?.[1];
      const echo = { received: request.headers.authorization };
      switch (id) {
        case "1":
          return json(200, { id: 1, name: "x".repeat(2000) });
        case "2":
          return held.then(() => json(200, { id: 2 }));
        case "3":
          return { status: 200, headers: { "content-type": "application/json" }, body: '{"id": 3, "name": "', stall: true };
        case "4":
          return json(403, { error: "forbidden", ...echo });
        case "5":
          return json(200, echo);
        default:
          return json(200, { id: Number(id), name: "small" });
      }
    };
    limited = await startTestGateway({
      general: { openapi_max_response_bytes: 1024 },
      servers: { limited: { spec_path: example("3.0/yaml/petstore.yaml"), url: `${limitedApi.url}/v2`, timeout: 0.5, auth_type: "bearer_token", auth_value: SECRET } },
    });
    client = await limited.connect("/limited/mcp");
  });

  afterAll(async () => {
    releaseHeld();
    await limited?.close();
    await limitedApi?.close();
  });

  it("an answer within openapi_max_response_bytes is returned whole", async () => {
    const result = (await client.callTool({ name: "getpetbyid", arguments: { petId: 9 } })) as CallToolResult;
    expect(result.structuredContent).toEqual({ id: 9, name: "small" });
  });

  it("an answer bigger than openapi_max_response_bytes is an isError result naming the limit, never cut JSON", async () => {
    const result = (await client.callTool({ name: "getpetbyid", arguments: { petId: 1 } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe("The API's answer (HTTP 200) is larger than 1024 bytes (general_settings.openapi_max_response_bytes): not returned");
    expect(result.structuredContent).toBeUndefined();
  });

  it("an API that does not answer within the server's timeout: the call fails with upstream_timeout", async () => {
    const failure = await client.callTool({ name: "getpetbyid", arguments: { petId: 2 } }, undefined, { timeout: 10_000 }).then(
      (result) => ({ result }),
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ message: expect.stringContaining("did not answer within 0.5 s") });
  });

  it("an answer whose body stops after the headers fails with upstream_timeout within the server's timeout (it waited until the client gave up)", async () => {
    const failure = await client.callTool({ name: "getpetbyid", arguments: { petId: 3 } }, undefined, { timeout: 10_000 }).then(
      (result) => ({ result }),
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ message: expect.stringContaining("did not answer within 0.5 s") });
  });

  it("the credential the API received, echoed in an error body, is masked in the result", async () => {
    const result = (await client.callTool({ name: "getpetbyid", arguments: { petId: 4 } })) as CallToolResult;
    expect(limitedApi.last().headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('HTTP 403 Forbidden: {"error":"forbidden","received":"Bearer ****9e"}'.replace("****9e", `****${SECRET.slice(-4)}`));
    expect(JSON.stringify(result)).not.toContain(SECRET);
  });

  it("echoed in a 2xx JSON answer, it is masked in the text and in structuredContent", async () => {
    const result = (await client.callTool({ name: "getpetbyid", arguments: { petId: 5 } })) as CallToolResult;
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(result.structuredContent).toEqual({ received: `Bearer ****${SECRET.slice(-4)}` });
  });
});

describe("other published documents, and the gateway's other views of an OpenAPI server", () => {
  it("Swagger 2.0 (the Petstore's 2.0 document, converted when read): its operations served and called", async () => {
    const client = await gateway.connect("/petstore20/mcp");
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(20);
    const { result, request } = await arrived(() => client.callTool({ name: "getpetbyid", arguments: { petId: 1 } }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "GET", rawPath: "/v2/pet/1" });
    expect(result.structuredContent).toMatchObject({ id: 1, name: "Rex" });
  });

  it("Figma's REST API (OpenAPI 3.1, recursive schemas): 54 tools, a call with the token header the operator configured", async () => {
    const client = await gateway.connect("/figma/mcp");
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(54);
    expect(tools.find((tool) => tool.name === "getfile")?.inputSchema.required).toEqual(["file_key"]);
    const { result, request } = await arrived(() => client.callTool({ name: "getme", arguments: {} }) as Promise<CallToolResult>);
    expect(request).toMatchObject({ method: "GET", rawPath: "/v1/me" });
    expect(request.headers["x-figma-token"]).toBe("figd_test_token");
    expect(result.isError).not.toBe(true);
  });

  it("/v1/mcp/tools lists its tools prefixed, the health check calls it healthy, and the UI's tools page lists them", async () => {
    const listed = (await (await gateway.fetch("/v1/mcp/tools")).json()) as { tools: Array<{ name: string }> };
    expect(listed.tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["petstore30-getpetbyid", "figma-getme"]));
    const health = JSON.stringify(await (await gateway.fetch("/v1/mcp/server/health?server_ids=petstore30")).json());
    expect(health).toContain('"server_name":"petstore30","status":"healthy","loaded":true,"tools":20');
    const cookie = await signInToUi(gateway.url, gateway.masterKey);
    const page = await fetch(new URL("/ui/mcp/servers/petstore30/tools", gateway.url), { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Find pet by ID");
  });
});
