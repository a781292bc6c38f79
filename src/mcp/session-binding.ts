/**
 * Binds the pass-through's upstream session ids to the gateway key that opened them.
 *
 * The gateway cannot know an upstream's sessions, and an upstream that sees the same
 * credentials for every key (a static `auth_value`, one M2M token) cannot tell keys apart:
 * key Y presenting key X's `Mcp-Session-Id` would land in X's session (issue 15 item 3).
 * So the id the client sees is the upstream's id followed by a tag, an HMAC of (server,
 * caller, upstream id) under a key derived from the salt key:
 *
 *     Mcp-Session-Id: <upstream id>.<tag>
 *
 * A request whose id does not carry the tag for its own caller and server is answered
 * 404, as for an unknown session (MCP transports spec, "Session Management": the client
 * then starts a new session). Nothing is stored, so every gateway instance that shares the
 * salt key checks every id, with no sticky sessions and no memory to bound.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { GatewayError, JsonRpcCode } from "../errors.js";

export interface SessionBinding {
  /** The id the client is given for an upstream session opened by `caller` on `serverId`. */
  wrap(serverId: string, caller: string, upstreamId: string): string;
  /** The upstream id behind a client's id, or undefined when the id was not issued to this caller for this server. */
  unwrap(serverId: string, caller: string, clientId: string): string | undefined;
}

/** 128 bits of HMAC-SHA256: a tag cannot be guessed, and it stays short. */
const TAG_BYTES = 16;
const TAG_CHARS = Math.ceil((TAG_BYTES * 4) / 3);

export function sessionBinding(key: Buffer): SessionBinding {
  const tag = (serverId: string, caller: string, upstreamId: string): Buffer =>
    createHmac("sha256", key).update(`${serverId}\0${caller}\0${upstreamId}`).digest().subarray(0, TAG_BYTES);
  return {
    wrap: (serverId, caller, upstreamId) => `${upstreamId}.${tag(serverId, caller, upstreamId).toString("base64url")}`,
    unwrap(serverId, caller, clientId) {
      const dot = clientId.length - TAG_CHARS - 1;
      if (dot < 1 || clientId[dot] !== ".") return undefined;
      const upstreamId = clientId.slice(0, dot);
      const presented = Buffer.from(clientId.slice(dot + 1), "base64url");
      if (presented.length !== TAG_BYTES) return undefined;
      return timingSafeEqual(presented, tag(serverId, caller, upstreamId)) ? upstreamId : undefined;
    },
  };
}

/** The answer to a session id this caller was not given (MCP transports spec: 404 for an unknown session). */
export function sessionNotFound(serverName: string): GatewayError {
  return new GatewayError({
    status: 404,
    code: "session_not_found",
    message: `Session not found: this Mcp-Session-Id was not issued to your key for MCP server '${serverName}'; start a new session (initialize without Mcp-Session-Id)`,
    rpcCode: JsonRpcCode.InvalidRequest,
  });
}
