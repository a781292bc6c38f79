/**
 * `transport: stdio` in config.yaml (README, "stdio servers"): what is required, what is
 * refused, and what is accepted with a warning, as LiteLLM configs write it.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig } from "../../../src/config/load.js";
import { serverKind } from "../../../src/config/server-kind.js";
import { serverWarnings } from "../../../src/registry/server-warnings.js";

const parse = (text: string, env: Record<string, string> = {}) => parseConfig(text, { file: "config.yaml", env }).config;

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("the config was accepted");
}

describe("stdio servers in config.yaml", () => {
  it("accepts LiteLLM's form: command, args, env with os.environ/ resolved", () => {
    const config = parse(
      `mcp_servers:
  circleci_mcp:
    transport: "stdio"
    command: "npx"
    args: ["-y", "@circleci/mcp-server-circleci"]
    env:
      CIRCLECI_TOKEN: os.environ/CIRCLECI_TOKEN
      CIRCLECI_BASE_URL: "https://circleci.com"
`,
      { CIRCLECI_TOKEN: "token-from-env" },
    );
    const server = config.mcp_servers.circleci_mcp!;
    expect(server).toMatchObject({ transport: "stdio", command: "npx", args: ["-y", "@circleci/mcp-server-circleci"], env: { CIRCLECI_TOKEN: "token-from-env" } });
    expect(serverKind(server)).toBe("stdio");
    expect(serverWarnings(server, "stdio")).toEqual([]);
  });

  it("accepts a stdio server without args (a LiteLLM config in the wild has one)", () => {
    expect(parse("mcp_servers:\n  pg:\n    transport: stdio\n    command: postgres-mcp\n").mcp_servers.pg!.args).toBeUndefined();
  });

  it("refuses a stdio server without command, naming the field", () => {
    expect(problems("mcp_servers:\n  fs:\n    transport: stdio\n    args: [x]\n")).toEqual([expect.stringMatching(/mcp_servers\.fs\.command: transport stdio needs command/)]);
  });

  it("refuses an http server without url, and suggests stdio for a local process", () => {
    expect(problems("mcp_servers:\n  web:\n    transport: http\n")).toEqual([expect.stringMatching(/mcp_servers\.web\.url: transport http needs url.*transport: stdio/)]);
  });

  it("refuses command, args and env on a server that is not stdio (LiteLLM would run nothing either)", () => {
    const found = problems("mcp_servers:\n  web:\n    url: https://example.com/mcp\n    command: npx\n    env: {A: b}\n");
    expect(found).toEqual([expect.stringMatching(/mcp_servers\.web\.command: command applies only to transport stdio/), expect.stringMatching(/mcp_servers\.web\.env: env applies only/)]);
  });

  it("refuses env values that are not strings", () => {
    expect(problems("mcp_servers:\n  fs:\n    transport: stdio\n    command: npx\n    env: {PORT: 8080}\n")[0]).toMatch(/mcp_servers\.fs\.env\.PORT/);
  });

  it("accepts url, auth and headers on a stdio server with a warning each that they are ignored (LiteLLM ignores them too)", () => {
    const config = parse(`mcp_servers:
  fs:
    transport: stdio
    command: npx
    url: https://ignored.example.com/mcp
    auth_type: bearer_token
    auth_value: some-token-value
    static_headers: {X-A: b}
`);
    const server = config.mcp_servers.fs!;
    expect(serverKind(server)).toBe("stdio");
    const warnings = serverWarnings(server, "stdio");
    expect(warnings).toEqual([
      expect.stringMatching(/^url is ignored for transport stdio/),
      expect.stringMatching(/^auth_type bearer_token is ignored for transport stdio/),
      expect.stringMatching(/^static_headers ignored for transport stdio/),
    ]);
  });

  it("a stdio server with oauth2 and delegate_auth_to_upstream is kind stdio: it never bypasses key checks", () => {
    const server = parse(`mcp_servers:
  fs:
    transport: stdio
    command: npx
    auth_type: oauth2
    delegate_auth_to_upstream: true
`).mcp_servers.fs!;
    expect(serverKind(server)).toBe("stdio");
    expect(serverWarnings(server, "stdio")).toContainEqual(expect.stringMatching(/^delegate_auth_to_upstream is ignored for transport stdio/));
  });

  it("general_settings.mcp_allow_stdio_servers_from_api defaults to false", () => {
    expect(parse("mcp_servers: {}\n").general_settings.mcp_allow_stdio_servers_from_api).toBe(false);
  });
});
