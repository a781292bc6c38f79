/**
 * OpenTelemetry traces: the one module that knows the OpenTelemetry API. The rest of the
 * gateway calls the few functions below; each returns at once when tracing is off (no
 * exporter configured: nothing is registered, `tracer` stays undefined), so the hot path
 * pays one comparison.
 *
 * Configured by the standard variables as the SDK reads them: `OTEL_TRACES_EXPORTER=otlp`
 * turns it on; `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` choose
 * OTLP/HTTP's encoding, `http/protobuf` (the specification's default) or `http/json`; the
 * OTLP/HTTP exporter reads `OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`...; the provider reads
 * `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; the resource `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES`.
 *
 * Trace context crosses process boundaries as W3C Trace Context: the `traceparent` and
 * `tracestate` headers, and the same keys in an MCP request's `_meta` (MCP 2026-07-28,
 * "OpenTelemetry trace context"). Attributes name servers, tools and methods, never a key,
 * a token, a header value or a tool's arguments; an error is recorded by its code only
 * (an exception's message could quote upstream text).
 */
import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  type Attributes,
  type Span,
  type Tracer,
} from "@opentelemetry/api";

/** The W3C Trace Context of an outbound request, as header values and `_meta` values alike. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/** The span of one inbound HTTP request, ended when the exchange ends. */
export interface RequestSpan {
  /** Runs the request's handling with this span active (its children and outbound context follow it). */
  run(handle: () => void): void;
  end(status: number, route: string | undefined, server: string): void;
}

export interface Tracing {
  /** Flushes the spans not yet exported and unregisters the provider. */
  shutdown(): Promise<void>;
}

let tracer: Tracer | undefined;

/** Whether spans are recorded (an exporter is configured). */
export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

const SUPPORTED_EXPORTERS = new Set(["otlp", "none"]);
const SUPPORTED_PROTOCOLS = new Set(["http/protobuf", "http/json"]);

/**
 * Starts tracing when `OTEL_TRACES_EXPORTER` names `otlp` (and `OTEL_SDK_DISABLED` is not
 * true); undefined otherwise, with nothing registered. A value the gateway cannot honour
 * (another exporter, `grpc`) fails startup. The SDK is loaded only then: a gateway without
 * tracing never loads more than the API.
 */
export async function startTracing(env: Record<string, string | undefined>, serviceVersion: string): Promise<Tracing | undefined> {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  for (const name of exporters) {
    if (!SUPPORTED_EXPORTERS.has(name)) throw new Error(`OTEL_TRACES_EXPORTER '${name}' is not supported: use 'otlp' (OTLP/HTTP with JSON) or 'none'`);
  }
  if (!exporters.includes("otlp")) return undefined;
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = env[name]?.trim();
    if (protocol !== undefined && protocol !== "" && !SUPPORTED_PROTOCOLS.has(protocol)) {
      throw new Error(`${name} '${protocol}' is not supported: the gateway exports OTLP over HTTP, as 'http/protobuf' (the default) or 'http/json'`);
    }
  }
  // The signal's own variable first, as the SDK reads it.
  const protocol = [env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, env.OTEL_EXPORTER_OTLP_PROTOCOL].map((value) => value?.trim()).find((value) => value !== undefined && value !== "") ?? "http/protobuf";
  const [{ OTLPTraceExporter }, { detectResources, envDetector, resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }, { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION }] = await Promise.all([
    protocol === "http/json" ? import("@opentelemetry/exporter-trace-otlp-http") : import("@opentelemetry/exporter-trace-otlp-proto"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: "gatehouse", [ATTR_SERVICE_VERSION]: serviceVersion }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register();
  tracer = provider.getTracer("gatehouse", serviceVersion);
  return {
    async shutdown() {
      tracer = undefined;
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/** Reads one header of the inbound request (a view over node's parsed headers). */
type HeaderGetter = (name: string) => string | null;

/**
 * Only the trace context is read from a client: W3C `baggage` (arbitrary client data) is
 * neither continued nor, therefore, sent to upstreams.
 */
const TRACE_CONTEXT_KEYS = ["traceparent", "tracestate"];

const headerGetter = {
  keys: () => TRACE_CONTEXT_KEYS,
  get: (carrier: HeaderGetter, key: string) => (TRACE_CONTEXT_KEYS.includes(key) ? (carrier(key) ?? undefined) : undefined),
};

const metaGetter = {
  keys: () => TRACE_CONTEXT_KEYS,
  get: (carrier: Record<string, unknown>, key: string) => {
    const value = TRACE_CONTEXT_KEYS.includes(key) ? carrier[key] : undefined;
    return typeof value === "string" ? value : undefined;
  },
};

/**
 * The server span of an inbound request, continuing the client's `traceparent` header;
 * undefined when tracing is off.
 */
export function startRequestSpan(method: string, path: string, header: HeaderGetter, requestId: string): RequestSpan | undefined {
  if (tracer === undefined) return undefined;
  const parent = propagation.extract(ROOT_CONTEXT, header, headerGetter);
  const span = tracer.startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { "http.request.method": method, "url.path": pathOnly(path), "gatehouse.request_id": requestId } },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return {
    run: (handle) => context.with(active, handle),
    end(status, route, server) {
      span.setAttribute("http.response.status_code", status);
      if (route !== undefined) {
        span.setAttribute("http.route", route);
        span.updateName(`${method} ${route}`);
      }
      if (server !== "") span.setAttribute("gatehouse.server", server);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

/** The path without its query: a query may hold a code or a key. */
function pathOnly(path: string): string {
  const end = path.indexOf("?");
  return end === -1 ? path : path.slice(0, end);
}

/**
 * An MCP request whose `_meta` carries a `traceparent` (MCP 2026-07-28): its handling
 * continues the trace the client named there, in a server span for the method linked to
 * the HTTP request's span (OpenTelemetry's MCP conventions). Runs `handle` as it is when
 * tracing is off or the `_meta` has no valid context.
 */
export function continueFromMeta<T>(meta: unknown, method: string, handle: () => Promise<T>): Promise<T> {
  if (tracer === undefined || !isTraceMeta(meta)) return handle();
  const parent = propagation.extract(ROOT_CONTEXT, meta, metaGetter);
  const remote = trace.getSpanContext(parent);
  if (remote === undefined) return handle();
  const http = trace.getActiveSpan()?.spanContext();
  const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { "mcp.method.name": method }, links: http === undefined ? [] : [{ context: http }] }, parent);
  return settle(span, () => context.with(trace.setSpan(parent, span), handle));
}

function isTraceMeta(meta: unknown): meta is Record<string, unknown> {
  return typeof meta === "object" && meta !== null && typeof (meta as { traceparent?: unknown }).traceparent === "string";
}

/**
 * An internal step of the request (key resolution, a token fetch, a listing's fan-out) as
 * a child span; `run` may answer without a promise, and then the span ends at once.
 */
export function traced<T>(name: string, attributes: Attributes, run: () => T): T {
  if (tracer === undefined) return run();
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes });
  return settle(span, () => context.with(trace.setSpan(context.active(), span), run));
}

/**
 * One call to an upstream MCP server as a client span; `run` receives the context to send
 * with it (headers and `_meta`), undefined when tracing is off.
 */
export function upstreamCall<T>(server: string, method: string | undefined, tool: string | undefined, run: (carrier: TraceCarrier | undefined) => Promise<T>): Promise<T> {
  if (tracer === undefined) return run(undefined);
  const attributes: Attributes = { "gatehouse.server": server };
  if (method !== undefined) attributes["mcp.method.name"] = method;
  if (tool !== undefined) attributes["gen_ai.tool.name"] = tool;
  const name = method === undefined ? server : tool === undefined ? `${method} ${server}` : `${method} ${tool}`;
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
  const active = trace.setSpan(context.active(), span);
  const carrier: TraceCarrier = {};
  propagation.inject(active, carrier);
  return settle(span, () => context.with(active, () => run(carrier)));
}

/**
 * One request to an upstream that answers it later, on a channel without headers of its
 * own (a stdio process, a legacy SSE session): a client span, ended when `answer` settles,
 * and the context to send in the request's `_meta`; undefined when tracing is off.
 */
export function upstreamRequest(server: string, method: string, tool: string | undefined): { carrier: TraceCarrier; until(answer: Promise<unknown>): void } | undefined {
  if (tracer === undefined) return undefined;
  // The span is upstreamCall's, settled by the answer once it is known (run is called at once).
  let until!: (answer: Promise<unknown>) => void;
  const answered = new Promise<unknown>((resolve) => (until = resolve));
  let carrier: TraceCarrier = {};
  upstreamCall(server, method, tool, (sent) => {
    carrier = sent ?? {};
    return answered;
  }).catch(() => undefined);
  return { carrier, until };
}

/** The trace context of the request being handled, for a message sent upstream outside a span of its own; undefined when tracing is off. */
export function activeTraceContext(): TraceCarrier | undefined {
  if (tracer === undefined) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/**
 * An MCP request's params with a trace context in `_meta` (MCP 2026-07-28, "OpenTelemetry
 * trace context"), replacing whatever context the params carried (a client's `tracestate`
 * must not travel with the gateway's `traceparent`); the params as they are without one.
 */
export function withTraceMeta(params: Record<string, unknown> | undefined, carrier: TraceCarrier | undefined): Record<string, unknown> | undefined {
  if (carrier?.traceparent === undefined) return params;
  const meta = typeof params?._meta === "object" && params._meta !== null ? { ...(params._meta as Record<string, unknown>) } : {};
  delete meta.tracestate;
  return { ...params, _meta: { ...meta, ...carrier } };
}

/** Adds the active trace context to an outbound request's headers (a request with no span of its own: a notification, a session's end). */
export function addTraceHeaders(headers: Record<string, string>): void {
  if (tracer === undefined) return;
  propagation.inject(context.active(), headers);
}

/** Ends the span when `run` settles: an error by its code (never its message, which may quote upstream text). */
function settle<T>(span: Span, run: () => T): T {
  let result: T;
  try {
    result = run();
  } catch (error) {
    failed(span, error);
    span.end();
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        failed(span, error);
        span.end();
        throw error;
      },
    ) as T;
  }
  span.end();
  return result;
}

function failed(span: Span, error: unknown): void {
  const code = (error as { code?: unknown } | null)?.code;
  const label = typeof code === "string" || typeof code === "number" ? String(code) : "error";
  span.setAttribute("error.type", label);
  span.setStatus({ code: SpanStatusCode.ERROR, message: label });
}

