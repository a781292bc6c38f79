/**
 * One `LiteLLM_VerificationToken` row as a Gatehouse virtual key. LiteLLM's `token` column
 * is the SHA-256 hex of the raw `sk-...` key, which is what Gatehouse stores too, so every
 * key already handed to a client keeps working without anyone seeing it.
 */
import type { ObjectPermission, StoredKey } from "../store/keys-repository.js";
import type { EffectivePermission } from "./key-permissions.js";
import type { Row } from "./litellm-database.js";
import { count, flag, object, text, texts } from "./row-values.js";

export type MappedKey = { ok: true; key: StoredKey; notes: string[] } | { ok: false; skipped: boolean; reason: string };

/** LiteLLM's own UI sessions are keys of this team; they are not clients' keys. */
const UI_TEAM = "litellm-dashboard";
const TOKEN = /^[0-9a-f]{64}$/;
const KEY_NAME_MAX = 64;
const ALIAS_MAX = 255;

/**
 * Key fields Gatehouse does not carry, and what that means for the imported key. Only
 * fields with a value are reported. rpm_limit, max_parallel_requests, models, metadata,
 * team_id, budgets, spend and blocked are carried (the first two enforced on MCP calls;
 * the LLM ones stored and returned, as /key/generate stores them).
 */
const NOT_CARRIED: readonly (readonly [column: string, why: string])[] = [
  ["organization_id", "not carried: Gatehouse keys belong to no organization (its MCP limits are applied to the key's lists)"],
  ["allowed_routes", "not carried: Gatehouse keys reach the MCP routes only (admin routes need the master key)"],
  ["budget_id", "not carried (LLM budgets)"],
];

/** LiteLLM's other key columns, kept as given (as /key/generate keeps LiteLLM's fields it does not act on). */
const EXTRA_COLUMNS = ["aliases", "config", "permissions", "model_max_budget", "allowed_cache_controls", "budget_limits", "soft_budget_cooldown", "created_by"] as const;

export interface KeyContext {
  teamBlocked: boolean;
  permission: EffectivePermission;
}

export function mapKey(row: Row, context: KeyContext): MappedKey {
  const token = text(row, "token");
  if (token === undefined || !TOKEN.test(token)) {
    return { ok: false, skipped: false, reason: "its token is not a SHA-256 hex hash, so the key it stands for cannot be known" };
  }
  if (text(row, "team_id") === UI_TEAM) return { ok: false, skipped: true, reason: `a LiteLLM admin UI session key (team ${UI_TEAM})` };
  const notes = [...context.permission.notes];
  const blocked = flag(row, "blocked") === true || context.teamBlocked;
  if (blocked && flag(row, "blocked") !== true) notes.push(`imported blocked: its team '${text(row, "team_id") ?? ""}' is blocked in LiteLLM`);
  const keyName = text(row, "key_name");
  let keyAlias = text(row, "key_alias") ?? null;
  if (keyAlias !== null && keyAlias.length > ALIAS_MAX) {
    notes.push(`key_alias longer than ${ALIAS_MAX} characters not carried`);
    keyAlias = null;
  }
  for (const [column, why] of NOT_CARRIED) {
    if (hasValue(row[column])) notes.push(`${column} ${why}`);
  }
  const permission: ObjectPermission = { mcp_servers: context.permission.servers };
  if (Object.keys(context.permission.tools).length > 0) permission.mcp_tool_permissions = context.permission.tools;

  const expires = text(row, "expires");
  const budgetResetAt = text(row, "budget_reset_at");
  const extra: Record<string, unknown> = {};
  for (const column of EXTRA_COLUMNS) if (hasValue(row[column])) extra[column] = row[column];
  return {
    ok: true,
    notes,
    key: {
      token,
      keyName: keyName !== undefined && keyName.length <= KEY_NAME_MAX ? keyName : `litellm-${token.slice(0, 8)}`,
      keyAlias,
      userId: text(row, "user_id") ?? null,
      objectPermission: permission,
      expiresAt: expires === undefined ? null : new Date(expires).toISOString(),
      createdAt: new Date(text(row, "created_at") ?? "1970-01-01T00:00:00Z").toISOString(),
      updatedAt: null,
      teamId: text(row, "team_id") ?? null,
      models: texts(row, "models") ?? [],
      metadata: object(row, "metadata") ?? {},
      spend: count(row, "spend") ?? 0,
      maxBudget: count(row, "max_budget") ?? null,
      budgetDuration: text(row, "budget_duration") ?? null,
      budgetResetAt: budgetResetAt === undefined ? null : new Date(budgetResetAt).toISOString(),
      rpmLimit: count(row, "rpm_limit") ?? null,
      tpmLimit: count(row, "tpm_limit") ?? null,
      maxParallelRequests: count(row, "max_parallel_requests") ?? null,
      blocked,
      extra,
    },
  };
}

/** A label for reports: the alias, else LiteLLM's `sk-...abcd` name, else the start of the hash. Never the key. */
export function keyLabel(row: Row): string {
  const alias = text(row, "key_alias");
  const name = text(row, "key_name");
  const token = text(row, "token") ?? "?";
  if (alias !== undefined) return name === undefined ? alias : `${alias} (${name})`;
  return name ?? `token ${token.slice(0, 12)}...`;
}

function hasValue(value: unknown): boolean {
  if (value === null || value === undefined || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object") return Object.keys(value).length > 0;
  return true;
}
