/**
 * The server side of a stateless streamable-HTTP MCP endpoint (MCP transports spec,
 * "Sending Messages to the Server"), as small as the aggregate `/mcp` needs: a POST holds
 * one JSON-RPC message or a batch; notifications and responses alone get 202; requests
 * are answered as one JSON body, or as an SSE stream when a request asked for progress
 * and the client accepts SSE. `initialize` and `ping` are answered here; other methods go
 * to the handlers, and an unknown one is -32601.
 *
 * It replaces the official SDK's Server and web-standard transport on this path: built per
 * request, they cost more than the calls they route (issue 9). Wording and status codes of
 * the transport errors follow the SDK's, so clients see the same answers.
 */
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { GatewayError, JsonRpcCode, clientMessage, toGatewayError } from "../errors.js";
import type { RequestHeaders } from "../headers.js";
import { jsonAnswer, type HttpAnswer } from "../exchange.js";
import { isRequest, type ClientMessage, type JsonRpcId, type JsonRpcRequest, type ParsedBody } from "./jsonrpc.js";

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

export interface MethodContext {
  /** Relays progress to the client, when its request carried a progressToken and the answer streams. */
  progress?: (progress: Progress) => void;
  /** Sends a message (a server request or notification) on the answer's stream, when it streams. */
  send?: (message: Record<string, unknown>) => void;
  /** The request's JSON-RPC id (what a client's notifications/cancelled names). */
  id?: JsonRpcId;
}

export type MethodHandler = (params: Record<string, unknown>, context: MethodContext) => Promise<unknown>;

export interface StatelessServer {
  serverInfo: { name: string; version: string };
  capabilities: Record<string, unknown>;
  instructions?: string;
  methods: Record<string, MethodHandler>;
}

type Answer = { jsonrpc: "2.0"; id: JsonRpcId; result: unknown } | { jsonrpc: "2.0"; id: JsonRpcId; error: { code: number; message: string; data?: unknown } };

/**
 * Checks the transport headers (415, 400) before anything runs: throws a GatewayError the
 * route answers as JSON-RPC.
 */
export function checkTransportHeaders(headers: RequestHeaders, parsed: ParsedBody, options: { versionChecked?: boolean } = {}): void {
  const contentType = headers.get("content-type") ?? "";
  if (!contentType.includes("application/json")) {
    throw new GatewayError({ status: 415, code: "unsupported_media_type", message: "Unsupported Media Type: Content-Type must be application/json", rpcCode: JsonRpcCode.TransportError });
  }
  // A 2026-07-28 request's version is checked with its other headers (modern-protocol.ts).
  if (options.versionChecked === true) return;
  const version = headers.get("mcp-protocol-version");
  const initializing = parsed.messages.some((message) => isRequest(message) && message.method === "initialize");
  if (version !== null && !initializing && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new GatewayError({
      status: 400,
      code: "unsupported_protocol_version",
      message: `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`,
      rpcCode: JsonRpcCode.TransportError,
    });
  }
}

/** Whether the answer should stream: a request wants progress, and the client accepts SSE. */
export function wantsProgressStream(headers: RequestHeaders, parsed: ParsedBody): boolean {
  return acceptsEventStream(headers) && parsed.messages.some((message) => progressToken(message) !== undefined);
}

export function acceptsEventStream(headers: RequestHeaders): boolean {
  return (headers.get("accept") ?? "").includes("text/event-stream");
}

/**
 * Answers the requests among `messages`. `stream` picks SSE (progress relayed as it comes)
 * over one JSON body. `beforeAnswer` runs once every call is done and may throw to replace
 * the whole answer (JSON only: a stream has started).
 */
export async function answerMessages(
  server: StatelessServer,
  parsed: ParsedBody,
  options: {
    /**
     * `true`: SSE from the start (progress relayed as it comes); `"upgrade"`: one JSON body
     * unless a message has to go before the answers (a request from the upstream, a log
     * message), then SSE from that moment; `false`: JSON.
     */
    stream: boolean | "upgrade";
    beforeAnswer?: () => void;
    /** Told once per stream when notifications start being dropped for a client that does not read. */
    onDropped?: () => void;
  },
): Promise<HttpAnswer> {
  const requests = parsed.messages.filter((message): message is JsonRpcRequest & { id: JsonRpcId } => isRequest(message) && message.id !== undefined);
  // Notifications (initialized, cancelled) and responses need no answer (MCP transports spec).
  if (requests.length === 0) return { status: 202, headers: {}, body: null };
  if (options.stream === false) {
    const answers = await Promise.all(requests.map((request) => answer(server, request, {})));
    options.beforeAnswer?.();
    // A batch is answered with an array, even of one (JSON-RPC 2.0 §6).
    return jsonAnswer(parsed.isBatch ? answers : answers[0]);
  }
  if (options.stream === true) {
    const sse = sseAnswer(options.onDropped);
    void Promise.all(
      requests.map(async (request) => {
        const token = progressToken(request);
        const progress = token === undefined ? undefined : (value: Progress) => sse.send({ jsonrpc: "2.0", method: "notifications/progress", params: { ...value, progressToken: token } });
        sse.send(await answer(server, request, progress === undefined ? { send: sse.send } : { progress, send: sse.send }));
      }),
    ).then(sse.close);
    return sse.answer;
  }
  // Upgrade: answers are held until all are in (JSON), unless a message must go first.
  return new Promise<HttpAnswer>((resolve, reject) => {
    let sse: ReturnType<typeof sseAnswer> | undefined;
    let answeredAsJson = false;
    const done: Answer[] = [];
    const send = (message: unknown) => {
      // After a JSON answer there is nowhere for a message to go (a held call's later log messages, say).
      if (answeredAsJson) return;
      if (sse === undefined) {
        sse = sseAnswer(options.onDropped);
        for (const held of done) sse.send(held);
        resolve(sse.answer);
      }
      sse.send(message);
    };
    Promise.all(
      requests.map(async (request) => {
        const answered = await answer(server, request, { send });
        if (sse === undefined) done.push(answered);
        else sse.send(answered);
        return answered;
      }),
    ).then(
      (answers) => {
        if (sse !== undefined) {
          sse.close();
          return;
        }
        answeredAsJson = true;
        try {
          options.beforeAnswer?.();
          resolve(jsonAnswer(parsed.isBatch ? answers : answers[0]));
        } catch (error) {
          reject(error);
        }
      },
      reject,
    );
  });
}

/** An SSE answer, and how to write a message to it (dropping notifications past its bound for a client that does not read) and end it. */
function sseAnswer(onDropped: (() => void) | undefined): { answer: HttpAnswer; send: (message: unknown) => void; close: () => void } {
  const encoder = new TextEncoder();
  let dropping = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>(
    {
      start(given) {
        controller = given;
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: STREAM_QUEUE_BYTES }),
  );
  const send = (message: unknown) => {
    // Notifications (progress, what an upstream sends during a call) must not queue without end for a client that
    // does not read: past the queue's bound they are dropped; answers are always kept.
    if ((controller.desiredSize ?? 0) < 0 && (message as { id?: unknown }).id === undefined) {
      if (!dropping) onDropped?.();
      dropping = true;
      return;
    }
    dropping = false;
    try {
      controller.enqueue(encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`));
    } catch {
      // The client went away: the stream is closed; the calls end on their signal.
    }
  };
  const close = () => {
    try {
      controller.close();
    } catch {
      // already cancelled by the client
    }
  };
  return { answer: { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" }, body }, send, close };
}

/** What an answer stream holds for a client that does not read before notifications are dropped. */
const STREAM_QUEUE_BYTES = 1024 * 1024;

async function answer(server: StatelessServer, request: JsonRpcRequest & { id: JsonRpcId }, context: MethodContext): Promise<Answer> {
  try {
    return { jsonrpc: "2.0", id: request.id, result: await dispatch(server, request, { ...context, id: request.id }) };
  } catch (error) {
    const failure = toGatewayError(error);
    const data = failure.expose ? { code: failure.code, ...failure.extra } : undefined;
    return { jsonrpc: "2.0", id: request.id, error: { code: failure.rpcCode, message: clientMessage(failure), ...(data === undefined ? {} : { data }) } };
  }
}

async function dispatch(server: StatelessServer, request: JsonRpcRequest, context: MethodContext): Promise<unknown> {
  const params = request.params ?? {};
  if (request.method === "initialize") {
    const requested = params.protocolVersion;
    return {
      // The client's version when this server speaks it, else the latest (MCP lifecycle, "Version Negotiation").
      protocolVersion: typeof requested === "string" && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities: server.capabilities,
      serverInfo: server.serverInfo,
      ...(server.instructions === undefined ? {} : { instructions: server.instructions }),
    };
  }
  if (request.method === "ping") return {};
  const handler = Object.hasOwn(server.methods, request.method) ? server.methods[request.method] : undefined;
  if (handler === undefined) {
    throw new GatewayError({ status: 404, code: "method_not_found", message: "Method not found", rpcCode: JsonRpcCode.MethodNotFound });
  }
  return handler(params, context);
}

function progressToken(message: ClientMessage): string | number | undefined {
  if (!isRequest(message)) return undefined;
  const token = (message.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
  return typeof token === "string" || typeof token === "number" ? token : undefined;
}
