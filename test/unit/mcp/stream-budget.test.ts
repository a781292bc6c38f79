/** `createStreamBudget` (src/mcp/stream-budget.ts): long-lived streams per key and per server (issue 15 item 5). */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/load.js";
import { GatewayError } from "../../../src/errors.js";
import { createStreamBudget } from "../../../src/mcp/stream-budget.js";
import { upstreamAuthFactory } from "../../../src/auth/upstream/select-strategy.js";
import { configServerEntries } from "../../../src/registry/registry.js";

const { config } = parseConfig(
  `
mcp_servers:
  plain: {url: "http://127.0.0.1:1/mcp"}
  tight: {url: "http://127.0.0.1:2/mcp", max_streams_per_key: 1, max_streams: 2}
`,
  { file: "t.yaml", env: {} },
);
const [plain, tight] = configServerEntries(config, { authFor: upstreamAuthFactory() });

function refusal(run: () => unknown): GatewayError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
}

describe("createStreamBudget", () => {
  it("admits up to the per-key limit, then answers 429 with Retry-After naming the setting", () => {
    const budget = createStreamBudget({ perKey: 2, perServer: 10 });
    budget.admit(plain!, "key:a");
    budget.admit(plain!, "key:a");
    const refused = refusal(() => budget.admit(plain!, "key:a"));
    expect(refused).toMatchObject({ status: 429, code: "too_many_streams", headers: { "retry-after": "10" } });
    expect(refused?.message).toContain("max_streams_per_key");
    // Another key is not affected.
    expect(refusal(() => budget.admit(plain!, "key:b"))).toBeUndefined();
  });

  it("admits up to the per-server limit across keys", () => {
    const budget = createStreamBudget({ perKey: 5, perServer: 2 });
    budget.admit(plain!, "key:a");
    budget.admit(plain!, "key:b");
    expect(refusal(() => budget.admit(plain!, "key:c"))?.message).toContain("max_streams");
  });

  it("a freed slot admits again; freeing twice frees once; counts go back to zero", () => {
    const budget = createStreamBudget({ perKey: 1, perServer: 10 });
    const free = budget.admit(plain!, "key:a");
    expect(refusal(() => budget.admit(plain!, "key:a"))).toBeDefined();
    free();
    free();
    expect(budget.open(plain!.id)).toBe(0);
    const again = budget.admit(plain!, "key:a");
    expect(budget.open(plain!.id)).toBe(1);
    again();
  });

  it("check refuses only a key at its own limit; count takes a slot even past the limits", () => {
    const budget = createStreamBudget({ perKey: 1, perServer: 1 });
    budget.check(plain!, "key:a");
    const counted = [budget.count(plain!, "key:a"), budget.count(plain!, "key:b")];
    expect(budget.open(plain!.id)).toBe(2);
    expect(refusal(() => budget.check(plain!, "key:a"))?.status).toBe(429);
    expect(refusal(() => budget.admit(plain!, "key:c"))?.status).toBe(429);
    for (const free of counted) free();
    expect(budget.open(plain!.id)).toBe(0);
  });

  it("a server's max_streams_per_key and max_streams override the general limits", () => {
    const budget = createStreamBudget({ perKey: 100, perServer: 100 });
    budget.admit(tight!, "key:a");
    expect(refusal(() => budget.admit(tight!, "key:a"))?.extra).toMatchObject({ server: "tight", limit: 1 });
    budget.admit(tight!, "key:b");
    expect(refusal(() => budget.admit(tight!, "key:c"))?.extra).toMatchObject({ server: "tight", limit: 2 });
  });
});
