import { describe, expect, it } from "vitest";
import { toolResult } from "../../../src/openapi/result.js";

const answer = (status: number, contentType: string | undefined, body: string | Buffer) => ({
  status,
  contentType,
  body: typeof body === "string" ? Buffer.from(body) : body,
});

describe("toolResult", () => {
  it("2xx JSON object: the body as received, and structuredContent", () => {
    expect(toolResult(answer(200, "application/json; charset=utf-8", '{"id": 1,\n "name":"Rex"}'))).toEqual({
      content: [{ type: "text", text: '{"id": 1,\n "name":"Rex"}' }],
      structuredContent: { id: 1, name: "Rex" },
    });
  });

  it("2xx JSON array or scalar, and +json types: text only", () => {
    expect(toolResult(answer(200, "application/json", "[1,2]"))).toEqual({ content: [{ type: "text", text: "[1,2]" }] });
    expect(toolResult(answer(200, "application/vnd.api+json", '{"data":[]}')).structuredContent).toEqual({ data: [] });
    expect(toolResult(answer(200, "application/json", "not json"))).toEqual({ content: [{ type: "text", text: "not json" }] });
  });

  it("other text, and an unlabelled UTF-8 body, are text", () => {
    expect(toolResult(answer(200, "text/csv", "a,b\n1,2"))).toEqual({ content: [{ type: "text", text: "a,b\n1,2" }] });
    expect(toolResult(answer(200, undefined, "plain"))).toEqual({ content: [{ type: "text", text: "plain" }] });
    expect(toolResult(answer(200, "application/xml", "<a/>"))).toEqual({ content: [{ type: "text", text: "<a/>" }] });
  });

  it("image/* is image content in base64; other binary is described", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00]);
    expect(toolResult(answer(200, "image/png", png))).toEqual({ content: [{ type: "image", data: png.toString("base64"), mimeType: "image/png" }] });
    expect(toolResult(answer(200, "application/pdf", png))).toEqual({ content: [{ type: "text", text: "6 bytes of application/pdf" }] });
    expect(toolResult(answer(200, undefined, png))).toEqual({ content: [{ type: "text", text: "6 bytes of unlabelled data" }] });
  });

  it("204 and empty 2xx bodies: the status line (the standard reason phrase)", () => {
    expect(toolResult(answer(204, undefined, ""))).toEqual({ content: [{ type: "text", text: "204 No Content" }] });
    expect(toolResult(answer(201, "application/json", ""))).toEqual({ content: [{ type: "text", text: "201 Created" }] });
  });

  it("non-2xx: isError with HTTP status and the body", () => {
    expect(toolResult(answer(404, "application/json", '{"message":"no pet"}'))).toEqual({
      content: [{ type: "text", text: 'HTTP 404 Not Found: {"message":"no pet"}' }],
      isError: true,
    });
    expect(toolResult(answer(500, undefined, ""))).toEqual({ content: [{ type: "text", text: "HTTP 500 Internal Server Error" }], isError: true });
    expect(toolResult(answer(302, "text/html", "moved"))).toMatchObject({ isError: true });
    expect(toolResult(answer(502, "application/octet-stream", Buffer.from([0xff, 0xfe])))).toEqual({
      content: [{ type: "text", text: "HTTP 502 Bad Gateway: 2 bytes of application/octet-stream" }],
      isError: true,
    });
  });

  it("an error body is capped at 4 KB", () => {
    const text = (toolResult(answer(400, "text/plain", "e".repeat(5000))).content[0] as { text: string }).text;
    expect(text).toBe(`HTTP 400 Bad Request: ${"e".repeat(4096)}… (904 more characters)`);
  });
});
