/**
 * MCP servers added at runtime. Non-secret fields are stored as JSON; the secret ones
 * (credentials and static headers) are sealed together by the SecretBox, bound to the
 * row's id. Every write bumps the `servers` revision in the same transaction.
 */
import { randomUUID } from "node:crypto";
import { bumpRevision } from "./revisions.js";
import type { Db, McpServersTable } from "./schema.js";
import type { SecretBox } from "./secret-box.js";

/** Config fields that are secrets at rest (issue 3). */
export const SECRET_SERVER_FIELDS = ["auth_value", "authentication_token", "client_secret", "static_headers", "env"] as const;

export interface StoredServer {
  id: string;
  name: string;
  /** The server's config as it was submitted (secrets decrypted), before schema defaults. */
  config: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** A row whose secrets cannot be opened with the configured salt keys. */
export interface UnreadableServer {
  id: string;
  name: string;
  problem: string;
}

export interface ServersRepository {
  list(): Promise<StoredServer[]>;
  /** Every row, with those that cannot be decrypted reported apart instead of failing the whole read. */
  listReadable(): Promise<{ servers: StoredServer[]; unreadable: UnreadableServer[] }>;
  get(id: string): Promise<StoredServer | undefined>;
  /** A new row; `id` is the caller's (checked by the caller), else a new UUID. */
  insert(name: string, config: Record<string, unknown>, id?: string): Promise<StoredServer>;
  /** Replaces name and config; the id and created_at stay. Undefined when no such row. */
  update(id: string, name: string, config: Record<string, unknown>): Promise<StoredServer | undefined>;
  delete(id: string): Promise<boolean>;
  /** Re-seals rows sealed with an older key; returns how many were rewritten (rows no key opens are left as they are). */
  rewrapSecrets(): Promise<number>;
}

type Row = McpServersTable;

const secretsContext = (id: string) => `mcp_servers/${id}/secrets`;

export function serversRepository(db: Db, box: SecretBox, now: () => Date = () => new Date()): ServersRepository {
  function split(id: string, config: Record<string, unknown>): { config: string; secrets: string | null } {
    const open: Record<string, unknown> = {};
    const secret: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(config)) {
      if ((SECRET_SERVER_FIELDS as readonly string[]).includes(key)) secret[key] = value;
      else open[key] = value;
    }
    return {
      config: JSON.stringify(open),
      secrets: Object.keys(secret).length === 0 ? null : box.seal(JSON.stringify(secret), secretsContext(id)),
    };
  }

  function toStored(row: Row): StoredServer {
    const secrets = row.secrets === null ? {} : (JSON.parse(box.open(row.secrets, secretsContext(row.id))) as Record<string, unknown>);
    return {
      id: row.id,
      name: row.name,
      config: { ...(JSON.parse(row.config) as Record<string, unknown>), ...secrets },
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  const columns = ["id", "name", "config", "secrets", "created_at", "updated_at"] as const;

  return {
    async list() {
      const rows = await db.selectFrom("mcp_servers").select(columns).orderBy("created_at").orderBy("id").execute();
      return rows.map(toStored);
    },
    async listReadable() {
      const rows = await db.selectFrom("mcp_servers").select(columns).orderBy("created_at").orderBy("id").execute();
      const servers: StoredServer[] = [];
      const unreadable: UnreadableServer[] = [];
      for (const row of rows) {
        try {
          servers.push(toStored(row));
        } catch (error) {
          unreadable.push({ id: row.id, name: row.name, problem: error instanceof Error ? error.message : String(error) });
        }
      }
      return { servers, unreadable };
    },
    async get(id) {
      const row = await db.selectFrom("mcp_servers").select(columns).where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : toStored(row);
    },
    async insert(name, config, chosenId) {
      const id = chosenId ?? randomUUID();
      const at = now().toISOString();
      const row: Row = { id, name, ...split(id, config), created_at: at, updated_at: at };
      await db.transaction().execute(async (trx) => {
        await trx.insertInto("mcp_servers").values(row).execute();
        await bumpRevision(trx, "servers");
      });
      return toStored(row);
    },
    async update(id, name, config) {
      const at = now().toISOString();
      const updated = await db.transaction().execute(async (trx) => {
        const result = await trx
          .updateTable("mcp_servers")
          .set({ name, ...split(id, config), updated_at: at })
          .where("id", "=", id)
          .returning(columns)
          .executeTakeFirst();
        if (result !== undefined) await bumpRevision(trx, "servers");
        return result;
      });
      return updated === undefined ? undefined : toStored(updated);
    },
    async delete(id) {
      return db.transaction().execute(async (trx) => {
        const result = await trx.deleteFrom("mcp_servers").where("id", "=", id).executeTakeFirst();
        const deleted = Number(result.numDeletedRows) > 0;
        if (deleted) await bumpRevision(trx, "servers");
        return deleted;
      });
    },
    async rewrapSecrets() {
      const rows = await db.selectFrom("mcp_servers").select(["id", "secrets"]).where("secrets", "is not", null).execute();
      let rewritten = 0;
      for (const row of rows) {
        if (row.secrets === null || !box.needsRotation(row.secrets)) continue;
        const context = secretsContext(row.id);
        let plaintext: string;
        try {
          plaintext = box.open(row.secrets, context);
        } catch {
          continue; // sealed with a key this instance lacks: listReadable reports it
        }
        const resealed = box.seal(plaintext, context);
        await db.updateTable("mcp_servers").set({ secrets: resealed }).where("id", "=", row.id).where("secrets", "=", row.secrets).execute();
        rewritten++;
      }
      return rewritten;
    },
  };
}
