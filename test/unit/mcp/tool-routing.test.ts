/**
 * The aggregate's naming rule: tools and prompts are `{alias or name}-{name}`, except that
 * with general_settings.mcp_unprefixed_single_server a request naming its servers and coming
 * to exactly one is served (and routes) that server's own names.
 */
import { describe, expect, it } from "vitest";
import { masterCaller, type Caller } from "../../../src/auth/inbound/caller.js";
import { parseConfig } from "../../../src/config/load.js";
import { GatewayError } from "../../../src/errors.js";
import { serversForCaller } from "../../../src/mcp/access.js";
import { exposedName, matchExposedName, routePrefixedTool, soleServer } from "../../../src/mcp/tool-routing.js";
import { upstreamAuthFactory } from "../../../src/auth/upstream/select-strategy.js";
import { configServerEntries, registrySnapshot } from "../../../src/registry/registry.js";

const { config } = parseConfig(
  `
mcp_servers:
  conf: {url: "http://127.0.0.1:1/mcp", access_groups: [solo]}
  github: {url: "http://127.0.0.1:2/mcp", alias: gh, allowed_tools: [create_issue]}
  other: {url: "http://127.0.0.1:3/mcp"}
general_settings: {master_key: sk-x}
`,
  { file: "t.yaml", env: {} },
);
const snapshot = registrySnapshot(configServerEntries(config, { authFor: upstreamAuthFactory() }));
const master = masterCaller();
const conf = snapshot.servers.get("conf")!;
const github = snapshot.servers.get("github")!;

function sole(addressed: string[] | undefined, caller: Caller = master, unprefixed = true) {
  return soleServer(unprefixed, addressed, serversForCaller(snapshot, caller, addressed));
}

describe("soleServer: when names are served unprefixed", () => {
  it("a request naming one server, or an access group of one, gets that server's own names", () => {
    expect(sole(["conf"])?.name).toBe("conf");
    expect(sole(["gh"])?.name).toBe("github");
    expect(sole(["solo"])?.name).toBe("conf");
  });

  it("stays prefixed with the setting off, on a plain /mcp, or when the names come to several servers", () => {
    expect(sole(["conf"], master, false)).toBeUndefined();
    // A key that may use one server still sees prefixed names on /mcp: granting it a second server changes nothing.
    const oneServerKey: Caller = { kind: "virtual", keyId: "k1", subject: "key:k1", servers: new Set(["conf"]), tools: new Map() };
    expect(serversForCaller(snapshot, oneServerKey, undefined)).toHaveLength(1);
    expect(sole(undefined, oneServerKey)).toBeUndefined();
    expect(sole(["conf", "other"])).toBeUndefined();
  });

  it("counts the servers the caller may use among those named", () => {
    const oneServerKey: Caller = { kind: "virtual", keyId: "k1", subject: "key:k1", servers: new Set(["conf"]), tools: new Map() };
    expect(sole(["conf", "other"], oneServerKey)?.name).toBe("conf");
  });
});

describe("exposedName and matchExposedName", () => {
  it("prefix with the alias (else the name) and route the prefixed name back, when there is no sole server", () => {
    expect(exposedName(undefined, github, "create_issue")).toBe("gh-create_issue");
    expect(exposedName(undefined, conf, "test_simple_text")).toBe("conf-test_simple_text");
    const servers = serversForCaller(snapshot, master);
    expect(matchExposedName(snapshot, servers, undefined, "conf-test_simple_text")).toEqual({ server: conf, name: "test_simple_text" });
    expect(matchExposedName(snapshot, servers, undefined, "test_simple_text")).toBeUndefined();
  });

  it("keep the upstream's name, and send every name to the sole server as it is", () => {
    expect(exposedName(conf, conf, "test_simple_text")).toBe("test_simple_text");
    expect(matchExposedName(snapshot, [conf], conf, "test_simple_text")).toEqual({ server: conf, name: "test_simple_text" });
    // A name that looks prefixed is the upstream's own name too: nothing is stripped.
    expect(matchExposedName(snapshot, [conf], conf, "other-echo")).toEqual({ server: conf, name: "other-echo" });
  });
});

describe("routePrefixedTool with a sole server", () => {
  it("routes a bare name to it and still applies its tool permissions", () => {
    expect(routePrefixedTool(snapshot, [github], master, "create_issue", github)).toEqual({ server: github, tool: "create_issue" });
    let refused: unknown;
    try {
      routePrefixedTool(snapshot, [github], master, "delete_repo", github);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(GatewayError);
    expect((refused as GatewayError).status).toBe(403);
  });
});
