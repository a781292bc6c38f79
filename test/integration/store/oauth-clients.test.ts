/**
 * Registered MCP clients in the store, on both dialects (issue 15 items 7 and 12): a client
 * that never redeemed an authorization code expires after the TTL (unknown, then purged);
 * one that did is kept; the gateway's lazy upstream registration is stored once; and
 * migration 006 keeps the clients registered before it.
 */
import { Migrator } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { migrationProvider } from "../../../src/store/migrations/index.js";
import { oauthRepository } from "../../../src/store/oauth-repository.js";
import { createSecretBox } from "../../../src/store/secret-box.js";
import { createTestDatabase, dialects, type TestDatabase } from "../../fixtures/databases.js";

const HOUR = 3600_000;

describe.each(await dialects())("oauth clients on %s", (dialect) => {
  let testDb: TestDatabase;
  let database: Database;
  const box = createSecretBox("oauth-clients-salt");
  let now = Date.parse("2030-01-01T00:00:00.000Z");
  const clock = () => new Date(now);
  const client = (clientId: string) => ({ clientId, serverId: "srv", metadata: { client_id: clientId, redirect_uris: ["https://app.example/cb"] }, upstreamCredentials: null });

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    database = await openDatabase(testDb.url);
    // Up to the migration before 006, with a client registered then; then the rest.
    const before = await new Migrator({ db: database.db, provider: migrationProvider }).migrateTo("005-user-token-refresh-lease");
    expect(before.error).toBeUndefined();
    await database.db
      .insertInto("oauth_clients")
      .values({ client_id: "from-before", server_id: "srv", metadata: JSON.stringify({ redirect_uris: ["https://old.example/cb"] }), upstream_credentials: null, created_at: "2020-01-01T00:00:00.000Z" } as never)
      .execute();
    await migrateToLatest(database);
  });
  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it("keeps the clients registered before migration 006, as completed", async () => {
    const repo = oauthRepository(database.db, box, clock, { incompleteClientTtlMs: 24 * HOUR });
    await repo.purgeExpired();
    expect(await repo.getClient("from-before")).toMatchObject({ clientId: "from-before", completedAt: Date.parse("2020-01-01T00:00:00.000Z") });
  });

  it("a client that never redeemed a code is unknown after the TTL and purged; a completed one is kept and trusted", async () => {
    const repo = oauthRepository(database.db, box, clock, { incompleteClientTtlMs: 24 * HOUR });
    await repo.saveClient(client("never"));
    await repo.saveClient(client("done"));
    await repo.saveClient({ ...client("connect"), firstParty: true });
    expect(await repo.getClient("never")).toMatchObject({ clientId: "never", upstreamCredentials: null });
    expect((await repo.getClient("never"))?.completedAt).toBeUndefined();
    expect((await repo.getClient("connect"))?.firstParty).toBe(true);
    now += HOUR;
    await repo.markCompleted("done");
    expect((await repo.getClient("done"))?.completedAt).toBe(now);
    // A second completion keeps the first time.
    now += HOUR;
    await repo.markCompleted("done");
    expect((await repo.getClient("done"))?.completedAt).toBe(now - HOUR);

    now += 23 * HOUR;
    expect(await repo.getClient("never")).toBeUndefined();
    await repo.purgeExpired();
    const left = await database.db.selectFrom("oauth_clients").select("client_id").where("client_id", "in", ["never", "done", "connect"]).orderBy("client_id").execute();
    // The Connect client never completed either: it expires the same way.
    expect(left.map((row) => row.client_id)).toEqual(["done"]);
  });

  it("stores the gateway's upstream registration once: a second one (a concurrent first authorization) gets the first back", async () => {
    const repo = oauthRepository(database.db, box, clock);
    await repo.saveClient(client("lazy"));
    expect(await repo.setUpstreamCredentials("lazy", { client_id: "up-1", client_secret: "sealed-1" })).toEqual({ client_id: "up-1", client_secret: "sealed-1" });
    expect(await repo.setUpstreamCredentials("lazy", { client_id: "up-2", client_secret: "sealed-2" })).toEqual({ client_id: "up-1", client_secret: "sealed-1" });
    const row = await database.db.selectFrom("oauth_clients").select("upstream_credentials").where("client_id", "=", "lazy").executeTakeFirstOrThrow();
    expect(row.upstream_credentials).not.toContain("sealed-1");
    expect(await repo.setUpstreamCredentials("gone", { client_id: "up-3" })).toBeUndefined();
  });

  it("replaces a registration from another issuer once (compare-and-set), keeps one bound to the issuer, and knows no unknown client", async () => {
    const repo = oauthRepository(database.db, box, clock);
    await repo.saveClient(client("moved"));
    await repo.setUpstreamCredentials("moved", { client_id: "old", client_secret: "old-secret", issuer: "https://old.example" });
    const fresh = { client_id: "new-1", client_secret: "new-secret-1", issuer: "https://new.example" };
    expect(await repo.replaceUnboundUpstreamCredentials("moved", "https://new.example", fresh)).toEqual(fresh);
    // A second re-registration at once (another instance): the first stored wins.
    const late = { client_id: "new-2", client_secret: "new-secret-2", issuer: "https://new.example" };
    expect(await repo.replaceUnboundUpstreamCredentials("moved", "https://new.example", late)).toEqual(fresh);
    expect((await repo.getClient("moved"))?.upstreamCredentials).toEqual(fresh);
    expect(await repo.replaceUnboundUpstreamCredentials("never-registered", "https://new.example", late)).toBeUndefined();
  });
});
