import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, expect } from "vitest";
import { resolveEnvRefs } from "../../../src/config/env-refs.js";
import { ConfigError, closestMatch, formatPath } from "../../../src/config/errors.js";
import { inferOauth2Flow, loadConfigFile, parseConfig } from "../../../src/config/load.js";
import { isLoopbackHostname as isLoopbackHost } from "../../../src/loopback.js";
import type { ServerConfig } from "../../../src/config/schema.js";

const FILE = "config.yaml";

function parse(text: string, env: Record<string, string | undefined> = {}) {
  return parseConfig(text, { file: FILE, env });
}

/** The ConfigError that `run` throws; fails the test when it does not throw one. */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

function problemsOf(text: string, env: Record<string, string | undefined> = {}): string[] {
  return configError(() => parse(text, env)).problems;
}

const yaml = (...lines: string[]) => `${lines.join("\n")}\n`;

describe("resolveEnvRefs", () => {
  it("resolves a reference at the top level", () => {
    expect(resolveEnvRefs({ key: "os.environ/A" }, { A: "a-value" }, FILE)).toEqual({ key: "a-value" });
  });

  it("resolves references nested at any depth and inside lists", () => {
    const tree = { a: { b: { c: ["plain", "os.environ/X", { d: "os.environ/Y" }] } } };
    expect(resolveEnvRefs(tree, { X: "x", Y: "y" }, FILE)).toEqual({ a: { b: { c: ["plain", "x", { d: "y" }] } } });
  });

  it("leaves keys, non-strings and strings that merely contain a reference untouched", () => {
    const tree = { "os.environ/K": "see os.environ/X", n: 3, b: true, z: null };
    expect(resolveEnvRefs(tree, { K: "k", X: "x" }, FILE)).toEqual(tree);
  });

  it("does not mutate the input tree", () => {
    const tree = { a: ["os.environ/X"] };
    resolveEnvRefs(tree, { X: "x" }, FILE);
    expect(tree).toEqual({ a: ["os.environ/X"] });
  });

  it("accepts a variable that is set to the empty string", () => {
    expect(resolveEnvRefs({ a: "os.environ/EMPTY" }, { EMPTY: "" }, FILE)).toEqual({ a: "" });
  });

  it("does not take variable names from the env object's prototype", () => {
    const error = configError(() => resolveEnvRefs({ a: "os.environ/constructor" }, {}, FILE));
    expect(error.problems).toEqual([`${FILE}: a: environment variable constructor is not set (referenced as os.environ/constructor)`]);
  });

  it("names the variable and the config path of a missing variable", () => {
    const tree = { mcp_servers: { github: { client_secret: "os.environ/GITHUB_SECRET" } } };
    const error = configError(() => resolveEnvRefs(tree, {}, FILE));
    expect(error.message).toBe(
      "config.yaml: mcp_servers.github.client_secret: environment variable GITHUB_SECRET is not set (referenced as os.environ/GITHUB_SECRET)",
    );
  });

  it("reports every missing variable in one error, one line each, with list indexes", () => {
    const tree = { a: "os.environ/ONE", b: { c: ["ok", "os.environ/TWO"] }, d: "os.environ/THREE", e: "os.environ/SET" };
    const error = configError(() => resolveEnvRefs(tree, { SET: "s" }, FILE));
    expect(error.problems).toEqual([
      `${FILE}: a: environment variable ONE is not set (referenced as os.environ/ONE)`,
      `${FILE}: b.c[1]: environment variable TWO is not set (referenced as os.environ/TWO)`,
      `${FILE}: d: environment variable THREE is not set (referenced as os.environ/THREE)`,
    ]);
    expect(error.message.split("\n")).toEqual(error.problems);
  });

  it("rejects a reference without a variable name", () => {
    const error = configError(() => resolveEnvRefs({ a: "os.environ/" }, {}, FILE));
    expect(error.problems).toEqual([`${FILE}: a: os.environ/ must be followed by the name of an environment variable`]);
  });
});

describe("parseConfig: os.environ/ references", () => {
  it("resolves references in general_settings, server fields, lists and static_headers values", () => {
    const { config } = parse(
      yaml(
        "general_settings:",
        "  master_key: os.environ/MASTER_KEY",
        "mcp_servers:",
        "  github:",
        "    url: os.environ/GITHUB_URL",
        "    auth_type: oauth2",
        "    client_id: os.environ/CLIENT_ID",
        "    client_secret: os.environ/CLIENT_SECRET",
        // A configured secret needs the token endpoint it goes to (issue 15 item 8).
        "    token_url: https://github.com/login/oauth/access_token",
        "    scopes: [repo, os.environ/EXTRA_SCOPE]",
        "    static_headers:",
        "      X-Tenant: os.environ/TENANT",
      ),
      {
        MASTER_KEY: "sk-master",
        GITHUB_URL: "https://api.githubcopilot.com/mcp",
        CLIENT_ID: "id-1",
        CLIENT_SECRET: "secret-1",
        EXTRA_SCOPE: "read:org",
        TENANT: "acme",
      },
    );
    expect(config.general_settings.master_key).toBe("sk-master");
    const github = config.mcp_servers.github;
    expect(github?.url).toBe("https://api.githubcopilot.com/mcp");
    expect(github?.client_id).toBe("id-1");
    expect(github?.client_secret).toBe("secret-1");
    expect(github?.scopes).toEqual(["repo", "read:org"]);
    expect(github?.static_headers).toEqual({ "X-Tenant": "acme" });
  });

  it("validates the resolved value, not the reference", () => {
    const problems = problemsOf(yaml("mcp_servers:", "  a:", "    url: os.environ/A_URL"), { A_URL: "ftp://files.example.com" });
    expect(problems).toEqual([`${FILE}: mcp_servers.a.url: must be an http:// or https:// URL, got string "ftp://files.example.com"`]);
  });

  it("reports missing variables together with the schema's problems, without a second line for the same path", () => {
    const problems = problemsOf(
      yaml("mcp_servers:", "  a:", "    url: os.environ/A_URL", "    timeout: soon", "general_settings:", "  master_key: os.environ/MASTER"),
    );
    expect(problems).toEqual([
      `${FILE}: mcp_servers.a.url: environment variable A_URL is not set (referenced as os.environ/A_URL)`,
      `${FILE}: general_settings.master_key: environment variable MASTER is not set (referenced as os.environ/MASTER)`,
      `${FILE}: mcp_servers.a.timeout: expected a number, got string "soon"`,
    ]);
  });
});

describe("parseConfig: problems name the path and say what is wrong", () => {
  const server = (...lines: string[]) => yaml("mcp_servers:", "  a:", "    url: https://mcp.example.com/mcp", ...lines.map((line) => `    ${line}`));

  it("suggests the nearest known key for a typo in a server", () => {
    expect(problemsOf(server("auht_type: bearer_token", "auth_value: t"))).toEqual([
      `${FILE}: mcp_servers.a.auht_type: unknown key 'auht_type' (did you mean 'auth_type'?)`,
    ]);
  });

  it("suggests a key that shares a long prefix when the edit distance is large", () => {
    expect(problemsOf(server("authorization_endpoint: https://auth.example.com/authorize"))).toEqual([
      `${FILE}: mcp_servers.a.authorization_endpoint: unknown key 'authorization_endpoint' (did you mean 'authorization_url'?)`,
    ]);
  });

  it("suggests the nearest known key in general_settings and at the top level", () => {
    const problems = problemsOf(yaml("general_settings:", "  master_kye: sk-1", "mcp_server: {}"));
    expect(problems).toEqual([
      `${FILE}: general_settings.master_kye: unknown key 'master_kye' (did you mean 'master_key'?)`,
      `${FILE}: mcp_server: unknown key 'mcp_server' (did you mean 'mcp_servers'?)`,
    ]);
  });

  // Issue 15 item 8: the upstream's RFC 9728 metadata chose where the operator's secret went.
  it("refuses an interactive oauth2 server whose client_secret has no operator-named token endpoint (token_url or issuer), and accepts either", () => {
    const secret = ["auth_type: oauth2", "client_id: gatehouse", "client_secret: s3cret-value"];
    const problems = problemsOf(server(...secret));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^config\.yaml: mcp_servers\.a\.client_secret: a configured client_secret is sent only to a token endpoint you name: add token_url .*, or issuer /);
    expect(problems[0]).not.toContain("s3cret-value");
    expect(problemsOf(server(...secret, "authorization_url: https://auth.example.com/authorize"))).toHaveLength(1);
    expect(parse(server(...secret, "token_url: https://auth.example.com/token")).config.mcp_servers.a?.token_url).toBe("https://auth.example.com/token");
    expect(parse(server(...secret, "issuer: https://auth.example.com")).config.mcp_servers.a?.issuer).toBe("https://auth.example.com");
    // Without a secret, discovery through the upstream's metadata stays (a public client).
    expect(parse(server("auth_type: oauth2", "client_id: gatehouse")).config.mcp_servers.a?.client_id).toBe("gatehouse");
    // client_credentials reports its own missing token_url, once.
    expect(problemsOf(server(...secret, "oauth2_flow: client_credentials"))).toEqual([`${FILE}: mcp_servers.a.token_url: oauth2_flow client_credentials needs token_url`]);
  });

  it("offers no suggestion when no known key is close", () => {
    expect(problemsOf(server("zzz: 1"))).toEqual([`${FILE}: mcp_servers.a.zzz: unknown key 'zzz'`]);
  });

  it("explains a wrong type with the value that was found", () => {
    expect(problemsOf(server("delegate_auth_to_upstream: yes"))).toEqual([
      `${FILE}: mcp_servers.a.delegate_auth_to_upstream: expected a boolean, got string "yes" (write true or false without quotes)`,
    ]);
    expect(problemsOf(server('timeout: "30"'))).toEqual([
      `${FILE}: mcp_servers.a.timeout: expected a number, got string "30" (write the number without quotes)`,
    ]);
    expect(problemsOf(yaml("general_settings:", "  mcp_trusted_proxy_ranges: 10.0.0.0/8"))).toEqual([
      `${FILE}: general_settings.mcp_trusted_proxy_ranges: expected a list, got string "10.0.0.0/8"`,
    ]);
  });

  it("never quotes the value of a credential in an error", () => {
    const problems = problemsOf(server("auth_type: api_key", "auth_value: 1234567890"));
    expect(problems).toEqual([`${FILE}: mcp_servers.a.auth_value: expected a string, got a number (put the value in quotes)`]);
    expect(problems.join("\n")).not.toContain("1234567890");
  });

  it("rejects a URL that is not http:// or https://", () => {
    expect(problemsOf(yaml("mcp_servers:", "  a:", "    url: ftp://files.example.com"))).toEqual([
      `${FILE}: mcp_servers.a.url: must be an http:// or https:// URL, got string "ftp://files.example.com"`,
    ]);
    expect(problemsOf(server("token_url: not a url"))).toEqual([
      `${FILE}: mcp_servers.a.token_url: must be an http:// or https:// URL, got string "not a url"`,
    ]);
  });

  it("says a required key is missing", () => {
    expect(problemsOf(yaml("mcp_servers:", "  a:", "    transport: http"))).toEqual([
      `${FILE}: mcp_servers.a.url: transport http needs url (the upstream MCP endpoint); for a local process set transport: stdio with command and args`,
    ]);
  });

  it("rejects a server name that cannot appear in a URL path", () => {
    expect(problemsOf(yaml("mcp_servers:", "  my server:", "    url: https://mcp.example.com/mcp"))).toEqual([
      `${FILE}: mcp_servers["my server"]: server names may contain only letters, digits, '_' and '-'`,
    ]);
  });

  it("requires auth_value for auth_type bearer_token", () => {
    expect(problemsOf(server("auth_type: bearer_token"))).toEqual([
      `${FILE}: mcp_servers.a.auth_value: auth_type bearer_token needs auth_value (the credential sent upstream)`,
    ]);
  });

  it("lists the allowed values of an enum and suggests the nearest", () => {
    expect(problemsOf(server("transport: htp"))).toEqual([`${FILE}: mcp_servers.a.transport: must be one of http, sse, stdio, got string "htp" (did you mean 'http'?)`]);
  });

  it("uses [i] for list indexes in the path", () => {
    expect(problemsOf(server("extra_headers: [X-Tenant, bad header]"))).toEqual([
      `${FILE}: mcp_servers.a.extra_headers[1]: must be a valid HTTP header name, got string "bad header"`,
    ]);
  });

  it("explains out-of-range numbers", () => {
    expect(problemsOf(server("timeout: 0"))).toEqual([`${FILE}: mcp_servers.a.timeout: must be greater than 0, got number 0`]);
  });

  it("reports every problem of the file at once", () => {
    const error = configError(() => parse(yaml("mcp_servers:", "  a:", "    url: nope", "  b:", "    url: https://b.example.com", "    timeout: -1", "bogus: 1")));
    expect(error.problems).toHaveLength(3);
    expect(error.message.split("\n")).toEqual(error.problems);
    for (const line of error.problems) expect(line.startsWith(`${FILE}: `)).toBe(true);
  });
});

describe("parseConfig: YAML", () => {
  it("reports a syntax error with file, line and column", () => {
    expect(problemsOf(yaml("mcp_servers:", "  a:", "    url: https://a.example.com: 1"))).toEqual([
      `${FILE}: line 3, column 10: YAML syntax error: Nested mappings are not allowed in compact mappings`,
    ]);
  });

  it("reports duplicate keys as an error", () => {
    const problems = problemsOf(yaml("general_settings: {}", "general_settings: {}"));
    expect(problems[0]).toMatch(/^config\.yaml: line 2, column 1: YAML syntax error: Map keys must be unique/);
  });

  it("treats an empty or comment-only file as an empty config", () => {
    for (const text of ["", "# nothing configured yet\n"]) {
      const { config, warnings } = parse(text);
      expect(config.mcp_servers).toEqual({});
      expect(config.general_settings.use_x_forwarded_for).toBe(false);
      expect(warnings).toEqual([]);
    }
  });

  it("treats a section whose entries are all commented out as empty", () => {
    const { config } = parse(yaml("mcp_servers:", "#  a:", "#    url: https://a.example.com", "general_settings:"));
    expect(config.mcp_servers).toEqual({});
    expect(config.general_settings.mcp_trusted_proxy_ranges).toEqual([]);
  });

  it("rejects a root that is not a mapping", () => {
    expect(problemsOf(yaml("- a", "- b"))).toEqual([`${FILE}: (top level): expected a mapping with mcp_servers: and general_settings:, got a list`]);
    expect(problemsOf("just text\n")[0]).toContain('got string "just text"');
  });

  it("supports YAML merge keys, as LiteLLM's PyYAML does", () => {
    const { config } = parse(
      yaml(
        "mcp_servers:",
        "  a: &defaults",
        "    url: https://a.example.com/mcp",
        "    auth_type: bearer_token",
        "    auth_value: t",
        "    timeout: 15",
        "  b:",
        "    <<: *defaults",
        "    url: https://b.example.com/mcp",
      ),
    );
    expect(config.mcp_servers.b).toMatchObject({ url: "https://b.example.com/mcp", auth_type: "bearer_token", auth_value: "t", timeout: 15 });
  });
});

describe("parseConfig: defaults", () => {
  it("fills server and general_settings defaults", () => {
    const { config } = parse(yaml("mcp_servers:", "  a:", "    url: https://a.example.com/mcp"));
    expect(config.mcp_servers.a).toEqual({
      url: "https://a.example.com/mcp",
      transport: "http",
      auth_type: "none",
      static_headers: {},
      extra_headers: [],
      timeout: 60,
      delegate_auth_to_upstream: false,
      available_on_public_internet: true,
      allow_all_keys: false,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    expect(config.general_settings).toEqual({
      use_x_forwarded_for: false,
      mcp_trusted_proxy_ranges: [],
      max_request_body_bytes: 4 * 1024 * 1024,
      shutdown_timeout_seconds: 10,
      store_poll_interval_seconds: 1,
      audit_log: true,
      audit_retention_days: 30,
      mcp_aggregate_sessions: true,
      mcp_aggregate_session_max_age_hours: 24,
      mcp_aggregate_sessions_per_key: 1000,
      mcp_held_calls_per_key: 32,
      mcp_allowed_origins: [],
      oauth_registration_rate_limit_per_minute: 10,
      oauth_incomplete_client_ttl_seconds: 86400,
      oauth_client_metadata_document_hosts: ["*"],
      oauth_client_metadata_document_internal_hosts: [],
      oauth_client_metadata_document_fetch_rate_limit_per_minute: 30,
      max_connections_per_upstream: 256,
      max_streams_per_key: 64,
      max_streams_per_server: 256,
      mcp_stream_recheck_seconds: 25,
      tools_list_max_pages: 100,
      tools_list_max_tools: 10_000,
      mcp_unprefixed_single_server: false,
      mcp_allow_stdio_servers_from_api: false,
      openapi_max_response_bytes: 1048576,
    });
  });
});

describe("parseConfig: warnings", () => {
  it("warns once per LiteLLM LLM section or setting that is ignored", () => {
    const { warnings, config } = parse(yaml("model_list:", "  - model_name: gpt-4o", "  - model_name: gpt-5", "mcp_servers: {}"));
    expect(warnings).toEqual(["config.yaml: model_list: not supported by Gatehouse, ignored: it configures LiteLLM's LLM proxy, and Gatehouse is an MCP gateway only"]);
    expect(config.mcp_servers).toEqual({});

    const several = parse(yaml("model_list: []", "litellm_settings: {drop_params: true}", "router_settings: {}")).warnings;
    expect(several).toHaveLength(3);
    expect(several.map((line) => line.split(": ")[1])).toEqual(["model_list", "router_settings", "litellm_settings.drop_params"]);
  });

  it("warns once per non-loopback http:// OAuth endpoint", () => {
    const { warnings } = parse(
      yaml(
        "mcp_servers:",
        "  internal:",
        "    url: http://mcp.internal/mcp",
        "    auth_type: oauth2",
        "    token_url: http://auth.internal/oauth/token",
        "    authorization_url: http://auth.internal/authorize",
        "    registration_url: https://auth.example.com/register",
      ),
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^config\.yaml: mcp_servers\.internal\.token_url: http:\/\/auth\.internal\/oauth\/token is plain http:\/\//);
    expect(warnings[1]).toMatch(/^config\.yaml: mcp_servers\.internal\.authorization_url: /);
  });

  it("warns about a non-loopback http:// issuer: its metadata names the token endpoint the secret goes to", () => {
    const { warnings } = parse(yaml("mcp_servers:", "  a:", "    url: https://mcp.example.com/mcp", "    auth_type: oauth2", "    client_id: c", "    client_secret: s", "    issuer: http://auth.internal"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^config\.yaml: mcp_servers\.a\.issuer: http:\/\/auth\.internal\/ is plain http:\/\//);
  });

  it("does not warn about loopback http:// endpoints", () => {
    const { warnings } = parse(
      yaml(
        "mcp_servers:",
        "  m2m:",
        "    url: http://localhost:8765/mcp",
        "    auth_type: oauth2",
        "    client_id: test-client",
        "    client_secret: test-secret",
        "    token_url: http://localhost:8765/oauth/token",
        "  obo:",
        "    url: http://127.0.0.1:9000/mcp",
        "    auth_type: oauth2_token_exchange",
        "    client_id: gatehouse",
        "    token_exchange_endpoint: http://127.0.0.1:9000/token",
        "  v6:",
        "    url: http://[::1]:9000/mcp",
        "    auth_type: oauth2",
        "    authorization_url: http://[::1]:9000/authorize",
      ),
    );
    expect(warnings).toEqual([]);
  });

  it("recognises loopback hosts", () => {
    expect(["localhost", "LOCALHOST", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]"].every(isLoopbackHost)).toBe(true);
    expect(["example.com", "10.0.0.1", "localhost.example.com", "128.0.0.1", "[::2]"].some(isLoopbackHost)).toBe(false);
  });
});

describe("parseConfig: result", () => {
  it("is deep-frozen", () => {
    const { config } = parse(
      yaml("mcp_servers:", "  a:", "    url: https://a.example.com/mcp", "    scopes: [read]", "    static_headers: {X-A: b}", "general_settings:", "  mcp_trusted_proxy_ranges: [10.0.0.0/8]"),
    );
    const server = config.mcp_servers.a as ServerConfig;
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.mcp_servers)).toBe(true);
    expect(Object.isFrozen(server)).toBe(true);
    expect(Object.isFrozen(server.scopes)).toBe(true);
    expect(Object.isFrozen(server.static_headers)).toBe(true);
    expect(Object.isFrozen(config.general_settings.mcp_trusted_proxy_ranges)).toBe(true);
    expect(() => {
      server.timeout = 1;
    }).toThrow(TypeError);
    expect(() => server.scopes?.push("write")).toThrow(TypeError);
  });
});

describe("loadConfigFile", () => {
  it("reads and parses a file, naming it in problems", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gatehouse-config-"));
    try {
      const path = join(dir, "config.yaml");
      await writeFile(path, yaml("mcp_servers:", "  a:", "    url: os.environ/A_URL"));
      const { config } = await loadConfigFile(path, { A_URL: "https://a.example.com/mcp" });
      expect(config.mcp_servers.a?.url).toBe("https://a.example.com/mcp");
      await expect(loadConfigFile(path, {})).rejects.toThrow(`${path}: mcp_servers.a.url: environment variable A_URL is not set`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("says when the file does not exist", async () => {
    const path = join(tmpdir(), "gatehouse-no-such-dir", "config.yaml");
    const failure = loadConfigFile(path, {});
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow(`config file not found: ${path}`);
  });
});

describe("inferOauth2Flow", () => {
  const base = { oauth2_flow: undefined, authorization_url: undefined, token_url: undefined, client_id: undefined, client_secret: undefined };
  const m2m = { ...base, token_url: "https://auth.example.com/token", client_id: "id", client_secret: "secret" };

  it("uses an explicit oauth2_flow", () => {
    expect(inferOauth2Flow({ ...m2m, authorization_url: "https://auth.example.com/authorize", oauth2_flow: "client_credentials" })).toBe(
      "client_credentials",
    );
    expect(inferOauth2Flow({ ...m2m, oauth2_flow: "authorization_code" })).toBe("authorization_code");
  });

  it("treats an authorization_url as interactive", () => {
    expect(inferOauth2Flow({ ...m2m, authorization_url: "https://auth.example.com/authorize" })).toBe("authorization_code");
  });

  it("infers client_credentials from token_url + client_id + client_secret", () => {
    expect(inferOauth2Flow(m2m)).toBe("client_credentials");
  });

  it("falls back to interactive when the client credentials are incomplete or absent", () => {
    expect(inferOauth2Flow({ ...m2m, client_secret: undefined })).toBe("authorization_code");
    expect(inferOauth2Flow({ ...m2m, token_url: undefined })).toBe("authorization_code");
    expect(inferOauth2Flow(base)).toBe("authorization_code");
  });

  it("works on a parsed server", () => {
    const { config } = parse(
      yaml("mcp_servers:", "  m2m:", "    url: http://localhost:8765/mcp", "    auth_type: oauth2", "    client_id: c", "    client_secret: s", "    token_url: http://localhost:8765/oauth/token"),
    );
    expect(inferOauth2Flow(config.mcp_servers.m2m as ServerConfig)).toBe("client_credentials");
  });
});

describe("helpers", () => {
  it("formats paths with dots, [i] and quoted odd keys", () => {
    expect(formatPath(["mcp_servers", "a", "extra_headers", 1])).toBe("mcp_servers.a.extra_headers[1]");
    expect(formatPath(["mcp_servers", "a.b"])).toBe('mcp_servers["a.b"]');
    expect(formatPath([])).toBe("(top level)");
  });

  it("suggests close words and ignores unrelated ones", () => {
    expect(closestMatch("Auth_Type", ["auth_type", "auth_value"])).toBe("auth_type");
    expect(closestMatch("scope", ["scopes", "audience"])).toBe("scopes");
    expect(closestMatch("foo", ["url", "timeout"])).toBeUndefined();
  });
});
