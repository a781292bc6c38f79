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

function cookieNamed(response: Response, name: string): string | undefined {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    if (pair!.startsWith(`${name}=`)) return pair!.slice(name.length + 1);
  }
  return undefined;
}

/** Signs in through the login form; returns the session's Cookie header. */
async function signIn(gateway: TestGateway, key: string): Promise<string> {
  const form = await fetch(new URL("/ui/login", gateway.url), { redirect: "manual" });
  const loginCsrf = cookieNamed(form, "gatehouse_login_csrf")!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const answer = await fetch(new URL("/ui/login", gateway.url), {
    method: "POST",
    body: new URLSearchParams({ csrf, key }),
    redirect: "manual",
    headers: { cookie: `gatehouse_login_csrf=${loginCsrf}` },
  });
  expect(answer.status).toBe(303);
  return `gatehouse_session=${cookieNamed(answer, "gatehouse_session")!}`;
}

describe("admin UI sessions are bound to the key that opened them", () => {
  it("a master session from before a master key change no longer opens /ui/keys nor mints a key", async () => {
    const before = await start("sk-old-master-key-0001");
    const cookie = await signIn(before, before.masterKey);
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
    const fresh = await signIn(after, after.masterKey);
    expect((await fetch(new URL("/ui/keys", after.url), { headers: { cookie: fresh }, redirect: "manual" })).status).toBe(200);
    await after.close();
    running.splice(running.indexOf(after), 1);
  });

  it("a virtual key's session survives a master key change, and ends when its key is deleted", async () => {
    const first = await start("sk-master-a-0003");
    const key = await first.generateKey({ key_alias: "ui-user" });
    const cookie = await signIn(first, key);
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
