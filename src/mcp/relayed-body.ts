/**
 * Which upstream bodies the pass-through relays (issue 15 item 1). The gateway's origin
 * also serves the admin UI, so an upstream's answer must never become active content
 * there: a delegating server's `text/html` page with a script, opened by a signed-in
 * admin, minted a master-scoped key. The streamable-HTTP transport answers only with
 * `application/json` or `text/event-stream` (MCP transports spec, "Sending Messages to
 * the Server", "Listening for Messages from the Server"), so those are the only bodies
 * relayed; an answer without a body needs no type.
 */
import type { Readable } from "node:stream";
import { GatewayError, JsonRpcCode } from "../errors.js";
import type { McpServerEntry } from "../registry/server-entry.js";

/** A body to relay, no body, or a body that is refused (with what it was, for the message). */
export type UpstreamBody = "json" | "sse" | "empty" | { refused: string };

/** The relayed kind of a Content-Type, or undefined for any other type. */
export function relayedKind(contentType: string | undefined): "json" | "sse" | undefined {
  if (contentType === undefined) return undefined;
  // The usual values, settled without taking them apart.
  if (contentType === "application/json") return "json";
  if (contentType === "text/event-stream") return "sse";
  const media = contentType.split(";", 1)[0]!.trim().toLowerCase();
  return media === "application/json" ? "json" : media === "text/event-stream" ? "sse" : undefined;
}

/** What a media type looks like in a message: the type when it is a plain token pair, never arbitrary upstream text. */
function describe(contentType: string | undefined): string {
  const media = contentType?.split(";", 1)[0]!.trim().toLowerCase() ?? "";
  return /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/.test(media) ? `a ${media} body` : media === "" ? "a body without a Content-Type" : "a body of an unusable Content-Type";
}

/**
 * Classifies an upstream body. A body of another type, or one the upstream compressed
 * unasked (the gateway sends no Accept-Encoding; a compressed body could not be checked or
 * scrubbed), is refused and its connection closed. A body of no type is relayed only when
 * it turns out empty (a 202, a DELETE's 200).
 */
export function classifyBody(headers: Record<string, string | string[] | undefined>, body: Readable): UpstreamBody | Promise<UpstreamBody> {
  const encoding = headers["content-encoding"];
  const contentType = typeof headers["content-type"] === "string" ? headers["content-type"] : undefined;
  if (encoding !== undefined && String(encoding).trim().toLowerCase() !== "identity") {
    discard(body);
    return { refused: "a compressed body (Content-Encoding), which the gateway did not ask for" };
  }
  // The usual answer is settled from its headers, without a promise.
  const kind = relayedKind(contentType);
  if (kind !== undefined) return kind;
  if (headers["content-length"] === "0") return "empty";
  return isEmpty(body).then((empty) => (empty ? "empty" : { refused: describe(contentType) }));
}

/** Whether the body ends before its first byte; a body that has one is destroyed (it is refused). */
function isEmpty(body: Readable): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (empty: boolean) => {
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      if (!empty) discard(body);
      resolve(empty);
    };
    const onData = () => done(false);
    const onEnd = () => done(true);
    const onError = () => done(false);
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
  });
}

/** A refused body is not read on (it may be endless): its connection is closed, and the abort that causes is expected. */
function discard(body: Readable): void {
  body.on("error", () => undefined);
  body.destroy();
}

/**
 * The upstream's answer is not relayed. An error status is kept (a 404 still tells the
 * client its session is gone, a 405 on GET that there is no stream, a 429 when to retry),
 * with the gateway's own JSON-RPC error as the body; anything else is a 502.
 */
export function unrelayedAnswer(server: McpServerEntry, status: number, what: string, retryAfter: string | undefined): GatewayError {
  return new GatewayError({
    status: status >= 400 && status <= 599 ? status : 502,
    code: "upstream_error",
    message: `MCP server '${server.name}' answered HTTP ${status} with ${what}; the gateway relays only application/json and text/event-stream answers: check the server's url`,
    detail: `${server.url.origin} answered ${status} with ${what}`,
    rpcCode: JsonRpcCode.UpstreamError,
    ...(retryAfter === undefined ? {} : { headers: { "retry-after": retryAfter } }),
    extra: { server: server.name, upstream_status: status },
    expose: true,
  });
}
