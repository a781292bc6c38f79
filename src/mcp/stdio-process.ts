/**
 * One stdio MCP server (`transport: stdio`): the gateway runs its command with the official
 * SDK's StdioClientTransport, initializes it once, and keeps it running: a process that
 * exits or cannot start is started again after a bounded exponential backoff. Every client
 * of the server shares this one process (the README's "stdio servers" says what that means).
 *
 * Sharing needs the JSON-RPC traffic multiplexed: each request gets an id of the gateway's
 * own, and its progress token is replaced by that id, so an answer and its progress go back
 * to the caller that asked, whatever ids and tokens the callers chose (they may well collide).
 * The process's own requests cannot be routed to one caller: `ping` is answered, the rest
 * refused with -32601 (the gateway declares no client capabilities to it, so a server that
 * follows the spec sends none).
 *
 * Stopping closes stdin, then sends SIGTERM, then SIGKILL, about 2 s apart (the SDK's close).
 */
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  ErrorCode,
  LATEST_PROTOCOL_VERSION,
  McpError,
  SUPPORTED_PROTOCOL_VERSIONS,
  type InitializeResult,
  type JSONRPCMessage,
} from "@modelcontextprotocol/sdk/types.js";
import { credentialScrubber, envScrubber, type CredentialScrubber } from "../credential-scrubber.js";
import type { CancelSource } from "../exchange.js";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { Logger } from "../log.js";
import { upstreamRequest, withTraceMeta } from "../observability/tracing.js";
import type { StdioLaunch } from "../registry/server-entry.js";
import { GATEWAY_CLIENT_INFO } from "./upstream-session.js";

/** The SDK's stdio client (and cross-spawn), loaded with the first stdio server: most deployments have none. */
const sdk = async () => (await import("@modelcontextprotocol/sdk/client/stdio.js")).StdioClientTransport;

export type StdioState = "starting" | "ready" | "restarting" | "stopped";

export interface Backoff {
  /** Delay before the first restart. */
  initialMs: number;
  /** The delay doubles per failure up to this. */
  maxMs: number;
  /** A process that stayed ready this long counts as healthy: the next failure starts again at initialMs. */
  resetAfterMs: number;
}

/** README, "stdio servers": 0.5 s, doubling, at most 30 s; reset after 60 s of good running. */
export const DEFAULT_BACKOFF: Backoff = Object.freeze({ initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000 });

/** A JSON-RPC answer from the process, with the gateway's id. */
export type StdioAnswer = { jsonrpc: "2.0"; id: number; result: Record<string, unknown> } | { jsonrpc: "2.0"; id: number; error: { code: number; message: string; data?: unknown } };

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
  [key: string]: unknown;
}

export interface StdioRequest {
  /** The gateway's id for it (what a notifications/cancelled toward the process names). */
  readonly id: number;
  /** Settles with the process's answer; rejects when the process exits first or the request is cancelled. */
  readonly answer: Promise<StdioAnswer>;
  /** Tells the process (notifications/cancelled) and rejects `answer` with `reason`. */
  cancel(reason: string, error: Error): void;
}

export interface StdioServerSpec {
  readonly id: string;
  readonly name: string;
  readonly stdio: StdioLaunch;
  readonly timeoutMs: number;
}

interface Pending {
  settle: (answer: StdioAnswer) => void;
  fail: (error: Error) => void;
  onProgress: ((progress: Progress) => void) | undefined;
}

/** Answers to the process's own requests are dropped while this many writes wait for its stdin. */
const MAX_UNFLUSHED = 1024;

/** How long stop() waits for a process to go after SIGKILL. */
const KILL_WAIT_MS = 2_000;

/** Longest stderr line logged whole; the rest is cut (a process may print anything). */
const MAX_STDERR_LINE = 4096;

/** A message the process sent that the gateway has no use for (a hostile or chatty server floods nothing: they are dropped). */
const IGNORED = undefined;

export class StdioProcess {
  state: StdioState = "starting";
  /** The process's own answer to the gateway's initialize, which every client's initialize is answered from. */
  initializeResult: InitializeResult | undefined;
  private transport: StdioClientTransport | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private failures = 0;
  private readyAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartAt = 0;
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<(message: JSONRPCMessage) => void>();
  private stopping: Promise<void> | undefined;
  /** Messages written to stdin that the pipe has not taken yet (the SDK resolves a send on 'drain'). */
  private writes = { unflushed: 0 };
  /** Settles when a transport's process has exited (its stdio closed). */
  private readonly closed = new WeakMap<StdioClientTransport, Promise<void>>();

  /** The configured env values (its API keys, typically): masked in the stderr lines the gateway logs. */
  private readonly scrubber: CredentialScrubber;
  /** Its credential-carrying env values: masked in every message it sends (SECURITY.md item 11). */
  private readonly answerScrubber: CredentialScrubber;

  constructor(
    readonly server: StdioServerSpec,
    private readonly log: Logger,
    private readonly backoff: Backoff = DEFAULT_BACKOFF,
    private readonly now: () => number = Date.now,
  ) {
    this.scrubber = credentialScrubber(Object.values(server.stdio.env));
    this.answerScrubber = envScrubber(server.stdio.env);
  }

  /** Starts the first process; failures are logged and retried, never thrown. */
  start(): void {
    void this.launch();
  }

  /** The process's pid while one runs. */
  get pid(): number | undefined {
    return this.transport?.pid ?? undefined;
  }

  /** Told of every notification the process sends that is not progress (e.g. notifications/tools/list_changed). */
  onNotification(listener: (message: JSONRPCMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once the process is ready. A process that is starting is waited for (up to
   * `timeoutMs`); one that is down until its next restart is a 503 with Retry-After at once.
   */
  async ready(timeoutMs: number, cancel?: CancelSource): Promise<void> {
    if (this.state === "ready") return;
    if (this.state !== "starting") throw this.unavailable();
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        cancel?.removeListener("abort", aborted);
      };
      const check = () => {
        if (this.state === "starting") return;
        done();
        if (this.state === "ready") resolve();
        else reject(this.unavailable());
      };
      const aborted = () => {
        done();
        reject(cancel?.reason ?? new Error("aborted"));
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new GatewayError({
            status: 504,
            code: "upstream_timeout",
            message: `MCP server '${this.server.name}' did not finish starting within ${timeoutMs} ms`,
            rpcCode: JsonRpcCode.UpstreamTimeout,
            extra: { server: this.server.name },
          }),
        );
      }, timeoutMs);
      this.waiters.add(check);
      cancel?.once("abort", aborted);
    });
  }

  /**
   * Sends one request with an id of the gateway's; its progress token, if any, is replaced
   * by that id and its progress reported to `onProgress`. The process must be ready.
   */
  request(method: string, params: Record<string, unknown> | undefined, onProgress?: (progress: Progress) => void): StdioRequest {
    const transport = this.transport;
    if (this.state !== "ready" || transport === undefined) throw this.unavailable();
    // The process has no headers: the trace context goes in `_meta` (MCP 2026-07-28), as to every upstream.
    const traced = upstreamRequest(this.server.name, method, method === "tools/call" && typeof params?.name === "string" ? params.name : undefined);
    const request = this.sendRequest(transport, method, withTraceMeta(params, traced?.carrier), onProgress);
    traced?.until(request.answer);
    return request;
  }

  private sendRequest(transport: StdioClientTransport, method: string, params: Record<string, unknown> | undefined, onProgress?: (progress: Progress) => void): StdioRequest {
    const id = ++this.nextId;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const sent = meta?.progressToken === undefined ? params : { ...params, _meta: { ...meta, progressToken: id } };
    let settle!: (answer: StdioAnswer) => void;
    let fail!: (error: Error) => void;
    const answer = new Promise<StdioAnswer>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    // A rejection nobody awaits (the caller went away first) is not an unhandled one.
    answer.catch(() => undefined);
    this.pending.set(id, { settle, fail, onProgress: meta?.progressToken === undefined ? undefined : onProgress });
    this.send(transport, { jsonrpc: "2.0", id, method, ...(sent === undefined ? {} : { params: sent }) });
    return {
      id,
      answer,
      cancel: (reason, error) => {
        if (!this.pending.delete(id)) return;
        if (this.transport === transport) this.send(transport, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason } });
        fail(error);
      },
    };
  }

  /**
   * One request as the gateway's own client (the aggregate, the REST API): waits for a
   * starting process, bounded by `timeout` (restarted by progress when asked), cancelled
   * upstream when the caller goes away or the time is up. Resolves with the result;
   * rejects with McpError for the process's JSON-RPC error or the timeout.
   */
  async call(
    method: string,
    params: Record<string, unknown>,
    options: { cancel?: CancelSource; timeout: number; onprogress?: (progress: Progress) => void; resetTimeoutOnProgress?: boolean },
  ): Promise<Record<string, unknown>> {
    await this.ready(options.timeout, options.cancel);
    const wantsProgress = options.onprogress !== undefined;
    let timer: NodeJS.Timeout | undefined;
    let request: StdioRequest | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => request?.cancel("timeout", new McpError(ErrorCode.RequestTimeout, "Request timed out", { timeout: options.timeout })), options.timeout);
    };
    const onClientAbort = () => request?.cancel("the client went away", (options.cancel?.reason as Error | undefined) ?? new Error("aborted"));
    try {
      request = this.request(method, wantsProgress ? { ...params, _meta: { ...(params._meta as Record<string, unknown> | undefined), progressToken: 0 } } : params, (progress) => {
        options.onprogress?.(progress);
        if (options.resetTimeoutOnProgress === true) arm();
      });
      arm();
      if (options.cancel?.aborted) onClientAbort();
      else options.cancel?.once("abort", onClientAbort);
      const answer = await request.answer;
      if ("error" in answer) throw new McpError(answer.error.code, answer.error.message, answer.error.data);
      return answer.result;
    } finally {
      clearTimeout(timer);
      options.cancel?.removeListener("abort", onClientAbort);
    }
  }

  /** Stops supervising and ends the process: stdin closed, then SIGTERM, then SIGKILL. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = "stopped";
      clearTimeout(this.restartTimer);
      this.notifyWaiters();
      const transport = this.transport;
      this.transport = undefined;
      this.failPending(`MCP server '${this.server.name}' is stopping`);
      if (transport !== undefined) {
        const pid = transport.pid;
        const closed = this.closed.get(transport);
        await transport.close().catch(() => undefined);
        // The SDK's close does not wait once it has sent SIGKILL: wait for the exit (bounded), so none outlives the gateway.
        if (pid !== null && closed !== undefined) await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, KILL_WAIT_MS).unref())]);
        this.log.info({ server: this.server.name, pid }, "stdio MCP server stopped");
      }
    })();
    return this.stopping;
  }

  private isStopped(): boolean {
    return this.state === "stopped";
  }

  private async launch(): Promise<void> {
    this.state = "starting";
    this.notifyWaiters();
    const { stdio } = this.server;
    let transport: StdioClientTransport | undefined;
    try {
      const StdioClientTransport = await sdk();
      if (this.state !== "starting") return;
      transport = new StdioClientTransport({ command: stdio.command, args: [...stdio.args], env: { ...stdio.env }, stderr: "pipe" });
      this.transport = transport;
      this.writes = { unflushed: 0 };
      this.logStderr(transport.stderr as Readable | null);
      const current = transport;
      transport.onmessage = (message) => this.received(current, message);
      this.closed.set(transport, new Promise<void>((resolve) => {
        current.onclose = () => {
          resolve();
          this.exited(current);
        };
      }));
      transport.onerror = (error) => {
        // While starting, the failure is reported once, by launch().
        if (this.transport === current && this.state === "ready") this.log.warn({ server: this.server.name, err: error.message }, "stdio MCP server: transport error");
      };
      await transport.start();
      if (this.transport !== transport) return;
      this.log.info({ server: this.server.name, pid: transport.pid, command: stdio.command }, "stdio MCP server process started");
      await this.initialize(transport);
      if (this.transport !== transport) return;
      this.state = "ready";
      this.readyAt = this.now();
      this.notifyWaiters();
      this.log.info({ server: this.server.name, pid: transport.pid, upstream: this.initializeResult?.serverInfo }, "stdio MCP server is ready");
    } catch (error) {
      if (this.transport !== transport || this.isStopped()) return;
      this.failed(`could not start: ${describe(error)}`);
    }
  }

  /** initialize, then notifications/initialized (MCP lifecycle), within the server's timeout. */
  private async initialize(transport: StdioClientTransport): Promise<void> {
    const request = this.sendRequest(transport, "initialize", { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: GATEWAY_CLIENT_INFO });
    const timer = setTimeout(() => request.cancel("timeout", new Error(`no answer to initialize within ${this.server.timeoutMs} ms`)), this.server.timeoutMs);
    let answer: StdioAnswer;
    try {
      answer = await request.answer;
    } finally {
      clearTimeout(timer);
    }
    if ("error" in answer) throw new Error(`initialize was refused: ${answer.error.message}`);
    const result = answer.result as unknown as InitializeResult;
    if (typeof result.protocolVersion !== "string" || !SUPPORTED_PROTOCOL_VERSIONS.includes(result.protocolVersion)) {
      throw new Error(`its protocol version is not supported: ${String(result.protocolVersion)}`);
    }
    this.initializeResult = result;
    this.send(transport, { jsonrpc: "2.0", method: "notifications/initialized" });
  }

  private received(transport: StdioClientTransport, sent: JSONRPCMessage): void {
    if (this.transport !== transport) return;
    // Answers, progress and notifications reach callers: a server echoing its own token shows it to none.
    const message = this.answerScrubber.value(sent);
    if (!("method" in message)) {
      const id = "id" in message ? message.id : undefined;
      const pending = typeof id === "number" ? this.pending.get(id) : undefined;
      if (pending === undefined) return IGNORED; // cancelled, or an id the gateway never sent
      this.pending.delete(id as number);
      pending.settle(message as StdioAnswer);
      return;
    }
    if ("id" in message) {
      // A process that floods requests without reading its stdin would have the answers pile up in memory: past the bound, none is answered.
      if (this.writes.unflushed > MAX_UNFLUSHED) return IGNORED;
      // The process asks its client something. Only ping can be answered for all of them.
      this.send(
        transport,
        message.method === "ping"
          ? { jsonrpc: "2.0", id: message.id, result: {} }
          : { jsonrpc: "2.0", id: message.id, error: { code: ErrorCode.MethodNotFound, message: `Method not found: the gateway shares this server between its clients and cannot route '${message.method}' to one of them` } },
      );
      return;
    }
    if (message.method === "notifications/progress") {
      const params = message.params as Progress & { progressToken?: unknown };
      const pending = typeof params.progressToken === "number" ? this.pending.get(params.progressToken) : undefined;
      if (pending?.onProgress === undefined || typeof params.progress !== "number") return IGNORED;
      const { progressToken: _token, ...progress } = params;
      pending.onProgress(progress);
      return;
    }
    for (const listener of this.listeners) listener(message);
  }

  private send(transport: StdioClientTransport, message: JSONRPCMessage): void {
    // Counted per process: a dead one's stdin never drains, and must not hold back its successor's answers.
    const writes = this.writes;
    writes.unflushed++;
    transport
      .send(message)
      .catch((error: unknown) => {
        if (this.transport === transport) this.log.warn({ server: this.server.name, err: describe(error) }, "stdio MCP server: could not write to its stdin");
      })
      .finally(() => writes.unflushed--);
  }

  private exited(transport: StdioClientTransport): void {
    if (this.transport !== transport || this.state === "stopped") return;
    this.failed(this.state === "ready" ? "exited" : "exited before it finished initializing");
  }

  /** The process failed (did not start, or exited): its requests fail, and a restart is scheduled. */
  private failed(reason: string): void {
    const wasReady = this.state === "ready";
    const transport = this.transport;
    this.transport = undefined;
    void transport?.close().catch(() => undefined);
    if (this.state === "ready" && this.now() - this.readyAt >= this.backoff.resetAfterMs) this.failures = 0;
    const delay = Math.min(this.backoff.initialMs * 2 ** this.failures, this.backoff.maxMs);
    this.failures++;
    this.state = "restarting";
    this.restartAt = this.now() + delay;
    this.failPending(`MCP server '${this.server.name}' exited while handling the request; it is being restarted`);
    this.notifyWaiters();
    this.log.error(
      { server: this.server.name, command: this.server.stdio.command, reason, failures: this.failures, restart_in_ms: delay },
      `stdio MCP server '${this.server.name}' ${reason}; restarting it in ${delay} ms${wasReady ? "" : " (check its command, args and env; its stderr lines are logged with its name)"}`,
    );
    this.restartTimer = setTimeout(() => void this.launch(), delay);
    this.restartTimer.unref();
  }

  private failPending(message: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) {
      request.fail(new GatewayError({ status: 502, code: "upstream_unreachable", message, rpcCode: JsonRpcCode.UpstreamError, extra: { server: this.server.name } }));
    }
  }

  private notifyWaiters(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Down until its next restart (or stopped): 503 with the seconds until the restart. */
  private unavailable(): GatewayError {
    const seconds = Math.max(1, Math.ceil((this.restartAt - this.now()) / 1000));
    const stopped = this.state === "stopped";
    return new GatewayError({
      status: 503,
      code: "upstream_unavailable",
      message: stopped
        ? `MCP server '${this.server.name}' is stopped (the gateway is shutting down or the server was removed)`
        : `MCP server '${this.server.name}' is not running (its process exited or could not start); the gateway restarts it in about ${seconds} s`,
      rpcCode: JsonRpcCode.UpstreamError,
      headers: stopped ? {} : { "retry-after": String(seconds) },
      extra: { server: this.server.name },
    });
  }

  /** Each stderr line goes to the log with the server's name. */
  private logStderr(stderr: Readable | null): void {
    if (stderr === null) return;
    const lines = createInterface({ input: stderr, crlfDelay: Infinity });
    lines.on("line", (line) => {
      if (line.trim() === "") return;
      const text = this.scrubber.text(line);
      this.log.info({ server: this.server.name, stream: "stderr" }, text.length > MAX_STDERR_LINE ? `${text.slice(0, MAX_STDERR_LINE)}…` : text);
    });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
