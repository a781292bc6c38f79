#!/usr/bin/env node
/**
 * The composition root: the only module that reads process.env, parses argv, opens
 * sockets and handles signals.
 */
import { parseArgs } from "node:util";
import { loadConfigFile } from "./config/load.js";
import { ConfigError } from "./config/errors.js";
import { configSchema } from "./config/schema.js";
import { runtimeSettings } from "./config/settings.js";
import { isGatewayError } from "./errors.js";
import { startGateway, VERSION, type RunningGateway } from "./gateway.js";
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from "./log.js";
import type { MockServer, startMockServer as StartMockServer } from "./mock-server/mock-server.js";

/** The mock server (an SDK McpServer) is loaded only when asked for. */
const startMockServer: typeof StartMockServer = async (options) => (await import("./mock-server/mock-server.js")).startMockServer(options);

const HELP = `gatehouse ${VERSION}: an MCP gateway (LiteLLM-compatible config, headers and routes)

Usage:
  gatehouse --config FILE [--port 4000] [--host 127.0.0.1] [options]
  gatehouse mock-server [--port 8765] [--host 127.0.0.1]
  gatehouse import-litellm --from postgres://... [--dry-run] [options]

Gateway options:
  -c, --config FILE        config.yaml with mcp_servers and general_settings (required)
  -p, --port PORT          port to listen on (default 4000)
      --host HOST          address to bind (default 127.0.0.1; use 0.0.0.0 to accept
                           connections from other machines, e.g. in a container)
      --with-mock-server   also start the seed's M2M mock server (see mock-server below)
                           on --mock-port, for the README's walkthrough
      --mock-port PORT     port of the mock server started by --with-mock-server (default 8765)
      --log-level LEVEL    trace, debug, info (default), warn, error, silent
                           (also env GATEHOUSE_LOG_LEVEL)
      --log-format FORMAT  json (one JSON object a line) or pretty (one coloured line
                           per event, for people); default pretty when stdout is a
                           terminal, else json (also env GATEHOUSE_LOG_FORMAT)
  -h, --help               show this help
  -v, --version            print the version

mock-server:
  The seed's machine-to-machine test server: OAuth client test-client / test-secret,
  POST /oauth/token (client_credentials), MCP at /mcp with a tool "echo".
  -p, --port PORT          port (default 8765)
      --host HOST          address to bind (default 127.0.0.1)

import-litellm:
  Copies a LiteLLM proxy's MCP servers (credentials decrypted, then sealed with
  Gatehouse's salt key) and virtual keys (by hash: existing sk-... keys keep working)
  into Gatehouse's database. A second run changes nothing. Progress goes to stderr,
  the report to stdout.
      --from URL           LiteLLM's database, postgres://user:pass@host:5432/db[?schema=S]
                           (required)
      --to URL             Gatehouse's database (default: DATABASE_URL, else
                           general_settings.database_url of --config, else sqlite:./gatehouse.db)
  -c, --config FILE        Gatehouse's config.yaml (its servers keep their names; optional)
      --dry-run            write nothing; print what a run would do
      --overwrite          replace Gatehouse servers and keys that exist with other content
                           (default: keep them and report a conflict)
      --json               print the report as JSON
      --litellm-salt-key KEY     LiteLLM's LITELLM_SALT_KEY (default env LITELLM_SALT_KEY)
      --litellm-master-key KEY   LiteLLM's master key, LiteLLM's key material when it has no
                           salt key (default env LITELLM_MASTER_KEY)
      --require-key-mcp-access-defined   as LiteLLM's general setting of that name: a key
                           without its own MCP list gets no team servers
  Gatehouse's own master and salt keys come from the environment as for the gateway.
  Exit status: 0 when the import ran (rows it could not carry are in the report),
  1 on an error (database unreachable, not a LiteLLM database, wrong LiteLLM salt key),
  2 on bad flags.

Environment:
  DATABASE_URL             sqlite:PATH | sqlite::memory: | postgres://... (default
                           general_settings.database_url, else sqlite:./gatehouse.db)
  GATEHOUSE_MASTER_KEY     the admin gateway key (or LITELLM_MASTER_KEY, else
                           general_settings.master_key)
  GATEHOUSE_SALT_KEY       key material for secrets at rest (or LITELLM_SALT_KEY, else
                           derived from the master key, with a warning)
  GATEHOUSE_LOG_LEVEL      log level, as --log-level
  GATEHOUSE_LOG_FORMAT     json or pretty, as --log-format
  OTEL_TRACES_EXPORTER     otlp: export OpenTelemetry traces over OTLP/HTTP (JSON) to
                           OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318);
                           unset or none: no tracing (README, "Tracing")
  Any string in the config may be os.environ/NAME to read NAME from the environment.

Stop with SIGTERM or SIGINT: the gateway stops accepting, lets in-flight requests finish
(general_settings.shutdown_timeout_seconds, default 10) and exits 0.
`;

function fail(message: string, code = 1): never {
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(code);
}

function parsePort(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`${flag} must be a port number (0-65535), got '${value}'`, 2);
  return port;
}

/** --log-format, else GATEHOUSE_LOG_FORMAT, else pretty on a terminal and JSON otherwise. */
function logFormat(flag: string | undefined): LogFormat {
  const chosen = flag ?? process.env.GATEHOUSE_LOG_FORMAT;
  if (chosen === undefined || chosen === "") return process.stdout.isTTY === true ? "pretty" : "json";
  if (!(LOG_FORMATS as readonly string[]).includes(chosen)) fail(`--log-format must be json or pretty, got '${chosen}'`, 2);
  return chosen as LogFormat;
}

function onSignals(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting at once");
      process.exit(1);
    }
    stopping = true;
    // Stop first: the listener closes synchronously, so "shutting down" is only logged once new connections are refused.
    const stopped = stop();
    log.info({ signal }, "shutting down");
    stopped.then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

async function runMockServer(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: "string", short: "p" }, host: { type: "string" }, "log-format": { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const log = createLogger({ level: process.env.GATEHOUSE_LOG_LEVEL, format: logFormat(values["log-format"]) });
  const mock = await startMockServer({
    port: parsePort(values.port, 8765, "--port"),
    host: values.host ?? "127.0.0.1",
    log: (line) => log.info({ component: "mock-server" }, line),
  });
  log.info({ url: mock.url, token_url: `${mock.url}/oauth/token`, mcp: `${mock.url}/mcp` }, "mock OAuth2 MCP server is listening");
  onSignals(log, () => mock.close());
}

async function runGateway(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      port: { type: "string", short: "p" },
      host: { type: "string" },
      "with-mock-server": { type: "boolean" },
      "mock-port": { type: "string" },
      "log-level": { type: "string" },
      "log-format": { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (values.config === undefined) fail("--config FILE is required (try --config examples/config.yaml; --help for all options)", 2);
  const port = parsePort(values.port, 4000, "--port");
  const log = createLogger({ level: values["log-level"] ?? process.env.GATEHOUSE_LOG_LEVEL, format: logFormat(values["log-format"]) });

  const { config, warnings } = await loadConfigFile(values.config, process.env);
  const settings = runtimeSettings(config, process.env);
  for (const warning of [...warnings, ...settings.warnings]) log.warn(warning);

  let mock: MockServer | undefined;
  if (values["with-mock-server"]) {
    mock = await startMockServer({
      port: parsePort(values["mock-port"], 8765, "--mock-port"),
      host: "127.0.0.1",
      log: (line) => log.info({ component: "mock-server" }, line),
    });
    log.info({ url: mock.url }, "mock OAuth2 MCP server is listening (--with-mock-server)");
  }
  let gateway: RunningGateway;
  try {
    gateway = await startGateway({ config, settings, env: process.env, log, port, host: values.host ?? "127.0.0.1" });
  } catch (error) {
    await mock?.close();
    throw error;
  }
  onSignals(log, async () => {
    await gateway.close();
    await mock?.close();
  });
}

async function runImportLiteLLM(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: "string" },
      to: { type: "string" },
      config: { type: "string", short: "c" },
      "dry-run": { type: "boolean" },
      overwrite: { type: "boolean" },
      json: { type: "boolean" },
      "litellm-salt-key": { type: "string" },
      "litellm-master-key": { type: "string" },
      "require-key-mcp-access-defined": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values.from === undefined) fail("import-litellm: --from postgres://... (the LiteLLM database) is required (see --help)", 2);
  const { config, warnings } = values.config === undefined ? { config: configSchema.parse({}), warnings: [] } : await loadConfigFile(values.config, process.env);
  const settings = runtimeSettings(config, process.env);
  for (const warning of [...warnings, ...settings.warnings]) process.stderr.write(`import-litellm: warning: ${warning}\n`);
  const { runImport } = await import("./litellm-import/run.js");
  const { reportJson, reportText } = await import("./litellm-import/report.js");
  const report = await runImport({
    from: values.from,
    to: values.to ?? settings.databaseUrl,
    config,
    settings,
    // LiteLLM's own precedence: LITELLM_SALT_KEY, else its master key.
    litellmKeyMaterial: values["litellm-salt-key"] || process.env.LITELLM_SALT_KEY || values["litellm-master-key"] || process.env.LITELLM_MASTER_KEY || undefined,
    dryRun: values["dry-run"] === true,
    overwrite: values.overwrite === true,
    requireKeyMcpAccessDefined: values["require-key-mcp-access-defined"] === true,
    progress: (line) => process.stderr.write(`import-litellm: ${line}\n`),
  });
  process.stdout.write(values.json === true ? reportJson(report) : reportText(report));
}

async function main(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  if (first === "mock-server") return runMockServer(rest);
  if (first === "import-litellm") return runImportLiteLLM(rest);
  if (first === "serve") return runGateway(rest);
  return runGateway(process.argv.slice(2));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) fail(`invalid configuration:\n${error.message}`);
  if (isGatewayError(error)) fail(error.message);
  const code = (error as { code?: string } | undefined)?.code;
  if (code === "EADDRINUSE") fail(`the port is already in use: ${(error as Error).message} (choose another with --port)`);
  if (error instanceof TypeError && (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) fail(`${error.message} (see --help)`, 2);
  fail(error instanceof Error ? (error.stack ?? error.message) : String(error));
});
