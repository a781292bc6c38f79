/**
 * Virtual keys. A key is stored only as its SHA-256 (the `token`, as LiteLLM calls it),
 * plus a recognisable `sk-...abcd` name; the plaintext exists once, in the answer to
 * /key/generate or /key/regenerate. Every write bumps the `keys` revision in the same
 * transaction, so other instances drop their caches; this instance's own caches hear of
 * it at once (`onWrite`), so a deleted or blocked key stops working here without waiting
 * for the revision poller.
 */
import type { Insertable, Selectable, Updateable } from "kysely";
import { bumpRevision } from "./revisions.js";
import type { Db, VirtualKeysTable } from "./schema.js";

/**
 * LiteLLM's `object_permission`. The MCP fields are typed; the others (vector_stores,
 * agents, ...) are kept as given and returned.
 */
export interface ObjectPermission {
  mcp_servers?: string[];
  mcp_access_groups?: string[];
  mcp_tool_permissions?: Record<string, string[]>;
  [field: string]: unknown;
}

export interface StoredKey {
  token: string;
  keyName: string;
  keyAlias: string | null;
  userId: string | null;
  teamId: string | null;
  objectPermission: ObjectPermission | null;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string | null;
  models: string[];
  metadata: Record<string, unknown>;
  spend: number;
  maxBudget: number | null;
  budgetDuration: string | null;
  budgetResetAt: string | null;
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallelRequests: number | null;
  blocked: boolean;
  /** LiteLLM's other key fields, as given. */
  extra: Record<string, unknown>;
}

/** What /key/update and /key/regenerate may change: any field but the creation time. */
export type KeyChanges = Partial<Omit<StoredKey, "createdAt">>;

export interface KeyListFilter {
  userId?: string;
  teamId?: string;
  keyAlias?: string;
  token?: string;
  offset: number;
  limit: number;
}

export interface KeysRepository {
  insert(key: StoredKey): Promise<void>;
  /** Replaces the key with the same token (or adds it), in one transaction. */
  replace(key: StoredKey): Promise<void>;
  findByToken(token: string): Promise<StoredKey | undefined>;
  list(filter: KeyListFilter): Promise<{ keys: StoredKey[]; total: number }>;
  /** Tokens among `tokens` and keys with aliases among `aliases` that exist. */
  findExisting(tokens: readonly string[], aliases: readonly string[]): Promise<StoredKey[]>;
  /** Applies `changes` (a new `token` included: regenerate) to the key; the key as stored after, or undefined when there is none. */
  update(token: string, changes: KeyChanges): Promise<StoredKey | undefined>;
  deleteTokens(tokens: readonly string[]): Promise<number>;
  /** Calls `listener` after every committed write through this repository; returns an unsubscribe function. */
  onWrite(listener: () => void): () => void;
}

/** A key with LiteLLM's defaults for every field not given: no team, no models, no limits, not blocked. */
export function newStoredKey(fields: Pick<StoredKey, "token" | "keyName" | "createdAt"> & Partial<StoredKey>): StoredKey {
  return {
    keyAlias: null,
    userId: null,
    teamId: null,
    objectPermission: null,
    expiresAt: null,
    updatedAt: fields.createdAt,
    models: [],
    metadata: {},
    spend: 0,
    maxBudget: null,
    budgetDuration: null,
    budgetResetAt: null,
    rpmLimit: null,
    tpmLimit: null,
    maxParallelRequests: null,
    blocked: false,
    extra: {},
    ...fields,
  };
}

function parsed<T>(text: string | null, empty: T): T {
  return text === null || text === "" ? empty : (JSON.parse(text) as T);
}

const count = (value: number | string | null): number | null => (value === null ? null : Number(value));

function toStored(row: Selectable<VirtualKeysTable>): StoredKey {
  return {
    token: row.token,
    keyName: row.key_name,
    keyAlias: row.key_alias,
    userId: row.user_id,
    teamId: row.team_id,
    objectPermission: parsed<ObjectPermission | null>(row.object_permission, null),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    models: parsed<string[]>(row.models, []),
    metadata: parsed<Record<string, unknown>>(row.metadata, {}),
    spend: Number(row.spend ?? 0),
    maxBudget: row.max_budget === null ? null : Number(row.max_budget),
    budgetDuration: row.budget_duration,
    budgetResetAt: row.budget_reset_at,
    rpmLimit: count(row.rpm_limit),
    tpmLimit: count(row.tpm_limit),
    maxParallelRequests: row.max_parallel_requests,
    blocked: Number(row.blocked) === 1,
    extra: parsed<Record<string, unknown>>(row.extra_fields, {}),
  };
}

const json = (value: unknown): string | null => (value === null ? null : JSON.stringify(value));

/** The columns of the fields present in `changes`. */
function toColumns(changes: KeyChanges) {
  const columns: Partial<Record<keyof VirtualKeysTable, unknown>> = {};
  const set = <K extends keyof KeyChanges>(field: K, column: keyof VirtualKeysTable, convert: (value: NonNullable<KeyChanges[K]> | null) => unknown = (value) => value) => {
    if (field in changes) columns[column] = convert((changes[field] ?? null) as NonNullable<KeyChanges[K]> | null);
  };
  set("token", "token");
  set("keyName", "key_name");
  set("keyAlias", "key_alias");
  set("userId", "user_id");
  set("teamId", "team_id");
  set("objectPermission", "object_permission", json);
  set("expiresAt", "expires_at");
  set("updatedAt", "updated_at");
  set("models", "models", json);
  set("metadata", "metadata", json);
  set("spend", "spend", (value) => value ?? 0);
  set("maxBudget", "max_budget");
  set("budgetDuration", "budget_duration");
  set("budgetResetAt", "budget_reset_at");
  set("rpmLimit", "rpm_limit");
  set("tpmLimit", "tpm_limit");
  set("maxParallelRequests", "max_parallel_requests");
  set("blocked", "blocked", (value) => (value === true ? 1 : 0));
  set("extra", "extra_fields", json);
  return columns;
}

export function keysRepository(db: Db): KeysRepository {
  const listeners = new Set<() => void>();
  const written = (): void => {
    for (const listener of [...listeners]) listener();
  };
  const selectKeys = () => db.selectFrom("virtual_keys").selectAll();
  return {
    async insert(key) {
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto("virtual_keys")
          .values({ ...(toColumns(key) as Insertable<VirtualKeysTable>), created_at: key.createdAt })
          .execute();
        await bumpRevision(trx, "keys");
      });
      written();
    },
    async replace(key) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom("virtual_keys").where("token", "=", key.token).execute();
        await trx
          .insertInto("virtual_keys")
          .values({ ...(toColumns(key) as Insertable<VirtualKeysTable>), created_at: key.createdAt })
          .execute();
        await bumpRevision(trx, "keys");
      });
      written();
    },
    async findByToken(token) {
      const row = await selectKeys().where("token", "=", token).executeTakeFirst();
      return row === undefined ? undefined : toStored(row);
    },
    async list(filter) {
      let query = db.selectFrom("virtual_keys");
      if (filter.userId !== undefined) query = query.where("user_id", "=", filter.userId);
      if (filter.teamId !== undefined) query = query.where("team_id", "=", filter.teamId);
      if (filter.keyAlias !== undefined) query = query.where("key_alias", "=", filter.keyAlias);
      if (filter.token !== undefined) query = query.where("token", "=", filter.token);
      const [rows, total] = await Promise.all([
        query.selectAll().orderBy("created_at").orderBy("token").offset(filter.offset).limit(filter.limit).execute(),
        query.select((eb) => eb.fn.countAll<number | string>().as("total")).executeTakeFirstOrThrow(),
      ]);
      return { keys: rows.map(toStored), total: Number(total.total) };
    },
    async findExisting(tokens, aliases) {
      if (tokens.length === 0 && aliases.length === 0) return [];
      const rows = await selectKeys()
        .where((eb) =>
          eb.or([
            ...(tokens.length === 0 ? [] : [eb("token", "in", [...tokens])]),
            ...(aliases.length === 0 ? [] : [eb("key_alias", "in", [...aliases])]),
          ]),
        )
        .execute();
      return rows.map(toStored);
    },
    async update(token, changes) {
      const columns = toColumns(changes) as Updateable<VirtualKeysTable>;
      const updated = await db.transaction().execute(async (trx) => {
        const result = await trx.updateTable("virtual_keys").set(columns).where("token", "=", token).executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) return undefined;
        await bumpRevision(trx, "keys");
        return trx.selectFrom("virtual_keys").selectAll().where("token", "=", changes.token ?? token).executeTakeFirstOrThrow();
      });
      if (updated === undefined) return undefined;
      written();
      return toStored(updated);
    },
    async deleteTokens(tokens) {
      if (tokens.length === 0) return 0;
      const deleted = await db.transaction().execute(async (trx) => {
        const result = await trx.deleteFrom("virtual_keys").where("token", "in", [...tokens]).executeTakeFirst();
        const deletedRows = Number(result.numDeletedRows);
        if (deletedRows > 0) await bumpRevision(trx, "keys");
        return deletedRows;
      });
      if (deleted > 0) written();
      return deleted;
    },
    onWrite(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
