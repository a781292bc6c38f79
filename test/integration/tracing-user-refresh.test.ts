/**
 * The span of a user's upstream token refresh: a user connected through the UI's Connect
 * flow at a real oidc-provider whose access tokens are stale at once (30 s, inside the
 * refresh margin), so the user's next call refreshes first. The trace shows the refresh
 * under the request, named for its grant and server, and no token is in what is exported.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectThroughUi } from "../fixtures/connect-flow.js";
import { MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startInteractiveAuthorizationServer, type InteractiveAuthorizationServer } from "../fixtures/interactive-as.js";
import { startOtlpReceiver, spanAttribute, type OtlpReceiver } from "../fixtures/otlp-receiver.js";
import { startProtectedResourceUpstream, type ProtectedResourceUpstream } from "../fixtures/protected-resource-upstream.js";

const CLIENT_TRACE_ID = "6df92f3577b34da6a3ce929d0e0e4736";

describe("tracing a user's upstream token refresh", () => {
  let receiver: OtlpReceiver;
  let upstream: ProtectedResourceUpstream;
  let as: InteractiveAuthorizationServer;
  let gateway: TestGateway;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startProtectedResourceUpstream({ name: "short-lived" });
    as = await startInteractiveAuthorizationServer({ resource: upstream.url, accessTokenTtl: 30 });
    upstream.trust(as);
    const env = { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "20" };
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    gateway = await startTestGateway({ servers: { short: { url: upstream.url, auth_type: "oauth2" } }, general: { oauth_registration_rate_limit_per_minute: 0 }, env });
  });
  afterAll(async () => {
    await gateway?.close();
    vi.unstubAllEnvs();
    await Promise.all([receiver?.close(), as?.close(), upstream?.close()]);
  });

  it("shows the refresh as `upstream token refresh_token` under the call's request, with no token exported", async () => {
    const key = await gateway.generateKey({ user_id: "alice" });
    await connectThroughUi(gateway.url, key, "short", "alice", as);
    const connected = as.tokenRequests().filter((request) => request.grant_type === "authorization_code").at(-1)!;
    expect(connected).toBeDefined();

    const call = await fetch(`${gateway.url}/short/mcp`, {
      method: "POST",
      headers: { ...MCP_ACCEPT, "x-litellm-api-key": `Bearer ${key}`, traceparent: `00-${CLIENT_TRACE_ID}-00f067aa0ba902b7-01` },
      body: rpc("tools/call", { name: "echo", arguments: { message: "refreshed" } }),
    });
    expect(call.status, await call.text()).toBe(200);
    expect(as.tokenRequests().filter((request) => request.grant_type === "refresh_token")).toHaveLength(1);

    const inTrace = () => receiver.spans.filter((span) => span.traceId === CLIENT_TRACE_ID);
    await receiver.waitFor(() => inTrace().some((span) => span.name === "upstream token refresh_token") && inTrace().some((span) => span.kind === 2 && spanAttribute(span, "http.response.status_code") !== undefined));
    const spans = inTrace();
    const refresh = spans.find((span) => span.name === "upstream token refresh_token")!;
    expect(spanAttribute(refresh, "gatehouse.server")).toBe("short");
    expect(spanAttribute(refresh, "oauth.grant_type")).toBe("refresh_token");
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    let step: typeof refresh | undefined = refresh;
    while (step !== undefined && step.kind !== 2) step = step.parentSpanId === undefined ? undefined : byId.get(step.parentSpanId);
    expect(step?.parentSpanId).toBe("00f067aa0ba902b7");

    const sent = Buffer.concat(receiver.exports.map((entry) => entry.raw));
    const secrets = as.tokenRequests().flatMap((request) => [request.params.refresh_token, request.params.code, request.params.client_secret]).filter((value): value is string => typeof value === "string");
    // The refresh token, the code, and the access token the upstream accepted (the refreshed one: the first was stale before any use).
    expect(secrets.length).toBeGreaterThan(0);
    expect(upstream.acceptedTokens()).toHaveLength(1);
    for (const secret of [...secrets, ...upstream.acceptedTokens(), key]) expect(sent.includes(secret)).toBe(false);
  });
});
