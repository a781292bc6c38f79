/**
 * Holes found by the attack review of issue 17's LiteLLM drop-in surface (SECURITY.md says
 * what each rule is). Each describe is named after what broke.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { startUpstream, type Upstream } from "../fixtures/upstream-mcp.js";

function cookieValue(response: Response, name: string): string {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(";");
    if (pair!.startsWith(`${name}=`)) return pair!.slice(name.length + 1);
  }
  throw new Error(`no ${name} cookie`);
}

/** Signs in to the UI with `key`; the cookie header of the session. */
async function signIn(gateway: TestGateway, key: string): Promise<string> {
  const form = await fetch(new URL("/ui/login", gateway.url));
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const answer = await fetch(new URL("/ui/login", gateway.url), {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ csrf, key }),
    headers: { cookie: `gatehouse_login_csrf=${cookieValue(form, "gatehouse_login_csrf")}` },
  });
  expect(answer.status).toBe(303);
  return `gatehouse_session=${cookieValue(answer, "gatehouse_session")}`;
}

/** Calls `echo` of `alpha` from the UI's tools page: the answer. */
async function uiCall(gateway: TestGateway, cookie: string): Promise<Response> {
  const page = await fetch(new URL("/ui/mcp/servers/alpha/tools?tool=echo", gateway.url), { headers: { cookie } });
  expect(page.status).toBe(200);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
  return fetch(new URL("/ui/mcp/servers/alpha/tools/call", gateway.url), {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, tool: "echo", raw_arguments: JSON.stringify({ message: "from the ui" }) }).toString(),
  });
}

describe("regression: a key's rpm_limit did not count tool calls made from the UI's tools page", () => {
  let upstream: Upstream;
  let gateway: TestGateway;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "alpha" });
    gateway = await startTestGateway({ servers: { alpha: { url: upstream.url } } });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it("answers the call past the limit with 429, whichever route made the earlier calls", async () => {
    const key = await gateway.generateKey({ rpm_limit: 2 });
    const cookie = await signIn(gateway, key);
    expect((await uiCall(gateway, cookie)).status).toBe(200);
    const rest = await gateway.fetch("/mcp-rest/tools/call", { method: "POST", key, headers: { "content-type": "application/json" }, body: JSON.stringify({ server_name: "alpha", name: "echo", arguments: { message: "x" } }) });
    expect(rest.status).toBe(200);
    const toolCalls = () => upstream.requests.filter((request) => (request.body as { method?: string } | undefined)?.method === "tools/call").length;
    const calls = toolCalls();
    expect(calls).toBe(2);
    const refused = await uiCall(gateway, cookie);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain("rpm_limit");
    expect(toolCalls()).toBe(calls);
  });
});
