import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { credentialScrubber, NO_SCRUBBING, scrubberFor } from "../../src/credential-scrubber.js";

const TOKEN = "tok-5ecret-value-AbCd";

describe("credentialScrubber", () => {
  it("takes the token out of a bearer header's echo, keeping the scheme and the last 4 characters", () => {
    const scrubber = credentialScrubber([`Bearer ${TOKEN}`]);
    expect(scrubber.text(`invalid credentials: Bearer ${TOKEN}`)).toBe("invalid credentials: Bearer ****AbCd");
  });

  it.each([
    ["base64", Buffer.from(TOKEN).toString("base64")],
    ["base64url", Buffer.from(TOKEN).toString("base64url")],
    ["URL-encoded", encodeURIComponent(TOKEN)],
  ])("finds the token %s-encoded", (_form, encoded) => {
    const scrubber = credentialScrubber([`Bearer ${TOKEN}`]);
    expect(scrubber.text(`seen: ${encoded}!`)).not.toContain(encoded);
  });

  it("finds a secret with quotes JSON-escaped, and the escaped form wins over the raw prefix (the JSON stays valid)", () => {
    const secret = 'p"ss\\word-12345';
    const scrubber = credentialScrubber([secret]);
    const body = JSON.stringify({ message: `refused ${secret}` });
    const scrubbed = scrubber.text(body);
    expect(scrubbed).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(JSON.parse(scrubbed)).toEqual({ message: "refused ****2345" });
  });

  it("Basic: the base64 value, user:pass and the password alone", () => {
    const scrubber = credentialScrubber([`Basic ${Buffer.from("admin:hunter2-long-pass").toString("base64")}`]);
    expect(scrubber.text("login admin:hunter2-long-pass failed")).not.toContain("hunter2-long-pass");
    expect(scrubber.text("password hunter2-long-pass is wrong")).toBe("password ****pass is wrong");
    expect(scrubber.text(`got ${Buffer.from("admin:hunter2-long-pass").toString("base64")}`)).not.toContain(Buffer.from("admin:hunter2-long-pass").toString("base64"));
  });

  it("leaves short values alone (they would mangle ordinary text)", () => {
    expect(credentialScrubber(["short", "Bearer abc"])).toBe(NO_SCRUBBING);
    expect(NO_SCRUBBING.text("short abc")).toBe("short abc");
  });

  it("never puts characters in the mask that would break JSON or a URL", () => {
    const scrubber = credentialScrubber(['secret-value-with-"end"']);
    expect(scrubber.text('x secret-value-with-"end" y')).toBe("x **** y");
  });

  it("bytes: the same Buffer when nothing is found, a scrubbed copy otherwise", () => {
    const scrubber = credentialScrubber([`Bearer ${TOKEN}`]);
    const clean = Buffer.from('{"ok":true}');
    expect(scrubber.bytes(clean)).toBe(clean);
    expect(scrubber.bytes(Buffer.from(`{"e":"${TOKEN}"}`)).toString()).toBe('{"e":"****AbCd"}');
  });

  it("value: strings deep inside a result; the same object when nothing is found", () => {
    const scrubber = credentialScrubber([`Bearer ${TOKEN}`]);
    const clean = { content: [{ type: "text", text: "fine" }] };
    expect(scrubber.value(clean)).toBe(clean);
    expect(scrubber.value({ content: [{ type: "text", text: `echo ${TOKEN}` }], isError: true })).toEqual({ content: [{ type: "text", text: "echo ****AbCd" }], isError: true });
  });

  it("error: message, detail and extras scrubbed; status, code and JSON-RPC code kept", () => {
    const scrubber = credentialScrubber([`Bearer ${TOKEN}`]);
    const error = new GatewayError({ status: 502, code: "upstream_error", message: `no: ${TOKEN}`, detail: `log ${TOKEN}`, rpcCode: -32603, extra: { server: "s", why: TOKEN } });
    const scrubbed = scrubber.error(error);
    expect([scrubbed.message, scrubbed.detail, scrubbed.extra]).toEqual(["no: ****AbCd", "log ****AbCd", { server: "s", why: "****AbCd" }]);
    expect([scrubbed.status, scrubbed.code, scrubbed.rpcCode, scrubbed.expose]).toEqual([502, "upstream_error", -32603, true]);
    const clean = new GatewayError({ status: 502, code: "upstream_error", message: "fine" });
    expect(scrubber.error(clean)).toBe(clean);
  });

  it("stream: a secret cut across chunks at every possible point is still found", () => {
    const scrubber = credentialScrubber([`Bearer ${TOKEN}`]);
    const text = `data: {"error":"Bearer ${TOKEN} refused"}\n\n`;
    for (let cut = 1; cut < text.length; cut++) {
      const stream = scrubber.stream();
      const out = Buffer.concat([stream.write(Buffer.from(text.slice(0, cut))), stream.write(Buffer.from(text.slice(cut))), stream.end()]).toString();
      expect(out, `cut at ${cut}`).toBe(`data: {"error":"Bearer ****AbCd refused"}\n\n`);
    }
  });

  it("stream: an SSE event that ends with its blank line is passed on whole at once (nothing held back to wait for)", () => {
    const stream = credentialScrubber([`Bearer ${TOKEN}`]).stream();
    const event = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n';
    expect(stream.write(Buffer.from(event)).toString()).toBe(event);
    expect(stream.end().length).toBe(0);
  });

  it("scrubberFor: built once for the same credential and static header objects", () => {
    const credentials = Object.freeze({ headers: Object.freeze({ authorization: `Bearer ${TOKEN}` }), resolution: "static-token" });
    const statics = Object.freeze({ "x-static-token": "static-header-secret" });
    const first = scrubberFor(credentials, statics);
    expect(scrubberFor(credentials, statics)).toBe(first);
    expect(first.text(`static-header-secret ${TOKEN}`)).toBe("****cret ****AbCd");
  });

  it("scrubberFor: static_headers and per-request headers that carry no credential are left alone (a team named 'platform' stays readable)", () => {
    const statics = Object.freeze({ "x-team": "platform", "x-region": "eu-west-1", "x-upstream-key": "k3y-for-upstream", "x-opaque": "a1b2c3d4e5f6g7h8i9j0k1" });
    const scrubber = scrubberFor({ headers: Object.freeze({ authorization: `Bearer ${TOKEN}` }), resolution: "static-token" }, statics);
    expect(scrubber.text("platform eu-west-1 k3y-for-upstream a1b2c3d4e5f6g7h8i9j0k1")).toBe("platform eu-west-1 ****ream ****j0k1");
    const perRequest = scrubberFor({ headers: { authorization: "Bearer per-request-token", "x-tenant": "acme-tenant" }, resolution: "per-request-header" }, Object.freeze({}));
    expect(perRequest.text("per-request-token acme-tenant")).toBe("****oken acme-tenant");
  });
});
