import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSpec } from "../../../src/openapi/load.js";
import { listenOnLoopback } from "../../fixtures/loopback.js";
import { example, fixture, label, specError } from "./specs.js";

const notes = readFileSync(fixture("notes.yaml"), "utf8");
const expanded = readFileSync(example("3.0/yaml/petstore-expanded.yaml"), "utf8");
const relative = readFileSync(fixture("relative-server.yaml"), "utf8");
const served: string[] = [];

const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
  "/notes.yaml": (_request, response) => response.writeHead(200, { "content-type": "application/yaml" }).end(notes),
  "/as-json-but-yaml": (_request, response) => response.writeHead(200, { "content-type": "application/json" }).end(relative),
  "/no-servers.json": (_request, response) =>
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ openapi: "3.1.0", info: { title: "t", version: "1" }, paths: { "/ping": { get: { operationId: "ping", responses: { 200: { description: "OK" } } } } } })),
  "/expanded.yaml": (_request, response) => response.writeHead(200, { "content-type": "text/plain" }).end(expanded),
  "/moved": (_request, response) => response.writeHead(302, { location: "/notes.yaml" }).end(),
  "/huge-declared": (_request, response) => response.writeHead(200, { "content-length": String(2048) }).end("x".repeat(2048)),
  "/huge-streamed": (_request, response) => {
    response.writeHead(200, { "content-type": "application/yaml" });
    response.write(`openapi: 3.0.3\n# ${"x".repeat(900)}\n`);
    response.end(`# ${"y".repeat(900)}\n`);
  },
  "/gone": (_request, response) => response.writeHead(404).end("no"),
};
let origin = "";
const server = createServer((request, response) => {
  served.push(`${request.method} ${request.url} accept=${request.headers.accept}`);
  const route = routes[new URL(request.url ?? "/", "http://x").pathname];
  if (route) route(request, response);
  else response.writeHead(404).end();
});

beforeAll(async () => {
  origin = await listenOnLoopback(server);
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("loadSpec from an http URL", () => {
  it("reads YAML served as YAML; servers[0] on another origin than the document is refused without url", async () => {
    const message = await specError(loadSpec({ specPath: `${origin}/notes.yaml`, label }));
    expect(message).toBe(
      `${label}: ${origin}/notes.yaml: #/servers/0: https://notes.example is not the origin the document came from (${origin}); set url, or openapi_allow_other_hosts: true`,
    );
    expect(served.at(-1)).toBe("GET /notes.yaml accept=application/json, application/yaml;q=0.9, */*;q=0.5");
    const allowed = await loadSpec({ specPath: `${origin}/notes.yaml`, label, allowOtherHosts: true });
    expect(allowed.baseUrl.href).toBe("https://notes.example/api");
    const withUrl = await loadSpec({ specPath: `${origin}/notes.yaml`, label, baseUrl: "http://127.0.0.1:9/api" });
    expect(withUrl.operations).toHaveLength(7);
  });

  it("parses by content, not by content type: YAML labelled application/json, YAML as text/plain", async () => {
    const spec = await loadSpec({ specPath: `${origin}/as-json-but-yaml`, label });
    expect(spec.operations.map((operation) => operation.tool.name)).toEqual(["get__ping"]);
    const text = await loadSpec({ specPath: `${origin}/expanded.yaml`, label, baseUrl: "https://petstore.example" });
    expect(text.operations).toHaveLength(4);
  });

  it("a relative servers[0] is resolved against the document's URL; no servers means the document's origin", async () => {
    const spec = await loadSpec({ specPath: `${origin}/as-json-but-yaml`, label });
    expect(spec.baseUrl.href).toBe(`${origin}/api/v3`);
    const none = await loadSpec({ specPath: `${origin}/no-servers.json?token=secret`, label });
    expect(none.baseUrl.href).toBe(`${origin}/`);
  });

  it("a redirect is refused, not followed", async () => {
    const before = served.length;
    const message = await specError(loadSpec({ specPath: `${origin}/moved`, label }));
    expect(message).toBe(`${label}: ${origin}/moved: the server answered 302 (a redirect); redirects are not followed: set spec_path to the final URL`);
    expect(served.slice(before)).toEqual([expect.stringMatching(/^GET \/moved /)]);
  });

  it("a document over the byte limit is refused, by its Content-Length or while streaming", async () => {
    expect(await specError(loadSpec({ specPath: `${origin}/huge-declared`, label }, { maxSpecBytes: 1024 }))).toBe(
      `${label}: ${origin}/huge-declared: the document has 2048 bytes, more than the 1024 a spec may have`,
    );
    expect(await specError(loadSpec({ specPath: `${origin}/huge-streamed`, label }, { maxSpecBytes: 1024 }))).toBe(
      `${label}: ${origin}/huge-streamed: the document is larger than the 1024 bytes a spec may have`,
    );
  });

  it("an error status, and a server that does not answer in time, are errors; the URL's query is not repeated", async () => {
    expect(await specError(loadSpec({ specPath: `${origin}/gone?key=secret`, label }))).toBe(`${label}: ${origin}/gone?…: the server answered 404 Not Found`);
    const never: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal?.reason as Error)));
    expect(await specError(loadSpec({ specPath: `${origin}/slow`, label }, { fetch: never, fetchTimeoutMs: 5 }))).toBe(`${label}: ${origin}/slow: no answer within 5 ms`);
  });

  it("a file that is too large is refused before it is read", async () => {
    expect(await specError(loadSpec({ specPath: fixture("notes.yaml"), label }, { maxSpecBytes: 100 }))).toMatch(/: the file has \d+ bytes, more than the 100 a spec may have$/);
  });
});
