/**
 * Resolves `{server}{separator}{rest}` strings (prefixed tool names, `x-mcp-{server}-{header}`)
 * where server names and aliases may themselves contain the separator: the longest
 * configured name or alias that matches wins (README, "Per-request upstream credentials",
 * "Tool prefixes and aliases"). Built once per registry snapshot.
 */

export interface PrefixMatch {
  /** The server's name (an alias resolves to the name of its server). */
  server: string;
  rest: string;
}

export interface ServerNameMatcher {
  matchPrefix(value: string, options?: { caseInsensitive?: boolean }): PrefixMatch | undefined;
}

/** A name the server answers to, and the server's name (the same for the name itself). */
export type ServerLabel = string | readonly [label: string, server: string];

export function serverNameMatcher(labels: Iterable<ServerLabel>, separator = "-"): ServerNameMatcher {
  const longestFirst = [...labels].map((label) => (typeof label === "string" ? ([label, label] as const) : label)).sort((a, b) => b[0].length - a[0].length);
  const lowered = longestFirst.map(([label]) => label.toLowerCase());
  const exact = longestFirst.map(([label]) => label);
  return {
    matchPrefix(value, options = {}) {
      const subject = options.caseInsensitive ? value.toLowerCase() : value;
      const candidates = options.caseInsensitive ? lowered : exact;
      for (let i = 0; i < candidates.length; i++) {
        const label = candidates[i]!;
        if (subject.length > label.length + separator.length && subject.startsWith(label) && subject.startsWith(separator, label.length)) {
          return { server: longestFirst[i]![1], rest: value.slice(label.length + separator.length) };
        }
      }
      return undefined;
    },
  };
}
