/**
 * Resolve `os.environ/NAME` references, then validate with a zod schema, collecting every
 * problem as a line that names the path. Shared by the config file and by server configs
 * that come from the management API or the database, so both read the same.
 */
import type { z } from "zod";
import { substituteEnvRefs, type Environment } from "./env-refs.js";
import { ConfigError, describeIssues, formatPath } from "./errors.js";

export interface ValidateOptions {
  /** Problems found before the schema ran (listed first), and their paths, which the schema then does not report again. */
  earlier?: { problems: readonly string[]; paths: readonly (readonly PropertyKey[])[] };
  /** Further keys a typo may have meant, by object path (LiteLLM's keys that Gatehouse screens out before the schema). */
  moreKeysAt?: (path: readonly PropertyKey[]) => readonly string[];
}

export function validateWithEnv<Schema extends z.ZodType>(schema: Schema, raw: unknown, env: Environment, label: string, options: ValidateOptions = {}): z.output<Schema> {
  const substitution = substituteEnvRefs(raw, env, label);
  const result = schema.safeParse(substitution.value);
  // A missing variable is reported already; its literal `os.environ/X` would only add a second, misleading line.
  const reported = new Set([...substitution.unresolvedPaths, ...(options.earlier?.paths ?? [])].map((path) => formatPath(path)));
  const issues = result.success ? [] : result.error.issues.filter((issue) => !reported.has(formatPath(issue.path)));
  const problems = [...(options.earlier?.problems ?? []), ...substitution.problems, ...describeIssues(issues, schema, substitution.value, label, options.moreKeysAt)];
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}
