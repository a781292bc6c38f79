import { describe, expect, it } from "vitest";
import { loadSpec } from "../../../src/openapi/load.js";
import type { LoadedSpec } from "../../../src/openapi/types.js";
import { example, figmaSpec, fixture, label, specError } from "./specs.js";

const names = (spec: LoadedSpec) => spec.operations.map((operation) => operation.tool.name);
const tool = (spec: LoadedSpec, name: string) => {
  const operation = spec.byName.get(name);
  if (!operation) throw new Error(`no tool ${name} in ${names(spec).join(", ")}`);
  return operation;
};

describe("loadSpec on real documents", () => {
  it("Swagger Petstore, OpenAPI 3.0: 20 operations named as LiteLLM names them, base URL from servers[0]", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/petstore.yaml"), label });
    expect(spec.operations).toHaveLength(20);
    expect(spec.baseUrl.href).toBe("http://petstore.swagger.io/v2");
    expect(names(spec)).toEqual(expect.arrayContaining(["addpet", "updatepet", "findpetsbystatus", "getpetbyid", "deletepet", "uploadfile", "loginuser"]));
    expect(spec.title).toBe("Swagger Petstore");
    const getPet = tool(spec, "getpetbyid");
    expect(getPet.operationId).toBe("getPetById");
    expect(getPet.tool.inputSchema.required).toEqual(["petId"]);
    expect(getPet.tool.inputSchema.properties?.petId).toMatchObject({ type: "integer", format: "int64", description: "ID of pet to return" });
    expect(getPet.tool.annotations).toMatchObject({ readOnlyHint: true, title: "Find pet by ID" });
    expect(tool(spec, "deletepet").tool.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
    expect(tool(spec, "updatepet").tool.annotations).toMatchObject({ readOnlyHint: false, idempotentHint: true });
    expect(tool(spec, "updatepet").tool.annotations?.destructiveHint).toBeUndefined();
    // addPet's body: the Pet schema inlined, with its required list (LiteLLM loses both).
    const addPet = tool(spec, "addpet");
    expect(addPet.body).toEqual({ argument: "body", mediaType: "application/json", required: true });
    const body = addPet.tool.inputSchema.properties?.body as Record<string, unknown>;
    expect(body.required).toEqual(["name", "photoUrls"]);
    expect(body.properties).toHaveProperty("category.properties.name");
    expect(JSON.stringify(spec.operations.map((operation) => operation.tool))).not.toContain("$ref");
    // findPetsByStatus: an enum array query parameter keeps its items, enum and default.
    expect(tool(spec, "findpetsbystatus").tool.inputSchema.properties?.status).toMatchObject({
      type: "array",
      items: { type: "string", enum: ["available", "pending", "sold"], default: "available" },
    });
  });

  it("Swagger Petstore, OpenAPI 3.1: the same 20 tools", async () => {
    const [v30, v31] = await Promise.all([
      loadSpec({ specPath: example("3.0/yaml/petstore.yaml"), label }),
      loadSpec({ specPath: example("3.1/yaml/petstore.yaml"), label }),
    ]);
    expect(names(v31)).toEqual(names(v30));
    expect(v31.baseUrl.href).toBe("http://petstore.swagger.io/v2");
  });

  it("Swagger Petstore, Swagger 2.0: converted to OpenAPI 3.0, base URL from schemes/host/basePath", async () => {
    const spec = await loadSpec({ specPath: example("2.0/yaml/petstore.yaml"), label });
    expect(spec.operations).toHaveLength(20);
    expect(spec.baseUrl.href).toBe("http://petstore.swagger.io/v2");
    // 2.0's `in: body` parameter becomes the body argument; formData becomes a form-urlencoded body.
    expect(tool(spec, "addpet").body).toMatchObject({ argument: "body", mediaType: "application/json", required: true });
    expect(tool(spec, "updatepetwithform").body).toMatchObject({ mediaType: "application/x-www-form-urlencoded" });
    expect(tool(spec, "findpetsbystatus").parameters[0]).toMatchObject({ name: "status", in: "query", style: "form", explode: true });
  });

  it("petstore-expanded: an operationId with spaces is sanitised (find pet by id → find_pet_by_id)", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/petstore-expanded.yaml"), label });
    expect(names(spec)).toEqual(["findpets", "addpet", "find_pet_by_id", "deletepet"]);
    expect(tool(spec, "findpets").tool.inputSchema.properties?.tags).toMatchObject({ type: "array", items: { type: "string" } });
  });

  it("petstore-simple has no operationIds: names are {method}_{path}, sanitised", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/petstore-simple.yaml"), label });
    expect(spec.operations.every((operation) => operation.operationId === undefined)).toBe(true);
    expect(names(spec)).toEqual(["get__pet__id_", "put__pet__id_"]);
    for (const name of names(spec)) expect(name).toMatch(/^[a-z0-9_-]+$/);
  });

  it("USPTO: the server variable {scheme} takes its default; the form-urlencoded search body is a tool argument", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/uspto.yaml"), label });
    expect(spec.baseUrl.href).toBe("https://developer.uspto.gov/ds-api");
    expect(names(spec)).toEqual(["list-data-sets", "list-searchable-fields", "perform-search"]);
    const search = tool(spec, "perform-search");
    expect(search.body).toEqual({ argument: "body", mediaType: "application/x-www-form-urlencoded", required: false });
    expect(search.tool.inputSchema.properties?.body).toMatchObject({ type: "object", required: ["criteria"] });
  });

  it("schema-circular: a recursive schema is inlined once, its recursion a plain object that says so", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/schema-circular.yaml"), label });
    const text = JSON.stringify(spec.operations.map((operation) => operation.tool));
    expect(text).not.toContain("$ref");
    expect(text).toContain("(recursive: its schema is not repeated here)");
  });

  it("webhooks only (3.1): loads with no tools and a warning", async () => {
    const spec = await loadSpec({ specPath: example("3.1/yaml/webhooks.yaml"), label, baseUrl: "https://hooks.example" });
    expect(spec.operations).toEqual([]);
    expect(spec.warnings).toEqual([expect.stringContaining("the document has no operations")]);
  });

  it("Figma's REST API (3.1, circular schemas): 54 tools, every schema self-contained and serialisable", async () => {
    const spec = await loadSpec({ specPath: figmaSpec, label });
    expect(spec.operations).toHaveLength(54);
    expect(spec.baseUrl.href).toBe("https://api.figma.com/");
    const tools = spec.operations.map((operation) => operation.tool);
    expect(JSON.stringify(tools)).not.toContain("$ref");
    expect(new Set(names(spec)).size).toBe(54);
    expect(names(spec)).toContain("getfile");
    for (const name of names(spec)) expect(name.length).toBeLessThanOrEqual(128);
  });
});

describe("loadSpec: the project's own spec (test/fixtures/openapi/notes.yaml)", () => {
  it("names: sanitised, lowercased, and a collision gets _2 in document order", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label });
    expect(names(spec)).toEqual(["listnotes", "createnote", "getnote", "replace_note", "delete__notes__id_", "upload_attachment", "listnotes_2"]);
    expect(tool(spec, "listnotes_2").path).toBe("/files/{name}.json");
    expect(spec.baseUrl.href).toBe("https://notes.example/api");
    expect(spec.version).toBe("1.2.0");
  });

  it("a name clash between locations gives name__in; a query parameter called body beside a body is body__query", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label });
    const getNote = tool(spec, "getnote");
    expect(Object.keys(getNote.tool.inputSchema.properties ?? {})).toEqual(["id__path", "id__query", "X-Trace", "session"]);
    expect(getNote.tool.inputSchema.required).toEqual(["id__path"]);
    const replace = tool(spec, "replace_note");
    expect(Object.keys(replace.tool.inputSchema.properties ?? {})).toEqual(["id", "body__query", "body"]);
    expect(replace.body?.mediaType).toBe("application/merge-patch+json");
  });

  it("the Accept header parameter is not an argument (OpenAPI: ignored); filter[tag] becomes filter_tag_; a $ref'd parameter keeps minimum, default and description", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label });
    const list = tool(spec, "listnotes");
    expect(Object.keys(list.tool.inputSchema.properties ?? {})).toEqual(["limit", "archived", "q", "filter_tag_", "where", "next"]);
    expect(list.parameters.find((parameter) => parameter.argument === "filter_tag_")?.name).toBe("filter[tag]");
    expect(list.parameters.find((parameter) => parameter.name === "where")).toMatchObject({ json: true });
    expect(list.tool.inputSchema.properties?.where).toEqual({ type: "object" });
    expect(list.tool.inputSchema.properties?.limit).toEqual({ type: "integer", minimum: 0, default: 20, description: "How many notes." });
  });

  it("the body schema: readOnly properties dropped (also from required), nullable as a type array, example as examples", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label });
    expect(tool(spec, "createnote").tool.inputSchema.properties?.body).toEqual({
      type: "object",
      required: ["text"],
      properties: {
        text: { type: "string" },
        tags: { type: ["array", "null"], items: { type: "string", enum: ["work", "home"], examples: ["work"] } },
      },
    });
  });

  it("descriptions: summary, else description, else METHOD /path; deprecated noted", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label });
    expect(tool(spec, "listnotes").tool.description).toBe("List notes");
    expect(tool(spec, "getnote").tool.description).toBe("Fetch one note, with its text.");
    expect(tool(spec, "replace_note").tool.description).toBe("PUT /notes/{id}");
    expect(tool(spec, "delete__notes__id_").tool.description).toBe("(deprecated) DELETE /notes/{id}");
  });

  it("a multipart body: the operation is still a tool, without a body argument, and the operator is warned", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label });
    expect(tool(spec, "upload_attachment").body).toBeUndefined();
    expect(Object.keys(tool(spec, "upload_attachment").tool.inputSchema.properties ?? {})).toEqual(["id", "body"]);
    expect(spec.warnings).toEqual([`${label}: ${fixture("notes.yaml")}: POST /notes/{id}/attachments: request body multipart/form-data is not sent (only JSON and form-urlencoded bodies are); the tool has no body argument`]);
  });

  it("maxToolName leaves room for the gateway's prefix; suffixes stay within it", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label }, { maxToolName: 8 });
    expect(names(spec)).toEqual(["listnote", "createno", "getnote", "replace_", "delete__", "upload_a", "listno_2"]);
  });

  it("url (the config's) wins over servers[0]", async () => {
    const spec = await loadSpec({ specPath: fixture("notes.yaml"), label, baseUrl: "http://127.0.0.1:8080/notes/" });
    expect(spec.baseUrl.href).toBe("http://127.0.0.1:8080/notes");
    expect(spec.operations.every((operation) => operation.baseUrl.href === "http://127.0.0.1:8080/notes")).toBe(true);
  });

  it("a relative spec_path is read from the working directory", async () => {
    const spec = await loadSpec({ specPath: "test/fixtures/openapi/notes.yaml", label });
    expect(spec.operations).toHaveLength(7);
  });
});

describe("loadSpec: operations filter", () => {
  it("keeps the operations named by operationId or METHOD /path (method in any case), in document order", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/petstore.yaml"), label, operations: ["get /pet/{petId}", "addPet", "DELETE /store/order/{orderId}"] });
    expect(names(spec)).toEqual(["addpet", "getpetbyid", "deleteorder"]);
  });

  it("an entry that matches nothing is an error listing what exists", async () => {
    const message = await specError(loadSpec({ specPath: example("3.0/yaml/petstore-expanded.yaml"), label, operations: ["findPets", "getPets"] }));
    expect(message).toBe(
      `${label}: ${example("3.0/yaml/petstore-expanded.yaml")}: operations: "getPets" matches no operation; the document has: findPets (GET /pets), addPet (POST /pets), find pet by id (GET /pets/{id}), deletePet (DELETE /pets/{id})`,
    );
  });

  it("lists at most 20 operations", async () => {
    const message = await specError(loadSpec({ specPath: figmaSpec, label, operations: ["nope"] }));
    expect(message).toMatch(/, and 34 more$/);
  });
});

describe("loadSpec: specs that cannot be served", () => {
  it("a dangling $ref names the file and the JSON pointer of the reference", async () => {
    const message = await specError(loadSpec({ specPath: fixture("dangling-ref.yaml"), label }));
    expect(message).toBe(
      `${label}: ${fixture("dangling-ref.yaml")}: #/paths/~1pets/get/parameters/0: Missing $ref pointer "#/components/parameters/missing". Token "missing" does not exist.`,
    );
  });

  it("invalid YAML names the line", async () => {
    const message = await specError(loadSpec({ specPath: fixture("invalid.yaml"), label }));
    expect(message).toBe(
      `${label}: ${fixture("invalid.yaml")}: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 5, column 1`,
    );
  });

  it("a document that breaks the OpenAPI schema names the problem and the offending line", async () => {
    const message = await specError(loadSpec({ specPath: fixture("schema-invalid.yaml"), label }));
    expect(message).toBe(`${label}: ${fixture("schema-invalid.yaml")}: TYPE must be object at "responses": 5`);
  });

  it("a missing file, a non-OpenAPI document and OpenAPI 2.x/4 are errors", async () => {
    expect(await specError(loadSpec({ specPath: fixture("none.yaml"), label }))).toBe(`${label}: ${fixture("none.yaml")}: cannot read the file (ENOENT)`);
    expect(await specError(loadSpec({ specPath: fixture("../../../package.json"), label }))).toMatch(/: not an OpenAPI 3\.0\/3\.1 or Swagger 2\.0 document \(no openapi or swagger field\)$/);
  });

  it("an operation's servers on another origin is refused unless allowed", async () => {
    const message = await specError(loadSpec({ specPath: fixture("foreign-operation-server.yaml"), label }));
    expect(message).toBe(
      `${label}: ${fixture("foreign-operation-server.yaml")}: #/paths/~1upload/post/servers/0: https://uploads.elsewhere.example is not the base URL's origin (https://api.example); remove it from operations, or set openapi_allow_other_hosts: true`,
    );
    const allowed = await loadSpec({ specPath: fixture("foreign-operation-server.yaml"), label, allowOtherHosts: true });
    expect(tool(allowed, "upload").baseUrl.href).toBe("https://uploads.elsewhere.example/v1");
    expect(tool(allowed, "same").baseUrl.href).toBe("https://api.example/");
    const filtered = await loadSpec({ specPath: fixture("foreign-operation-server.yaml"), label, operations: ["same"] });
    expect(names(filtered)).toEqual(["same"]);
  });

  it("server-path-level: a relative path-level server is resolved against the base URL", async () => {
    const spec = await loadSpec({ specPath: example("3.0/yaml/server-path-level.yaml"), label, operations: ["GET /relative-path-server"] });
    expect(spec.baseUrl.href).toBe("https://demo.example.com/v2");
    expect(spec.operations[0]?.baseUrl.href).toBe("https://demo.example.com/v2");
  });

  it("a file spec with a relative server url needs url", async () => {
    const message = await specError(loadSpec({ specPath: fixture("relative-server.yaml"), label }));
    expect(message).toBe(`${label}: ${fixture("relative-server.yaml")}: #/servers/0: the server url "/api/v3" is relative and the document is a file; set url`);
  });
});
