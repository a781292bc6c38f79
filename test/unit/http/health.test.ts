import { describe, expect, it } from "vitest";
import { healthRoutes, type HealthDeps } from "../../../src/http/routes/health.js";

function deps(overrides: Partial<HealthDeps> = {}): HealthDeps {
  return {
    database: { dialect: "postgres", ping: async () => undefined },
    serverCount: () => 2,
    isDraining: () => false,
    version: "9.9.9",
    ...overrides,
  };
}

describe("health routes", () => {
  it("liveliness answers 200 without touching the database", async () => {
    const app = healthRoutes(deps({ database: { dialect: "sqlite", ping: () => Promise.reject(new Error("down")) } }));
    const response = await app.request("/health/liveliness");
    expect(response.status).toBe(200);
  });

  it("readiness reports the database dialect", async () => {
    const response = await healthRoutes(deps()).request("/health/readiness");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", db: "postgres", mcp_servers: 2, version: "9.9.9" });
  });

  it("readiness is 503 while shutting down, so load balancers stop sending", async () => {
    const response = await healthRoutes(deps({ isDraining: () => true })).request("/health/readiness");
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ status: "shutting_down" });
  });

  it("readiness is 503 when the database does not answer", async () => {
    const app = healthRoutes(deps({ database: { dialect: "postgres", ping: () => Promise.reject(new Error("ECONNREFUSED")) } }));
    const response = await app.request("/health/readiness");
    expect(response.status).toBe(503);
    const body = await response.json();
    expect(body).toMatchObject({ status: "unavailable", db: "postgres" });
    expect(JSON.stringify(body)).not.toContain("ECONNREFUSED");
  });
});
