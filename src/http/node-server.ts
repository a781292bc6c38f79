/**
 * The node:http server under the Hono app, with a graceful shutdown: stop accepting,
 * answer in-flight requests with `Connection: close`, then close every connection that is
 * left (idle keep-alive sockets, sockets a client opened but never used), bounded by a
 * deadline after which in-flight requests are cut.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { getRequestListener } from "@hono/node-server";
import type { Logger } from "../log.js";

export interface NodeServer {
  server: Server;
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  /** Resolves once every connection is closed. */
  shutdown(deadlineMs: number): Promise<void>;
}

export async function serveNode(
  fetch: (request: Request) => Response | Promise<Response>,
  options: {
    port: number;
    host: string;
    log: Logger;
    /** Runs first, before either lane: answers a request it refuses (returns true), e.g. the DNS-rebinding checks. */
    guard?: (request: IncomingMessage, response: ServerResponse) => boolean;
    /** Answers the requests it recognises straight from node:http (returns true); the rest go to `fetch`. */
    fastPath?: (request: IncomingMessage, response: ServerResponse) => boolean;
    /** Told of every request as it arrives (before any lane), and again when its answer is done, with the seconds it took. */
    observe?: {
      start(request: IncomingMessage, response: ServerResponse): void;
      end(request: IncomingMessage, response: ServerResponse, seconds: number): void;
    };
  },
): Promise<NodeServer> {
  const listener = getRequestListener(fetch);
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let allDone: (() => void) | undefined;

  const observe = options.observe;
  // Slow clients (slowloris): headers within 20 s and the whole request within 60 s, checked every 5 s.
  const server = createServer({ headersTimeout: 20_000, requestTimeout: 60_000, connectionsCheckingInterval: 5_000 }, (request, response) => {
    const started = performance.now();
    inFlight.add(response);
    if (draining) response.shouldKeepAlive = false;
    observe?.start(request, response);
    response.once("close", () => {
      inFlight.delete(response);
      observe?.end(request, response, (performance.now() - started) / 1000);
      if (inFlight.size === 0) allDone?.();
    });
    if (options.guard?.(request, response) === true) return;
    if (options.fastPath?.(request, response) === true) return;
    void listener(request, response);
  });
  // Longer than the usual 60 s idle timeout of load balancers, so they close first.
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    server,
    url: `http://${host}:${address.port}`,
    async shutdown(deadlineMs) {
      draining = true;
      for (const response of inFlight) if (!response.headersSent) response.shouldKeepAlive = false;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const finished = new Promise<void>((resolve) => {
        allDone = resolve;
        if (inFlight.size === 0) resolve();
      });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), deadlineMs);
      });
      const timedOut = await Promise.race([finished.then(() => false), deadline]);
      clearTimeout(timer);
      if (timedOut) options.log.warn({ in_flight: inFlight.size }, "in-flight requests did not finish within shutdown_timeout_seconds; closing their connections");
      // What is left is idle, never used, or past the deadline.
      server.closeAllConnections();
      await stopped;
    },
  };
}
