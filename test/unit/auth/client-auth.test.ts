/** HTTP Basic client credentials as servers in the wild read them (issue 18: `auth/pre-registration`). */
import { describe, expect, it } from "vitest";
import { clientSecretBasic } from "../../../src/auth/upstream/client-auth.js";

function basicOf(clientId: string, secret: string): string {
  const headers = new Headers();
  void clientSecretBasic(secret)({ issuer: "https://as.example.com" }, { client_id: clientId }, new URLSearchParams(), headers);
  return Buffer.from(headers.get("authorization")!.replace(/^Basic /, ""), "base64").toString("utf8");
}

describe("clientSecretBasic", () => {
  it("regression: a client_id with '-' was sent as %2D, which servers comparing credentials undecoded refuse", () => {
    expect(basicOf("pre-registered-client", "s3cr3t_v.1*")).toBe("pre-registered-client:s3cr3t_v.1*");
  });

  it("form-encodes what must be: ':' cannot split the pair, spaces and non-ASCII survive", () => {
    expect(basicOf("a:b", "p ss/w=rd&é")).toBe("a%3Ab:p+ss%2Fw%3Drd%26%C3%A9");
  });
});
