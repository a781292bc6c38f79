/**
 * A user's connections in the store, on both dialects (issue 20, My connections): listed
 * per user without the tokens, with the connected and last refreshed times migration 016
 * added (a new connection clears the refresh time), and counted per server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { oauthRepository, type OauthRepository, type StoredUserToken } from "../../../src/store/oauth-repository.js";
import { createSecretBox } from "../../../src/store/secret-box.js";
import { createTestDatabase, dialects, type TestDatabase } from "../../fixtures/databases.js";

describe.each(await dialects())("user connections on %s", (dialect) => {
  let testDb: TestDatabase;
  let database: Database;
  let repo: OauthRepository;
  let now = Date.parse("2030-01-01T00:00:00.000Z");
  const token = (access: string, extra: Partial<StoredUserToken> = {}): StoredUserToken => ({ clientId: "c1", access_token: access, refresh_token: `${access}-refresh`, scope: "read write", expiresAt: now + 3600_000, ...extra });

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    database = await openDatabase(testDb.url);
    await migrateToLatest(database);
    repo = oauthRepository(database.db, createSecretBox("user-connections-salt"), () => new Date(now));
  });

  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  it("lists only the user's own connections, with scope, expiry and connected time, never a token", async () => {
    await repo.saveUserToken("srv-a", "user:alice", token("alice-a"));
    await repo.saveUserToken("srv-b", "user:alice", token("alice-b", { scope: undefined, refresh_token: undefined, expiresAt: undefined }));
    await repo.saveUserToken("srv-a", "user:bob", token("bob-a"));
    const listed = await repo.listUserConnections("user:alice");
    expect(listed).toEqual([
      { serverId: "srv-a", scope: "read write", expiresAt: now + 3600_000, hasRefreshToken: true, connectedAt: now },
      { serverId: "srv-b", hasRefreshToken: false, connectedAt: now },
    ]);
    expect(JSON.stringify(listed)).not.toContain("alice-a");
    expect(await repo.listUserConnections("user:carol")).toEqual([]);
  });

  it("records the last refresh, and a new connection clears it", async () => {
    const record = (await repo.getUserTokenRecord("srv-a", "user:alice"))!;
    now += 60_000;
    expect(await repo.saveRefreshedUserToken("srv-a", "user:alice", record.version, token("alice-a2"))).toBe(true);
    const refreshed = (await repo.listUserConnections("user:alice")).find((row) => row.serverId === "srv-a")!;
    expect(refreshed).toMatchObject({ connectedAt: now - 60_000, refreshedAt: now });
    now += 60_000;
    await repo.saveUserToken("srv-a", "user:alice", token("alice-a3"));
    const reconnected = (await repo.listUserConnections("user:alice")).find((row) => row.serverId === "srv-a")!;
    expect(reconnected.connectedAt).toBe(now);
    expect(reconnected.refreshedAt).toBeUndefined();
  });

  it("counts users per server as numbers", async () => {
    expect(await repo.countUserConnections()).toEqual([
      { serverId: "srv-a", users: 2 },
      { serverId: "srv-b", users: 1 },
    ]);
  });
});
