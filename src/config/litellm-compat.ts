/**
 * Takes a LiteLLM config tree as LiteLLM would, before the schema sees it (README, "Switching
 * from LiteLLM"): keys Gatehouse does not implement are removed with one warning per key
 * (for server fields: one per field, naming the servers), keys whose absence would widen
 * access are refused, and the few LiteLLM spellings Gatehouse maps onto its own keys are
 * rewritten. What is left is checked by the strict schema, so a key neither LiteLLM nor
 * Gatehouse knows is still an error with the nearest known key suggested.
 */
import { closestMatch, formatPath, levenshtein, problemLine } from "./errors.js";
import {
  GENERAL_SETTINGS_KEYS,
  LITELLM_LLM_SETTINGS,
  LITELLM_SETTINGS_KEYS,
  MCP_GUARDRAIL_MODES,
  REFUSED_AUTH_TYPES,
  REQUIRE_APPROVAL_NEVER,
  SERVER_KEYS,
  TOKEN_EXCHANGE_PROFILES,
  TOP_LEVEL_KEYS,
  type Treatment,
} from "./litellm-keys.js";

export interface Screened {
  /** A copy of the tree without the keys handled here. */
  tree: Record<string, unknown>;
  warnings: string[];
  /** Refusals: startup errors. */
  problems: string[];
  /** Paths reported here, so the schema does not report them again. */
  reported: PropertyKey[][];
}

/** litellm_settings keys Gatehouse honours (schema.ts). */
export const HONOURED_LITELLM_SETTINGS = ["mcp_aliases"] as const;

const LLM_SETTINGS = new Set<string>(LITELLM_LLM_SETTINGS);

type Tree = Record<string, unknown>;

function isMapping(value: unknown): value is Tree {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function ignoredLine(file: string, path: string, instead: string): string {
  return `${file}: ${path}: not supported by Gatehouse, ignored: ${instead}`;
}

function refusedLine(file: string, path: readonly PropertyKey[], why: string): string {
  return problemLine(file, path, `not supported by Gatehouse, and ignoring it would widen access: ${why}`);
}

export function screenLiteLlmKeys(root: Tree, file: string): Screened {
  const out: Screened = { tree: { ...root }, warnings: [], problems: [], reported: [] };
  const apply = (container: Tree, path: PropertyKey[], key: string, treatment: Treatment, label = formatPath([...path, key])) => {
    delete container[key];
    if (treatment.action === "ignore") out.warnings.push(ignoredLine(file, label, treatment.instead));
    else {
      out.problems.push(refusedLine(file, [...path, key], treatment.why));
      out.reported.push([...path, key]);
    }
  };

  for (const key of Object.keys(out.tree)) {
    if (key === "guardrails") screenGuardrails(out, file);
    else {
      const treatment = TOP_LEVEL_KEYS[key];
      if (treatment !== undefined) apply(out.tree, [], key, treatment);
    }
  }
  if (isMapping(out.tree.general_settings)) {
    const general = { ...out.tree.general_settings };
    out.tree.general_settings = general;
    for (const key of Object.keys(general)) {
      const treatment = GENERAL_SETTINGS_KEYS[key];
      if (treatment !== undefined) apply(general, ["general_settings"], key, treatment);
    }
    mapRequestSize(general, out, file);
  }
  if (isMapping(out.tree.litellm_settings)) screenLiteLlmSettings(out, file, apply);
  else if (out.tree.litellm_settings === null) delete out.tree.litellm_settings;
  if (isMapping(out.tree.mcp_servers)) screenServers(out, file);
  return out;
}

/** Guardrails with an MCP mode would block tool calls in LiteLLM: refused. The rest concern LLM calls: one warning. */
function screenGuardrails(out: Screened, file: string): void {
  const guardrails = out.tree.guardrails;
  delete out.tree.guardrails;
  const entries = Array.isArray(guardrails) ? guardrails : [];
  let refused = false;
  for (const [index, entry] of entries.entries()) {
    const params = isMapping(entry) && isMapping(entry.litellm_params) ? entry.litellm_params : undefined;
    const modes = [params?.mode].flat().filter((mode): mode is string => typeof mode === "string");
    const mcpModes = modes.filter((mode) => (MCP_GUARDRAIL_MODES as readonly string[]).includes(mode));
    if (mcpModes.length === 0) continue;
    refused = true;
    const path = ["guardrails", index, "litellm_params", "mode"];
    out.problems.push(
      refusedLine(
        file,
        path,
        `guardrail mode ${mcpModes.join(", ")} runs on MCP tool calls, and Gatehouse runs no guardrails: ignoring it would let the calls it blocks through. Remove the guardrail, or narrow the server's tools (allowed_tools, allowed_params)`,
      ),
    );
    out.reported.push(path);
  }
  const treatment = TOP_LEVEL_KEYS.guardrails;
  if (!refused && treatment?.action === "ignore") out.warnings.push(ignoredLine(file, "guardrails", treatment.instead));
}

/** LiteLLM's general_settings.max_request_size_mb, taken as Gatehouse's max_request_body_bytes when that is not set. */
function mapRequestSize(general: Tree, out: Screened, file: string): void {
  if (!Object.hasOwn(general, "max_request_size_mb")) return;
  const megabytes = general.max_request_size_mb;
  delete general.max_request_size_mb;
  if (typeof megabytes !== "number" || !(megabytes > 0)) {
    out.problems.push(problemLine(file, ["general_settings", "max_request_size_mb"], "expected a positive number of megabytes"));
    out.reported.push(["general_settings", "max_request_size_mb"]);
    return;
  }
  if (Object.hasOwn(general, "max_request_body_bytes")) {
    out.warnings.push(`${file}: general_settings.max_request_size_mb: ignored, because max_request_body_bytes is set too (it wins)`);
    return;
  }
  general.max_request_body_bytes = Math.floor(megabytes * 1024 * 1024);
}

function screenLiteLlmSettings(out: Screened, file: string, apply: (container: Tree, path: PropertyKey[], key: string, treatment: Treatment) => void): void {
  const settings = { ...(out.tree.litellm_settings as Tree) };
  out.tree.litellm_settings = settings;
  const mcpKeys = [...HONOURED_LITELLM_SETTINGS, ...Object.keys(LITELLM_SETTINGS_KEYS)];
  for (const key of Object.keys(settings)) {
    if ((HONOURED_LITELLM_SETTINGS as readonly string[]).includes(key)) continue;
    const treatment = LITELLM_SETTINGS_KEYS[key];
    if (treatment !== undefined) {
      apply(settings, ["litellm_settings"], key, treatment);
      continue;
    }
    if (LLM_SETTINGS.has(key)) {
      apply(settings, ["litellm_settings"], key, { action: "ignore", instead: "it is a LiteLLM LLM-proxy setting with no counterpart in an MCP gateway" });
      continue;
    }
    // LiteLLM sets any key here as a module attribute, so an unknown one is accepted, unless it looks like a misspelt MCP key.
    const guess = closestMatch(key, mcpKeys);
    if (guess !== undefined && levenshtein(key.toLowerCase(), guess.toLowerCase()) <= 2) {
      delete settings[key];
      out.problems.push(problemLine(file, ["litellm_settings", key], `unknown key '${key}' (did you mean '${guess}'?)`));
      out.reported.push(["litellm_settings", key]);
      continue;
    }
    apply(settings, ["litellm_settings"], key, {
      action: "ignore",
      instead: "it is no setting Gatehouse or LiteLLM's MCP gateway reads (LiteLLM stores any litellm_settings key as an LLM-proxy attribute)",
    });
  }
}

function screenServers(out: Screened, file: string): void {
  const servers = { ...(out.tree.mcp_servers as Tree) };
  out.tree.mcp_servers = servers;
  /** Ignored field → the servers that have it, for one warning per field. */
  const ignored = new Map<string, { instead: string; servers: string[] }>();
  for (const [name, entry] of Object.entries(servers)) {
    if (!isMapping(entry)) continue;
    const server = { ...entry };
    servers[name] = server;
    const path = ["mcp_servers", name];
    for (const key of Object.keys(server)) {
      const treatment = key === "require_approval" && (server[key] === "never" || server[key] === false) ? REQUIRE_APPROVAL_NEVER : SERVER_KEYS[key];
      if (treatment === undefined) continue;
      delete server[key];
      if (treatment.action === "refuse") {
        out.problems.push(refusedLine(file, [...path, key], treatment.why));
        out.reported.push([...path, key]);
      } else {
        const seen = ignored.get(key) ?? { instead: treatment.instead, servers: [] };
        seen.servers.push(name);
        ignored.set(key, seen);
      }
    }
    const authType = server.auth_type;
    const refusal = typeof authType === "string" && Object.hasOwn(REFUSED_AUTH_TYPES, authType) ? REFUSED_AUTH_TYPES[authType] : undefined;
    if (refusal !== undefined) {
      // The file still starts (LiteLLM users' files must), without this server: narrower, never
      // a server called without its credentials or without the key check.
      out.warnings.push(problemLine(file, [...path, "auth_type"], `MCP server '${name}' is not served: auth_type ${String(authType)} is not supported by Gatehouse: ${refusal}`));
      delete servers[name];
      continue;
    }
    mapTokenExchangeProfile(server, path, out, file);
    mapUpstreamResource(server, path, out, file);
  }
  for (const [key, { instead, servers: names }] of ignored) {
    out.warnings.push(ignoredLine(file, `mcp_servers.*.${key} (on ${names.join(", ")})`, instead));
  }
}

/** token_exchange_profile: rfc8693 is what oauth2_token_exchange does; Entra's OBO profile is another protocol. */
function mapTokenExchangeProfile(server: Tree, path: PropertyKey[], out: Screened, file: string): void {
  if (!Object.hasOwn(server, "token_exchange_profile")) return;
  const profile = server.token_exchange_profile;
  delete server.token_exchange_profile;
  if ((TOKEN_EXCHANGE_PROFILES as readonly unknown[]).includes(profile)) return;
  out.problems.push(
    problemLine(
      file,
      [...path, "token_exchange_profile"],
      `only rfc8693 is supported, got ${JSON.stringify(profile)}: Gatehouse's oauth2_token_exchange speaks RFC 8693, and another profile's token request would fail or ask for the wrong token`,
    ),
  );
  out.reported.push([...path, "token_exchange_profile"]);
}

/** LiteLLM's upstream_resource (RFC 8707; `auto`: the server's url) is Gatehouse's `resource`. */
function mapUpstreamResource(server: Tree, path: PropertyKey[], out: Screened, file: string): void {
  if (!Object.hasOwn(server, "upstream_resource")) return;
  const value = server.upstream_resource;
  delete server.upstream_resource;
  if (Object.hasOwn(server, "resource")) {
    out.problems.push(problemLine(file, [...path, "upstream_resource"], "set either resource or LiteLLM's upstream_resource, not both"));
    out.reported.push([...path, "upstream_resource"]);
    return;
  }
  server.resource = value === "auto" ? server.url : value;
}

/** LiteLLM's keys at an object path, for "did you mean" beside the schema's own. */
export function liteLlmKeysAt(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return [...Object.keys(TOP_LEVEL_KEYS), "include"];
  if (path.length === 1 && path[0] === "general_settings") return [...Object.keys(GENERAL_SETTINGS_KEYS), "max_request_size_mb"];
  if (path.length === 1 && path[0] === "litellm_settings") return Object.keys(LITELLM_SETTINGS_KEYS);
  if (path.length === 2 && path[0] === "mcp_servers") return [...Object.keys(SERVER_KEYS), "upstream_resource", "token_exchange_profile"];
  return [];
}
