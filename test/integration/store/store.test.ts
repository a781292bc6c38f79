/**
 * The store on both dialects: migrations (idempotent, concurrent), the servers and keys
 * repositories, revisions, and secrets at rest.
 */
import pg from "pg";
import { MIGRATION_NAMES } from "../../../src/store/migrations/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { keysRepository, newStoredKey } from "../../../src/store/keys-repository.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { readRevisions } from "../../../src/store/revisions.js";
import { createSecretBox } from "../../../src/store/secret-box.js";
import { serversRepository } from "../../../src/store/servers-repository.js";
import { createTestDatabase, dialects, POSTGRES_URL, type TestDatabase } from "../../fixtures/databases.js";

describe.each(await dialects())("store on %s", (dialect) => {
  let testDb: TestDatabase;
  let database: Database;
  const box = createSecretBox("store-test-salt");

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    database = await openDatabase(testDb.url);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it.runIf(dialect === "postgres")("survives idle connections ended by the server (a restart, an admin): told, replaced, no crash", async () => {
    const errors: Error[] = [];
    let told!: () => void;
    const toldOnce = new Promise<void>((resolve) => (told = resolve));
    const own = await openDatabase(testDb.url, {
      onConnectionError: (error) => {
        errors.push(error);
        told();
      },
    });
    try {
      await own.ping();
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      try {
        const name = new URL(testDb.url).pathname.slice(1);
        // Every connection to this test database but the admin's own: the pool's idle one among them.
        await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [name]);
      } finally {
        await admin.end();
      }
      await toldOnce;
      expect(errors[0]?.message).toMatch(/terminating connection/);
      await own.ping();
      await database.ping();
    } finally {
      await own.close();
    }
  });

  it("migrates once, and concurrent or repeated runs change nothing", async () => {
    const others = await Promise.all([openDatabase(testDb.url), openDatabase(testDb.url)]);
    try {
      const runs = await Promise.all([migrateToLatest(database), ...others.map((other) => migrateToLatest(other))]);
      expect(runs.flat()).toEqual(MIGRATION_NAMES);
      expect(await migrateToLatest(database)).toEqual([]);
      expect(await readRevisions(database.db)).toEqual({ servers: 0, keys: 0 });
    } finally {
      await Promise.all(others.map((other) => other.close()));
    }
  });

  it("stores, edits and deletes servers with stable ids, bumping the servers revision", async () => {
    const servers = serversRepository(database.db, box);
    const before = await readRevisions(database.db);
    const created = await servers.insert("alpha", { url: "https://a.example/mcp", auth_type: "bearer_token", auth_value: "tok-1" });
    const edited = await servers.update(created.id, "alpha2", { url: "https://b.example/mcp", auth_type: "bearer_token", auth_value: "tok-2" });
    expect(edited?.id).toBe(created.id);
    expect(edited?.name).toBe("alpha2");
    expect(edited?.createdAt).toBe(created.createdAt);
    expect((await servers.get(created.id))?.config).toEqual({ url: "https://b.example/mcp", auth_type: "bearer_token", auth_value: "tok-2" });
    expect(await servers.update("no-such-id", "x", { url: "https://x" })).toBeUndefined();
    expect((await readRevisions(database.db)).servers).toBe(before.servers + 2);
    expect(await servers.delete(created.id)).toBe(true);
    expect(await servers.delete(created.id)).toBe(false);
    expect(await servers.list()).toEqual([]);
  });

  it("keeps secrets sealed in the row, bound to the row", async () => {
    const servers = serversRepository(database.db, box);
    const created = await servers.insert("sealed", { url: "https://s.example/mcp", client_secret: "very-secret-value", static_headers: { "X-Key": "hdr-secret" } });
    const row = await database.db.selectFrom("mcp_servers").selectAll().where("id", "=", created.id).executeTakeFirstOrThrow();
    expect(row.config).not.toContain("very-secret-value");
    expect(row.secrets).not.toContain("very-secret-value");
    expect(row.secrets).not.toContain("hdr-secret");
    expect(row.secrets?.startsWith("gh1.")).toBe(true);
    // A sealed blob copied to another row does not open there.
    const other = await servers.insert("other", { url: "https://o.example/mcp", client_secret: "x" });
    await database.db.updateTable("mcp_servers").set({ secrets: row.secrets }).where("id", "=", other.id).execute();
    await expect(servers.get(other.id)).rejects.toThrow();
    await servers.delete(other.id);
    await servers.delete(created.id);
  });

  it("re-seals rows written under an older salt key after a rotation", async () => {
    const old = createSecretBox("old-salt");
    const rotated = createSecretBox("new-salt", ["old-salt"]);
    const created = await serversRepository(database.db, old).insert("rotating", { url: "https://r.example/mcp", auth_value: "rot-secret", auth_type: "api_key" });
    const repo = serversRepository(database.db, rotated);
    expect((await repo.get(created.id))?.config.auth_value).toBe("rot-secret");
    expect(await repo.rewrapSecrets()).toBe(1);
    expect(await repo.rewrapSecrets()).toBe(0);
    // Only the new key is needed from now on.
    expect((await serversRepository(database.db, createSecretBox("new-salt")).get(created.id))?.config.auth_value).toBe("rot-secret");
    await repo.delete(created.id);
  });

  it("reports a row sealed with an unknown key instead of failing every read", async () => {
    const foreign = await serversRepository(database.db, createSecretBox("someone-elses-salt")).insert("foreign", { url: "https://f.example/mcp", client_secret: "f" });
    const repo = serversRepository(database.db, box);
    const readable = await repo.listReadable();
    expect(readable.unreadable).toEqual([{ id: foreign.id, name: "foreign", problem: expect.stringContaining("key") }]);
    expect(readable.servers.some((server) => server.id === foreign.id)).toBe(false);
    expect(await repo.rewrapSecrets()).toBe(0);
    await repo.delete(foreign.id);
  });

  it("stores keys by hash, lists, filters, pages and deletes them, bumping the keys revision", async () => {
    const keys = keysRepository(database.db);
    const before = (await readRevisions(database.db)).keys;
    const base = { keyName: "sk-...abcd", userId: null, objectPermission: null, expiresAt: null };
    await keys.insert(newStoredKey({ ...base, token: "a".repeat(64), keyAlias: "first", userId: "u1", createdAt: "2026-01-01T00:00:00.000Z" }));
    await keys.insert(newStoredKey({ ...base, token: "b".repeat(64), keyAlias: null, objectPermission: { mcp_servers: ["s1"] }, createdAt: "2026-01-02T00:00:00.000Z" }));
    expect((await keys.findByToken("b".repeat(64)))?.objectPermission).toEqual({ mcp_servers: ["s1"] });
    expect(await keys.findByToken("c".repeat(64))).toBeUndefined();
    const page = await keys.list({ offset: 1, limit: 1 });
    expect(page.total).toBe(2);
    expect(page.keys.map((key) => key.token)).toEqual(["b".repeat(64)]);
    expect((await keys.list({ userId: "u1", offset: 0, limit: 10 })).keys.map((key) => key.keyAlias)).toEqual(["first"]);
    expect((await keys.findExisting([], ["first"])).map((key) => key.token)).toEqual(["a".repeat(64)]);
    await expect(keys.insert(newStoredKey({ ...base, token: "d".repeat(64), keyAlias: "first", createdAt: "2026-01-03T00:00:00.000Z" }))).rejects.toThrow();
    expect(await keys.deleteTokens(["a".repeat(64), "b".repeat(64)])).toBe(2);
    expect((await readRevisions(database.db)).keys).toBe(before + 3);
  });
});
