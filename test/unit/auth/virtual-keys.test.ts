import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey, virtualKeyResolver } from "../../../src/auth/inbound/virtual-keys.js";
import { GatewayError } from "../../../src/errors.js";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { keysRepository, newStoredKey, type KeysRepository, type StoredKey } from "../../../src/store/keys-repository.js";
import { migrateToLatest } from "../../../src/store/migrate.js";

function stored(key: string, overrides: Partial<StoredKey> = {}): StoredKey {
  return newStoredKey({
    token: hashKey(key),
    keyName: `sk-...${key.slice(-4)}`,
    userId: "u1",
    objectPermission: { mcp_servers: ["a"], mcp_tool_permissions: { a: ["echo"] } },
    createdAt: new Date(0).toISOString(),
    ...overrides,
  });
}

describe("virtualKeyResolver", () => {
  let database: Database;
  let repo: KeysRepository;
  let lookups = 0;

  beforeAll(async () => {
    database = await openDatabase("sqlite::memory:");
    await migrateToLatest(database);
    const real = keysRepository(database.db);
    repo = { ...real, findByToken: (token) => (lookups++, real.findByToken(token)) };
  });
  afterAll(async () => {
    await database.close();
  });

  it("builds the caller from the stored permissions", async () => {
    await repo.insert(stored("sk-perm-1111"));
    const caller = await virtualKeyResolver(repo).resolve("sk-perm-1111");
    expect(caller?.kind).toBe("virtual");
    expect(caller?.userId).toBe("u1");
    expect(caller?.servers).toEqual(new Set(["a"]));
    expect(caller?.tools.get("a")).toEqual(new Set(["echo"]));
  });

  it("sees every server without a permission list, and none with an empty one", async () => {
    await repo.insert(stored("sk-all-2222", { objectPermission: null }));
    await repo.insert(stored("sk-none-3333", { objectPermission: { mcp_servers: [] } }));
    const resolver = virtualKeyResolver(repo);
    expect((await resolver.resolve("sk-all-2222"))?.servers).toBe("all");
    expect((await resolver.resolve("sk-none-3333"))?.servers).toEqual(new Set());
  });

  it("looks a key up once, for concurrent and later requests, until invalidated", async () => {
    await repo.insert(stored("sk-cache-4444"));
    const resolver = virtualKeyResolver(repo);
    const before = lookups;
    await Promise.all(Array.from({ length: 20 }, () => resolver.resolve("sk-cache-4444")));
    await resolver.resolve("sk-cache-4444");
    expect(lookups - before).toBe(1);
    // Deleted elsewhere: the cache answers until the revision poller invalidates it.
    await database.db.deleteFrom("virtual_keys").where("token", "=", hashKey("sk-cache-4444")).execute();
    expect(await resolver.resolve("sk-cache-4444")).toBeDefined();
    resolver.invalidate();
    expect(await resolver.resolve("sk-cache-4444")).toBeUndefined();
  });

  it("caches unknown keys too, and forgets them when a key is written", async () => {
    const resolver = virtualKeyResolver(repo);
    const before = lookups;
    expect(await resolver.resolve("sk-later-5555")).toBeUndefined();
    expect(await resolver.resolve("sk-later-5555")).toBeUndefined();
    expect(lookups - before).toBe(1);
    await repo.insert(stored("sk-later-5555"));
    resolver.invalidate();
    expect(await resolver.resolve("sk-later-5555")).toBeDefined();
  });

  it("refuses a key once its expiry has passed, by the resolver's clock", async () => {
    let now = Date.parse("2026-06-01T00:00:00Z");
    await repo.insert(stored("sk-expiring-6666", { expiresAt: "2026-06-01T01:00:00.000Z" }));
    const resolver = virtualKeyResolver(repo, { now: () => now });
    expect(await resolver.resolve("sk-expiring-6666")).toBeDefined();
    now += 60 * 60 * 1000;
    const error = await Promise.resolve(resolver.resolve("sk-expiring-6666")).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(401);
    expect((error as GatewayError).message).toContain("expired at 2026-06-01T01:00:00.000Z");
  });

  it("keeps at most maxEntries lookups", async () => {
    const resolver = virtualKeyResolver(repo, { maxEntries: 2 });
    const before = lookups;
    for (const key of ["sk-x-1", "sk-x-2", "sk-x-3", "sk-x-1"]) await resolver.resolve(key);
    expect(lookups - before).toBe(4);
  });
});
