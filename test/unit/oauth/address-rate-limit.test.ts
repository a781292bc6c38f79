import { describe, expect, it } from "vitest";
import { addressRateLimit } from "../../../src/oauth/address-rate-limit.js";

/** A clock the test moves. */
function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("addressRateLimit", () => {
  it("allows `limit` registrations per address per sliding minute, then says how long to wait", () => {
    const clock = fakeClock();
    const limit = addressRateLimit({ limit: 3, now: clock.now });
    for (let index = 0; index < 3; index++) {
      expect(limit.take("198.51.100.1")).toEqual({ allowed: true });
      clock.advance(10_000);
    }
    // The first of the three was 30 s ago: 30 s to wait.
    expect(limit.take("198.51.100.1")).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect(limit.take("198.51.100.2")).toEqual({ allowed: true });
    clock.advance(30_000);
    expect(limit.take("198.51.100.1")).toEqual({ allowed: true });
    expect(limit.take("198.51.100.1")).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it("does not count refused attempts (hammering does not extend the wait)", () => {
    const clock = fakeClock();
    const limit = addressRateLimit({ limit: 1, now: clock.now });
    expect(limit.take("a").allowed).toBe(true);
    for (let index = 0; index < 50; index++) {
      clock.advance(1_000);
      expect(limit.take("a").allowed).toBe(false);
    }
    clock.advance(10_000);
    expect(limit.take("a").allowed).toBe(true);
  });

  it("0 means no limit", () => {
    const limit = addressRateLimit({ limit: 0 });
    for (let index = 0; index < 100; index++) expect(limit.take("a").allowed).toBe(true);
  });

  it("keeps at most maxAddresses, forgetting the address seen least recently", () => {
    const clock = fakeClock();
    const limit = addressRateLimit({ limit: 1, maxAddresses: 2, now: clock.now });
    expect(limit.take("a").allowed).toBe(true);
    expect(limit.take("b").allowed).toBe(true);
    expect(limit.take("a").allowed).toBe(false);
    // "b" is now the least recently seen: a third address pushes it out, and its count starts again.
    expect(limit.take("c").allowed).toBe(true);
    expect(limit.take("b").allowed).toBe(true);
    expect(limit.take("a").allowed).toBe(true);
  });
});
