/**
 * Resolves `{server}-{rest}` strings (prefixed tool names, `x-mcp-{server}-{header}`)
 * where server names may themselves contain '-': the longest configured name that
 * matches wins (README, "Per-request upstream credentials"). Built once per registry snapshot.
 */

export interface PrefixMatch {
  server: string;
  rest: string;
}

export interface ServerNameMatcher {
  matchPrefix(value: string, options?: { caseInsensitive?: boolean }): PrefixMatch | undefined;
}

export function serverNameMatcher(names: Iterable<string>): ServerNameMatcher {
  const longestFirst = [...names].sort((a, b) => b.length - a.length);
  const lowered = longestFirst.map((name) => name.toLowerCase());
  return {
    matchPrefix(value, options = {}) {
      const subject = options.caseInsensitive ? value.toLowerCase() : value;
      const candidates = options.caseInsensitive ? lowered : longestFirst;
      for (let i = 0; i < candidates.length; i++) {
        const name = candidates[i]!;
        if (subject.length > name.length && subject.charCodeAt(name.length) === 45 /* - */ && subject.startsWith(name)) {
          return { server: longestFirst[i]!, rest: value.slice(name.length + 1) };
        }
      }
      return undefined;
    },
  };
}
