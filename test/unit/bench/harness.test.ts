/**
 * The benchmark measures the gateway as `node dist/cli.js` starts it: it used to add the
 * bin's shebang flags (`--max-semi-space-size=8`), so it measured a process tuned unlike the
 * one the README tells operators to run.
 */
import { describe, expect, it } from "vitest";
import { gatewayNodeArgs } from "../../../bench/harness.js";

describe("the benchmark's gateway process", () => {
  it("gets no node flags unless BENCH_GATEWAY_NODE_ARGS asks for some", () => {
    expect(gatewayNodeArgs(undefined)).toEqual([]);
    expect(gatewayNodeArgs("")).toEqual([]);
  });

  it("gets exactly the flags BENCH_GATEWAY_NODE_ARGS lists, to profile it", () => {
    expect(gatewayNodeArgs(" --cpu-prof  --cpu-prof-dir=/tmp/prof ")).toEqual(["--cpu-prof", "--cpu-prof-dir=/tmp/prof"]);
  });
});
