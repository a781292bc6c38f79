import { describe, expect, it } from "vitest";
import { masterCaller, type Caller } from "../../../src/auth/inbound/caller.js";
import {
  clientBearerToken,
  credentialCandidates,
  credentialScreen,
  forwardableAuthorization,
  MAX_CANDIDATES,
  MAX_LOOKUPS_PER_REQUEST,
} from "../../../src/auth/inbound/credential-screen.js";
import { chainResolvers, masterKeyResolver, type KeyResolver } from "../../../src/auth/inbound/key-resolver.js";
import { GatewayError } from "../../../src/errors.js";

const MASTER = "sk-master-0123456789";
const VIRTUAL = "sk-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const EXPIRED = "sk-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE";
const basic = (userPass: string) => `Basic ${Buffer.from(userPass).toString("base64")}`;

/** The master key plus a virtual-key resolver that counts its lookups (as the database cache would be asked). */
function keys() {
  const looked: string[] = [];
  const virtual: KeyResolver = {
    accepts: (key) => key.startsWith("sk-"),
    resolve(key) {
      looked.push(key);
      if (key === EXPIRED) throw new GatewayError({ status: 401, code: "key_expired", message: "expired" });
      return key === VIRTUAL ? ({ ...masterCaller(), kind: "virtual" } satisfies Caller) : undefined;
    },
  };
  return { resolver: chainResolvers([masterKeyResolver(MASTER), virtual]), looked };
}

describe("credentialCandidates", () => {
  it("finds the credential in every way a header can hold it", () => {
    const pieces = (value: string) => credentialCandidates(value)?.pieces ?? [];
    expect(pieces(VIRTUAL)).toContain(VIRTUAL);
    expect(pieces(`Bearer upstream-token, Bearer ${VIRTUAL}`)).toContain(VIRTUAL);
    expect(pieces(basic(`${VIRTUAL}:`))).toContain(VIRTUAL);
    expect(pieces(basic(`user:${VIRTUAL}`))).toContain(VIRTUAL);
    expect(pieces(`Bearer "${VIRTUAL}"`)).toContain(VIRTUAL);
    expect(pieces(`token=${VIRTUAL}; other=1`)).toContain(VIRTUAL);
    expect(pieces("Custom my master key")).toContain("my master key");
  });

  it("gives up past MAX_CANDIDATES distinct pieces (the header is then kept back whole)", () => {
    const many = Array.from({ length: MAX_CANDIDATES + 1 }, (_, i) => `t${i}`).join(",");
    expect(credentialCandidates(many)).toBeUndefined();
  });
});

describe("credentialScreen", () => {
  it.each([
    ["a bare master key", MASTER],
    ["the master key among several bearer credentials", `Bearer upstream-token, Bearer ${MASTER}`],
    ["Basic base64(<key>:)", basic(`${MASTER}:`)],
    ["another valid virtual key", `Bearer ${VIRTUAL}`],
    ["an expired virtual key", `Bearer ${EXPIRED}`],
    ["the master key inside a longer token", `Bearer x${MASTER}y`],
    ["Basic in the url-safe alphabet", `Basic ${Buffer.from(`???:${MASTER}`).toString("base64url")}`],
    ["Basic with a stray character before it", `Basic .${Buffer.from(`${MASTER}:`).toString("base64")}`],
    ["Basic with whitespace inside", `Basic ${Buffer.from(`${MASTER}:`).toString("base64").replace(/(.{6})/, "$1\t")}`],
    ["a virtual key inside base64 of a longer text", `Bearer ${Buffer.from(`user=${VIRTUAL};x`).toString("base64")}`],
  ])("recognises %s", async (_name, value) => {
    expect(await credentialScreen(keys().resolver, undefined).carriesGatewayKey(value)).toBe(true);
  });

  it("recognises the presented key without asking the resolvers", async () => {
    const { looked } = keys();
    const screen = credentialScreen({ resolve: () => undefined }, { key: "sk-presented", source: "x-litellm-api-key" });
    expect(await screen.carriesGatewayKey("Bearer x, sk-presented")).toBe(true);
    expect(looked).toEqual([]);
  });

  it("passes an upstream token, and looks up only pieces shaped like a virtual key", async () => {
    const { resolver, looked } = keys();
    const screen = credentialScreen(resolver, undefined);
    expect(await screen.carriesGatewayKey("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")).toBe(false);
    expect(looked).toEqual([]);
    expect(await screen.carriesGatewayKey("Bearer sk-not-a-key")).toBe(false);
    expect(looked).toEqual(["sk-not-a-key"]);
  });

  it("keeps headers back once a request has spent MAX_LOOKUPS_PER_REQUEST key lookups (many sk- pieces over many headers)", async () => {
    let looked = 0;
    const resolver: KeyResolver = { looksUp: (key) => key.startsWith("sk-"), resolve: (key) => (key.startsWith("sk-") && looked++, undefined) };
    const screen = credentialScreen(resolver, undefined);
    const header = (index: number) => Array.from({ length: 8 }, (_, piece) => `sk-h${index}p${piece}-unknown`).join(", ");
    const answers: boolean[] = [];
    for (let index = 0; index < 20; index++) answers.push(await screen.carriesGatewayKey(header(index)));
    expect(looked).toBeLessThanOrEqual(MAX_LOOKUPS_PER_REQUEST);
    expect(answers[0]).toBe(false);
    expect(answers.at(-1)).toBe(true);
  });

  it("screens a value once per request", async () => {
    const { resolver, looked } = keys();
    const screen = credentialScreen(resolver, undefined);
    await Promise.all([screen.carriesGatewayKey("Bearer sk-x"), screen.carriesGatewayKey("Bearer sk-x")]);
    expect(looked).toEqual(["sk-x"]);
  });

  it("lets a store failure through (fail closed), never answering 'no key'", async () => {
    const broken: KeyResolver = {
      resolve: () => {
        throw new GatewayError({ status: 500, code: "server_error", message: "store down" });
      },
    };
    await expect(credentialScreen(broken, undefined).carriesGatewayKey("sk-anything")).rejects.toThrow("store down");
  });
});

describe("the client's Authorization upstream", () => {
  const context = (authorization: string) => ({ headers: new Headers({ authorization }), screen: credentialScreen(keys().resolver, undefined) });

  it("is the client's own bearer token or header", async () => {
    expect(await clientBearerToken(context("Bearer upstream-token"))).toBe("upstream-token");
    expect(await forwardableAuthorization(context("Custom abc"))).toBe("Custom abc");
  });

  it("is never a header holding a gateway key (LiteLLM #30559)", async () => {
    expect(await clientBearerToken(context(`Bearer ${MASTER}`))).toBeUndefined();
    expect(await clientBearerToken(context(`Bearer upstream-token, Bearer ${VIRTUAL}`))).toBeUndefined();
    expect(await forwardableAuthorization(context(basic(`${MASTER}:`)))).toBeUndefined();
  });
});
