import { describe, expect, it } from "vitest";
import { routeLabel } from "../../../src/observability/route-label.js";
import type { RegistrySnapshot } from "../../../src/registry/registry.js";

const snapshot = { byIdOrName: (name: string) => (name === "alpha" ? { name: "alpha" } : undefined) } as unknown as RegistrySnapshot;

describe("routeLabel", () => {
  it.each([
    ["/alpha/mcp", "passthrough", "alpha"],
    ["/mcp/alpha?x=1", "passthrough", "alpha"],
    ["/made-up/mcp", "passthrough", ""],
    ["//mcp", "passthrough", ""],
    ["/mcp/", "passthrough", ""],
    ["/alpha/mcp/extra", "other", ""],
    ["/alpha/", "other", ""],
    ["/alpha", "other", ""],
    ["/mcp", "aggregate", ""],
    ["/mcp-rest/tools/call", "rest", ""],
    ["/alpha/token", "oauth", "alpha"],
    ["/callback?code=x", "oauth", ""],
    ["/.well-known/oauth-authorization-server/alpha", "oauth", ""],
    ["/v1/mcp/audit", "admin", ""],
    ["/ui/servers", "ui", ""],
    ["/health/readiness", "health", ""],
    ["/metrics", "metrics", ""],
    ["*", "other", ""],
  ])("labels %s as %s, server '%s'", (url, route, server) => {
    expect(routeLabel(url, snapshot)).toEqual({ route, server });
  });
});
