/**
 * A server's `allowed_tools` / `disallowed_tools` (README, "config.yaml"), applied wherever tools
 * are listed or called. With both lists, a tool must be allowed and not disallowed. An entry
 * may be the raw tool name or the name with the server's prefix (`github-create_issue`), as
 * LiteLLM accepts; a prefixed entry counts for the raw name too, so a prefixed
 * `disallowed_tools` entry is never ignored.
 */

export type ToolFilter = (tool: string) => boolean;

export const ALLOW_ALL_TOOLS: ToolFilter = () => true;

export function toolFilter(allowed: readonly string[] | undefined, disallowed: readonly string[] | undefined, prefixes: readonly string[] = []): ToolFilter {
  if (allowed === undefined && (disallowed === undefined || disallowed.length === 0)) return ALLOW_ALL_TOOLS;
  const withRawNames = (entries: readonly string[]) =>
    new Set(entries.flatMap((entry) => [entry, ...prefixes.filter((prefix) => entry.startsWith(prefix) && entry.length > prefix.length).map((prefix) => entry.slice(prefix.length))]));
  const allow = allowed === undefined ? undefined : withRawNames(allowed);
  const deny = withRawNames(disallowed ?? []);
  return (tool) => (allow === undefined || allow.has(tool)) && !deny.has(tool);
}
