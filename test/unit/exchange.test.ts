import { createServer } from "node:http";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cancellation, parseJson } from "../../src/exchange.js";
import { listenOnLoopback } from "../fixtures/loopback.js";

describe("Cancellation", () => {
  it("calls each listener once, never after it was removed, and aborts once", () => {
    const cancellation = new Cancellation();
    const calls: string[] = [];
    const removed = () => calls.push("removed");
    cancellation.once("abort", () => calls.push("first"));
    cancellation.once("abort", removed);
    cancellation.removeListener("abort", removed);
    cancellation.abort("why");
    cancellation.abort("again");
    expect(calls).toEqual(["first"]);
    expect(cancellation).toMatchObject({ aborted: true, reason: "why" });
  });

  it("calls a listener added after the abort at once", () => {
    const cancellation = new Cancellation();
    cancellation.abort();
    let called = false;
    cancellation.once("abort", () => (called = true));
    expect(called).toBe(true);
  });

  it("follows an AbortSignal, keeping its reason (a timeout stays a timeout)", () => {
    const controller = new AbortController();
    const following = Cancellation.following(controller.signal);
    expect(following.aborted).toBe(false);
    controller.abort(new Error("deadline"));
    expect(following).toMatchObject({ aborted: true, reason: new Error("deadline") });
    expect(Cancellation.following(AbortSignal.abort("gone")).reason).toBe("gone");
  });
});

describe("Cancellation as undici's request signal", () => {
  let base: string;
  const server = createServer(() => {
    // Never answers: only an abort ends the request.
  });
  const agent = new Agent();

  beforeAll(async () => {
    base = await listenOnLoopback(server);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await agent.close();
  });

  it("aborts a request waiting for its answer", async () => {
    const cancellation = new Cancellation();
    const url = new URL(base);
    const pending = agent.request({ origin: url.origin, path: "/", method: "GET", signal: cancellation });
    cancellation.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("parseJson", () => {
  it("reads JSON, an empty body as undefined, and refuses anything else with 400", () => {
    expect(parseJson('{"a":1}')).toEqual({ a: 1 });
    expect(parseJson("  ")).toBeUndefined();
    expect(() => parseJson("{nope")).toThrow(expect.objectContaining({ status: 400, code: "invalid_request" }));
  });
});
