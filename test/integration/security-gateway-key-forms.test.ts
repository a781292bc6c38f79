/**
 * Issue 15 item 9, found by an attack review after the first fix: a gateway key in a
 * non-canonical Basic credential reached the upstream. The screen decoded a Basic token only
 * when it was canonical base64, and only the first word after the scheme; Node's base64
 * decoder, which every Node upstream uses (`Buffer.from(token, "base64")`, the `basic-auth`
 * package included), skips characters outside the alphabet and takes the url-safe one, so
 * these forms carried the key to a Node upstream:
 *   - `Basic .<base64(key:)>`      (a leading '.', allowed by basic-auth's token68 pattern)
 *   - `Basic <base64(key:)>.`
 *   - `Basic <base64url(???:key)>` (url-safe alphabet: '_' where base64 has '/')
 *   - `Basic <base64 with a tab inside>`
 * On both lanes, for extra_headers, per-request x-mcp-{server}-* headers and delegated auth.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MASTER_KEY, MCP_ACCEPT, rpc, startTestGateway, type TestGateway } from "../fixtures/gateway.js";
import { rawRequest } from "../fixtures/raw-http.js";
import { upstreamNamed, type RecordedRequest, type Upstream } from "../fixtures/upstream-mcp.js";

const DEBUG = { "x-litellm-mcp-debug": "true" };
const LANES = [
  ["the fast lane", {}],
  ["the Hono route", DEBUG],
] as const;

let up: Upstream;
let gateway: TestGateway;
let callerKey: string;

beforeAll(async () => {
  up = await upstreamNamed("xh9");
  gateway = await startTestGateway({
    servers: {
      xh: { url: up.url, extra_headers: ["authorization"] },
      dl: { url: up.url, auth_type: "oauth2", delegate_auth_to_upstream: true },
    },
  });
  callerKey = await gateway.generateKey({ object_permission: { mcp_servers: ["xh"] } });
});

afterAll(async () => {
  await gateway?.close();
  await up?.close();
});

const b64 = (text: string) => Buffer.from(text).toString("base64");
const b64url = (text: string) => Buffer.from(text).toString("base64url");

/** Non-canonical Basic credentials that Node's base64 decoder reads as `<user>:<key>`. */
function forms(key: string): Array<[string, string]> {
  const canonical = b64(`${key}:`);
  return [
    ["leading dot", `Basic .${canonical}`],
    ["trailing dot", `Basic ${canonical}.`],
    ["url-safe alphabet", `Basic ${b64url(`???:${key}`)}`],
    ["tab inside the base64", `Basic ${canonical.slice(0, 8)}\t${canonical.slice(8)}`],
  ];
}

/** What a Node upstream reads from each Authorization-like header it received (basic-auth style decoding). */
function decodedByNode(requests: readonly RecordedRequest[]): string {
  return requests
    .flatMap((request) => Object.values(request.headers))
    .map((value) => {
      const match = /^\s*basic\s+(.*)$/is.exec(value);
      return match === null ? value : Buffer.from(match[1]!, "base64").toString("utf8");
    })
    .join("\n");
}

const send = (path: string, headers: Record<string, string>, body: string) =>
  rawRequest(new URL(path, gateway.url), { method: "POST", headers: { ...MCP_ACCEPT, ...headers }, body });

describe("review b, item 9: a gateway key in a non-canonical Basic credential still reaches the upstream", () => {
  describe.each(LANES)("on %s", (_lane, lane) => {
    it.each(forms(MASTER_KEY))("extra_headers Authorization, Basic with %s: the master key must not reach the upstream", async (_form, authorization) => {
      const before = up.requests.length;
      const answer = await send("/xh/mcp", { "x-litellm-api-key": `Bearer ${callerKey}`, authorization, ...lane }, rpc("tools/call", { name: "echo", arguments: { message: "x" } }));
      expect(answer.status, answer.text).toBe(200);
      expect(decodedByNode(up.requests.slice(before))).not.toContain(MASTER_KEY);
    });

    it.each(forms(MASTER_KEY))("per-request x-mcp-xh-authorization, Basic with %s: must be refused 400 gateway_key_in_upstream_header", async (_form, authorization) => {
      const before = up.requests.length;
      const answer = await send("/xh/mcp", { "x-litellm-api-key": `Bearer ${callerKey}`, "x-mcp-xh-authorization": authorization, ...lane }, rpc("tools/call", { name: "echo", arguments: { message: "x" } }));
      expect(decodedByNode(up.requests.slice(before))).not.toContain(MASTER_KEY);
      expect(answer.status, answer.text).toBe(400);
    });

    it.each(forms(MASTER_KEY))("delegated server without a gateway key, Basic with %s: the master key must not reach the upstream", async (_form, authorization) => {
      const before = up.requests.length;
      const answer = await send("/dl/mcp", { authorization, ...lane }, rpc("tools/list"));
      expect(answer.status, answer.text).toBe(200);
      expect(decodedByNode(up.requests.slice(before))).not.toContain(MASTER_KEY);
    });
  });

  it("control: the canonical form is screened (passes today)", async () => {
    const before = up.requests.length;
    const answer = await send("/xh/mcp", { "x-litellm-api-key": `Bearer ${callerKey}`, authorization: `Basic ${b64(`${MASTER_KEY}:`)}` }, rpc("tools/list"));
    expect(answer.status, answer.text).toBe(200);
    expect(decodedByNode(up.requests.slice(before))).not.toContain(MASTER_KEY);
  });
});
