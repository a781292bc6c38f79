/**
 * Resource subscriptions on an upstream session that several listeners share: a stdio
 * server's process (every caller's), a legacy SSE server's pooled session (one caller's
 * `/mcp` sessions and listens). The shared session is subscribed and never unsubscribed
 * (another listener may want the URI); each listener is handed the updates of its own URIs.
 *
 * A listener that starts again on the same shared session has only the URIs it did not
 * have there subscribed. A session's GET stream starts its listener again whenever the
 * session's subscriptions change: asking for every one of its URIs (up to 256) each time
 * made one `resources/subscribe` POST hundreds of upstream requests (SECURITY.md item 21).
 */
import type { CancelSource } from "../exchange.js";

export interface SharedSubscriptions {
  /**
   * Has `send` subscribe the shared session to each of `uris` it has not subscribed for this
   * listener (one at a time; those that fail are asked again next time), until `cancel`.
   */
  subscribe(listener: object, uris: ReadonlySet<string>, send: (uri: string) => Promise<unknown>, cancel: CancelSource): Promise<void>;
}

export function sharedSubscriptions(): SharedSubscriptions {
  /** Per listener (a stream's handler, the same across its restarts; forgotten with it): the URIs subscribed for it here. */
  const subscribedFor = new WeakMap<object, Set<string>>();
  return {
    async subscribe(listener, uris, send, cancel) {
      const before = subscribedFor.get(listener);
      // Only the listener's current URIs are remembered: a set that only grew would keep every URI it ever unsubscribed.
      const subscribed = new Set([...uris].filter((uri) => before?.has(uri) === true));
      subscribedFor.set(listener, subscribed);
      for (const uri of uris) {
        // A listener that was stopped (its stream restarted or ended) asks no more.
        if (cancel.aborted) return;
        if (subscribed.has(uri)) continue;
        try {
          await send(uri);
          subscribed.add(uri);
        } catch {
          // Refused or lost: asked again when the listener starts again.
        }
      }
    },
  };
}
