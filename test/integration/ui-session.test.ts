/**
 * The admin UI's sessions and forms over plain HTTP (the browser suite, test/e2e, drives
 * the pages): sign-in CSRF, cookie flags, where sign-in may send the browser, every
 * state-changing form refused without the session's CSRF token, sessions ended by
 * logging out or by deleting the key, and Connect started with the session alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { upstreamNamed, type Upstream } from "../fixtures/upstream-mcp.js";

let gateway: TestGateway;
let upstream: Upstream;

beforeAll(async () => {
  upstream = await upstreamNamed("alpha");
  gateway = await startTestGateway({
    servers: {
      alpha: { url: upstream.url },
      interactive: { url: upstream.url, auth_type: "oauth2", authorization_url: "http://127.0.0.1:9/authorize", token_url: "http://127.0.0.1:9/token", client_id: "c", client_secret: "s", scopes: ["read"] },
    },
  });
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

const url = (path: string) => new URL(path, gateway.url).href;

function cookiesOf(response: Response): Record<string, string> {
  const jar: Record<string, string> = {};
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair!.indexOf("=");
    jar[pair!.slice(0, eq)] = pair!.slice(eq + 1);
  }
  return jar;
}

/** GET the login page, then POST the form with the key; returns the answer and the cookie header to reuse. */
async function signIn(key: string, next?: string): Promise<{ answer: Response; cookie: string; setCookies: string[] }> {
  const form = await fetch(url("/ui/login"), { redirect: "manual" });
  const loginCookie = cookiesOf(form).gatehouse_login_csrf!;
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const body = new URLSearchParams({ csrf, key, ...(next === undefined ? {} : { next }) });
  const answer = await fetch(url("/ui/login"), { method: "POST", body, redirect: "manual", headers: { cookie: `gatehouse_login_csrf=${loginCookie}` } });
  const session = cookiesOf(answer).gatehouse_session;
  return { answer, cookie: session === undefined ? "" : `gatehouse_session=${session}`, setCookies: answer.headers.getSetCookie() };
}

async function pageCsrf(cookie: string, path = "/ui/mcp/servers"): Promise<string> {
  const page = await fetch(url(path), { headers: { cookie }, redirect: "manual" });
  expect(page.status).toBe(200);
  return /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
}

describe("signing in", () => {
  it("opens a session with the master key: HttpOnly, SameSite=Lax cookie, 303 to the servers page", async () => {
    const { answer, cookie, setCookies } = await signIn(gateway.masterKey);
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe("/ui/mcp/servers");
    const session = setCookies.find((line) => line.startsWith("gatehouse_session="))!;
    expect(session).toMatch(/HttpOnly/i);
    expect(session).toMatch(/SameSite=Lax/i);
    expect(session).toMatch(/Path=\//);
    // Plain http here: no Secure flag (a browser would drop the cookie).
    expect(session).not.toMatch(/Secure/i);
    expect((await fetch(url("/ui/mcp/servers"), { headers: { cookie } })).status).toBe(200);
  });

  it("sets Secure on the cookie when the public origin is https (PROXY_BASE_URL)", async () => {
    const behindTls = await startTestGateway({ servers: {}, env: { PROXY_BASE_URL: "https://gatehouse.example.com" } });
    try {
      const form = await fetch(new URL("/ui/login", behindTls.url), { redirect: "manual" });
      expect(form.headers.getSetCookie().join("\n")).toMatch(/gatehouse_login_csrf=[^;]+;.*Secure/i);
      const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const answer = await fetch(new URL("/ui/login", behindTls.url), {
        method: "POST",
        redirect: "manual",
        body: new URLSearchParams({ csrf, key: behindTls.masterKey }),
        headers: { cookie: `gatehouse_login_csrf=${cookiesOf(form).gatehouse_login_csrf}` },
      });
      expect(answer.headers.getSetCookie().find((line) => line.startsWith("gatehouse_session="))).toMatch(/Secure/i);
    } finally {
      await behindTls.close();
    }
  });

  it("refuses a wrong key with 401 and an announced error, and opens no session", async () => {
    const { answer, cookie } = await signIn("sk-wrong-key-000000000");
    expect(answer.status).toBe(401);
    expect(cookie).toBe("");
    expect(await answer.text()).toMatch(/role="alert"[^>]*>This key is not valid/);
  });

  it("refuses a sign-in form posted without the login CSRF cookie (login CSRF)", async () => {
    const answer = await fetch(url("/ui/login"), { method: "POST", redirect: "manual", body: new URLSearchParams({ csrf: "forged", key: gateway.masterKey }) });
    expect(answer.status).toBe(400);
    expect(cookiesOf(answer).gatehouse_session).toBeUndefined();
  });

  it("sends the browser back to the UI page it came from, and never elsewhere", async () => {
    expect((await signIn(gateway.masterKey, "/ui/keys")).answer.headers.get("location")).toBe("/ui/keys");
    for (const next of ["https://evil.example/", "//evil.example/ui/", "/ui/..//evil", "/v1/mcp/server", "javascript:alert(1)"]) {
      expect((await signIn(gateway.masterKey, next)).answer.headers.get("location"), next).toBe("/ui/mcp/servers");
    }
  });

  it("asks an anonymous visitor to sign in, remembering the page", async () => {
    const answer = await fetch(url("/ui/mcp/servers/alpha/tools"), { redirect: "manual" });
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe("/ui/login?next=%2Fui%2Fmcp%2Fservers%2Falpha%2Ftools");
  });

  it("sends pages that cannot be framed or cached", async () => {
    const page = await fetch(url("/ui/login"));
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.headers.get("cache-control")).toBe("no-store");
  });
});

describe("forms", () => {
  it("refuses every state-changing form without the session's CSRF token (403), and changes nothing", async () => {
    const { cookie } = await signIn(gateway.masterKey);
    const posts: Array<[string, Record<string, string>]> = [
      ["/ui/mcp/servers", { server_name: "forged", url: upstream.url }],
      ["/ui/keys", { key_alias: "forged" }],
      ["/ui/logout", {}],
      ["/ui/mcp/servers/alpha/disconnect", {}],
      ["/ui/mcp/servers/alpha/tools/call", { tool: "where" }],
    ];
    for (const [path, fields] of posts) {
      for (const csrf of [undefined, "not-the-token"]) {
        const body = new URLSearchParams({ ...fields, ...(csrf === undefined ? {} : { csrf }) });
        const answer = await fetch(url(path), { method: "POST", body, headers: { cookie }, redirect: "manual" });
        expect(answer.status, `${path} csrf=${csrf}`).toBe(403);
      }
    }
    const servers = (await (await gateway.fetch("/v1/mcp/server")).json()) as Array<{ server_name: string }>;
    expect(servers.map((server) => server.server_name)).not.toContain("forged");
    // The session survived the forged logout.
    expect((await fetch(url("/ui/mcp/servers"), { headers: { cookie }, redirect: "manual" })).status).toBe(200);
  });

  it("a token of one session does not work for another", async () => {
    const first = await signIn(gateway.masterKey);
    const second = await signIn(gateway.masterKey);
    const csrf = await pageCsrf(first.cookie);
    const answer = await fetch(url("/ui/keys"), { method: "POST", body: new URLSearchParams({ csrf, key_alias: "cross" }), headers: { cookie: second.cookie } });
    expect(answer.status).toBe(403);
  });
});

describe("session lifetime", () => {
  it("logging out ends the session: the old cookie no longer opens pages", async () => {
    const { cookie } = await signIn(gateway.masterKey);
    const csrf = await pageCsrf(cookie);
    const out = await fetch(url("/ui/logout"), { method: "POST", body: new URLSearchParams({ csrf }), headers: { cookie }, redirect: "manual" });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/ui/login?logged_out=1");
    expect(out.headers.getSetCookie().join("\n")).toMatch(/gatehouse_session=;/);
    const again = await fetch(url("/ui/mcp/servers"), { headers: { cookie }, redirect: "manual" });
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toMatch(/^\/ui\/login/);
  });

  it("deleting a virtual key ends its sessions", async () => {
    const key = await gateway.generateKey({ key_alias: "short-lived-ui" });
    const { cookie } = await signIn(key);
    expect((await fetch(url("/ui/mcp/servers"), { headers: { cookie }, redirect: "manual" })).status).toBe(200);
    expect((await gateway.fetch("/key/delete", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key_aliases: ["short-lived-ui"] }) })).status).toBe(200);
    expect((await fetch(url("/ui/mcp/servers"), { headers: { cookie }, redirect: "manual" })).status).toBe(303);
  });

  it("a cookie whose signature does not match is refused (a changed id, a bare id, garbage)", async () => {
    const { cookie } = await signIn(gateway.masterKey);
    const value = cookie.slice("gatehouse_session=".length);
    const [id, signature] = value.split(".");
    const flipped = `${id!.slice(0, -1)}${id!.endsWith("A") ? "B" : "A"}`;
    for (const forged of [`${flipped}.${signature}`, id!, `${id}.`, "garbage", `${id}.${signature}x`]) {
      const answer = await fetch(url("/ui/mcp/servers"), { headers: { cookie: `gatehouse_session=${forged}` }, redirect: "manual" });
      expect(answer.status, forged).toBe(303);
    }
    expect((await fetch(url("/ui/mcp/servers"), { headers: { cookie }, redirect: "manual" })).status).toBe(200);
  });

  it("the session id never appears in the log", async () => {
    const { cookie } = await signIn(gateway.masterKey);
    const id = cookie.slice("gatehouse_session=".length);
    expect(JSON.stringify(gateway.logs)).not.toContain(id);
  });
});

describe("admin pages and Connect", () => {
  it("a virtual key limited to one server sees only it, and no admin page", async () => {
    const key = await gateway.generateKey({ key_alias: "ui-limited", object_permission: { mcp_servers: ["alpha"] } });
    const { cookie } = await signIn(key);
    const list = await (await fetch(url("/ui/mcp/servers"), { headers: { cookie } })).text();
    expect(list).toContain(">alpha<");
    expect(list).not.toContain(">interactive<");
    expect(list).not.toContain("+ Add New MCP Server");
    const keys = await fetch(url("/ui/keys"), { headers: { cookie } });
    expect(keys.status).toBe(403);
    expect(await keys.text()).toContain("needs the master key");
    expect((await fetch(url("/ui/mcp/servers/new"), { headers: { cookie } })).status).toBe(403);
  });

  it("Connect starts with the UI session alone (no gateway key) and sends the browser upstream", async () => {
    const { cookie } = await signIn(gateway.masterKey);
    const redirect = url("/ui/mcp/oauth/callback");
    const answer = await fetch(url(`/v1/mcp/server/oauth/interactive/authorize?redirect_uri=${encodeURIComponent(redirect)}`), { headers: { cookie }, redirect: "manual" });
    expect(answer.status).toBe(302);
    expect(answer.headers.get("location")).toMatch(/^http:\/\/127\.0\.0\.1:9\/authorize\?/);
    // An ended session: back to sign-in, then to the server's page.
    const ended = await fetch(url(`/v1/mcp/server/oauth/interactive/authorize?redirect_uri=${encodeURIComponent(redirect)}`), { headers: { cookie: "gatehouse_session=ended.session" }, redirect: "manual" });
    expect(ended.status).toBe(303);
    expect(ended.headers.get("location")).toBe("/ui/login?next=%2Fui%2Fmcp%2Fservers%2Finteractive");
    // Without a session or a key: 401.
    expect((await fetch(url(`/v1/mcp/server/oauth/interactive/authorize?redirect_uri=${encodeURIComponent(redirect)}`), { redirect: "manual" })).status).toBe(401);
  });

  it("the server page of an interactive server shows the connection state and a Connect button aimed at the callback", async () => {
    const { cookie } = await signIn(gateway.masterKey);
    const page = await (await fetch(url("/ui/mcp/servers/interactive"), { headers: { cookie } })).text();
    expect(page).toContain("Not connected");
    expect(page).toContain(`action="/v1/mcp/server/oauth/interactive/authorize"`);
    expect(page).toContain(`value="${url("/ui/mcp/oauth/callback")}"`);
    expect(page).toMatch(/<button type="submit">Connect<\/button>/);
  });
});
