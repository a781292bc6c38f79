/**
 * Virtual keys' management API (README, "Managing servers and keys"), with LiteLLM's
 * routes and shapes: `/key/generate`, `/key/info`, `/key/update`, `/key/regenerate`
 * (and `/key/{key}/regenerate`), `/key/block`, `/key/unblock`, `/key/list`,
 * `/key/delete`. The plaintext key exists only in the answers to generate and regenerate
 * (`key`, and `token` as LiteLLM sends it there); the store keeps its SHA-256, shown as
 * `token_id` there and as `token` where LiteLLM shows the hash. Where LiteLLM takes a key
 * as itself or as its hash, so does Gatehouse. Server names in `object_permission` are
 * stored as server ids, which never change, so renaming a server keeps its keys working.
 */
import { randomBytes } from "node:crypto";
import { GatewayError } from "../../errors.js";
import type { RegistrySnapshot } from "../../registry/registry.js";
import { newStoredKey, type KeyChanges, type KeysRepository, type ObjectPermission, type StoredKey } from "../../store/keys-repository.js";
import { addDuration } from "./key-duration.js";
import { deleteSchema, generateSchema, keyOnlySchema, parseBody, regenerateSchema, STORED_AS_GIVEN, updateSchema, type KeyFields } from "./key-request.js";
import { hashKey, VIRTUAL_KEY_PREFIX } from "./virtual-keys.js";

const TOKEN = /^[0-9a-f]{64}$/;

/** A key as LiteLLM's key API shows it (its `LiteLLM_VerificationToken` fields), without the key or its hash; LiteLLM's other fields as given. */
export interface KeyView {
  [litellmField: string]: unknown;
  key_name: string;
  key_alias: string | null;
  user_id: string | null;
  team_id: string | null;
  expires: string | null;
  models: string[];
  metadata: Record<string, unknown>;
  tags: unknown[];
  spend: number;
  max_budget: number | null;
  budget_duration: string | null;
  budget_reset_at: string | null;
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_parallel_requests: number | null;
  blocked: boolean;
  object_permission: ObjectPermission | null;
  created_at: string;
  updated_at: string | null;
}

/** A listed key: its view and its token (the hash), as /key/list shows it. */
export type ListedKey = KeyView & { token: string };

function toView(key: StoredKey): KeyView {
  return {
    ...key.extra,
    key_name: key.keyName,
    key_alias: key.keyAlias,
    user_id: key.userId,
    team_id: key.teamId,
    expires: key.expiresAt,
    models: key.models,
    metadata: key.metadata,
    tags: Array.isArray(key.metadata.tags) ? key.metadata.tags : [],
    spend: key.spend,
    max_budget: key.maxBudget,
    budget_duration: key.budgetDuration,
    budget_reset_at: key.budgetResetAt,
    rpm_limit: key.rpmLimit,
    tpm_limit: key.tpmLimit,
    max_parallel_requests: key.maxParallelRequests,
    blocked: key.blocked,
    object_permission: key.objectPermission,
    created_at: key.createdAt,
    updated_at: key.updatedAt,
  };
}

/** A key as given (`sk-...`) or its token (the hash /key/list shows). */
const tokenOf = (reference: string): string => (TOKEN.test(reference) ? reference : hashKey(reference));

/** How a key given by a caller is named back: never the whole plaintext. */
const named = (reference: string): string => (reference.startsWith(VIRTUAL_KEY_PREFIX) ? `sk-...${reference.slice(-4)}` : reference);

const badRequest = (field: string, message: string) => new GatewayError({ status: 400, code: "invalid_request", message: `${field}: ${message}`, extra: { field } });
const notFound = (reference: string) => new GatewayError({ status: 404, code: "key_not_found", message: `no such key: ${named(reference)}` });

export function createKeyAdmin(options: { keys: KeysRepository; masterKey?: string; now?: () => Date }) {
  const now = options.now ?? (() => new Date());

  /** Server names or ids → ids of servers that exist now; a 400 names the first unknown one. */
  function serverIds(snapshot: RegistrySnapshot, names: readonly string[], field: string): string[] {
    return names.map((name, index) => {
      const server = snapshot.byIdOrName(name);
      if (server === undefined) throw badRequest(`${field}[${index}]`, `no MCP server named '${name}'`);
      return server.id;
    });
  }

  function permission(snapshot: RegistrySnapshot, requested: KeyFields["object_permission"]): ObjectPermission | null {
    if (requested === undefined || requested === null) return null;
    const { mcp_servers, mcp_tool_permissions, mcp_access_groups, blocked_tools: _blocked, mcp_toolsets: _toolsets, ...others } = requested;
    const result: ObjectPermission = { ...others };
    if (mcp_servers != null) result.mcp_servers = [...new Set(serverIds(snapshot, mcp_servers, "object_permission.mcp_servers"))];
    if (mcp_access_groups != null) result.mcp_access_groups = [...new Set(mcp_access_groups)];
    if (mcp_tool_permissions != null) {
      const servers = Object.keys(mcp_tool_permissions);
      const ids = serverIds(snapshot, servers, "object_permission.mcp_tool_permissions");
      result.mcp_tool_permissions = Object.fromEntries(ids.map((id, index) => [id, mcp_tool_permissions[servers[index]!]!]));
    }
    return result;
  }

  /**
   * The stored fields a body sets. A field sent as null is cleared (LiteLLM's update does
   * the same), except `duration`: null leaves the expiry as it is on update, and `-1`
   * removes it.
   */
  function changesFrom(body: KeyFields, snapshot: RegistrySnapshot, existing: StoredKey | undefined): KeyChanges {
    const at = now();
    const changes: KeyChanges = { updatedAt: at.toISOString() };
    const has = (field: keyof KeyFields) => field in body && body[field] !== undefined;
    if (has("duration") && has("expires")) throw badRequest("duration", "give either duration or expires, not both");
    if (body.duration === "-1") changes.expiresAt = null;
    else if (typeof body.duration === "string") changes.expiresAt = addDuration(at, body.duration)!.toISOString();
    if (has("expires")) changes.expiresAt = body.expires == null ? null : new Date(body.expires).toISOString();
    if (has("key_alias")) changes.keyAlias = body.key_alias ?? null;
    if (has("user_id")) changes.userId = body.user_id ?? null;
    if (has("team_id")) changes.teamId = body.team_id ?? null;
    if (has("models")) changes.models = body.models ?? [];
    if (has("metadata") || has("tags")) {
      const metadata = { ...(has("metadata") ? (body.metadata ?? {}) : (existing?.metadata ?? {})) };
      // LiteLLM keeps tags inside metadata.
      if (has("tags")) metadata.tags = body.tags ?? [];
      changes.metadata = metadata;
    }
    if (has("spend")) changes.spend = body.spend ?? 0;
    if (has("max_budget")) changes.maxBudget = body.max_budget ?? null;
    if (has("budget_duration")) {
      changes.budgetDuration = body.budget_duration ?? null;
      changes.budgetResetAt = body.budget_duration == null ? null : addDuration(at, body.budget_duration)!.toISOString();
    }
    if (has("rpm_limit")) changes.rpmLimit = body.rpm_limit ?? null;
    if (has("tpm_limit")) changes.tpmLimit = body.tpm_limit ?? null;
    if (has("max_parallel_requests")) changes.maxParallelRequests = body.max_parallel_requests ?? null;
    if (has("blocked")) changes.blocked = body.blocked === true;
    if (has("object_permission")) changes.objectPermission = permission(snapshot, body.object_permission);
    const given = STORED_AS_GIVEN.filter((field) => field in body && (body as Record<string, unknown>)[field] !== undefined);
    if (given.length > 0) {
      const extra = { ...(existing?.extra ?? {}) };
      for (const field of given) {
        const value = (body as Record<string, unknown>)[field];
        if (value === null) delete extra[field];
        else extra[field] = value;
      }
      changes.extra = extra;
    }
    return changes;
  }

  async function existing(reference: string): Promise<StoredKey> {
    const found = await options.keys.findByToken(tokenOf(reference));
    if (found === undefined) throw notFound(reference);
    return found;
  }

  async function assertAliasFree(alias: string | null | undefined, token: string | undefined): Promise<void> {
    if (alias == null) return;
    const holders = await options.keys.findExisting([], [alias]);
    if (holders.some((holder) => holder.token !== token)) {
      throw new GatewayError({ status: 409, code: "key_alias_taken", message: `key_alias: a key with alias '${alias}' exists already`, extra: { field: "key_alias" } });
    }
  }

  /** A new plaintext key: the caller's own (`key`, `new_key`) or a random one. */
  async function newKey(custom: string | null | undefined, field: string): Promise<string> {
    if (custom == null) return `${VIRTUAL_KEY_PREFIX}${randomBytes(24).toString("base64url")}`;
    if (custom === options.masterKey) throw badRequest(field, "this value cannot be a virtual key");
    if ((await options.keys.findByToken(hashKey(custom))) !== undefined) {
      throw new GatewayError({ status: 409, code: "key_exists", message: `${field}: a key with this value exists already`, extra: { field } });
    }
    return custom;
  }

  /** Runs a write that the alias index may refuse when a concurrent request took the alias first. */
  async function withAlias<T>(alias: string | null | undefined, token: string | undefined, write: () => Promise<T>): Promise<T> {
    await assertAliasFree(alias, token);
    try {
      return await write();
    } catch (error) {
      await assertAliasFree(alias, token);
      throw error;
    }
  }

  const shown = (key: string, stored: StoredKey) => ({ key, token: key, token_id: stored.token, ...toView(stored) });

  return {
    async generate(body: unknown, snapshot: RegistrySnapshot) {
      const fields = parseBody(generateSchema, body);
      const key = await newKey(fields.key, "key");
      const createdAt = now().toISOString();
      const changes = changesFrom(fields, snapshot, undefined);
      const stored = newStoredKey({ ...changes, token: hashKey(key), keyName: `sk-...${key.slice(-4)}`, createdAt, updatedAt: createdAt });
      await withAlias(stored.keyAlias, undefined, () => options.keys.insert(stored));
      return shown(key, stored);
    },

    async info(reference: string | undefined) {
      if (reference === undefined || reference === "") throw badRequest("key", "give the key or its token: /key/info?key=sk-...");
      return { key: reference, info: toView(await existing(reference)) };
    },

    async update(body: unknown, snapshot: RegistrySnapshot) {
      const fields = parseBody(updateSchema, body);
      const found = await existing(fields.key);
      const changes = changesFrom(fields, snapshot, found);
      const updated = await withAlias(changes.keyAlias, found.token, () => options.keys.update(found.token, changes));
      if (updated === undefined) throw notFound(fields.key);
      return { key: fields.key, token: updated.token, ...toView(updated) };
    },

    /** `POST /key/regenerate` (the key in the body) or `POST /key/{key}/regenerate`: the same row gets a new key; the old one stops working. */
    async regenerate(pathKey: string | undefined, body: unknown, snapshot: RegistrySnapshot) {
      const fields = parseBody(regenerateSchema, body);
      const reference = pathKey ?? fields.key;
      if (reference == null) throw badRequest("key", "name the key to regenerate: POST /key/{key}/regenerate or {\"key\": ...}");
      const found = await existing(reference);
      const { key: _key, new_key, grace_period: _grace, new_master_key: _master, ...rest } = fields;
      const key = await newKey(new_key, "new_key");
      const changes: KeyChanges = { ...changesFrom(rest, snapshot, found), token: hashKey(key), keyName: `sk-...${key.slice(-4)}` };
      const updated = await withAlias(changes.keyAlias, found.token, () => options.keys.update(found.token, changes));
      if (updated === undefined) throw notFound(reference);
      return shown(key, updated);
    },

    async setBlocked(body: unknown, blocked: boolean) {
      const { key } = parseBody(keyOnlySchema, body);
      const found = await existing(key);
      const updated = await options.keys.update(found.token, { blocked, updatedAt: now().toISOString() });
      if (updated === undefined) throw notFound(key);
      return { token: updated.token, ...toView(updated) };
    },

    async list(query: { page?: string; size?: string; user_id?: string; team_id?: string; key_alias?: string; key_hash?: string; return_full_object?: string }) {
      const page = Math.max(1, Number.parseInt(query.page ?? "1", 10) || 1);
      const size = Math.min(1000, Math.max(1, Number.parseInt(query.size ?? "100", 10) || 100));
      const { keys, total } = await options.keys.list({
        ...(query.user_id === undefined ? {} : { userId: query.user_id }),
        ...(query.team_id === undefined ? {} : { teamId: query.team_id }),
        ...(query.key_alias === undefined ? {} : { keyAlias: query.key_alias }),
        ...(query.key_hash === undefined ? {} : { token: tokenOf(query.key_hash) }),
        offset: (page - 1) * size,
        limit: size,
      });
      const full = query.return_full_object === "true";
      return {
        keys: full ? keys.map((key): ListedKey => ({ token: key.token, ...toView(key) })) : keys.map((key) => key.token),
        total_count: total,
        current_page: page,
        total_pages: Math.max(1, Math.ceil(total / size)),
      };
    },

    /** Deletes all the named keys, or none: a name that matches no key is a 404 that lists it. */
    async delete(body: unknown): Promise<{ deleted_keys: string[] }> {
      const parsed = parseBody(deleteSchema, body);
      const requested = parsed.keys ?? [];
      const tokens = requested.map(tokenOf);
      const aliases = parsed.key_aliases ?? [];
      const found = await options.keys.findExisting(tokens, aliases);
      const missingKeys = requested.filter((_, index) => !found.some((key) => key.token === tokens[index]));
      const missingAliases = aliases.filter((alias) => !found.some((key) => key.keyAlias === alias));
      if (missingKeys.length + missingAliases.length > 0) {
        const listed = [...missingKeys.map(named), ...missingAliases.map((alias) => `alias '${alias}'`)];
        throw new GatewayError({ status: 404, code: "key_not_found", message: `no such key: ${listed.join(", ")}; nothing was deleted` });
      }
      await options.keys.deleteTokens(found.map((key) => key.token));
      return { deleted_keys: [...requested.map(named), ...aliases] };
    },
  };
}

export type KeyAdmin = ReturnType<typeof createKeyAdmin>;
