/**
 * The bodies of LiteLLM's key API (`GenerateKeyRequest`, `UpdateKeyRequest`,
 * `RegenerateKeyRequest`), validated at the edge. Every field LiteLLM takes is accepted;
 * a field neither LiteLLM nor Gatehouse knows is a 400 that names it (a typo must not
 * pass silently). What Gatehouse does with each field (README, "Managing servers and keys"):
 *
 * - enforced: `object_permission.mcp_servers` / `mcp_tool_permissions` (and
 *   `mcp_access_groups`, with the access-group step), `rpm_limit`, `max_parallel_requests`,
 *   `duration` / `expires`, `blocked`;
 * - stored and returned, not enforced (they concern LLM calls, which Gatehouse does not
 *   serve): `models`, `tpm_limit`, budgets, `spend`, and the rest of LiteLLM's fields;
 * - refused when they would restrict the key (`allowed_routes`, `key_type` other than
 *   `default`, `object_permission.blocked_tools` and `mcp_toolsets`): LiteLLM would
 *   enforce them, and a restriction Gatehouse cannot keep must not look accepted.
 */
import { z } from "zod";
import { GatewayError } from "../../errors.js";
import { DURATION_HINT, isDuration } from "./key-duration.js";

const text = z.string().min(1).max(255);
const names = z.array(z.string().min(1).max(255));
const limit = z.number().int("a whole number").min(0).max(Number.MAX_SAFE_INTEGER);
const amount = z.number().min(0);
const duration = z.string().refine(isDuration, DURATION_HINT);
const jsonObject = z.record(z.string(), z.unknown());

/**
 * The MCP fields of object_permission are checked; LiteLLM's other ones are kept as given.
 * Strict: a misspelt `mcp_servers` must be a 400, not a key that sees every server.
 */
const objectPermission = z.strictObject({
  object_permission_id: z.string().nullish(),
  vector_stores: z.array(z.string()).nullish(),
  agents: z.array(z.string()).nullish(),
  agent_access_groups: z.array(z.string()).nullish(),
  models: z.array(z.string()).nullish(),
  search_tools: z.array(z.string()).nullish(),
  skills: z.array(z.string()).nullish(),
  mcp_tool_search_enabled: z.boolean().nullish(),
  mcp_servers: names.nullish(),
  mcp_access_groups: names.nullish(),
  mcp_tool_permissions: z.record(z.string(), names).nullish(),
  blocked_tools: z.array(z.string()).max(0, "Gatehouse does not enforce blocked_tools; limit the key with mcp_tool_permissions instead").nullish(),
  mcp_toolsets: z.array(z.string()).max(0, "Gatehouse has no toolsets; limit the key with mcp_servers and mcp_tool_permissions instead").nullish(),
});

const unenforcedRestriction = (what: string) => z.array(z.unknown()).max(0, `Gatehouse does not enforce ${what}; it would not restrict the key`).nullish();

/** LiteLLM's fields that Gatehouse stores and returns as given (`extra`). */
const storedAsGiven = {
  agent_id: z.string().nullish(),
  budget_id: z.string().nullish(),
  organization_id: z.string().nullish(),
  project_id: z.string().nullish(),
  soft_budget: amount.nullish(),
  budget_limits: z.array(z.unknown()).nullish(),
  aliases: jsonObject.nullish(),
  config: jsonObject.nullish(),
  permissions: jsonObject.nullish(),
  model_max_budget: jsonObject.nullish(),
  model_rpm_limit: jsonObject.nullish(),
  model_tpm_limit: jsonObject.nullish(),
  router_settings: jsonObject.nullish(),
  allowed_cache_controls: z.array(z.unknown()).nullish(),
  guardrails: z.array(z.string()).nullish(),
  policies: z.array(z.string()).nullish(),
  prompts: z.array(z.string()).nullish(),
  enforced_params: z.array(z.string()).nullish(),
  access_group_ids: z.array(z.string()).nullish(),
  allowed_vector_store_indexes: z.array(z.unknown()).nullish(),
  disable_global_guardrails: z.boolean().nullish(),
  rpm_limit_type: z.enum(["guaranteed_throughput", "best_effort_throughput", "dynamic"]).nullish(),
  tpm_limit_type: z.enum(["guaranteed_throughput", "best_effort_throughput", "dynamic"]).nullish(),
  send_invite_email: z.boolean().nullish(),
  auto_rotate: z.boolean().nullish(),
  rotation_interval: duration.nullish(),
  temp_budget_increase: amount.nullish(),
  temp_budget_expiry: z.string().nullish(),
};

export const STORED_AS_GIVEN = Object.keys(storedAsGiven);

const keyFields = {
  key_alias: text.nullish(),
  user_id: text.nullish(),
  team_id: text.nullish(),
  /** `null`: never expires (generate), unchanged (update, as LiteLLM); `-1` on update: never expires. */
  duration: z.union([duration, z.literal("-1")]).nullish(),
  /** A Gatehouse extension: the expiry as a date. */
  expires: z.iso.datetime({ offset: true, error: "an ISO-8601 date and time, e.g. 2027-01-31T00:00:00Z" }).nullish(),
  models: names.nullish(),
  metadata: jsonObject.nullish(),
  tags: names.nullish(),
  spend: amount.nullish(),
  max_budget: z.union([amount, z.literal("").transform(() => null)]).nullish(),
  budget_duration: duration.nullish(),
  rpm_limit: limit.nullish(),
  tpm_limit: limit.nullish(),
  max_parallel_requests: limit.nullish(),
  blocked: z.boolean().nullish(),
  object_permission: objectPermission.nullish(),
  allowed_routes: unenforcedRestriction("allowed_routes"),
  allowed_passthrough_routes: unenforcedRestriction("allowed_passthrough_routes"),
  key_type: z.literal("default", "Gatehouse keys are all of key_type 'default' (MCP routes); it does not enforce the other types").nullish(),
  ...storedAsGiven,
};

const customKey = z.string().max(255).startsWith("sk-", "a custom key must start with 'sk-', as LiteLLM's keys do").min(8, "a custom key needs at least 5 characters after 'sk-'");

export const generateSchema = z.strictObject({ ...keyFields, key: customKey.nullish() });
export const updateSchema = z.strictObject({ ...keyFields, key: z.string().min(1) });
export const regenerateSchema = z.strictObject({
  ...keyFields,
  key: z.string().min(1).nullish(),
  new_key: z.string().max(255).startsWith("sk-", "New key must start with 'sk-'").min(8, "a new key needs at least 5 characters after 'sk-'").nullish(),
  grace_period: z.null("Gatehouse does not keep the old key working after a regenerate: leave out grace_period").optional(),
  new_master_key: z.null("the master key is set in the environment (GATEHOUSE_MASTER_KEY), not through /key/regenerate").optional(),
});
export const keyOnlySchema = z.strictObject({ key: z.string().min(1) });
export const deleteSchema = z
  .strictObject({
    keys: z.array(z.string().min(1)).optional(),
    key_aliases: z.array(z.string().min(1)).optional(),
  })
  .refine((body) => (body.keys?.length ?? 0) + (body.key_aliases?.length ?? 0) > 0, "give keys (keys or their token hashes) or key_aliases to delete");

export type KeyFields = z.output<typeof generateSchema>;

/** The body, or a 400 whose message names the first wrong field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const unknown = issue?.code === "unrecognized_keys" ? issue.keys[0] : undefined;
  const field = [...(issue?.path ?? []), ...(unknown === undefined ? [] : [unknown])].map(String).join(".");
  const what = unknown === undefined ? (issue?.message ?? "invalid") : "unknown field (neither LiteLLM's key API nor Gatehouse has it)";
  throw new GatewayError({ status: 400, code: "invalid_request", message: `${field === "" ? "body" : field}: ${what}`, extra: { field } });
}
