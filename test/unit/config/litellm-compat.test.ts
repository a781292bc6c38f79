/**
 * Issue 17: a LiteLLM config.yaml loads unchanged. Every key LiteLLM reads is honoured,
 * ignored with one warning, or refused when ignoring it would widen access; a key neither
 * knows is still an error with the nearest known key suggested.
 */
import { describe, it, expect } from "vitest";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig } from "../../../src/config/load.js";

const FILE = "/etc/gatehouse/config.yaml";
const SERVER = ["mcp_servers:", "  gh:", "    url: https://gh.example.com/mcp"];

function parse(lines: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return parseConfig(lines.join("\n") + "\n", {
    file: FILE,
    env,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
      return text;
    },
  });
}

function problems(lines: string[], env: Record<string, string> = {}, files: Record<string, string> = {}): string[] {
  try {
    parse(lines, env, files);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("LiteLLM keys: one warning per key", () => {
  it("ignores LLM sections and general_settings keys with one warning each, not one per occurrence", () => {
    const { warnings } = parse([
      "model_list: [{model_name: a}, {model_name: b}]",
      "router_settings: {routing_strategy: simple-shuffle}",
      "credential_list: []",
      "general_settings:",
      "  alerting: [slack]",
      "  store_model_in_db: true",
      "  enable_jwt_auth: true",
      ...SERVER,
    ]);
    expect(warnings).toHaveLength(6);
    expect(warnings.find((line) => line.includes("general_settings.store_model_in_db"))).toContain("always kept in Gatehouse's database");
    expect(warnings.find((line) => line.includes("general_settings.enable_jwt_auth"))).toContain("narrower");
  });

  it("names every server that carries an ignored field in one warning", () => {
    const { warnings, config } = parse([
      "mcp_servers:",
      "  a: {url: https://a.example.com/mcp, instructions: hi, allow_sampling: true}",
      "  b: {url: https://b.example.com/mcp, instructions: ho}",
    ]);
    expect(warnings).toEqual([
      `${FILE}: mcp_servers.*.instructions (on a, b): not supported by Gatehouse, ignored: the aggregate /mcp sends no per-server instructions; /{server}/mcp relays the upstream's own`,
      expect.stringContaining("mcp_servers.*.allow_sampling (on a)"),
    ]);
    expect(Object.keys(config.mcp_servers)).toEqual(["a", "b"]);
  });

  it("warns for litellm_settings keys LiteLLM would set blindly, but refuses a misspelt MCP key", () => {
    const { warnings } = parse(["litellm_settings:", "  drop_params: true", "  detailed_debug: true", "  mcp_semantic_tool_filter: {enabled: true}", ...SERVER]);
    expect(warnings).toHaveLength(3);
    expect(warnings[2]).toContain("tools/list returns every tool the key may use, unfiltered");
    expect(problems(["litellm_settings:", "  mcp_alias: {x: gh}", ...SERVER])).toEqual([
      `${FILE}: litellm_settings.mcp_alias: unknown key 'mcp_alias' (did you mean 'mcp_aliases'?)`,
    ]);
  });
});

describe("LiteLLM keys: refused where ignoring them would widen access", () => {
  it("refuses permission-like general_settings Gatehouse does not implement", () => {
    const lines = problems(["general_settings:", "  allowed_ips: [10.0.0.1]", "  custom_auth: my.auth", "  alerting: [slack]", ...SERVER]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\/etc\/gatehouse\/config\.yaml: general_settings\.allowed_ips: not supported by Gatehouse, and ignoring it would widen access: /);
    expect(lines[1]).toContain("general_settings.custom_auth");
  });

  it("refuses guardrails that run on MCP calls, and warns once for LLM-only ones", () => {
    const llm = parse(["guardrails:", "  - guardrail_name: pii", "    litellm_params: {guardrail: presidio, mode: pre_call}", ...SERVER]);
    expect(llm.warnings).toEqual([expect.stringContaining(`${FILE}: guardrails: not supported by Gatehouse, ignored`)]);
    const mcp = problems(["guardrails:", "  - guardrail_name: block", "    litellm_params: {guardrail: x, mode: [pre_call, pre_mcp_call]}", ...SERVER]);
    expect(mcp).toEqual([expect.stringContaining("guardrails[0].litellm_params.mode: not supported by Gatehouse, and ignoring it would widen access: guardrail mode pre_mcp_call")]);
  });

  it("leaves out a server whose auth type Gatehouse cannot do, naming it, and starts with the others", () => {
    for (const authType of ["aws_sigv4", "oauth2_id_jag", "true_passthrough", "oauth_delegate"]) {
      const { config, warnings } = parse(["mcp_servers:", "  agent:", "    url: https://a.example.com/mcp", `    auth_type: ${authType}`, "  other:", "    url: https://o.example.com/mcp"]);
      expect(Object.keys(config.mcp_servers)).toEqual(["other"]);
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`^${FILE}: mcp_servers\\.agent\\.auth_type: MCP server 'agent' is not served: auth_type ${authType} is not supported by Gatehouse: `))]);
    }
  });

  it("keys LiteLLM ignores silently but whose authors meant to limit access: never wider than they asked", () => {
    // require_approval other than never: tool calls would run without the approval asked for.
    const lines = problems(["mcp_servers:", "  db:", "    url: https://db.example.com/mcp", "    require_approval: always"]);
    expect(lines.map((line) => line.split(": ")[1])).toEqual(["mcp_servers.db.require_approval"]);
    // virtual_keys creates nothing (narrower), require_approval: never is what Gatehouse does, api_keys limits the server to the keys listed.
    const { config, warnings } = parse(["virtual_keys: [{api_key: k}]", "mcp_servers:", "  db:", "    url: https://db.example.com/mcp", "    api_keys: [k]", "    require_approval: never"]);
    expect(warnings.map((line) => line.split(": ")[1])).toEqual(["virtual_keys", "mcp_servers.*.require_approval (on db)"]);
    expect(config.mcp_servers.db?.api_keys).toEqual(["k"]);
  });
});

describe("LiteLLM keys: unknown keys are still errors, with the nearest known key", () => {
  it("suggests among Gatehouse's and LiteLLM's keys at every level", () => {
    const lines = problems([
      "mcp_server:",
      "  x: {url: https://x.example.com/mcp}",
      "general_settings:",
      "  master_kye: k",
      "  store_model_in_bd: true",
      "mcp_servers:",
      "  gh:",
      "    url: https://gh.example.com/mcp",
      "    alais: g",
      "    allowed_param: {a: [b]}",
      "    instructionz: hi",
    ]);
    expect(lines).toEqual([
      `${FILE}: mcp_servers.gh.alais: unknown key 'alais' (did you mean 'alias'?)`,
      `${FILE}: mcp_servers.gh.allowed_param: unknown key 'allowed_param' (did you mean 'allowed_params'?)`,
      `${FILE}: mcp_servers.gh.instructionz: unknown key 'instructionz' (did you mean 'instructions'?)`,
      `${FILE}: general_settings.master_kye: unknown key 'master_kye' (did you mean 'master_key'?)`,
      `${FILE}: general_settings.store_model_in_bd: unknown key 'store_model_in_bd' (did you mean 'store_model_in_db'?)`,
      `${FILE}: mcp_server: unknown key 'mcp_server' (did you mean 'mcp_servers'?)`,
    ]);
  });
});

describe("LiteLLM keys: mapped onto Gatehouse's", () => {
  it("takes max_request_size_mb as max_request_body_bytes", () => {
    expect(parse(["general_settings: {max_request_size_mb: 2}"]).config.general_settings.max_request_body_bytes).toBe(2 * 1024 * 1024);
    const both = parse(["general_settings: {max_request_size_mb: 2, max_request_body_bytes: 100}"]);
    expect(both.config.general_settings.max_request_body_bytes).toBe(100);
    expect(both.warnings).toEqual([expect.stringContaining("max_request_size_mb: ignored, because max_request_body_bytes is set too")]);
  });

  it("takes upstream_resource as resource (auto: the server's url), and token_exchange_profile rfc8693 as what it is", () => {
    const { config, warnings } = parse([
      "mcp_servers:",
      "  a: {url: https://a.example.com/mcp, upstream_resource: auto}",
      "  b: {url: https://b.example.com/mcp, upstream_resource: https://api.example.com, token_exchange_profile: rfc8693}",
    ]);
    expect(warnings).toEqual([]);
    expect(config.mcp_servers.a?.resource).toBe("https://a.example.com/mcp");
    expect(config.mcp_servers.b?.resource).toBe("https://api.example.com");
    expect(problems(["mcp_servers:", "  a: {url: https://a.example.com/mcp, token_exchange_profile: entra_obo}"])).toEqual([
      expect.stringContaining("mcp_servers.a.token_exchange_profile: only rfc8693 is supported"),
    ]);
  });

  it("accepts spec_path (an OpenAPI server), with or without url, and its Gatehouse keys only beside it", () => {
    const { config, warnings } = parse(["mcp_servers:", "  api: {url: 'http://0.0.0.0:8000', spec_path: /tmp/openapi.json, operations: [listPets]}", "  bare: {spec_path: 'https://api.example.com/openapi.yaml'}"]);
    expect(warnings).toEqual([]);
    expect(config.mcp_servers.api).toMatchObject({ spec_path: "/tmp/openapi.json", operations: ["listPets"] });
    expect(config.mcp_servers.bare?.url).toBeUndefined();
    expect(() => parse(["mcp_servers:", "  mcp: {url: 'https://m.example.com/mcp', operations: [listPets]}"])).toThrow(/operations applies only to OpenAPI servers/);
    expect(() => parse(["mcp_servers:", "  api: {spec_path: /tmp/openapi.json, transport: sse, url: 'https://a.example.com'}"])).toThrow(/spec_path\) is called over HTTP/);
  });
});

describe("include:", () => {
  it("merges included files relative to the config file: lists extend, other values replace (with a warning)", () => {
    const { config, warnings } = parse(["include: [servers.yaml, more/guard.yaml]", "model_list: [{model_name: a}]", ...SERVER], {}, {
      "/etc/gatehouse/servers.yaml": "mcp_servers:\n  other: {url: https://o.example.com/mcp}\nmodel_list: [{model_name: b}]\n",
      "/etc/gatehouse/more/guard.yaml": "general_settings: {audit_log: false}\n",
    });
    expect(Object.keys(config.mcp_servers)).toEqual(["other"]);
    expect(config.general_settings.audit_log).toBe(false);
    expect(warnings).toContain(
      "/etc/gatehouse/servers.yaml: mcp_servers: replaces the mcp_servers of /etc/gatehouse/config.yaml (as LiteLLM does: included lists extend, other values replace); merge them into one file to combine them",
    );
    expect(warnings.filter((line) => line.includes("model_list"))).toHaveLength(1);
  });

  it("reports a missing file, a nested include and a bad include value", () => {
    expect(problems(["include: [nope.yaml]"])).toEqual([`${FILE}: include[0]: file not found: /etc/gatehouse/nope.yaml`]);
    expect(problems(["include: [a.yaml]"], {}, { "/etc/gatehouse/a.yaml": "include: [b.yaml]\n" })).toEqual([
      "/etc/gatehouse/a.yaml: include: an included file cannot include others (LiteLLM reads include: in the main config file only)",
    ]);
    expect(problems(["include: a.yaml"])).toEqual([`${FILE}: include: expected a list of file paths (relative to this file's directory)`]);
  });

  it("reports YAML errors in an included file under its own name", () => {
    expect(problems(["include: [bad.yaml]"], {}, { "/etc/gatehouse/bad.yaml": "a: [\n" })[0]).toMatch(/^\/etc\/gatehouse\/bad\.yaml: line \d+, column \d+: YAML syntax error/);
  });
});

describe("environment_variables", () => {
  it("serves os.environ/ references in the file, the process environment winning", () => {
    const { config, warnings } = parse(
      [
        "environment_variables:",
        "  GH_TOKEN: from-file",
        "  SHARED: from-file",
        "  NESTED: os.environ/REAL",
        "mcp_servers:",
        "  gh: {url: https://gh.example.com/mcp, auth_type: bearer_token, auth_value: os.environ/GH_TOKEN, static_headers: {X-A: os.environ/SHARED, X-B: os.environ/NESTED}}",
      ],
      { SHARED: "from-env", REAL: "real" },
    );
    expect(warnings).toEqual([]);
    expect(config.mcp_servers.gh?.auth_value).toBe("from-file");
    expect(config.mcp_servers.gh?.static_headers).toEqual({ "X-A": "from-env", "X-B": "real" });
  });

  it("warns that Gatehouse's own settings variables are read from the process environment only", () => {
    const { warnings } = parse(["environment_variables: {DATABASE_URL: 'sqlite::memory:'}"]);
    expect(warnings).toEqual([expect.stringContaining("environment_variables.DATABASE_URL: Gatehouse reads DATABASE_URL from its process environment only")]);
  });

  it("reports a missing variable inside environment_variables once", () => {
    expect(problems(["environment_variables: {A: os.environ/MISSING}", "mcp_servers:", "  gh: {url: https://gh.example.com/mcp, auth_type: api_key, auth_value: os.environ/A}"])).toEqual([
      `${FILE}: environment_variables.A: environment variable MISSING is not set (referenced as os.environ/MISSING)`,
    ]);
  });
});

describe("aliases", () => {
  it("gives a server without an alias the first unused mcp_aliases entry that names it", () => {
    const { config, warnings } = parse([
      "litellm_settings:",
      "  mcp_aliases: {mcp-pg: pg, postgres: pg, fs: files, gone: nothing}",
      "mcp_servers:",
      "  pg: {url: https://pg.example.com/mcp}",
      "  files: {url: https://fs.example.com/mcp, alias: disk}",
    ]);
    expect(config.mcp_servers.pg?.alias).toBe("mcp-pg");
    expect(config.mcp_servers.files?.alias).toBe("disk");
    expect(warnings).toEqual([
      expect.stringContaining("mcp_aliases.postgres: ignored: server 'pg' already has the alias 'mcp-pg'"),
      expect.stringContaining("mcp_aliases.fs: ignored: server 'files' already has the alias 'disk'"),
      expect.stringContaining("mcp_aliases.gone: names 'nothing', which is no configured MCP server; ignored"),
    ]);
  });

  it("refuses an alias that is another server's name or alias, ignoring case", () => {
    expect(problems(["mcp_servers:", "  gh: {url: https://gh.example.com/mcp}", "  lab: {url: https://lab.example.com/mcp, alias: GH}"])).toEqual([
      expect.stringContaining("mcp_servers.lab.alias: 'GH' is already the name or alias of server 'gh' (ignoring case)"),
    ]);
    expect(problems(["mcp_servers:", "  a: {url: https://a.example.com/mcp, alias: x}", "  b: {url: https://b.example.com/mcp, alias: X}"])).toEqual([
      expect.stringContaining("mcp_servers.b.alias: 'X' is already the name or alias of server 'a'"),
    ]);
  });
});

describe("auth_type basic values", () => {
  it("accepts user:pass, its base64 with or without 'Basic ', and refuses anything else", () => {
    for (const value of ["user:pass", "dXNlcjpwYXNz", "Basic dXNlcjpwYXNz", "Basic user:pass"]) {
      expect(parse(["mcp_servers:", `  b: {url: https://b.example.com/mcp, auth_type: basic, auth_value: '${value}'}`]).config.mcp_servers.b?.auth_value).toBe(value);
    }
    // Valid base64, but not of user:pass; and a bare word.
    for (const value of ["aGVsbG8=", "secret"]) {
      expect(problems(["mcp_servers:", `  b: {url: https://b.example.com/mcp, auth_type: basic, auth_value: '${value}'}`])).toEqual([
        `${FILE}: mcp_servers.b.auth_value: auth_type basic needs auth_value in the form user:password (or its base64, with or without 'Basic ')`,
      ]);
    }
  });
});
