/**
 * At most `limit` requests in flight per upstream origin (one request is one connection:
 * no pipelining), and a queue the gateway owns for the rest.
 *
 * undici's own pool queue is not used: a request aborted while queued there is failed
 * only once a connection frees up, and after an abort undici was seen to send a queued,
 * already-aborted request anyway, past the connection limit. Here a request waits for a
 * slot with its deadline; one that gives up leaves the queue at once and never reaches
 * undici (issue 15 item 5: `timeout` covers the wait for a connection, and a caller told
 * 504 must not have its call run later).
 */

/** Frees a slot (idempotent). */
export type ReleaseSlot = () => void;

interface Waiter {
  settled: boolean;
  grant(release: ReleaseSlot): void;
}

interface Origin {
  active: number;
  waiting: Waiter[];
}

export interface OriginSlots {
  /** A free slot at once, or undefined when the origin is at its limit. */
  tryTake(origin: string): ReleaseSlot | undefined;
  /** Waits in line for a slot; rejects (and leaves the line) as soon as `ended` rejects. */
  wait(origin: string, ended: Promise<never>): Promise<ReleaseSlot>;
  /** Requests in flight to an origin (tests, metrics). */
  active(origin: string): number;
}

export function originSlots(limit: number): OriginSlots {
  const origins = new Map<string, Origin>();

  function releaser(origin: string, state: Origin): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Hand the slot to the first waiter still waiting, else give it back.
      for (let next = state.waiting.shift(); next !== undefined; next = state.waiting.shift()) {
        if (!next.settled) return next.grant(releaser(origin, state));
      }
      state.active--;
      if (state.active === 0 && origins.get(origin) === state) origins.delete(origin);
    };
  }

  function stateOf(origin: string): Origin {
    let state = origins.get(origin);
    if (state === undefined) origins.set(origin, (state = { active: 0, waiting: [] }));
    return state;
  }

  return {
    tryTake(origin) {
      const state = stateOf(origin);
      if (state.active >= limit) return undefined;
      state.active++;
      return releaser(origin, state);
    },
    wait(origin, ended) {
      const state = stateOf(origin);
      return new Promise<ReleaseSlot>((resolve, reject) => {
        const waiter: Waiter = {
          settled: false,
          grant(release) {
            waiter.settled = true;
            resolve(release);
          },
        };
        state.waiting.push(waiter);
        ended.catch((error: unknown) => {
          if (waiter.settled) return;
          waiter.settled = true;
          const index = state.waiting.indexOf(waiter);
          if (index !== -1) state.waiting.splice(index, 1);
          reject(error as Error);
        });
      });
    },
    active: (origin) => origins.get(origin)?.active ?? 0,
  };
}
