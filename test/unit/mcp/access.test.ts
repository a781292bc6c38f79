import { describe, expect, it } from "vitest";
import { masterCaller, type Caller } from "../../../src/auth/inbound/caller.js";
import { parseConfig } from "../../../src/config/load.js";
import { GatewayError } from "../../../src/errors.js";
import { assertToolAllowed, parseServersHeader, serverForCaller, serversForCaller, toolVisibility } from "../../../src/mcp/access.js";
import { upstreamAuthFactory } from "../../../src/auth/upstream/select-strategy.js";
import { configServerEntries, registrySnapshot } from "../../../src/registry/registry.js";

const { config } = parseConfig(
  `
mcp_servers:
  open: {url: "http://127.0.0.1:1/mcp"}
  limited: {url: "http://127.0.0.1:2/mcp", allowed_tools: [echo, add], disallowed_tools: [add]}
  hidden: {url: "http://127.0.0.1:3/mcp"}
general_settings: {master_key: sk-x}
`,
  { file: "t.yaml", env: {} },
);
const snapshot = registrySnapshot(configServerEntries(config, { authFor: upstreamAuthFactory() }));
const restricted: Caller = { kind: "virtual", keyId: "k1", subject: "key:k1", servers: new Set(["open", "limited"]), tools: new Map([["open", new Set(["echo"])]]) };

function statusOf(run: () => unknown): number | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof GatewayError ? error.status : -1;
  }
}

describe("serverForCaller", () => {
  it("gives an unrestricted caller 404 for an unknown server", () => {
    expect(statusOf(() => serverForCaller(snapshot, masterCaller(), "nope"))).toBe(404);
    expect(serverForCaller(snapshot, masterCaller(), "hidden").name).toBe("hidden");
  });

  it("gives a restricted caller the same 403 for a forbidden and an unknown server", () => {
    expect(statusOf(() => serverForCaller(snapshot, restricted, "hidden"))).toBe(403);
    expect(statusOf(() => serverForCaller(snapshot, restricted, "nope"))).toBe(403);
    expect(serverForCaller(snapshot, restricted, "open").name).toBe("open");
  });
});

describe("serversForCaller", () => {
  it("keeps configuration order, the caller's servers, and the x-mcp-servers narrowing", () => {
    expect(serversForCaller(snapshot, masterCaller()).map((s) => s.name)).toEqual(["open", "limited", "hidden"]);
    expect(serversForCaller(snapshot, restricted).map((s) => s.name)).toEqual(["open", "limited"]);
    expect(serversForCaller(snapshot, restricted, ["hidden", "limited"]).map((s) => s.name)).toEqual(["limited"]);
  });

  it("parses x-mcp-servers", () => {
    expect(parseServersHeader(" a, b ,,")).toEqual(["a", "b"]);
    expect(parseServersHeader("")).toBeUndefined();
    expect(parseServersHeader(null)).toBeUndefined();
  });
});

describe("tool permissions", () => {
  const limited = snapshot.servers.get("limited")!;
  const open = snapshot.servers.get("open")!;

  it("combines allowed_tools and disallowed_tools", () => {
    const visible = toolVisibility(masterCaller(), limited)!;
    expect(["echo", "add", "other"].filter(visible)).toEqual(["echo"]);
    expect(statusOf(() => assertToolAllowed(masterCaller(), limited, "add"))).toBe(403);
    expect(statusOf(() => assertToolAllowed(masterCaller(), limited, "echo"))).toBeUndefined();
  });

  it("applies the key's own tool limits", () => {
    expect(toolVisibility(masterCaller(), open)).toBeUndefined();
    expect(["echo", "add"].filter(toolVisibility(restricted, open)!)).toEqual(["echo"]);
    expect(statusOf(() => assertToolAllowed(restricted, open, "add"))).toBe(403);
  });
});
