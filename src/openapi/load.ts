/** Reads, converts, dereferences and compiles a server's OpenAPI document (`spec_path`). */
import { compileOperations, DEFAULT_MAX_TOOL_NAME, rawOperations, type RawOperation } from "./compile.js";
import { openApiDocument } from "./document.js";
import { baseUrlOf, type ServerContext } from "./servers.js";
import { DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_SPEC_BYTES, displayLocation, readSpec } from "./source.js";
import { SpecError, type CompiledOperation, type LoadedSpec, type SpecLoadOptions, type SpecSource } from "./types.js";

const LISTED = 20;

export async function loadSpec(source: SpecSource, options: SpecLoadOptions = {}): Promise<LoadedSpec> {
  const where = `${source.label}: ${displayLocation(source.specPath)}`;
  const { text, url } = await readSpec(source.specPath, where, {
    maxBytes: options.maxSpecBytes ?? DEFAULT_MAX_SPEC_BYTES,
    timeoutMs: options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    fetch: options.fetch ?? fetch,
  });
  const doc = await openApiDocument(text, where);
  const servers: ServerContext = { where, specUrl: url, configured: source.baseUrl || undefined, allowOtherHosts: source.allowOtherHosts === true };
  const baseUrl = baseUrlOf(doc, servers);
  const warnings: string[] = [];
  const all = rawOperations(doc);
  const chosen = source.operations ? selected(all, source.operations, where) : all;
  const operations = compileOperations(chosen, { base: baseUrl, servers, maxToolName: options.maxToolName ?? DEFAULT_MAX_TOOL_NAME, warnings });
  if (all.length === 0) warnings.push(`${where}: the document has no operations (webhooks only?): the server has no tools`);
  const info = doc.info as { title?: unknown; version?: unknown } | undefined;
  return {
    baseUrl,
    operations,
    byName: new Map<string, CompiledOperation>(operations.map((operation) => [operation.tool.name, operation])),
    warnings: warnings.map((warning) => (warning.startsWith(where) ? warning : `${where}: ${warning}`)),
    title: typeof info?.title === "string" ? info.title : undefined,
    version: typeof info?.version === "string" ? info.version : undefined,
  };
}

/** `operations:` entries: an operationId, or `METHOD /path` (method in any case); each must match. */
function selected(all: readonly RawOperation[], entries: readonly string[], where: string): RawOperation[] {
  const wanted = new Set<RawOperation>();
  for (const entry of entries) {
    const matches = all.filter((op) => matchesEntry(op, entry.trim()));
    if (matches.length === 0) {
      const known = all.slice(0, LISTED).map((op) => (op.operationId ? `${op.operationId} (${op.method} ${op.path})` : `${op.method} ${op.path}`));
      const more = all.length > LISTED ? `, and ${all.length - LISTED} more` : "";
      throw new SpecError(`${where}: operations: "${entry}" matches no operation; the document has: ${known.join(", ") || "none"}${more}`);
    }
    for (const op of matches) wanted.add(op);
  }
  return all.filter((op) => wanted.has(op));
}

function matchesEntry(op: RawOperation, entry: string): boolean {
  if (op.operationId === entry) return true;
  const match = /^([A-Za-z]+)\s+(\/\S*)$/.exec(entry);
  return match !== null && match[1]!.toUpperCase() === op.method && match[2] === op.path;
}
