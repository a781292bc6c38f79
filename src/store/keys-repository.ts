/**
 * Virtual keys. A key is stored only as its SHA-256 (the `token`, as LiteLLM calls it),
 * plus a recognisable `sk-...abcd` name; the plaintext exists once, in the answer to
 * /key/generate. Every write bumps the `keys` revision in the same transaction, so other
 * instances drop their caches; this instance's own caches hear of it at once (`onWrite`),
 * so a deleted key stops working here without waiting for the revision poller.
 */
import { bumpRevision } from "./revisions.js";
import type { Db, VirtualKeysTable } from "./schema.js";

export interface ObjectPermission {
  mcp_servers?: string[];
  mcp_tool_permissions?: Record<string, string[]>;
}

export interface StoredKey {
  token: string;
  keyName: string;
  keyAlias: string | null;
  userId: string | null;
  objectPermission: ObjectPermission | null;
  expiresAt: string | null;
  createdAt: string;
}

export interface KeyListFilter {
  userId?: string;
  keyAlias?: string;
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
  deleteTokens(tokens: readonly string[]): Promise<number>;
  /** Calls `listener` after every committed write through this repository; returns an unsubscribe function. */
  onWrite(listener: () => void): () => void;
}

function toStored(row: VirtualKeysTable): StoredKey {
  return {
    token: row.token,
    keyName: row.key_name,
    keyAlias: row.key_alias,
    userId: row.user_id,
    objectPermission: row.object_permission === null ? null : (JSON.parse(row.object_permission) as ObjectPermission),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
}

function toRow(key: StoredKey): VirtualKeysTable {
  return {
    token: key.token,
    key_name: key.keyName,
    key_alias: key.keyAlias,
    user_id: key.userId,
    object_permission: key.objectPermission === null ? null : JSON.stringify(key.objectPermission),
    expires_at: key.expiresAt,
    created_at: key.createdAt,
  };
}

const columns = ["token", "key_name", "key_alias", "user_id", "object_permission", "expires_at", "created_at"] as const;

export function keysRepository(db: Db): KeysRepository {
  const listeners = new Set<() => void>();
  const written = (): void => {
    for (const listener of [...listeners]) listener();
  };
  return {
    async insert(key) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto("virtual_keys").values(toRow(key)).execute();
        await bumpRevision(trx, "keys");
      });
      written();
    },
    async replace(key) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom("virtual_keys").where("token", "=", key.token).execute();
        await trx.insertInto("virtual_keys").values(toRow(key)).execute();
        await bumpRevision(trx, "keys");
      });
      written();
    },
    async findByToken(token) {
      const row = await db.selectFrom("virtual_keys").select(columns).where("token", "=", token).executeTakeFirst();
      return row === undefined ? undefined : toStored(row);
    },
    async list(filter) {
      let query = db.selectFrom("virtual_keys");
      if (filter.userId !== undefined) query = query.where("user_id", "=", filter.userId);
      if (filter.keyAlias !== undefined) query = query.where("key_alias", "=", filter.keyAlias);
      const [rows, count] = await Promise.all([
        query.select(columns).orderBy("created_at").orderBy("token").offset(filter.offset).limit(filter.limit).execute(),
        query.select((eb) => eb.fn.countAll<number | string>().as("total")).executeTakeFirstOrThrow(),
      ]);
      return { keys: rows.map(toStored), total: Number(count.total) };
    },
    async findExisting(tokens, aliases) {
      if (tokens.length === 0 && aliases.length === 0) return [];
      const rows = await db
        .selectFrom("virtual_keys")
        .select(columns)
        .where((eb) =>
          eb.or([
            ...(tokens.length === 0 ? [] : [eb("token", "in", [...tokens])]),
            ...(aliases.length === 0 ? [] : [eb("key_alias", "in", [...aliases])]),
          ]),
        )
        .execute();
      return rows.map(toStored);
    },
    async deleteTokens(tokens) {
      if (tokens.length === 0) return 0;
      const deleted = await db.transaction().execute(async (trx) => {
        const result = await trx.deleteFrom("virtual_keys").where("token", "in", [...tokens]).executeTakeFirst();
        const count = Number(result.numDeletedRows);
        if (count > 0) await bumpRevision(trx, "keys");
        return count;
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
