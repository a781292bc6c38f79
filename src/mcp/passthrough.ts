/**
 * `/{server}/mcp` and `/mcp/{server}`: a transparent streamable-HTTP proxy to one
 * upstream. The request body is read whole (small JSON-RPC), checked just enough for
 * permissions, and forwarded as the original bytes; the response (JSON or SSE) streams
 * back chunk by chunk, rewritten only where a tools/list answer must be filtered and
 * where it echoes the request's credentials (scrubbed, issue 15 item 11). Only JSON and
 * SSE bodies and an allowlist of headers are relayed, marked so a browser never runs
 * them on the gateway's origin (item 1); a 401 to a credential the gateway owns is a 502
 * of the gateway's, never the upstream's challenge (item 13).
 * The client's disconnect aborts the upstream request (the signal is passed down).
 *
 * Upstream session ids reach the client bound to its key (session-binding.ts), and GET
 * streams and SSE answers are held to the stream budget (stream-budget.ts).
 */
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { upstreamRefusedUserToken } from "../auth/upstream/oauth2-interactive.js";
import { GatewayError, JsonRpcCode, toGatewayError } from "../errors.js";
import type { AuditTrail, ToolCallEvent } from "../observability/audit.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import { performance } from "node:perf_hooks";
import type { ResponseHeaders } from "../headers.js";
import type { HttpAnswer } from "../exchange.js";
import type { Logger } from "../log.js";
import { challengeMetadataUrl, pointChallengeAt, type DelegatedResourceMetadata } from "../oauth/delegated-resource-metadata.js";
import type { LegacySseBridge, LegacySseRequest } from "./legacy-sse-bridge.js";
import type { StdioBridge } from "./stdio-bridge.js";
import { assertArgumentsAllowed, assertToolAllowed, toolVisibility } from "./access.js";
import { assertJsonUtf8, calledTool, isRequest, type ParsedBody } from "./jsonrpc.js";
import { isListenRequest } from "./modern-protocol.js";
import { clientResponseHeaders, outboundRequest, RELAYED_ANSWER_HEADERS, retryAfterUnauthorized, type OutboundRequest } from "./outbound-headers.js";
import type { CredentialScrubber } from "../credential-scrubber.js";
import { classifyBody, unrelayedAnswer } from "./relayed-body.js";
import type { ScopeChallenges } from "../auth/upstream/scope-challenges.js";
import { noteUnauthorized, stepUpChallenge } from "./step-up.js";
import { clientAnswersChallenge, upstreamAuthFailed, USER_TOKEN_MODES } from "./upstream-refusal.js";
import { bytesMayListTools, filterToolsListJson, filterToolsListSse, MAX_EVENT_CHARS, type ToolListCheck, type ToolsReview } from "./tool-list-filter.js";
import type { ToolPins } from "./tool-pins.js";
import { readAll, type UpstreamHttp } from "./upstream-http.js";
import { upstreamCall, type TraceCarrier } from "../observability/tracing.js";
import { sessionNotFound, type SessionBinding } from "./session-binding.js";
import { admitStream, streamOwner, type StreamAdmission, type StreamBudget } from "./stream-budget.js";

/** A pass-through request: what the legacy SSE bridge reads too (LegacySseRequest), plus the body's parse. */
export interface ProxyRequest extends LegacySseRequest {
  /** The parse of the raw request body (POST only). */
  parsed: ParsedBody | undefined;
  /** The gateway's protected resource metadata URL for this route, named in a relayed upstream challenge. */
  resourceMetadataUrl: () => string;
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export interface ProxyHandler {
  answer(request: ProxyRequest): Promise<HttpAnswer>;
}

export interface PassthroughDeps {
  http: UpstreamHttp;
  /** Upstream session ids as the client sees them: bound to the key that opened them. */
  sessions: SessionBinding;
  /** Long-lived streams per key and per server. */
  streams: StreamBudget;
  legacySse: LegacySseBridge;
  /** stdio servers: client sessions over the server's shared process. */
  stdio?: StdioBridge;
  log: Logger;
  delegated: DelegatedResourceMetadata;
  audit?: AuditTrail;
  metrics?: Pick<GatewayMetrics, "upstreamError">;
  /** Upstream scope challenges: step-up on `insufficient_scope` (step-up.ts). */
  scopeChallenges?: ScopeChallenges;
  /** Tool pinning (tool-pins.ts): relayed tools/list answers reviewed, calls of blocked changes refused before forwarding. */
  pins?: ToolPins;
}

export function createPassthrough(deps: PassthroughDeps): ProxyHandler {
  /**
   * Audits the request's tool calls (outcome by the upstream's HTTP status: the body streams
   * through unread) and counts upstream failures: `answered` or `failed` once it is over.
   */
  function auditCalls(request: ProxyRequest) {
    const started = performance.now();
    const parsed = request.parsed;
    const tools = parsed === undefined ? NO_TOOLS : calledTools(parsed);
    return {
      answered(status: number): void {
        for (const tool of tools) deps.audit?.record(auditEvent(request, tool, started, status < 300 ? "ok" : "error", status, undefined));
      },
      failed(error: unknown): GatewayError {
        const failure = toGatewayError(error);
        if (failure.code.startsWith("upstream_")) deps.metrics?.upstreamError(request.server.name, failure.code);
        for (const tool of tools) deps.audit?.record(auditEvent(request, tool, started, "error", failure.status, failure.code));
        return failure;
      },
    };
  }

  async function audited<T extends { status: number }>(request: ProxyRequest, run: () => Promise<T>): Promise<T> {
    const audit = auditCalls(request);
    try {
      const proxied = await run();
      audit.answered(proxied.status);
      return proxied;
    } catch (error) {
      throw audit.failed(error);
    }
  }

  /** A streamable-HTTP upstream: one async frame around the upstream call (the hot path). */
  async function streamable(request: ProxyRequest): Promise<HttpAnswer> {
    const audit = auditCalls(request);
    let admission: StreamAdmission | undefined;
    try {
      const method = upstreamMethod(request.inbound.method);
      // A 2026-07-28 subscriptions/listen is held open by the client as a GET stream is: admitted, and sent on the streams' own connections, as one.
      const stream = method === "GET" || (request.parsed !== undefined && isListenRequest(request.parsed));
      admission = admitStream(deps.streams, request.server, streamOwner(request.caller, request.inbound.headers), method, stream);
      const admitted = admission;
      const message = request.parsed?.messages[0];
      const mcpMethod = message !== undefined && "method" in message ? message.method : undefined;
      const answer = await upstreamCall(request.server.name, mcpMethod, message === undefined ? undefined : calledTool(message), (trace) => forward(request, method, admitted, stream, trace));
      audit.answered(answer.status);
      return answer;
    } catch (error) {
      admission?.release();
      throw audit.failed(error);
    }
  }

  /** Sends the request upstream with the server's credentials, settled without a promise when they are at hand. */
  function send(
    request: ProxyRequest,
    method: "GET" | "POST" | "DELETE",
    sessionId: string | undefined,
    outbound: OutboundRequest,
    stream: boolean,
    trace: TraceCarrier | undefined,
  ): Promise<Dispatcher.ResponseData> {
    if (sessionId !== undefined) outbound.headers["mcp-session-id"] = sessionId;
    if (trace !== undefined) Object.assign(outbound.headers, trace);
    return deps.http.send({
      serverName: request.server.name,
      target: request.server.target,
      method,
      headers: outbound.headers,
      body: trace === undefined ? request.body : withTraceMeta(request, trace),
      signal: request.inbound.cancel,
      timeoutMs: request.server.timeoutMs,
      longLived: stream,
    });
  }

  function outboundFor(request: ProxyRequest): OutboundRequest | Promise<OutboundRequest> {
    return outboundRequest(request.server, request.snapshot, {
      headers: request.inbound.headers,
      presentedKey: request.presentedKey,
      screen: request.screen,
      caller: request.caller,
      debug: request.inbound.debug,
      requestId: request.inbound.requestId,
    });
  }

  async function forward(request: ProxyRequest, method: "GET" | "POST" | "DELETE", admission: StreamAdmission, stream: boolean, trace: TraceCarrier | undefined): Promise<HttpAnswer> {
    const parsed = request.parsed;
    if (request.body !== undefined) assertJsonUtf8(request.inbound.headers.get("content-type"));
    if (parsed !== undefined) {
      checkToolCalls(request, parsed);
      const pinned = checkPinnedCalls(request, parsed, deps.pins);
      if (pinned !== undefined) await pinned;
    }
    const sessionId = upstreamSessionId(request, deps.sessions);

    const prepared = outboundFor(request);
    let outbound = prepared instanceof Promise ? await prepared : prepared;
    let upstream = await send(request, method, sessionId, outbound, stream, trace);
    if (upstream.statusCode === 401 && retryAfterUnauthorized(request.server, outbound.credentials)) {
      // The body was read whole, so the request can be sent again with fresh credentials, once.
      upstream.body.resume();
      outbound = await outboundFor(request);
      upstream = await send(request, method, sessionId, outbound, stream, trace);
    }
    const status = upstream.statusCode;
    const resolution = outbound.credentials.resolution;
    if (status === 403 && USER_TOKEN_MODES.has(resolution)) {
      const stepUp = stepUpChallenge(deps.scopeChallenges, request.server, request.caller, upstream.headers["www-authenticate"], request.resourceMetadataUrl());
      if (stepUp !== undefined) {
        upstream.body.resume();
        deps.log.info({ server: request.server.name, request_id: request.inbound.requestId, www_authenticate: stepUp.headers["www-authenticate"] }, "the upstream asked for more scopes (insufficient_scope): the client is sent through consent again");
        throw stepUp;
      }
    }
    if (status === 401 && USER_TOKEN_MODES.has(resolution)) {
      // Answer with the gateway's own challenge, not the upstream's: the client re-authorizes through the gateway.
      noteUnauthorized(deps.scopeChallenges, request.server, upstream.headers["www-authenticate"]);
      upstream.body.resume();
      await outbound.credentials.onRejected?.();
      throw upstreamRefusedUserToken(request.server.name);
    }
    if (status === 401 && !clientAnswersChallenge(resolution)) {
      // The gateway's own credential: the upstream's challenge would send the client into an OAuth flow against the upstream.
      upstream.body.resume();
      throw upstreamAuthFailed(request.server, resolution);
    }
    const challenge = status === 401 && resolution === "delegated";
    const headers = clientResponseHeaders(upstream.headers, { challenge });
    bindSessionId(request, headers, deps.sessions);
    admission.track(upstream.body, headers);
    if (challenge) relayChallenge(request, headers, deps.delegated);
    if (NULL_BODY_STATUS.has(status)) {
      upstream.body.resume();
      return { status, headers, body: null };
    }
    const classified = classifyBody(upstream.headers, upstream.body);
    const kind = classified instanceof Promise ? await classified : classified;
    if (typeof kind === "object" && !challenge) {
      const retryAfter = upstream.headers["retry-after"];
      throw unrelayedAnswer(request.server, status, kind.refused, typeof retryAfter === "string" ? retryAfter : undefined);
    }
    if (typeof kind === "object" || kind === "empty") {
      // A delegating server's 401 keeps its challenge; a body that is not relayed is dropped.
      delete headers["content-type"];
      return { status, headers, body: null };
    }
    const visible = toolVisibility(request.caller, request.server);
    const pins = deps.pins;
    const review: ToolsReview | undefined = pins === undefined ? undefined : (tools) => pins.review(request.server, tools);
    const broken = (error: Error) => {
      deps.log.warn({ server: request.server.name, request_id: request.inbound.requestId, err: outbound.scrubber.text(error.message) }, "an MCP server's answer broke off mid-stream; the client's connection was cut");
      deps.metrics?.upstreamError(request.server.name, "upstream_stream_broken");
      request.inbound.cut();
    };
    const relayed = responseBody(upstream.body, kind, Number(upstream.headers["content-length"] ?? Number.NaN), outbound.scrubber, { visible, review }, broken);
    const body = relayed instanceof Promise ? await relayed : relayed;
    return { status, headers, body };
  }

  /** A legacy HTTP+SSE or a stdio upstream, through its bridge (the SDK's transports speak fetch Request and Response). */
  async function bridged(request: ProxyRequest, bridge: LegacySseBridge | StdioBridge): Promise<HttpAnswer> {
    const parsed = request.parsed;
    upstreamMethod(request.inbound.method);
    if (parsed !== undefined) {
      checkToolCalls(request, parsed);
      const pinned = checkPinnedCalls(request, parsed, deps.pins);
      if (pinned !== undefined) await pinned;
    }
    const bridged = await audited(request, () => bridge.handle(request, parsed));
    const headers: ResponseHeaders = {};
    bridged.headers.forEach((value, name) => {
      headers[name] = value;
    });
    // The bridge's own transport wrote this answer, but it carries the upstream's messages.
    Object.assign(headers, RELAYED_ANSWER_HEADERS);
    return { status: bridged.status, headers, body: bridged.body };
  }

  function stdio(request: ProxyRequest): Promise<HttpAnswer> {
    if (deps.stdio === undefined) throw new Error(`stdio server '${request.server.name}' without a stdio bridge`);
    return bridged(request, deps.stdio);
  }

  return {
    answer: (request) => {
      const transport = request.server.config.transport;
      return transport === "http" ? streamable(request) : transport === "sse" ? bridged(request, deps.legacySse) : stdio(request);
    },
  };
}

/**
 * A delegating server's own 401 goes to the client as it came (seed step 3): only the
 * challenge's `resource_metadata` is pointed at the gateway's copy of the upstream's
 * metadata, whose `resource` names the gateway URL the client called (RFC 9728 §7.3).
 */
function relayChallenge(request: ProxyRequest, headers: ResponseHeaders, delegated: DelegatedResourceMetadata): void {
  const sent = headers["www-authenticate"];
  if (sent === undefined) return;
  const challenge = typeof sent === "string" ? sent : sent.join(", ");
  delegated.remember(request.server, challenge);
  if (challengeMetadataUrl(challenge) !== undefined) headers["www-authenticate"] = pointChallengeAt(challenge, request.resourceMetadataUrl());
}

/**
 * The upstream session id a request names, unwrapped; a 404 when it was not issued to
 * this caller for this server (another key's session, or an id the client made up).
 */
function upstreamSessionId(request: ProxyRequest, sessions: SessionBinding): string | undefined {
  const presented = request.inbound.headers.get("mcp-session-id");
  if (presented === null) return undefined;
  const upstreamId = sessions.unwrap(request.server.id, request.caller.subject, presented);
  if (upstreamId === undefined) throw sessionNotFound(request.server.name);
  return upstreamId;
}

/** The upstream's new session id goes to the client bound to this caller and server. */
function bindSessionId(request: ProxyRequest, headers: ResponseHeaders, sessions: SessionBinding): void {
  const issued = headers["mcp-session-id"];
  if (typeof issued === "string") headers["mcp-session-id"] = sessions.wrap(request.server.id, request.caller.subject, issued);
  else if (issued !== undefined) delete headers["mcp-session-id"];
}

const NO_TOOLS: readonly string[] = [];

function calledTools(parsed: ParsedBody): readonly string[] {
  let tools: string[] | undefined;
  for (const message of parsed.messages) {
    const tool = calledTool(message);
    if (tool !== undefined) (tools ??= []).push(tool);
  }
  return tools ?? NO_TOOLS;
}

function auditEvent(request: ProxyRequest, tool: string, started: number, outcome: "ok" | "error", status: number, errorCode: string | undefined): ToolCallEvent {
  return { requestId: request.inbound.requestId, caller: request.caller, route: "passthrough", server: request.server.name, tool, outcome, status, errorCode, durationMs: performance.now() - started };
}

function upstreamMethod(method: string): "GET" | "POST" | "DELETE" {
  if (method === "GET" || method === "POST" || method === "DELETE") return method;
  throw new GatewayError({
    status: 405,
    code: "method_not_allowed",
    message: `${method} is not an MCP streamable HTTP method; use POST, GET or DELETE`,
    headers: { allow: "GET, POST, DELETE" },
  });
}

function checkToolCalls(request: ProxyRequest, parsed: ParsedBody): void {
  for (const message of parsed.messages) {
    const tool = calledTool(message);
    if (tool === undefined || !isRequest(message)) continue;
    assertToolAllowed(request.caller, request.server, tool);
    assertArgumentsAllowed(request.server, tool, message.params?.arguments);
  }
}

/**
 * Tool pinning: a call to a tool whose changed definition is blocked is refused before it
 * is forwarded. Synchronous (no promise on the hot path) unless a `block` server's pins must be read.
 */
function checkPinnedCalls(request: ProxyRequest, parsed: ParsedBody, pins: ToolPins | undefined): void | Promise<void> {
  if (pins === undefined) return;
  let pending: Promise<void>[] | undefined;
  for (const message of parsed.messages) {
    const tool = calledTool(message);
    if (tool === undefined || !isRequest(message)) continue;
    const pinned = pins.assertCallable(request.server, tool);
    if (pinned !== undefined) (pending ??= []).push(pinned);
  }
  if (pending !== undefined) return Promise.all(pending).then(() => undefined);
}

function responseBody(
  body: Readable,
  kind: "json" | "sse",
  /** The upstream's Content-Length (NaN when it sent none). */
  length: number,
  scrubber: CredentialScrubber,
  check: ToolListCheck,
  /** Told when the upstream fails mid-body (then the stream just ends); without it, the stream errors. */
  broken: ((error: Error) => void) | undefined,
): ReadableStream<Uint8Array> | Uint8Array | string | Promise<Uint8Array | string> {
  const nodeToWeb = (stream: Readable) => streamOf(stream, scrubber, broken);
  // A small answer of known length (a JSON-RPC result) is read whole: one Buffer is far
  // cheaper to hand over than a web stream.
  const small = kind === "json" && length >= 0 && length <= BUFFERED_RESPONSE_BYTES;
  if (check.visible === undefined && check.review === undefined) return small ? readAll(body).then((whole) => scrubber.bytes(whole)) : nodeToWeb(body);
  // Any answer may carry a tools list (tool-list-filter.ts): SSE is checked event by event as
  // it streams, JSON whole (a client reads it whole anyway), and only parsed when it may.
  if (kind === "sse") return nodeToWeb(body).pipeThrough(filterToolsListSse(check));
  if (small) {
    return readAll(body).then<Uint8Array | string>((whole) => {
      const scrubbed = scrubber.bytes(whole);
      return bytesMayListTools(scrubbed) ? filterToolsListJson(Buffer.from(scrubbed.buffer, scrubbed.byteOffset, scrubbed.byteLength).toString("utf8"), check) : scrubbed;
    });
  }
  return readText(nodeToWeb(body), MAX_EVENT_CHARS).then((text) => filterToolsListJson(text, check));
}

/** A JSON answer read whole to be checked, refused (502) past `max` bytes. */
async function readText(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > max) {
      await stream.cancel().catch(() => undefined);
      throw new GatewayError({ status: 502, code: "upstream_error", message: `a JSON answer of the MCP server is longer than ${max} bytes`, rpcCode: JsonRpcCode.UpstreamError, expose: true });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Answers up to this size are read whole instead of streamed. */
const BUFFERED_RESPONSE_BYTES = 64 * 1024;

/**
 * The upstream's body as a web stream, read as the client takes it, with the request's
 * credentials scrubbed out as it passes (a secret cut between two chunks is held back
 * until it is whole). When the upstream fails mid-body, `broken` (which logs and cuts the
 * client's connection, so the answer cannot pass for complete) is told and the stream
 * ends; without `broken`, it errors.
 */
function streamOf(body: Readable, scrubber: CredentialScrubber, broken: ((error: Error) => void) | undefined): ReadableStream<Uint8Array> {
  if (broken === undefined && !scrubber.active) return Readable.toWeb(body) as ReadableStream<Uint8Array>;
  const scrub = scrubber.stream();
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const finish = () => {
        if (done) return;
        done = true;
        const rest = scrub.end();
        if (rest.length > 0) controller.enqueue(rest);
        controller.close();
      };
      body.on("data", (chunk: Buffer) => {
        if (done) return;
        const scrubbed = scrub.write(chunk);
        if (scrubbed.length > 0) controller.enqueue(scrubbed);
        if ((controller.desiredSize ?? 1) <= 0) body.pause();
      });
      body.once("end", finish);
      body.once("error", (error) => {
        if (done) return;
        if (broken === undefined) {
          done = true;
          controller.error(error);
          return;
        }
        broken(error);
        finish();
      });
      body.pause();
    },
    pull() {
      body.resume();
    },
    cancel() {
      // The client went away: stop reading the upstream.
      done = true;
      body.destroy();
    },
  });
}

/**
 * The body with the call's trace context in its `_meta` (MCP 2026-07-28, "OpenTelemetry
 * trace context"), for a single request; tracing is on. The body is otherwise forwarded as
 * the client's bytes, so it is rewritten only where that changes nothing else: a batch, a
 * response, or a body with a number JSON cannot carry exactly (16 digits or more) goes as
 * it came, with the context in the headers only.
 */
function withTraceMeta(request: ProxyRequest, trace: TraceCarrier): string | undefined {
  const body = request.body;
  const parsed = request.parsed;
  if (body === undefined || parsed === undefined || parsed.isBatch || parsed.messages.length !== 1) return body;
  const message = parsed.messages[0]!;
  if (!isRequest(message) || LONG_NUMBER.test(body)) return body;
  const params = message.params ?? {};
  const meta = typeof params._meta === "object" && params._meta !== null ? params._meta : {};
  return JSON.stringify({ ...message, params: { ...params, _meta: { ...meta, ...trace } } });
}

const LONG_NUMBER = /\d{16}/;
