/**
 * OpenTelemetry traces end to end: an OTLP/HTTP receiver on loopback (the exporter sends
 * OTLP JSON here, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`; tracing-protobuf.test.ts has
 * the default, protobuf), the gateway, and real SDK upstreams that record the `traceparent` they were sent, in their headers and in `_meta`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startMockServer, type MockServer } from "../../src/mock-server/mock-server.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startJwtUpstream } from "../fixtures/jwt-upstream.js";
import { startOtlpReceiver, spanAttribute, type OtlpReceiver } from "../fixtures/otlp-receiver.js";
import { fixtureServer } from "../fixtures/stdio.js";
import { startTokenExchangeServer } from "../fixtures/token-exchange-as.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

const UPSTREAM_TOKEN = "upstream-static-token-5f2c9a";
const CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-00f067aa0ba902b7-01`;
const META_TRACE_ID = "0af7651916cd43dd8448eb211c80319c";

/** What was exported, as text (JSON here), to scan for secrets. */
const exportedText = (receiver: OtlpReceiver) => receiver.exports.map((entry) => `${entry.method} ${entry.path} ${entry.raw.toString("utf8")}`).join("\n");

const traceIdOf = (traceparent: unknown): string | undefined => (typeof traceparent === "string" ? traceparent.split("-")[1] : undefined);

describe("tracing", () => {
  let receiver: OtlpReceiver;
  let upstream: Upstream;
  let mock: MockServer;
  let gateway: TestGateway | undefined;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startUpstream({ name: "traced" });
    mock = await startMockServer({ port: 0 });
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    vi.unstubAllEnvs();
  });
  afterAll(async () => {
    await Promise.all([receiver?.close(), upstream?.close(), mock?.close()]);
  });

  const servers = () => ({
    traced: { url: upstream.url, auth_type: "bearer_token", auth_value: UPSTREAM_TOKEN },
    m2m: { url: `${mock.url}/mcp`, auth_type: "oauth2", client_id: "test-client", client_secret: "test-secret", token_url: `${mock.url}/oauth/token` },
  });

  /** The exporter reads these from the process's environment, the gateway from its own. */
  function tracingEnv(): Record<string, string> {
    const env = {
      OTEL_TRACES_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "gatehouse-under-test",
      OTEL_BSP_SCHEDULE_DELAY: "20",
    };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    return env;
  }

  it("sends nothing and adds no traceparent when no exporter is configured", async () => {
    gateway = await startTestGateway({ servers: servers() });
    const response = await gateway.fetch("/traced/mcp", { method: "POST", headers: { ...MCP_ACCEPT, traceparent: CLIENT_TRACEPARENT }, body: rpc("tools/call", { name: "echo", arguments: { message: "hi" } }) });
    expect(response.status).toBe(200);
    expect(upstream.lastHeaders().traceparent).toBeUndefined();
    const body = upstream.requests.at(-1)!.body as { params: { _meta?: Record<string, unknown> } };
    expect(body.params._meta?.traceparent).toBeUndefined();
    await gateway.close();
    gateway = undefined;
    expect(receiver.exports).toEqual([]);
  });

  it("shows one pass-through call as one trace: the client's, continued, across gateway and upstream (header and _meta)", async () => {
    gateway = await startTestGateway({ servers: servers(), env: tracingEnv() });
    const response = await gateway.fetch("/traced/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, traceparent: CLIENT_TRACEPARENT, baggage: "user.secret=client-baggage-value" },
      body: rpc("tools/call", { name: "echo", arguments: { message: "hi" } }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get("x-request-id");

    const seen = upstream.lastHeaders();
    expect(traceIdOf(seen.traceparent)).toBe(CLIENT_TRACE_ID);
    const body = upstream.requests.at(-1)!.body as { params: { _meta: Record<string, unknown>; arguments: unknown } };
    expect(body.params._meta.traceparent).toBe(seen.traceparent);
    expect(body.params.arguments).toEqual({ message: "hi" });
    // Client baggage (arbitrary data) is not the trace context: it goes nowhere.
    expect(seen.baggage).toBeUndefined();
    expect(body.params._meta.baggage).toBeUndefined();

    await receiver.waitFor(() => receiver.spans.some((span) => span.traceId === CLIENT_TRACE_ID && span.kind === 2 && spanAttribute(span, "http.response.status_code") !== undefined));
    const trace = receiver.spans.filter((span) => span.traceId === CLIENT_TRACE_ID);
    const server = trace.find((span) => span.kind === 2)!;
    expect(server.parentSpanId).toBe("00f067aa0ba902b7");
    expect(server.name).toBe("POST /{server}/mcp");
    expect(spanAttribute(server, "http.route")).toBe("/{server}/mcp");
    expect(spanAttribute(server, "http.response.status_code")).toBe(200);
    expect(spanAttribute(server, "gatehouse.request_id")).toBe(requestId);
    expect(spanAttribute(server, "gatehouse.server")).toBe("traced");
    const authentication = trace.find((span) => span.name === "gatehouse.authenticate")!;
    expect(authentication.parentSpanId).toBe(server.spanId);
    const call = trace.find((span) => span.kind === 3)!;
    expect(call.parentSpanId).toBe(server.spanId);
    expect(call.name).toBe("tools/call echo");
    expect(spanAttribute(call, "gatehouse.server")).toBe("traced");
    expect(spanAttribute(call, "mcp.method.name")).toBe("tools/call");
    expect(spanAttribute(call, "gen_ai.tool.name")).toBe("echo");
    // The upstream's parent is the gateway's client span.
    expect((seen.traceparent as string).split("-")[2]).toBe(call.spanId);
  });

  it("continues a 2026-07-28 request's _meta traceparent on the aggregate, and traces the token fetch and the fan-out", async () => {
    gateway = await startTestGateway({ servers: servers(), env: tracingEnv() });
    const meta = { traceparent: `00-${META_TRACE_ID}-b7ad6b7169203331-01` };
    const listed = await gateway.fetch("/mcp", { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/list", { _meta: meta }) });
    expect(listed.status).toBe(200);
    const called = await gateway.fetch("/mcp", { method: "POST", headers: MCP_ACCEPT, body: rpc("tools/call", { name: "traced-echo", arguments: { message: "secret-argument-value" }, _meta: meta }, 2) });
    expect(called.status).toBe(200);
    expect(await called.text()).toContain("secret-argument-value");

    const last = upstream.requests.at(-1)!;
    expect(traceIdOf(last.headers.traceparent)).toBe(META_TRACE_ID);
    expect(traceIdOf((last.body as { params: { _meta: Record<string, unknown> } }).params._meta.traceparent)).toBe(META_TRACE_ID);

    await receiver.waitFor(() => receiver.spans.filter((span) => span.traceId === META_TRACE_ID && span.name === "tools/call").length > 0 && receiver.spans.some((span) => span.name === "fan-out tools/list"));
    const trace = receiver.spans.filter((span) => span.traceId === META_TRACE_ID);
    const mcpSpans = trace.filter((span) => span.kind === 2);
    expect(mcpSpans.map((span) => span.name).sort()).toEqual(["tools/call", "tools/list"]);
    for (const span of mcpSpans) {
      expect(span.parentSpanId).toBe("b7ad6b7169203331");
      // Linked to the HTTP request's own span, which began before the body was read.
      expect(span.links?.length).toBe(1);
    }
    const fanOut = trace.find((span) => span.name === "fan-out tools/list")!;
    const perServer = trace.filter((span) => span.parentSpanId === fanOut.spanId).map((span) => span.name);
    expect(perServer.sort()).toEqual(["tools/list m2m", "tools/list traced"]);
    expect(trace.some((span) => span.name === "upstream token client_credentials" && spanAttribute(span, "gatehouse.server") === "m2m")).toBe(true);
    expect(trace.some((span) => span.kind === 3 && spanAttribute(span, "gen_ai.tool.name") === "echo" && spanAttribute(span, "gatehouse.server") === "traced")).toBe(true);

    // No key, token, secret or argument in anything exported.
    const exported = exportedText(receiver);
    for (const secret of [gateway.masterKey, UPSTREAM_TOKEN, "test-secret", "secret-argument-value", "test-salt"]) expect(exported).not.toContain(secret);
    expect(exported).toContain("gatehouse-under-test");
  });

  it("leaves a pass-through body with a long number as it came (context in the headers only), and masks a key in a path", async () => {
    gateway = await startTestGateway({ servers: servers(), env: tracingEnv() });
    const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi","count":12345678901234567890}}}`;
    const response = await gateway.fetch("/traced/mcp", { method: "POST", headers: MCP_ACCEPT, body });
    expect(response.status).toBe(200);
    const last = upstream.requests.at(-1)!;
    expect(last.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect((last.body as { params: { _meta?: unknown } }).params._meta).toBeUndefined();

    const key = "sk-path-key-7c1d2e3f4a5b";
    await gateway.fetch(`/key/${key}/regenerate`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await receiver.waitFor(() => receiver.spans.some((span) => spanAttribute(span, "url.path") === "/key/****/regenerate"));
    expect(exportedText(receiver)).not.toContain(key);
  });

  it("gives a stdio server the call's trace context in _meta (it has no headers), on /mcp and through the stdio bridge, under a client span", async () => {
    gateway = await startTestGateway({ servers: { ...servers(), stdio: fixtureServer() }, env: tracingEnv() });
    const seen = (result: unknown) => JSON.parse((result as { content: Array<{ text: string }> }).content[0]!.text) as { traceparent: string | null; tracestate: string | null };
    const aggregate = await gateway.connect("/mcp");
    const viaMcp = seen(await aggregate.callTool({ name: "stdio-trace_meta", arguments: {} }));
    const bridge = await gateway.connect("/stdio/mcp");
    const viaBridge = seen(await bridge.callTool({ name: "trace_meta", arguments: {} }));
    for (const meta of [viaMcp, viaBridge]) expect(meta.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const parent = (meta: { traceparent: string | null }) => meta.traceparent!.split("-")[2];
    await receiver.waitFor(() => [viaMcp, viaBridge].every((meta) => receiver.spans.some((span) => span.spanId === parent(meta))));
    for (const meta of [viaMcp, viaBridge]) {
      const call = receiver.spans.find((span) => span.spanId === parent(meta))!;
      expect(call.kind).toBe(3);
      expect(call.name).toBe("tools/call trace_meta");
      expect(spanAttribute(call, "gatehouse.server")).toBe("stdio");
    }
  });

  it("gives a legacy HTTP+SSE server each request's trace context in _meta (its session's headers are fixed), on /mcp and through its bridge", async () => {
    const legacy = await startUpstream({ name: "legacy", legacySse: true });
    try {
      gateway = await startTestGateway({ servers: { oldsse: { url: legacy.url, transport: "sse" } }, env: tracingEnv() });
      const calls = () => legacy.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call");
      await (await gateway.connect("/mcp")).callTool({ name: "oldsse-echo", arguments: { message: "hi" } });
      await (await gateway.connect("/oldsse/mcp")).callTool({ name: "echo", arguments: { message: "hi" } });
      expect(calls()).toHaveLength(2);
      for (const call of calls()) expect((call.body as { params: { _meta?: { traceparent?: string } } }).params._meta?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    } finally {
      await gateway?.close();
      gateway = undefined;
      await legacy.close();
    }
  });

  it("traces the RFC 8693 token exchange (a real oidc-provider) under the call, with neither the subject token nor the client secret", async () => {
    const jwtUpstream = await startJwtUpstream({});
    const as = await startTokenExchangeServer({ resource: jwtUpstream.url });
    jwtUpstream.trust(as);
    try {
      const secret = "obo-client-secret-7c2e91";
      gateway = await startTestGateway({
        servers: { obo: { url: jwtUpstream.url, auth_type: "oauth2_token_exchange", token_exchange_endpoint: as.tokenUrl, client_id: "gatehouse-obo", client_secret: "os.environ/OBO_CLIENT_SECRET" } },
        env: { ...tracingEnv(), OBO_CLIENT_SECRET: secret },
      });
      const subject = await as.mintSubjectToken({ sub: "alice" });
      const response = await gateway.fetch("/obo/mcp", {
        method: "POST",
        headers: { ...MCP_ACCEPT, "x-litellm-api-key": `Bearer ${gateway.masterKey}`, authorization: `Bearer ${subject}`, traceparent: CLIENT_TRACEPARENT },
        body: rpc("tools/call", { name: "echo", arguments: { message: "hi" } }),
      });
      expect(response.status).toBe(200);
      const named = (name: string) => receiver.spans.some((span) => span.traceId === CLIENT_TRACE_ID && span.name === name);
      await receiver.waitFor(() => named("upstream token token_exchange") && receiver.spans.some((span) => span.name === "tools/call echo" && spanAttribute(span, "gatehouse.server") === "obo"));
      const exchange = receiver.spans.find((span) => span.traceId === CLIENT_TRACE_ID && span.name === "upstream token token_exchange")!;
      expect(spanAttribute(exchange, "gatehouse.server")).toBe("obo");
      expect(spanAttribute(exchange, "oauth.grant_type")).toBe("urn:ietf:params:oauth:grant-type:token-exchange");
      const parent = receiver.spans.find((span) => span.spanId === exchange.parentSpanId);
      // Under the upstream call that needed the token (other tests share the client's trace id).
      expect(parent?.traceId).toBe(CLIENT_TRACE_ID);
      expect(parent?.name).toBe("tools/call echo");
      expect(spanAttribute(parent!, "gatehouse.server")).toBe("obo");
      const exported = exportedText(receiver);
      for (const hidden of [subject, secret, gateway.masterKey]) expect(exported).not.toContain(hidden);
    } finally {
      await gateway?.close();
      gateway = undefined;
      await Promise.all([jwtUpstream.close(), as.close()]);
    }
  });

  it("sends upstream only a valid, bounded tracestate: a hostile client's oversized or CRLF-laden one is cut to W3C's rules", async () => {
    gateway = await startTestGateway({ servers: servers(), env: tracingEnv() });
    const junk = Array.from({ length: 64 }, (_, index) => `k${index}=${"v".repeat(60)}`).join(",");
    const response = await gateway.fetch("/traced/mcp", {
      method: "POST",
      headers: { ...MCP_ACCEPT, traceparent: CLIENT_TRACEPARENT, tracestate: `good=1,${junk}` },
      body: rpc("tools/call", { name: "echo", arguments: { message: "hi" }, _meta: { tracestate: "evil=1\r\nx-injected: yes" } }),
    });
    expect(response.status).toBe(200);
    const last = upstream.requests.at(-1)!;
    const tracestate = last.headers.tracestate as string;
    expect(tracestate.startsWith("good=1")).toBe(true);
    expect(tracestate.length).toBeLessThanOrEqual(512);
    expect(last.headers["x-injected"]).toBeUndefined();
    // The body's _meta carries the gateway's context, not the client's tracestate beside it.
    expect((last.body as { params: { _meta: Record<string, unknown> } }).params._meta.tracestate).toBe(tracestate);
  });

  it("refuses at startup an exporter or protocol it cannot honour", async () => {
    await expect(startTestGateway({ servers: servers(), env: { OTEL_TRACES_EXPORTER: "zipkin" } })).rejects.toThrow(/OTEL_TRACES_EXPORTER 'zipkin' is not supported/);
    await expect(startTestGateway({ servers: servers(), env: { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" } })).rejects.toThrow(/http\/json/);
  });
});
