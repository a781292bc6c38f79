/**
 * OTLP's default encoding: with only `OTEL_TRACES_EXPORTER=otlp` and an endpoint, the gateway
 * exports `application/x-protobuf` (the specification's default, `http/protobuf`), which a
 * receiver decodes with the official opentelemetry-proto definitions: one aggregate call is
 * one trace, the client's, from the gateway's server span through the fan-out to the upstream
 * call, and no secret is in the bytes sent.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startOtlpReceiver, spanAttribute, type OtlpReceiver } from "../fixtures/otlp-receiver.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const UPSTREAM_TOKEN = "upstream-static-token-proto-61d0";
const CLIENT_TRACE_ID = "5cf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-00f067aa0ba902b7-01`;
const SERVER_KIND = 2;
const CLIENT_KIND = 3;

describe("tracing over OTLP/HTTP with protobuf (the default encoding)", () => {
  let receiver: OtlpReceiver;
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startUpstream({ name: "traced" });
    // The exporter reads these from the process's environment, the gateway from its own.
    const env = { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "20" };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    gateway = await startTestGateway({ servers: { traced: { url: upstream.url, auth_type: "bearer_token", auth_value: UPSTREAM_TOKEN } }, env });
  });
  afterAll(async () => {
    await gateway?.close();
    vi.unstubAllEnvs();
    await Promise.all([receiver?.close(), upstream?.close()]);
  });

  it("exports application/x-protobuf to /v1/traces, decodable with the official definitions, as one trace across gateway and upstream", async () => {
    const key = await gateway.generateKey({ key_alias: "proto-caller" });
    const response = await gateway.fetch("/mcp", {
      key,
      method: "POST",
      headers: { ...MCP_ACCEPT, traceparent: CLIENT_TRACEPARENT },
      body: rpc("tools/call", { name: "traced-echo", arguments: { message: "over protobuf" } }),
    });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(upstream.lastHeaders().traceparent).toContain(CLIENT_TRACE_ID);

    const inTrace = () => receiver.spans.filter((span) => span.traceId === CLIENT_TRACE_ID);
    await receiver.waitFor(() => inTrace().some((span) => span.kind === SERVER_KIND) && inTrace().some((span) => span.kind === CLIENT_KIND));
    expect(receiver.exports.every((sent) => sent.method === "POST" && sent.path === "/v1/traces" && sent.contentType === "application/x-protobuf")).toBe(true);

    const spans = inTrace();
    const server = spans.find((span) => span.kind === SERVER_KIND)!;
    expect(server.parentSpanId).toBe("00f067aa0ba902b7");
    const call = spans.find((span) => span.kind === CLIENT_KIND)!;
    expect(spanAttribute(call, "gatehouse.server")).toBe("traced");
    // The upstream call descends from the request's span, through whatever steps lie between.
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    let step: typeof call | undefined = call;
    while (step !== undefined && step.spanId !== server.spanId) step = step.parentSpanId === undefined ? undefined : byId.get(step.parentSpanId);
    expect(step).toBe(server);

    const sent = Buffer.concat(receiver.exports.map((entry) => entry.raw));
    for (const secret of [UPSTREAM_TOKEN, key, gateway.masterKey, "over protobuf"]) expect(sent.includes(secret)).toBe(false);
  });

  it("refuses a protocol it cannot export (grpc) at startup, naming the two it can", async () => {
    await expect(startTestGateway({ servers: {}, env: { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc" } })).rejects.toThrow(/'http\/protobuf' \(the default\) or 'http\/json'/);
  });
});
