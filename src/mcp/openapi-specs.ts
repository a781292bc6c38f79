/**
 * The loaded OpenAPI documents of the registry's OpenAPI servers (`spec_path`), one per
 * server and source: loaded once (a URL spec is fetched once, not per call), single-flight,
 * and forgotten when its server goes or changes. The config file's specs are loaded before
 * the gateway serves (a spec that fails stops startup, with its problem); a database
 * server's spec is loaded when the snapshot brings it, and again when any of its settings
 * changes (editing it is how an operator has a URL spec read again), and a failure makes that
 * server unavailable with its reason, retried after a while, never stopping a running gateway.
 */
import { maskUrl } from "../debug.js";
import type { Logger } from "../log.js";
import { loadSpec } from "../openapi/load.js";
import { displayLocation } from "../openapi/source.js";
import type { LoadedSpec, SpecLoadOptions, SpecSource } from "../openapi/types.js";
import type { RegistrySnapshot } from "../registry/registry.js";
import type { McpServerEntry } from "../registry/server-entry.js";

export interface OpenApiSpecs {
  /** The server's spec, loaded (or the load's failure, kept for `RETRY_MS`). */
  get(server: McpServerEntry): Promise<LoadedSpec>;
  /** Loads every OpenAPI server's spec now; rejects with the first failure (the config file's, at startup). */
  preload(servers: Iterable<McpServerEntry>): Promise<void>;
  /** Forgets the specs of servers gone or changed, and starts loading those of new ones. */
  sync(snapshot: RegistrySnapshot): void;
  /** Loads a spec as a server with this source would, without keeping it (the admin API's check before storing a server). */
  check(source: SpecSource): Promise<LoadedSpec>;
}

/** MCP's longest tool name. */
const MAX_TOOL_NAME = 128;

/** How long a failed load is the answer before the next call tries again. */
const RETRY_MS = 30_000;

interface Held {
  /** The server's settings it was loaded with: a changed server loads again. */
  signature: string;
  spec: Promise<LoadedSpec>;
  failedAt?: number;
}

export function createOpenApiSpecs(deps: { log: Logger; options?: SpecLoadOptions; now?: () => number }): OpenApiSpecs {
  const now = deps.now ?? Date.now;
  const held = new Map<string, Held>();

  function load(server: McpServerEntry, source: SpecSource): Held {
    // Tool names are at most 128 characters with the server's prefix (MCP's limit), as on /mcp.
    const entry: Held = { signature: signatureOf(server), spec: loadSpec(source, { ...deps.options, maxToolName: MAX_TOOL_NAME - server.toolPrefix.length }) };
    // A URL's query and userinfo may be credentials (the spec host's, the API's in `url`): never logged.
    const specPath = displayLocation(source.specPath);
    entry.spec.then(
      (spec) => {
        for (const warning of spec.warnings) deps.log.warn({ server: server.name, spec_path: specPath }, warning);
        deps.log.info({ server: server.name, spec_path: specPath, tools: spec.operations.length, base_url: maskUrl(spec.baseUrl.href) }, "loaded the OpenAPI spec of a server");
      },
      (error: unknown) => {
        entry.failedAt = now();
        deps.log.error({ server: server.name, spec_path: specPath, err: error instanceof Error ? error.message : String(error) }, "cannot load the OpenAPI spec of a server: its tools are unavailable");
      },
    );
    held.set(server.id, entry);
    return entry;
  }

  function current(server: McpServerEntry): Held {
    const source = server.openapi!;
    const entry = held.get(server.id);
    const fresh = entry !== undefined && entry.signature === signatureOf(server) && (entry.failedAt === undefined || now() - entry.failedAt < RETRY_MS);
    return fresh ? entry : load(server, source);
  }

  return {
    get(server) {
      if (server.openapi === undefined) return Promise.reject(new Error(`MCP server '${server.name}' is not an OpenAPI server`));
      return current(server).spec;
    },
    async preload(servers) {
      const loading = [...servers].filter((server) => server.openapi !== undefined).map((server) => current(server).spec);
      await Promise.all(loading);
    },
    sync(snapshot) {
      for (const [id, entry] of held) {
        const server = snapshot.byIdOrName(id);
        if (server?.openapi === undefined || signatureOf(server) !== entry.signature) held.delete(id);
      }
      for (const server of snapshot.servers.values()) {
        if (server.openapi !== undefined && !held.has(server.id)) current(server).spec.catch(() => undefined);
      }
    },
    check(source) {
      return loadSpec(source, deps.options);
    },
  };
}

/** Entries are immutable: each one's signature is computed once, not on every call. */
const signatures = new WeakMap<McpServerEntry, string>();

/** Its spec's source and every setting: kept in memory only (it holds the server's secrets as configured). */
function signatureOf(server: McpServerEntry): string {
  let signature = signatures.get(server);
  if (signature === undefined) signatures.set(server, (signature = JSON.stringify([server.openapi, server.config])));
  return signature;
}

