/**
 * The node:http server every request arrives on, with a graceful shutdown: stop
 * accepting, answer in-flight requests with `Connection: close`, then close every
 * connection that is left (idle keep-alive sockets, sockets a client opened but never
 * used), bounded by a deadline after which in-flight requests are cut.
 *
 * Each request becomes a `NodeExchange` and goes to `handle` (the router). In-flight
 * requests are counted, not kept in a set: a set of responses per request cost ~20 µs of
 * garbage collection a request in the benchmark (README, Performance).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log.js";
import { NodeExchange, type ExchangeHost } from "./exchange.js";

export interface NodeServer {
  server: Server;
  /** e.g. http://127.0.0.1:4000 */
  url: string;
  /** Resolves once every connection is closed. */
  shutdown(deadlineMs: number): Promise<void>;
}

export async function serveNode(options: {
  port: number;
  host: string;
  log: Logger;
  /** Routes the request; answers it, now or later. */
  handle: (exchange: NodeExchange) => void;
  /** Told when a request's connection is done with it (answered, failed or abandoned). */
  ended?: (exchange: NodeExchange) => void;
}): Promise<NodeServer> {
  let inFlight = 0;
  let allDone: (() => void) | undefined;
  const host: ExchangeHost = {
    draining: false,
    log: options.log,
    ended(exchange) {
      inFlight--;
      options.ended?.(exchange);
      if (inFlight === 0) allDone?.();
    },
  };

  // Slow clients (slowloris): headers within 20 s and the whole request within 60 s, checked every 5 s.
  const server = createServer({ headersTimeout: 20_000, requestTimeout: 60_000, connectionsCheckingInterval: 5_000 }, (request, response) => {
    inFlight++;
    if (host.draining) response.shouldKeepAlive = false;
    options.handle(new NodeExchange(request, response, host));
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
  const hostname = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    server,
    url: `http://${hostname}:${address.port}`,
    async shutdown(deadlineMs) {
      // Answers written from now on say `Connection: close` (NodeExchange.write and the Hono adapter read this).
      host.draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const finished = new Promise<void>((resolve) => {
        allDone = resolve;
        if (inFlight === 0) resolve();
      });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), deadlineMs);
      });
      const timedOut = await Promise.race([finished.then(() => false), deadline]);
      clearTimeout(timer);
      if (timedOut) options.log.warn({ in_flight: inFlight }, "in-flight requests did not finish within shutdown_timeout_seconds; closing their connections");
      // What is left is idle, never used, or past the deadline.
      server.closeAllConnections();
      await stopped;
    },
  };
}
