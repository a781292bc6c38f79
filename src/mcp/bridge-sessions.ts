/**
 * The sessions of a bridge that serves an upstream without streamable HTTP of its own
 * (legacy SSE, stdio) to clients as streamable HTTP: one entry per client session, bound
 * to the server and the caller's key that opened it, closed when idle too long or when the
 * table is full (oldest first).
 */
import { GatewayError, JsonRpcCode } from "../errors.js";

export interface BridgeSessionBase {
  serverId: string;
  /** The key that opened the session (`Caller.subject`): no other key may use it. */
  callerSubject: string;
  lastUsed: number;
}

export interface BridgeSessionOptions {
  maxSessions?: number;
  idleMs?: number;
  now?: () => number;
}

export interface BridgeSessions<S extends BridgeSessionBase> {
  readonly now: () => number;
  add(id: string, session: S): void;
  /** Closes the session (`onClose` runs once); unknown ids are ignored. */
  close(id: string): void;
  /** Closes idle sessions, and the oldest while the table is full; before a new one opens. */
  evictIdle(): void;
  /** The caller's session, touched; another caller's, another server's or an expired one is a 404 alike. */
  owned(id: string, serverId: string, callerSubject: string): S;
  closeAll(): void;
}

export function bridgeSessions<S extends BridgeSessionBase>(options: BridgeSessionOptions, onClose: (session: S) => void): BridgeSessions<S> {
  const sessions = new Map<string, S>();
  const maxSessions = options.maxSessions ?? 1000;
  const idleMs = options.idleMs ?? 30 * 60_000;
  const now = options.now ?? Date.now;

  function close(id: string): void {
    const session = sessions.get(id);
    if (session === undefined) return;
    sessions.delete(id);
    onClose(session);
  }

  return {
    now,
    add: (id, session) => void sessions.set(id, session),
    close,
    evictIdle() {
      const cutoff = now() - idleMs;
      for (const [id, session] of sessions) if (sessions.size >= maxSessions || session.lastUsed < cutoff) close(id);
    },
    owned(id, serverId, callerSubject) {
      const session = sessions.get(id);
      // Another caller's session is as unknown as an expired one.
      if (session === undefined || session.serverId !== serverId || session.callerSubject !== callerSubject) {
        throw new GatewayError({ status: 404, code: "session_not_found", message: "Session not found", rpcCode: JsonRpcCode.InvalidRequest });
      }
      session.lastUsed = now();
      return session;
    },
    closeAll() {
      for (const id of [...sessions.keys()]) close(id);
    },
  };
}
