/**
 * Issue 15 item 4: admin UI sessions outlived the master key. After a restart with a new
 * GATEHOUSE_MASTER_KEY (same salt key, same database), a cookie from the old key still
 * opened /ui/keys and minted keys. Sessions are now bound to a keyed fingerprint of the
 * key that opened them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { signInToUi } from "../fixtures/ui-session.js";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-ui-binding-"));
const env = (masterKey: string) => ({ GATEHOUSE_MASTER_KEY: masterKey, GATEHOUSE_SALT_KEY: "one-salt-for-both-runs", DATABASE_URL: `sqlite:${join(dir, "gatehouse.db")}` });
const running: TestGateway[] = [];

afterAll(async () => {
  await Promise.allSettled(running.map((gateway) => gateway.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(masterKey: string): Promise<TestGateway> {
  const gateway = await startTestGateway({ servers: {}, env: env(masterKey) });
  running.push(gateway);
  return gateway;
}

describe("admin UI sessions are bound to the key that opened them", () => {
  it("a master session from before a master key change no longer opens /ui/keys nor mints a key", async () => {
    const before = await start("sk-old-master-key-0001");
    const cookie = await signInToUi(before.url, before.masterKey);
    const keysPage = await fetch(new URL("/ui/keys", before.url), { headers: { cookie }, redirect: "manual" });
    expect(keysPage.status).toBe(200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await keysPage.text())![1]!;
    await before.close();
    running.splice(running.indexOf(before), 1);

    const after = await start("sk-new-master-key-0002");
    const page = await fetch(new URL("/ui/keys", after.url), { headers: { cookie }, redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toMatch(/^\/ui\/login/);
    const mint = await fetch(new URL("/ui/keys", after.url), {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, key_alias: "minted-by-a-stale-session" }),
      redirect: "manual",
    });
    expect(mint.status).toBe(303);
    const listed = await after.fetch("/key/list");
    expect(JSON.stringify(await listed.json())).not.toContain("minted-by-a-stale-session");

    // The new key signs in as usual.
    const fresh = await signInToUi(after.url, after.masterKey);
    expect((await fetch(new URL("/ui/keys", after.url), { headers: { cookie: fresh }, redirect: "manual" })).status).toBe(200);
    await after.close();
    running.splice(running.indexOf(after), 1);
  });

  it("a virtual key's session survives a master key change, and ends when its key is deleted", async () => {
    const first = await start("sk-master-a-0003");
    const key = await first.generateKey({ key_alias: "ui-user" });
    const cookie = await signInToUi(first.url, key);
    await first.close();
    running.splice(running.indexOf(first), 1);

    const second = await start("sk-master-b-0004");
    expect((await fetch(new URL("/ui/mcp/servers", second.url), { headers: { cookie }, redirect: "manual" })).status).toBe(200);
    const deleted = await second.fetch("/key/delete", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key_aliases: ["ui-user"] }),
    });
    expect(deleted.status).toBe(200);
    expect((await fetch(new URL("/ui/mcp/servers", second.url), { headers: { cookie }, redirect: "manual" })).status).toBe(303);
  });
});
