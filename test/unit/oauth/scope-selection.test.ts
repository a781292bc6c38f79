import { describe, expect, it } from "vitest";
import { scopeChallenges } from "../../../src/auth/upstream/scope-challenges.js";
import { selectScope } from "../../../src/oauth/scope-selection.js";
import type { McpServerEntry } from "../../../src/registry/server-entry.js";

const server = (scopes?: string[]) => ({ id: "srv-1", name: "gh", config: scopes === undefined ? {} : { scopes } }) as unknown as McpServerEntry;
const upstream = (scopes: string[] = [], challengeScopes: string[] = []) => ({ scopes, challengeScopes });

describe("selectScope: the scope of the gateway's upstream authorization request", () => {
  it("takes the upstream's 401 challenge scope first (the spec's first choice), over the client's ask and scopes_supported", () => {
    expect(selectScope(server(), "a b c", upstream(["a", "b", "c"], ["a"]), scopeChallenges(), "alice")).toBe("a");
  });

  it("prefers a challenge seen on a user's call to the discovery probe's", () => {
    const challenges = scopeChallenges();
    challenges.recordUnauthorized("srv-1", ["repo"]);
    expect(selectScope(server(), null, upstream([], ["read"]), challenges, "alice")).toBe("repo");
  });

  it("without a challenge scope: the client's ask, else the upstream's scopes_supported, else no scope", () => {
    expect(selectScope(server(), "b", upstream(["a", "b"]), scopeChallenges(), "alice")).toBe("b");
    expect(selectScope(server(), null, upstream(["a", "b"]), scopeChallenges(), "alice")).toBe("a b");
    expect(selectScope(server(), null, upstream(), scopeChallenges(), "alice")).toBeUndefined();
  });

  it("configured scopes win over every discovered one; a client adds only what an insufficient_scope challenge demanded", () => {
    const challenges = scopeChallenges();
    expect(selectScope(server(["mcp:read"]), "admin", upstream(["mcp:read", "admin"], ["admin"]), challenges, "alice")).toBe("mcp:read");
    challenges.recordInsufficient("srv-1", "bob", ["mcp:write"]);
    expect(selectScope(server(["mcp:read"]), "mcp:write admin", upstream(), challenges, "alice")).toBe("mcp:read mcp:write");
  });

  it("keeps a user's earlier step-up scopes in the union", () => {
    const challenges = scopeChallenges();
    challenges.recordInsufficient("srv-1", "alice", ["mcp:write"]);
    expect(selectScope(server(), null, upstream([], ["mcp:basic"]), challenges, "alice")).toBe("mcp:basic mcp:write");
    expect(selectScope(server(), null, upstream([], ["mcp:basic"]), challenges, "bob")).toBe("mcp:basic");
  });
});
