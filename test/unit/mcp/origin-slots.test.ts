/** `originSlots` (src/mcp/origin-slots.ts): the per-origin connection limit and the gateway's own queue (issue 15 item 5). */
import { describe, expect, it } from "vitest";
import { originSlots } from "../../../src/mcp/origin-slots.js";

/** A deadline the test ends by hand. */
function deadline(): { ended: Promise<never>; end(): void } {
  let end: (error: Error) => void = () => undefined;
  const ended = new Promise<never>((_, reject) => (end = reject));
  ended.catch(() => undefined);
  return { ended, end: () => end(new Error("deadline")) };
}

describe("originSlots", () => {
  it("gives `limit` slots per origin at once, and none beyond", () => {
    const slots = originSlots(2);
    expect(slots.tryTake("http://a")).toBeDefined();
    expect(slots.tryTake("http://a")).toBeDefined();
    expect(slots.tryTake("http://a")).toBeUndefined();
    expect(slots.tryTake("http://b")).toBeDefined();
    expect(slots.active("http://a")).toBe(2);
  });

  it("hands a freed slot to the first waiter in line, and frees it once however often released", async () => {
    const slots = originSlots(1);
    const release = slots.tryTake("http://a")!;
    const first = slots.wait("http://a", deadline().ended);
    const second = slots.wait("http://a", deadline().ended);
    release();
    release();
    const granted = await first;
    expect(slots.active("http://a")).toBe(1);
    granted();
    (await second)();
    expect(slots.active("http://a")).toBe(0);
  });

  it("a waiter whose deadline passes leaves the line at once and never gets a slot", async () => {
    const slots = originSlots(1);
    const release = slots.tryTake("http://a")!;
    const late = deadline();
    const gaveUp = slots.wait("http://a", late.ended);
    const next = slots.wait("http://a", deadline().ended);
    late.end();
    await expect(gaveUp).rejects.toThrow("deadline");
    release();
    (await next)();
    expect(slots.active("http://a")).toBe(0);
    expect(slots.tryTake("http://a")).toBeDefined();
  });
});
