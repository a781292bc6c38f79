/**
 * Server aliases (README, "Tool prefixes and aliases"): a server's own `alias`, else the
 * first unused `litellm_settings.mcp_aliases` entry that names it, as LiteLLM assigns them.
 * Names and aliases together are unique ignoring case: each is a name the server answers
 * to in URLs and in `x-mcp-{server}-*` header names, which ignore case.
 */
import { problemLine } from "./errors.js";
import { SERVER_NAME_PATTERN, type ServerConfig } from "./schema.js";

export interface AliasOutcome {
  servers: Record<string, ServerConfig>;
  warnings: string[];
  problems: string[];
}

export function applyAliases(servers: Readonly<Record<string, ServerConfig>>, mcpAliases: Readonly<Record<string, string>> | undefined, file: string): AliasOutcome {
  const warnings: string[] = [];
  const problems: string[] = [];
  const out: Record<string, ServerConfig> = { ...servers };
  const used = new Set(Object.values(servers).flatMap((server) => (server.alias === undefined ? [] : [server.alias])));
  for (const [alias, target] of Object.entries(mcpAliases ?? {})) {
    const path = ["litellm_settings", "mcp_aliases", alias];
    const server = Object.hasOwn(out, target) ? out[target] : undefined;
    if (server === undefined) {
      warnings.push(`${file}: litellm_settings.mcp_aliases.${alias}: names '${target}', which is no configured MCP server; ignored (as LiteLLM does)`);
      continue;
    }
    if (server.alias !== undefined || used.has(alias)) {
      const why = used.has(alias) ? `'${alias}' is already the alias of a server` : `server '${target}' already has the alias '${server.alias}'`;
      warnings.push(`${file}: litellm_settings.mcp_aliases.${alias}: ignored: ${why} (a server has one alias, the first unused one, as in LiteLLM)`);
      continue;
    }
    if (!SERVER_NAME_PATTERN.test(alias)) {
      problems.push(problemLine(file, path, "an alias may contain only letters, digits, '_' and '-' (it names the server in URLs and tool prefixes)"));
      continue;
    }
    out[target] = { ...server, alias };
    used.add(alias);
  }
  problems.push(...clashes(out, file));
  return { servers: out, warnings, problems };
}

/** Every name and alias names one server, ignoring case. */
function clashes(servers: Readonly<Record<string, ServerConfig>>, file: string): string[] {
  const problems: string[] = [];
  const holders = new Map<string, string>();
  for (const name of Object.keys(servers)) holders.set(name.toLowerCase(), name);
  for (const [name, server] of Object.entries(servers)) {
    if (server.alias === undefined) continue;
    const holder = holders.get(server.alias.toLowerCase());
    if (holder !== undefined && holder !== name) {
      problems.push(
        problemLine(
          file,
          ["mcp_servers", name, "alias"],
          `'${server.alias}' is already the name or alias of server '${holder}' (ignoring case); names and aliases must be unique ignoring case, since both name a server in URLs and x-mcp-{server}-* headers`,
        ),
      );
    } else holders.set(server.alias.toLowerCase(), name);
  }
  return problems;
}
