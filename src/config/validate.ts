/**
 * Resolve `os.environ/NAME` references, then validate with a zod schema, collecting every
 * problem as a line that names the path. Shared by the config file and by server configs
 * that come from the management API or the database, so both read the same.
 */
import type { z } from "zod";
import { substituteEnvRefs, type Environment } from "./env-refs.js";
import { ConfigError, describeIssues, formatPath } from "./errors.js";

export function validateWithEnv<Schema extends z.ZodType>(schema: Schema, raw: unknown, env: Environment, label: string): z.output<Schema> {
  const substitution = substituteEnvRefs(raw, env, label);
  const result = schema.safeParse(substitution.value);
  // A missing variable is reported already; its literal `os.environ/X` would only add a second, misleading line.
  const unresolved = new Set(substitution.unresolvedPaths.map((path) => formatPath(path)));
  const issues = result.success ? [] : result.error.issues.filter((issue) => !unresolved.has(formatPath(issue.path)));
  const problems = [...substitution.problems, ...describeIssues(issues, schema, substitution.value, label)];
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}
