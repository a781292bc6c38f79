/**
 * LiteLLM's `os.environ/NAME` references (README, "config.yaml"): any string value of the config,
 * at any depth and inside lists, that is exactly `os.environ/NAME` becomes the value of
 * the environment variable NAME. Keys are never resolved.
 */
import { ConfigError, problemLine } from "./errors.js";

/** The environment, passed in by the composition root (only src/cli.ts reads process.env). */
export type Environment = Readonly<Record<string, string | undefined>>;

const ENV_REF = /^os\.environ\/(.*)$/s;

export interface EnvSubstitution {
  /** A copy of the tree; references that could not be resolved are left as written. */
  value: unknown;
  /** One problem line per unresolved reference. */
  problems: string[];
  /** Paths of the unresolved references, so later checks do not report them a second time. */
  unresolvedPaths: PropertyKey[][];
}

/** Resolves every reference it can and collects the rest, so all missing variables are reported at once. */
export function substituteEnvRefs(tree: unknown, env: Environment, file: string): EnvSubstitution {
  const problems: string[] = [];
  const unresolvedPaths: PropertyKey[][] = [];

  const visit = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === "string") {
      const match = ENV_REF.exec(node);
      if (match === null) return node;
      const name = match[1] ?? "";
      // Object.hasOwn: a plain-object env must not answer `os.environ/constructor` from its prototype.
      const value = Object.hasOwn(env, name) ? env[name] : undefined;
      if (typeof value === "string") return value;
      problems.push(
        problemLine(
          file,
          path,
          name === ""
            ? "os.environ/ must be followed by the name of an environment variable"
            : `environment variable ${name} is not set (referenced as os.environ/${name})`,
        ),
      );
      unresolvedPaths.push(path);
      return node;
    }
    if (Array.isArray(node)) return node.map((item: unknown, index) => visit(item, [...path, index]));
    if (node !== null && typeof node === "object") {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, visit(item, [...path, key])]));
    }
    return node;
  };

  return { value: visit(tree, []), problems, unresolvedPaths };
}

/**
 * Returns a copy of `tree` with every `os.environ/NAME` string replaced by `env[NAME]`.
 * Throws one ConfigError listing every variable that is not set, with its config path.
 */
export function resolveEnvRefs(tree: unknown, env: Environment, file: string): unknown {
  const { value, problems } = substituteEnvRefs(tree, env, file);
  if (problems.length > 0) throw new ConfigError(problems);
  return value;
}
