import { beforeAll, describe, expect, it } from "vitest";
import { loadSpec } from "../../../src/openapi/load.js";
import { buildHttpCall } from "../../../src/openapi/request.js";
import { ArgumentError, type CompiledOperation, type CompiledParameter, type LoadedSpec } from "../../../src/openapi/types.js";
import { example, fixture, label } from "./specs.js";

/** The Style Examples of the OpenAPI Parameter Object: `color` as a string, an array and an object. */
const color = { primitive: "blue", array: ["blue", "black", "brown"], object: { R: 100, G: 200, B: 150 } };

let styles: LoadedSpec;
let notes: LoadedSpec;
beforeAll(async () => {
  [styles, notes] = await Promise.all([
    loadSpec({ specPath: example("3.0/yaml/parameters-style.yaml"), label, baseUrl: "https://api.example/base/" }),
    loadSpec({ specPath: fixture("notes.yaml"), label }),
  ]);
});

function operation(spec: LoadedSpec, name: string): CompiledOperation {
  const found = spec.byName.get(name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
}

function argumentError(run: () => unknown): string {
  let error: unknown;
  try {
    run();
  } catch (thrown) {
    error = thrown;
  }
  expect(error).toBeInstanceOf(ArgumentError);
  return (error as ArgumentError).message;
}

/**
 * An exploded form object's keys become parameters of their own, so only its schema's
 * properties are sent: parameters-style.yaml declares `name` and `description` there, not R, G, B.
 */
const declared = { name: "sky", description: "blue" };

function argsFor(op: CompiledOperation): Record<string, unknown> {
  const exploded = (parameter: CompiledParameter) => (parameter.in === "query" || parameter.in === "cookie") && parameter.style === "form" && parameter.explode;
  return Object.fromEntries(op.parameters.map((parameter) => [parameter.argument, parameter.name === "object" && exploded(parameter) ? declared : color[parameter.name as keyof typeof color]]));
}

describe("parameter styles: every style × explode of parameters-style.yaml against the Style Examples table (OpenAPI 3.1.1, RFC 6570)", () => {
  const paths: Record<string, string> = {
    paths_standard: "blue/blue,black,brown/R,100,G,200,B,150",
    paths_simple_nonExploded: "blue/blue,black,brown/R,100,G,200,B,150",
    paths_simple_exploded: "blue/blue,black,brown/R=100,G=200,B=150",
    paths_label_nonExploded: ".blue/.blue,black,brown/.R,100,G,200,B,150",
    paths_label_exploded: ".blue/.blue.black.brown/.R=100.G=200.B=150",
    paths_matrix_nonExploded: ";primitive=blue/;array=blue,black,brown/;object=R,100,G,200,B,150",
    paths_matrix_exploded: ";primitive=blue/;array=blue;array=black;array=brown/;R=100;G=200;B=150",
  };
  for (const [name, expected] of Object.entries(paths)) {
    it(`path ${name}: ${expected}`, () => {
      const op = operation(styles, name.toLowerCase());
      const call = buildHttpCall(op, argsFor(op));
      expect(op.path).toMatch(/\/\{primitive\}\/\{array\}\/\{object\}$/);
      expect(call.url.pathname).toBe(`/base${op.path.replace("{primitive}/{array}/{object}", expected)}`);
      expect(call.url.search).toBe("");
    });
  }

  const queries: Record<string, string> = {
    query_standard: "primitive=blue&array=blue&array=black&array=brown&name=sky&description=blue",
    query_form_exploded: "primitive=blue&array=blue&array=black&array=brown&name=sky&description=blue",
    query_form_nonExploded: "primitive=blue&array=blue,black,brown&object=R,100,G,200,B,150",
    query_spaceDelimited_nonExploded: "array=blue%20black%20brown&object=R%20100%20G%20200%20B%20150",
    query_pipeDelimited_nonExploded: "array=blue|black|brown&object=R|100|G|200|B|150",
    query_deepObject_nonExploded: "object[R]=100&object[G]=200&object[B]=150",
  };
  for (const [name, expected] of Object.entries(queries)) {
    it(`query ${name}: ${expected}`, () => {
      const op = operation(styles, name.toLowerCase());
      expect(buildHttpCall(op, argsFor(op)).url.search).toBe(`?${expected}`);
    });
  }

  const headers: Record<string, Record<string, string>> = {
    headers_standard: { primitive: "blue", array: "blue,black,brown", object: "R,100,G,200,B,150" },
    headers_simple_nonExploded: { primitive: "blue", array: "blue,black,brown", object: "R,100,G,200,B,150" },
    headers_simple_exploded: { primitive: "blue", array: "blue,black,brown", object: "R=100,G=200,B=150" },
  };
  for (const [name, expected] of Object.entries(headers)) {
    it(`header ${name}: ${JSON.stringify(expected)}`, () => {
      const op = operation(styles, name.toLowerCase());
      expect(buildHttpCall(op, argsFor(op)).headers).toEqual({ accept: "application/json, */*;q=0.5", ...expected });
    });
  }

  const cookies: Record<string, string> = {
    cookies_standard: "primitive=blue; array=blue; array=black; array=brown; name=sky; description=blue",
    cookies_form_exploded: "primitive=blue; array=blue; array=black; array=brown; name=sky; description=blue",
    cookies_form_nonExploded: "primitive=blue; array=blue,black,brown; object=R,100,G,200,B,150",
  };
  for (const [name, expected] of Object.entries(cookies)) {
    it(`cookie ${name}: ${expected}`, () => {
      const op = operation(styles, name.toLowerCase());
      expect(buildHttpCall(op, argsFor(op)).headers.cookie).toBe(expected);
    });
  }

  it("a path's #fragment is not sent: cookies_form_exploded (/cookies#formExploded) goes to /cookies, not /cookies%23formExploded", () => {
    const op = operation(styles, "cookies_form_exploded");
    expect(op.path).toBe("/cookies#formExploded");
    const call = buildHttpCall(op, { primitive: "blue" });
    expect(call.url.href).toBe("https://api.example/base/cookies");
  });

  it("an exploded form object's undeclared keys (the table's R, G, B) are refused: they would be parameters of their own", () => {
    const op = operation(styles, "query_form_exploded");
    expect(argumentError(() => buildHttpCall(op, { object: color.object }))).toBe("object: R, G, B would be sent as query parameters of their own; its schema declares name, description");
  });

  it("the table's empty column: an empty string is sent as ;name and name=; label's lone . is refused (URL parsing drops it)", () => {
    const matrix = operation(styles, "paths_matrix_nonexploded");
    const label_ = operation(styles, "paths_label_exploded");
    expect(buildHttpCall(matrix, { primitive: "", array: [], object: {} }).url.pathname).toMatch(/\/;primitive\/;array=\/;object=$/);
    expect(argumentError(() => buildHttpCall(label_, { primitive: "", array: ["x"], object: { a: 1 } }))).toBe(
      'a path parameter makes a "." or ".." segment: /anything/path/label/./.x/.a=1',
    );
    expect(buildHttpCall(operation(styles, "query_form_nonexploded"), { primitive: "" }).url.search).toBe("?primitive=");
  });

  it("the multipart bodies of parameters-style are operations without a body argument, each with a warning", () => {
    expect(operation(styles, "formdata_standard").body).toBeUndefined();
    expect(styles.warnings.filter((warning) => warning.includes("multipart/form-data"))).toHaveLength(6);
  });
});

describe("buildHttpCall on notes.yaml", () => {
  it("falsy values (0, false, \"\") are sent; absent and null ones are not", () => {
    const call = buildHttpCall(operation(notes, "listnotes"), { limit: 0, archived: false, q: "", next: null });
    expect(call.url.href).toBe("https://notes.example/api/notes?limit=0&archived=false&q=");
    expect(call.method).toBe("GET");
    expect(call.body).toBeUndefined();
    expect(call.headers).toEqual({ accept: "application/json, */*;q=0.5" });
  });

  it("a path parameter 0 is substituted (LiteLLM leaves {id} in the URL)", () => {
    expect(buildHttpCall(operation(notes, "delete__notes__id_"), { id: 0 }).url.pathname).toBe("/api/notes/0");
  });

  it("path values are percent-encoded: a slash cannot reach another path", () => {
    const call = buildHttpCall(operation(notes, "listnotes_2"), { name: "../a/b?c#d é" });
    expect(call.url.pathname).toBe("/api/files/..%2Fa%2Fb%3Fc%23d%20%C3%A9.json");
    expect(call.url.search).toBe("");
  });

  it("a path value of . or .. is refused (URL parsing would remove the segment)", () => {
    const op = operation(notes, "delete__notes__id_");
    expect(argumentError(() => buildHttpCall(op, { id: ".." }))).toBe('a path parameter makes a "." or ".." segment: /notes/..');
    expect(argumentError(() => buildHttpCall(op, { id: "." }))).toBe('a path parameter makes a "." or ".." segment: /notes/.');
    expect(buildHttpCall(operation(notes, "listnotes_2"), { name: ".." }).url.pathname).toBe("/api/files/...json");
  });

  it("a missing required argument and an unknown one are named", () => {
    expect(argumentError(() => buildHttpCall(operation(notes, "getnote"), { id__query: "x" }))).toBe("missing required argument id__path (path parameter id)");
    expect(argumentError(() => buildHttpCall(operation(notes, "createnote"), {}))).toBe("missing required argument body (the request body)");
    expect(argumentError(() => buildHttpCall(operation(notes, "listnotes"), { limit: 1, colour: "red", size: 2 }))).toBe(
      "unknown arguments colour, size (this tool takes: limit, archived, q, filter_tag_, where, next)",
    );
  });

  it("name__in arguments go to their own locations; header and cookie parameters are sent", () => {
    const call = buildHttpCall(operation(notes, "getnote"), { id__path: 7, id__query: "seven", "X-Trace": "t-1", session: "a b;c" });
    expect(call.url.href).toBe("https://notes.example/api/notes/7?id=seven");
    expect(call.headers).toEqual({ accept: "application/json, */*;q=0.5", "x-trace": "t-1", cookie: "session=a%20b%3Bc" });
  });

  it("a header value with a line break is refused", () => {
    expect(argumentError(() => buildHttpCall(operation(notes, "getnote"), { id__path: 1, "X-Trace": "a\r\nx-evil: 1" }))).toBe(
      "X-Trace: a header value cannot contain line breaks",
    );
  });

  it("query names and values are encoded; allowReserved keeps reserved characters but not & # = +; content-typed parameters are JSON", () => {
    const call = buildHttpCall(operation(notes, "listnotes"), { filter_tag_: "a&b=c", where: { tag: "work" }, next: "/a/b?c=d&e#f+g%20h%zz" });
    expect(call.url.search).toBe("?filter%5Btag%5D=a%26b%3Dc&where=%7B%22tag%22%3A%22work%22%7D&next=/a/b?c%3Dd%26e%23f%2Bg%20h%25zz");
  });

  it("a JSON body is sent with its media type; a stringified object is sent as that object", () => {
    const create = buildHttpCall(operation(notes, "createnote"), { body: { text: "hi", tags: null } });
    expect(create).toMatchObject({ method: "POST", body: '{"text":"hi","tags":null}' });
    expect(create.headers["content-type"]).toBe("application/json");
    const replace = buildHttpCall(operation(notes, "replace_note"), { id: 3, body__query: "q", body: '{"text":"x"}' });
    expect(replace.url.href).toBe("https://notes.example/api/notes/3?body=q");
    expect(replace).toMatchObject({ method: "PUT", body: '{"text":"x"}' });
    expect(replace.headers["content-type"]).toBe("application/merge-patch+json");
    expect(buildHttpCall(operation(notes, "replace_note"), { id: 3 }).body).toBeUndefined();
  });

  it("a form-urlencoded body (USPTO's search)", async () => {
    const uspto = await loadSpec({ specPath: example("3.0/yaml/uspto.yaml"), label });
    const call = buildHttpCall(operation(uspto, "perform-search"), { version: "v1", dataset: "oa_citations", body: { criteria: "*:*", start: 0, rows: 100 } });
    expect(call.url.href).toBe("https://developer.uspto.gov/ds-api/oa_citations/v1/records");
    expect(call.body).toBe("criteria=*%3A*&start=0&rows=100");
    expect(call.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(argumentError(() => buildHttpCall(operation(uspto, "perform-search"), { version: "v1", dataset: "x", body: [1] }))).toBe("body: a form body must be an object");
  });

  it("the base URL's path and query are kept", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label, baseUrl: "http://127.0.0.1:8080/v9?tenant=a" });
    expect(buildHttpCall(operation(spec, "listnotes"), { limit: 5 }).url.href).toBe("http://127.0.0.1:8080/v9/notes?tenant=a&limit=5");
  });
});
