/**
 * The jtis of accepted private_key_jwt client assertions (migration 009), on both dialects,
 * through two connections to one database as two instances have: the insert is the replay
 * check, so when both claim one jti at once exactly one wins; a row left by an expired
 * assertion does not refuse a later one; expired rows are pruned.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../../src/store/database.js";
import { migrateToLatest } from "../../../src/store/migrate.js";
import { oauthRepository, type OauthRepository } from "../../../src/store/oauth-repository.js";
import { createSecretBox } from "../../../src/store/secret-box.js";
import { createTestDatabase, dialects, type TestDatabase } from "../../fixtures/databases.js";

const CLIENT = "https://client.example/metadata.json";

describe.each(await dialects())("client assertion jtis on %s", (dialect) => {
  let testDb: TestDatabase;
  let first: Database;
  let second: Database;
  let now = Date.parse("2030-01-01T00:00:00.000Z");
  const clock = () => new Date(now);
  let a: OauthRepository;
  let b: OauthRepository;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    [first, second] = [await openDatabase(testDb.url), await openDatabase(testDb.url)];
    await migrateToLatest(first);
    const box = createSecretBox("jti-salt");
    [a, b] = [oauthRepository(first.db, box, clock), oauthRepository(second.db, box, clock)];
  });
  afterAll(async () => {
    await Promise.allSettled([first?.close(), second?.close()]);
    await testDb?.drop();
  });

  const rows = async () => (await first.db.selectFrom("oauth_assertion_jtis").select("jti_hash").execute()).length;

  it("replay across replicas: of many concurrent claims of one jti through two connections, exactly one succeeds", async () => {
    const until = now + 60_000;
    const claims = await Promise.all(Array.from({ length: 8 }, (_, index) => (index % 2 === 0 ? a : b).claimAssertionJti(CLIENT, "jti-race", until)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await b.claimAssertionJti(CLIENT, "jti-race", until)).toBe(false);
    // The same jti from another client is another assertion.
    expect(await a.claimAssertionJti("https://other.example/metadata.json", "jti-race", until)).toBe(true);
  });

  it("a jti whose assertion expired can be claimed again; an unexpired one cannot", async () => {
    expect(await a.claimAssertionJti(CLIENT, "jti-expiring", now + 1_000)).toBe(true);
    expect(await b.claimAssertionJti(CLIENT, "jti-expiring", now + 61_000)).toBe(false);
    now += 1_000;
    expect(await b.claimAssertionJti(CLIENT, "jti-expiring", now + 60_000)).toBe(true);
    expect(await a.claimAssertionJti(CLIENT, "jti-expiring", now + 60_000)).toBe(false);
  });

  it("prunes expired jtis: while claiming (at most once a minute per instance) and in purgeExpired", async () => {
    expect(await a.claimAssertionJti(CLIENT, "jti-short", now + 1_000)).toBe(true);
    const before = await rows();
    now += 120_000;
    // Everything recorded so far has expired: this claim's prune leaves only its own row.
    expect(await a.claimAssertionJti(CLIENT, "jti-later", now + 60_000)).toBe(true);
    expect(before).toBeGreaterThan(1);
    expect(await rows()).toBe(1);
    now += 120_000;
    await b.purgeExpired();
    expect(await rows()).toBe(0);
  });
});
