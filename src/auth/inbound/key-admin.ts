/**
 * Virtual keys' management API (README, "Managing servers and keys"): `/key/generate`,
 * `/key/list`, `/key/delete`, with LiteLLM's shapes. The plaintext key exists only in the
 * answer to /key/generate; the store keeps its SHA-256. Server names in `object_permission`
 * are stored as server ids, which never change, so renaming a server keeps its keys
 * working.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { GatewayError } from "../../errors.js";
import type { RegistrySnapshot } from "../../registry/registry.js";
import type { KeysRepository, ObjectPermission, StoredKey } from "../../store/keys-repository.js";
import { hashKey, VIRTUAL_KEY_PREFIX } from "./virtual-keys.js";

const DURATION = /^(\d+)\s*(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const generateSchema = z.strictObject({
  key_alias: z.string().min(1).max(255).optional(),
  user_id: z.string().min(1).max(255).optional(),
  duration: z.string().regex(DURATION, "a number and a unit: 30s, 15m, 12h or 30d").optional(),
  expires: z.iso.datetime({ offset: true, error: "an ISO-8601 date and time, e.g. 2027-01-31T00:00:00Z" }).optional(),
  object_permission: z
    .strictObject({
      mcp_servers: z.array(z.string().min(1)).optional(),
      mcp_tool_permissions: z.record(z.string(), z.array(z.string().min(1))).optional(),
    })
    .optional(),
});

const deleteSchema = z
  .strictObject({
    keys: z.array(z.string().min(1)).optional(),
    key_aliases: z.array(z.string().min(1)).optional(),
  })
  .refine((body) => (body.keys?.length ?? 0) + (body.key_aliases?.length ?? 0) > 0, "give keys (keys or their token hashes) or key_aliases to delete");

export interface KeyView {
  token: string;
  key_name: string;
  key_alias: string | null;
  user_id: string | null;
  expires: string | null;
  object_permission: ObjectPermission | null;
  created_at: string;
}

function toView(key: StoredKey): KeyView {
  return {
    token: key.token,
    key_name: key.keyName,
    key_alias: key.keyAlias,
    user_id: key.userId,
    expires: key.expiresAt,
    object_permission: key.objectPermission,
    created_at: key.createdAt,
  };
}

/** The first zod issue as `field: what is wrong`, so a 4xx body says which field is wrong. */
function invalid(error: z.ZodError): GatewayError {
  const issue = error.issues[0];
  const unknown = issue?.code === "unrecognized_keys" ? issue.keys[0] : undefined;
  const field = [...(issue?.path ?? []), ...(unknown === undefined ? [] : [unknown])].map(String).join(".");
  const what = unknown === undefined ? (issue?.message ?? "invalid") : "unknown field";
  return new GatewayError({ status: 400, code: "invalid_request", message: `${field === "" ? "body" : field}: ${what}`, extra: { field } });
}

export function createKeyAdmin(options: { keys: KeysRepository; now?: () => Date }) {
  const now = options.now ?? (() => new Date());

  /** Server names or ids → ids of servers that exist now; a 400 names the first unknown one. */
  function serverIds(snapshot: RegistrySnapshot, names: readonly string[], field: string): string[] {
    return names.map((name, index) => {
      const server = snapshot.byIdOrName(name);
      if (server === undefined) {
        throw new GatewayError({ status: 400, code: "invalid_request", message: `${field}[${index}]: no MCP server named '${name}'`, extra: { field: `${field}[${index}]` } });
      }
      return server.id;
    });
  }

  function permission(snapshot: RegistrySnapshot, requested: z.output<typeof generateSchema>["object_permission"]): ObjectPermission | null {
    if (requested === undefined) return null;
    const result: ObjectPermission = {};
    if (requested.mcp_servers !== undefined) result.mcp_servers = [...new Set(serverIds(snapshot, requested.mcp_servers, "object_permission.mcp_servers"))];
    if (requested.mcp_tool_permissions !== undefined) {
      const servers = Object.keys(requested.mcp_tool_permissions);
      const ids = serverIds(snapshot, servers, "object_permission.mcp_tool_permissions");
      result.mcp_tool_permissions = Object.fromEntries(ids.map((id, index) => [id, requested.mcp_tool_permissions![servers[index]!]!]));
    }
    return result;
  }

  function expiry(body: z.output<typeof generateSchema>): string | null {
    if (body.duration !== undefined && body.expires !== undefined) {
      throw new GatewayError({ status: 400, code: "invalid_request", message: "duration: give either duration or expires, not both", extra: { field: "duration" } });
    }
    if (body.expires !== undefined) return new Date(body.expires).toISOString();
    const match = body.duration === undefined ? null : DURATION.exec(body.duration);
    if (match === null) return null;
    return new Date(now().getTime() + Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]).toISOString();
  }

  return {
    async generate(body: unknown, snapshot: RegistrySnapshot): Promise<KeyView & { key: string }> {
      const parsed = generateSchema.safeParse(body ?? {});
      if (!parsed.success) throw invalid(parsed.error);
      const key = `${VIRTUAL_KEY_PREFIX}${randomBytes(24).toString("base64url")}`;
      const stored: StoredKey = {
        token: hashKey(key),
        keyName: `sk-...${key.slice(-4)}`,
        keyAlias: parsed.data.key_alias ?? null,
        userId: parsed.data.user_id ?? null,
        objectPermission: permission(snapshot, parsed.data.object_permission),
        expiresAt: expiry(parsed.data),
        createdAt: now().toISOString(),
      };
      const alias = stored.keyAlias;
      const aliasTaken = async (): Promise<boolean> => alias !== null && (await options.keys.findExisting([], [alias])).length > 0;
      const taken = () =>
        new GatewayError({ status: 409, code: "key_alias_taken", message: `key_alias: a key with alias '${alias}' exists already`, extra: { field: "key_alias" } });
      if (await aliasTaken()) throw taken();
      try {
        await options.keys.insert(stored);
      } catch (error) {
        // A concurrent request took the alias between the check and the insert, and the unique index refused this one.
        if (await aliasTaken()) throw taken();
        throw error;
      }
      return { key, ...toView(stored) };
    },

    async list(query: { page?: string; size?: string; user_id?: string; key_alias?: string; return_full_object?: string }) {
      const page = Math.max(1, Number.parseInt(query.page ?? "1", 10) || 1);
      const size = Math.min(1000, Math.max(1, Number.parseInt(query.size ?? "100", 10) || 100));
      const { keys, total } = await options.keys.list({
        ...(query.user_id === undefined ? {} : { userId: query.user_id }),
        ...(query.key_alias === undefined ? {} : { keyAlias: query.key_alias }),
        offset: (page - 1) * size,
        limit: size,
      });
      const full = query.return_full_object === "true";
      return {
        keys: full ? keys.map(toView) : keys.map((key) => key.token),
        total_count: total,
        current_page: page,
        total_pages: Math.max(1, Math.ceil(total / size)),
      };
    },

    /** Deletes all the named keys, or none: a name that matches no key is a 404 that lists it. */
    async delete(body: unknown): Promise<{ deleted_keys: string[] }> {
      const parsed = deleteSchema.safeParse(body ?? {});
      if (!parsed.success) throw invalid(parsed.error);
      const requested = parsed.data.keys ?? [];
      // A key may be given as itself or as its token (the hash /key/list shows).
      const tokens = requested.map((key) => (/^[0-9a-f]{64}$/.test(key) ? key : hashKey(key)));
      const aliases = parsed.data.key_aliases ?? [];
      const found = await options.keys.findExisting(tokens, aliases);
      const missingKeys = requested.filter((_, index) => !found.some((key) => key.token === tokens[index]));
      const missingAliases = aliases.filter((alias) => !found.some((key) => key.keyAlias === alias));
      if (missingKeys.length + missingAliases.length > 0) {
        const named = [...missingKeys.map((key) => (key.startsWith("sk-") ? `sk-...${key.slice(-4)}` : key)), ...missingAliases.map((alias) => `alias '${alias}'`)];
        throw new GatewayError({ status: 404, code: "key_not_found", message: `no such key: ${named.join(", ")}; nothing was deleted` });
      }
      await options.keys.deleteTokens(found.map((key) => key.token));
      return { deleted_keys: [...requested.map((key) => (key.startsWith("sk-") ? `sk-...${key.slice(-4)}` : key)), ...aliases] };
    },
  };
}

export type KeyAdmin = ReturnType<typeof createKeyAdmin>;
