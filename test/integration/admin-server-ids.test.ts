/**
 * `POST /v1/mcp/server` with a `server_id` of the client's choosing (LiteLLM's API allows
 * it; the LiteLLM importer relies on it). Routes look a server up by id first, then by
 * name, so a chosen id that is another server's name would take over that name's routes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

describe("client-chosen server ids", () => {
  let gateway: TestGateway;
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await upstreamNamed("config-server");
    gateway = await startTestGateway({ servers: { github: { url: upstream.url } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const create = (body: Record<string, unknown>) =>
    gateway.fetch("/v1/mcp/server", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ url: upstream.url, ...body }) });

  it("keeps the id it is given, and the server answers to it", async () => {
    const response = await create({ server_name: "chosen", server_id: "0f8c2d4e-litellm-id" });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ server_id: "0f8c2d4e-litellm-id", server_name: "chosen" });
    expect((await gateway.fetch("/v1/mcp/server/0f8c2d4e-litellm-id")).status).toBe(200);
  });

  it("refuses an id that is another server's name, which would hijack that name's routes", async () => {
    const response = await create({ server_name: "hijacker", server_id: "GitHub" });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ error: "server_id_taken" });
    const still = (await (await gateway.fetch("/v1/mcp/server/github")).json()) as { source: string };
    expect(still.source).toBe("config");
  });

  it("refuses a name that is another server's id, and ids that are taken, reserved or not URL-safe", async () => {
    expect((await create({ server_name: "0f8c2d4e-litellm-id" })).status).toBe(409);
    expect((await create({ server_name: "again", server_id: "0f8c2d4e-litellm-id" })).status).toBe(409);
    for (const id of ["all-proxy-mcpservers", "no-mcp-servers", "a/b", "../x", "x".repeat(65), ""]) {
      const response = await create({ server_name: `bad${Math.random().toString(36).slice(2, 8)}`, server_id: id });
      expect(response.status, id).toBe(400);
    }
  });
});
