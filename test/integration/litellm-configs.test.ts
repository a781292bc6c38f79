/**
 * Issue 17: real LiteLLM config files (test/fixtures/litellm-configs/, each with its
 * `# Source:`) start Gatehouse unchanged. For each: its upstream URLs are pointed at local
 * real MCP servers (an SDK streamable-HTTP server, a legacy HTTP+SSE one, the repo's mock
 * OAuth2 server for M2M), the os.environ/ variables it names are set, the gateway starts on
 * it, and a tool is called through it (an SDK client on /{server}/mcp and
 * /mcp-rest/tools/call), with the credentials the auth_type names arriving upstream. The
 * startup warnings (one per unsupported key) and the refusals are asserted too.
 */
import { STDIO_FIXTURE } from "../fixtures/stdio.js";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ConfigError } from "../../src/config/errors.js";
import { loadConfigFile } from "../../src/config/load.js";
import { runtimeSettings } from "../../src/config/settings.js";
import { startGateway, type RunningGateway } from "../../src/gateway.js";
import { createLogger } from "../../src/log.js";
import { startMockServer, type MockServer } from "../../src/mock-server/mock-server.js";
import { MASTER_KEY, MCP_ACCEPT, rpc } from "../fixtures/gateway.js";
import { startUpstream, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";
import { startRestApi, type RestApi } from "../fixtures/rest-api.js";

const FIXTURES = resolve(import.meta.dirname, "../fixtures/litellm-configs");

// --- stdio ------------------------------------------------------------------------------

/**
 * stdio servers are built in parallel (issue 17, part 2). Until then this is the single place
 * that decides what a fixture's stdio entry becomes: it is left out of the config under test,
 * and the fixture's other servers are tested. To wire stdio: set STDIO_SUPPORTED and return
 * the entry with `command`/`args` pointing at a local stdio MCP server that offers `echo`.
 */
const STDIO_SUPPORTED = true;

/** The fixture's stdio server, run as the test stdio MCP server (its `env` kept: it must start with it). */
function rewriteStdioServer(_name: string, entry: Record<string, unknown>): Record<string, unknown> | undefined {
  return { ...entry, command: process.execPath, args: [STDIO_FIXTURE] };
}

// --- what each fixture must do ----------------------------------------------------------

interface Call {
  server: string;
  /** The header the upstream must receive (lowercase name), from the auth_type, static_headers or forwarded headers. */
  expect?: Record<string, string>;
  /** Client headers sent with the call (for extra_headers). */
  send?: Record<string, string>;
  /** The server is the mock OAuth2 server (M2M): a successful call proves its token arrived. */
  m2m?: boolean;
  /** Also call through /mcp-rest/tools/call with this name instead of server_name (an alias prefix). */
  restName?: string;
  /** /{path}/mcp instead of /{server}/mcp (an alias). */
  path?: string;
  /** A stdio server (the test stdio MCP server, whose echo takes `text`): nothing to see at an HTTP upstream. */
  stdio?: boolean;
}

interface Expectation {
  env?: Record<string, string>;
  /** Subjects of the startup warnings, in order: the text between the file name and the next ': '. */
  warnings?: string[];
  /** Config paths of the problems when the file is refused. */
  refused?: string[];
  calls?: Call[];
  /** Interactive OAuth servers: answered 401 with a challenge until the user connects. */
  interactive?: string[];
  /** Not served (an unsupported auth type): 404. */
  notServed?: string[];
  /**
   * OpenAPI servers (spec_path): their spec (a file the fixture names, here the users API of
   * USERS_SPEC) served as tools; `get_users` called on /{server}/mcp and REST, with these
   * headers arriving at the REST API.
   */
  openapi?: Array<{ server: string; expect?: Record<string, string> }>;
  /** Tool calls refused by allowed_params: [server, tool, arguments]. */
  paramsRefused?: Array<[string, string, Record<string, unknown>]>;
}

const M2M_ENV = { MCP_CLIENT_ID: "test-client", MCP_CLIENT_SECRET: "test-secret" };
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString("base64")}`;

const EXPECTED: Record<string, Expectation> = {
  "01-litellm-proxy-config-stdio-http-semantic-filter.yaml": {
    warnings: ["model_list", "general_settings.store_model_in_db", "litellm_settings.mcp_semantic_tool_filter"],
    calls: [{ server: "deepwiki" }, { server: "wikipedia", stdio: true }],
  },
  "02-litellm-test-e2e-stdio-http.yaml": { warnings: ["model_list", "litellm_settings.drop_params"], calls: [{ server: "math_streamable_http" }, { server: "math_stdio", stdio: true }] },
  "03-litellm-test-oauth2-m2m-implicit.yaml": { warnings: ["model_list"], calls: [{ server: "test_oauth2_server", m2m: true }] },
  "04-litellm-dev-api-key-static-headers-vector-store.yaml": {
    warnings: ["model_list", "vector_store_registry"],
    calls: [{ server: "local_fake_mcp", expect: { "x-api-key": "abc123" } }],
  },
  "05-litellm-dev-openapi-spec-access-groups.yaml": {
    warnings: ["model_list", "litellm_settings.callbacks", "litellm_settings.custom_prometheus_metadata_labels"],
    openapi: [{ server: "my_api_mcp" }],
  },
  "06-litellm-dev-oauth2-github-passthrough-endpoints.yaml": {
    env: { GITHUB_OAUTH_CLIENT_ID: "gh-client", GITHUB_OAUTH_CLIENT_SECRET: "gh-secret" },
    warnings: ["model_list", "general_settings.pass_through_endpoints"],
    interactive: ["github_mcp"],
  },
  "07-litellm-dev-agent-list-unknown-server-id.yaml": {
    warnings: ["model_list", "agent_list", "litellm_settings.callbacks", "mcp_servers.*.server_id (on deepwiki_mcp_1234)"],
    calls: [{ server: "deepwiki_mcp_1234" }],
  },
  "08-litellm-proxy-config-router-model-group-alias.yaml": { warnings: ["model_list", "router_settings"], calls: [{ server: "deepwiki_mcp" }] },
  "09-litellm-proxy-config-json-flow-mapping.yaml": { warnings: ["model_list"], calls: [{ server: "zapier_mcp" }, { server: "fetch" }] },
  "10-docs-mcp-overview-stdio-aliases-api-key.yaml": {
    warnings: ["model_list", "litellm_settings.mcp_aliases.github", "litellm_settings.mcp_aliases.zapier", "litellm_settings.mcp_aliases.deepwiki"],
    calls: [{ server: "deepwiki_mcp" }, { server: "zapier_mcp" }, { server: "my_http_server", expect: { "x-api-key": "abc123" } }, { server: "circleci_mcp", stdio: true }],
  },
  "11-docs-mcp-auth-examples-all-static-types.yaml": {
    env: { OAUTH_CLIENT_ID: "client", OAUTH_CLIENT_SECRET: "secret" },
    warnings: [],
    calls: [
      { server: "api_key_example", expect: { "x-api-key": "abc123" } },
      { server: "bearer_example", expect: { authorization: "Bearer abc123" } },
      // The docs' pre-encoded value, sent as it is (LiteLLM 1.81 encoded it twice).
      { server: "basic_example", expect: { authorization: "Basic dXNlcjpwYXNz" } },
      { server: "custom_auth_example", expect: { authorization: "Token example123" } },
      { server: "github_mcp", expect: { authorization: "Bearer ghp_example_token", "x-custom-header": "from-client" }, send: { "x-custom-header": "from-client" } },
      { server: "my_mcp_server", expect: { "x-api-key": "abc123", "x-custom-header": "some-value" } },
    ],
    interactive: ["oauth2_example"],
  },
  "12-docs-mcp-openapi-spec-path.yaml": {
    warnings: ["model_list"],
    openapi: [{ server: "petstore_mcp" }, { server: "my_api_mcp", expect: { "x-api-key": "your-api-key-here" } }, { server: "secured_api_mcp", expect: { authorization: "Bearer your-bearer-token" } }],
  },
  "13-docs-mcp-extra-headers-forward-authorization.yaml": {
    warnings: [],
    calls: [{ server: "github_mcp", expect: { authorization: "Bearer ghp_default_token", "x-custom-header": "v" }, send: { "x-custom-header": "v" } }],
  },
  "14-docs-control-allowed-params.yaml": {
    warnings: [],
    calls: [{ server: "deepwiki_mcp" }, { server: "my_api_mcp", expect: { "x-api-key": "my-key" } }],
    paramsRefused: [
      ["deepwiki_mcp", "read_wiki_contents", { status: "open", repo: "x" }],
      ["my_api_mcp", "findpetsbystatus", { status: "sold", offset: 2 }],
    ],
  },
  "15-docs-control-oauth2-tools-params-combined.yaml": {
    env: { GITHUB_OAUTH_CLIENT_ID: "gh-client", GITHUB_OAUTH_CLIENT_SECRET: "gh-secret" },
    warnings: [],
    interactive: ["github_mcp"],
  },
  "16-docs-control-access-groups.yaml": { warnings: [], calls: [{ server: "deepwiki_mcp" }] },
  "17-docs-control-allow-all-keys.yaml": { warnings: [], calls: [{ server: "deepwiki" }] },
  "18-docs-cost-mcp-info.yaml": { warnings: ["model_list"], calls: [{ server: "zapier_server" }, { server: "expensive_api_server" }] },
  "19-docs-cost-toplevel-callbacks.yaml": { warnings: ["model_list", "callbacks"], calls: [{ server: "zapier_server" }] },
  "20-docs-public-internet.yaml": {
    env: { EXA_API_KEY: "exa-key" },
    warnings: [],
    calls: [{ server: "deepwiki" }, { server: "exa", expect: { "x-api-key": "exa-key" } }],
  },
  "21-docs-config-reference-transports.yaml": {
    env: { CIRCLECI_TOKEN: "circle" },
    warnings: [],
    calls: [{ server: "deepwiki_mcp" }, { server: "zapier_mcp" }, { server: "circleci_mcp", stdio: true }],
  },
  "22-docs-config-reference-auth-matrix-oauth2-flow-obo.yaml": {
    env: {
      MCP_API_KEY: "k",
      MCP_BEARER_TOKEN: "t",
      OAUTH_CLIENT_ID: "c",
      OAUTH_CLIENT_SECRET: "s",
      M2M_CLIENT_ID: "test-client",
      M2M_CLIENT_SECRET: "test-secret",
      OBO_CLIENT_ID: "o",
      OBO_CLIENT_SECRET: "os",
    },
    // Gatehouse sends a configured client_secret only to a token endpoint the file names (issue 15 item 8).
    refused: ["mcp_servers.oauth_interactive_server.client_secret"],
  },
  // Starts without its one server: AWS SigV4 signing is not supported, and the server would be called without credentials.
  "23-docs-authentication-aws-sigv4.yaml": { env: { AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/x" }, warnings: ["mcp_servers.agentcore.auth_type", "mcp_servers.*.aws_role_name (on agentcore)", "mcp_servers.*.aws_region_name (on agentcore)", "mcp_servers.*.aws_service_name (on agentcore)"], notServed: ["agentcore"] },
  "24-docs-authentication-static-and-forwarded-headers.yaml": {
    env: { MCP_CUSTOM_AUTH: "custom-secret" },
    warnings: [],
    calls: [{ server: "custom_headers", expect: { "x-custom-auth": "custom-secret", "x-tenant-id": "t-42" }, send: { "X-Tenant-ID": "t-42" } }],
  },
  "25-docs-authentication-basic-raw-userpass.yaml": {
    env: { MCP_BASIC_AUTH: "alice:s3cret" },
    warnings: [],
    calls: [{ server: "inventory", expect: { authorization: basic("alice:s3cret") } }],
  },
  "26-docs-authentication-token-scheme.yaml": {
    env: { LEGACY_SERVICE_TOKEN: "legacy" },
    warnings: [],
    calls: [{ server: "legacy_service", expect: { authorization: "token legacy" } }],
  },
  "27-docs-oauth-m2m-token-url-no-flow.yaml": { env: M2M_ENV, warnings: [], calls: [{ server: "my_mcp_server", m2m: true }] },
  "28-thirdparty-websurfinmurf-stdio-aliases-envsubst.yaml": {
    env: { LITELLM_MASTER_KEY: MASTER_KEY, DATABASE_URL: "sqlite::memory:" },
    warnings: [
      "model_list",
      "router_settings",
      "general_settings.database_type",
      "general_settings.database_connection_pool_limit",
      "general_settings.ui_username",
      "general_settings.ui_password",
      "general_settings.ui_access_mode",
      "general_settings.cors_allowed_origins",
      "general_settings.log_level",
      "general_settings.telemetry",
      "litellm_settings.drop_params",
      "litellm_settings.num_retries",
      "litellm_settings.request_timeout",
      "litellm_settings.json_logs",
      ...(STDIO_SUPPORTED
        ? ["litellm_settings.mcp_aliases.postgres", "litellm_settings.mcp_aliases.filesystem"]
        : ["litellm_settings.mcp_aliases.mcp-postgres", "litellm_settings.mcp_aliases.postgres", "litellm_settings.mcp_aliases.mcp-filesystem", "litellm_settings.mcp_aliases.filesystem"]),
      "litellm_settings.mcp_aliases.monitoring",
    ],
    // mcp_aliases gives mcp_monitoring the alias mcp-monitoring: its tool prefix and a URL name.
    calls: [
      { server: "mcp_monitoring", path: "mcp-monitoring", restName: "mcp-monitoring-echo" },
      { server: "mcp_postgres", stdio: true },
      { server: "mcp_filesystem", stdio: true },
    ],
  },
  "29-thirdparty-websurfinmurf-unknown-keys.yaml": {
    env: { DATABASE_URL: "sqlite::memory:", LITELLM_MASTER_KEY: MASTER_KEY },
    // virtual_keys creates nothing (narrower); require_approval: never is what Gatehouse does; api_keys limits the server to the keys listed (here the master key).
    warnings: [
      "model_list",
      "virtual_keys",
      "general_settings.detailed_debug",
      "general_settings.log_level",
      "litellm_settings.master_key",
      "litellm_settings.json_logs",
      "litellm_settings.detailed_debug",
      "mcp_servers.*.require_approval (on postgres_db)",
      "litellm_settings.mcp_aliases.db",
      "litellm_settings.mcp_aliases.fs",
    ],
    calls: [{ server: "postgres_db" }],
  },
};

// --- peers ------------------------------------------------------------------------------

let streamable: Upstream;
let legacy: Upstream;
let mock: MockServer;
let api: RestApi;
let workDir: string;

/** The OpenAPI servers' spec: a users API with the operations fixture 05's allowed_tools name. */
const USERS_SPEC = {
  openapi: "3.0.3",
  info: { title: "Users", version: "1" },
  paths: {
    "/users": {
      get: { operationId: "get_users", summary: "List users", responses: { "200": { description: "the users" } } },
      post: {
        operationId: "create_user",
        requestBody: { required: true, content: { "application/json": { schema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } } } },
        responses: { "201": { description: "created" } },
      },
    },
  },
};

beforeAll(async () => {
  [streamable, legacy, mock, api] = await Promise.all([
    startUpstream({ name: "litellm-fixture", mode: "sse" }),
    startUpstream({ name: "litellm-fixture-sse", legacySse: true }),
    startMockServer({ port: 0, host: "127.0.0.1" }),
    startRestApi(),
  ]);
  api.respond = (request) => (request.rawPath === "/users" ? { status: 200, headers: { "content-type": "application/json" }, body: '[{"name":"ada"}]' } : undefined);
  workDir = await mkdtemp(join(tmpdir(), "gatehouse-litellm-configs-"));
  await writeFile(join(workDir, "users-openapi.json"), JSON.stringify(USERS_SPEC));
});

afterAll(async () => {
  await Promise.all([streamable?.close(), legacy?.close(), mock?.close(), api?.close()]);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

type Tree = Record<string, unknown>;

/** M2M as Gatehouse infers it (README): client_credentials, or token_url + client_id + client_secret without authorization_url. */
function isM2m(entry: Tree): boolean {
  if (entry.auth_type !== "oauth2") return false;
  if (entry.oauth2_flow !== undefined) return entry.oauth2_flow === "client_credentials";
  return entry.authorization_url === undefined && entry.token_url !== undefined && entry.client_id !== undefined && entry.client_secret !== undefined;
}

/** The fixture with every upstream pointed at a local real server. */
function rewrite(tree: Tree): Tree {
  const servers = (tree.mcp_servers ?? {}) as Record<string, Tree>;
  const rewritten: Record<string, Tree> = {};
  for (const [name, entry] of Object.entries(servers)) {
    if (entry.transport === "stdio") {
      const local = rewriteStdioServer(name, entry);
      if (local !== undefined) rewritten[name] = local;
    } else if (entry.spec_path !== undefined) rewritten[name] = { ...entry, spec_path: join(workDir, "users-openapi.json"), url: api.url };
    else if (isM2m(entry)) rewritten[name] = { ...entry, url: `${mock.url}/mcp`, token_url: `${mock.url}/oauth/token` };
    else rewritten[name] = { ...entry, url: entry.transport === "sse" ? legacy.url : streamable.url };
  }
  return { ...tree, mcp_servers: rewritten };
}

interface Started {
  gateway: RunningGateway;
  warnings: string[];
  logs: Array<Record<string, unknown>>;
}

/** Loads the rewritten file as the CLI does (loadConfigFile, runtimeSettings) and starts the gateway on it. */
async function start(file: string, env: Record<string, string>): Promise<Started> {
  const tree = parse(await readFile(join(FIXTURES, file), "utf8")) as Tree;
  const path = join(workDir, file);
  await writeFile(path, stringify(rewrite(tree)));
  const fullEnv = { GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_SALT_KEY: "test-salt", DATABASE_URL: "sqlite::memory:", ...env };
  const { config, warnings } = await loadConfigFile(path, fullEnv);
  const settings = runtimeSettings(config, fullEnv);
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const gateway = await startGateway({ config, settings, env: fullEnv, log: createLogger({ level: "warn", destination }), port: 0, host: "127.0.0.1" });
  return { gateway, warnings: warnings.map((line) => subject(line, path)), logs };
}

/** `{file}: {subject}: {text}` → subject. */
function subject(line: string, file: string): string {
  const rest = line.startsWith(`${file}: `) ? line.slice(file.length + 2) : line;
  return rest.slice(0, rest.indexOf(": "));
}

let marker = 0;

/** The tools/call request that carried `message`, at whichever upstream got it. */
function recordedCall(message: string): RecordedRequest | undefined {
  return [...streamable.requests, ...legacy.requests].find((request) => {
    const body = request.body as { method?: string; params?: { arguments?: { message?: string } } } | undefined;
    return body?.method === "tools/call" && body.params?.arguments?.message === message;
  });
}

function expectArrived(call: Call, message: string): void {
  if (call.m2m === true || call.stdio === true) return;
  const seen = recordedCall(message);
  expect(seen, `${call.server}: the call reached no upstream`).toBeDefined();
  for (const [header, value] of Object.entries(call.expect ?? {})) expect(seen?.headers[header], `${call.server}: ${header}`).toBe(value);
}

const echoArguments = (call: Call, message: string): Record<string, string> => (call.stdio === true ? { text: message } : { message });

async function callThroughPassthrough(gateway: RunningGateway, call: Call): Promise<void> {
  const message = `pass-${call.server}-${++marker}`;
  const client = new Client({ name: "litellm-configs-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`/${call.path ?? call.server}/mcp`, gateway.url), {
    requestInit: { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}`, ...call.send } },
  });
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: "echo", arguments: echoArguments(call, message) });
    expect(result.content, call.server).toEqual([{ type: "text", text: message }]);
  } finally {
    await client.close();
  }
  expectArrived(call, message);
}

async function callThroughRest(gateway: RunningGateway, call: Call): Promise<void> {
  const message = `rest-${call.server}-${++marker}`;
  const body = call.restName === undefined ? { name: "echo", server_name: call.server, arguments: echoArguments(call, message) } : { name: call.restName, arguments: echoArguments(call, message) };
  const response = await fetch(new URL("/mcp-rest/tools/call", gateway.url), {
    method: "POST",
    headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${MASTER_KEY}`, ...call.send },
    body: JSON.stringify(body),
  });
  expect(response.status, `${call.server}: ${await response.clone().text()}`).toBe(200);
  expect(await response.json()).toMatchObject({ content: [{ type: "text", text: message }] });
  expectArrived(call, message);
}

/** An OpenAPI server's get_users, through its own /{server}/mcp (an SDK client) and REST, with `headers` arriving at the API. */
async function callOpenApi(gateway: RunningGateway, server: string, headers: Record<string, string>): Promise<void> {
  const client = new Client({ name: "litellm-configs-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`/${server}/mcp`, gateway.url), { requestInit: { headers: { "x-litellm-api-key": `Bearer ${MASTER_KEY}` } } }));
  try {
    expect((await client.listTools()).tools.map((tool) => tool.name), server).toEqual(expect.arrayContaining(["get_users"]));
    const seen = api.requests.length;
    const result = await client.callTool({ name: "get_users", arguments: {} });
    expect(result.content, server).toEqual([{ type: "text", text: '[{"name":"ada"}]' }]);
    expect(api.requests.length).toBe(seen + 1);
    for (const [header, value] of Object.entries(headers)) expect(api.last().headers[header], `${server}: ${header}`).toBe(value);
  } finally {
    await client.close();
  }
  const response = await fetch(new URL("/mcp-rest/tools/call", gateway.url), {
    method: "POST",
    headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${MASTER_KEY}` },
    body: JSON.stringify({ name: "get_users", server_name: server, arguments: {} }),
  });
  expect(response.status, `${server}: ${await response.clone().text()}`).toBe(200);
  expect(api.last().method).toBe("GET");
}

async function post(gateway: RunningGateway, path: string, body: string): Promise<Response> {
  return fetch(new URL(path, gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, "x-litellm-api-key": `Bearer ${MASTER_KEY}` }, body });
}

describe("LiteLLM config files start Gatehouse unchanged", () => {
  it("has an expectation for every fixture, and keeps their sources", async () => {
    const files = (await readdir(FIXTURES)).filter((file) => file.endsWith(".yaml")).sort();
    expect(files.length).toBeGreaterThanOrEqual(10);
    expect(files).toEqual(Object.keys(EXPECTED).sort());
    for (const file of files) expect(await readFile(join(FIXTURES, file), "utf8"), file).toMatch(/^# Source: \S/);
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    if (expected.refused !== undefined) {
      it(`${file}: refused, naming each key that would widen access`, async () => {
        const error = await start(file, expected.env ?? {}).then(
          async ({ gateway }) => {
            await gateway.close();
            return undefined;
          },
          (failure: unknown) => failure,
        );
        expect(error).toBeInstanceOf(ConfigError);
        const path = join(workDir, file);
        expect((error as ConfigError).problems.map((line) => subject(line, path))).toEqual(expected.refused);
      });
      continue;
    }
    it(`${file}: starts with one warning per unsupported key, and serves its tools`, async () => {
      const { gateway, warnings } = await start(file, expected.env ?? {});
      try {
        expect(warnings).toEqual(expected.warnings ?? []);
        for (const call of expected.calls ?? []) {
          await callThroughPassthrough(gateway, call);
          await callThroughRest(gateway, call);
        }
        for (const server of expected.interactive ?? []) {
          const response = await post(gateway, `/${server}/mcp`, rpc("tools/list"));
          expect(response.status, server).toBe(401);
          expect(response.headers.get("www-authenticate"), server).toContain(`/.well-known/oauth-protected-resource/${server}/mcp`);
          await response.text();
        }
        for (const { server, expect: headers } of expected.openapi ?? []) await callOpenApi(gateway, server, headers ?? {});
        for (const server of expected.notServed ?? []) {
          const response = await post(gateway, `/${server}/mcp`, rpc("tools/list"));
          expect(response.status, server).toBe(404);
          await response.text();
        }
        for (const [server, tool, args] of expected.paramsRefused ?? []) {
          const response = await fetch(new URL("/mcp-rest/tools/call", gateway.url), {
            method: "POST",
            headers: { "content-type": "application/json", "x-litellm-api-key": `Bearer ${MASTER_KEY}` },
            body: JSON.stringify({ name: tool, server_name: server, arguments: args }),
          });
          expect(response.status, `${server} ${tool}`).toBe(403);
          expect(await response.text()).toContain("params_not_allowed");
        }
      } finally {
        await gateway.close();
      }
    });
  }
});
