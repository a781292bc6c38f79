/**
 * Graceful shutdown in-process: in-flight requests finish, and connections that carry no
 * request (idle keep-alive, or opened and never used, as Node's fetch does after an abort)
 * do not hold the shutdown until its deadline.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, rpc, MCP_ACCEPT, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

describe("graceful shutdown", () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream({ mode: "json" });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  async function gatewayWithLongDeadline(): Promise<TestGateway> {
    // A deadline far beyond the test timeout: if shutdown waited for it, the test would fail.
    return startTestGateway({ servers: { up: { url: upstream.url } }, general: { shutdown_timeout_seconds: 120 } });
  }

  it("does not wait for a connection that was opened but never used", { timeout: 5_000 }, async () => {
    const gateway = await gatewayWithLongDeadline();
    const { port, hostname } = new URL(gateway.url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await gateway.close();
    await socketClosed;
    expect(gateway.logs.some((line) => String(line.msg).includes("did not finish"))).toBe(false);
  });

  it("lets an in-flight call finish, answered with Connection: close", { timeout: 5_000 }, async () => {
    const gateway = await gatewayWithLongDeadline();
    const call = gateway.fetch("/up/mcp", {
      method: "POST",
      headers: MCP_ACCEPT,
      body: rpc("tools/call", { name: "slow", arguments: { ms: 300 } }),
    });
    await upstream.waitUntil(() => upstream.requests.some((request) => JSON.stringify(request.body ?? "").includes('"slow"')));
    const closed = gateway.close();
    const response = await call;
    expect(response.status).toBe(200);
    expect(response.headers.get("connection")).toBe("close");
    expect(await response.text()).toContain("done");
    await closed;
    await expect(fetch(`${gateway.url}/health/liveliness`)).rejects.toThrow();
  });
});
