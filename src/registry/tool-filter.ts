/**
 * A server's `allowed_tools` / `disallowed_tools` (README, "config.yaml"), applied wherever tools
 * are listed or called. With both lists, a tool must be allowed and not disallowed.
 */

export type ToolFilter = (tool: string) => boolean;

export const ALLOW_ALL_TOOLS: ToolFilter = () => true;

export function toolFilter(allowed: readonly string[] | undefined, disallowed: readonly string[] | undefined): ToolFilter {
  if (allowed === undefined && (disallowed === undefined || disallowed.length === 0)) return ALLOW_ALL_TOOLS;
  const allow = allowed === undefined ? undefined : new Set(allowed);
  const deny = new Set(disallowed ?? []);
  return (tool) => (allow === undefined || allow.has(tool)) && !deny.has(tool);
}
