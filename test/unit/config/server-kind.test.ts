import { describe, expect, it } from "vitest";
import { serverConfigSchema } from "../../../src/config/schema.js";
import { serverKind, usesAuthorizationCode } from "../../../src/config/server-kind.js";

const server = (fields: Record<string, unknown>) => serverConfigSchema.parse({ url: "https://mcp.example.com/mcp", ...fields });
const m2m = { auth_type: "oauth2", token_url: "https://auth.example.com/token", client_id: "id", client_secret: "secret" };

describe("serverKind", () => {
  it("names the static kinds", () => {
    expect(serverKind(server({}))).toBe("none");
    for (const auth_type of ["api_key", "bearer_token", "basic", "authorization", "token"]) {
      expect(serverKind(server({ auth_type, auth_value: "user:secret" }))).toBe("static");
    }
  });

  it("tells the oauth2 flows apart as inferOauth2Flow does", () => {
    expect(serverKind(server(m2m))).toBe("client_credentials");
    expect(serverKind(server({ ...m2m, oauth2_flow: "authorization_code" }))).toBe("interactive");
    expect(serverKind(server({ auth_type: "oauth2" }))).toBe("interactive");
  });

  it("is delegated only for an interactive oauth2 server with delegate_auth_to_upstream", () => {
    expect(serverKind(server({ auth_type: "oauth2", delegate_auth_to_upstream: true }))).toBe("delegated");
    expect(serverKind(server({ ...m2m, delegate_auth_to_upstream: true }))).toBe("client_credentials");
    expect(serverKind(server({ auth_type: "bearer_token", auth_value: "t", delegate_auth_to_upstream: true }))).toBe("static");
  });

  it("names token exchange", () => {
    expect(serverKind(server({ auth_type: "oauth2_token_exchange", token_url: "https://auth.example.com/token", client_id: "id" }))).toBe("token_exchange");
  });

  it("counts delegated servers among those whose users connect with the authorization code flow", () => {
    expect(usesAuthorizationCode("interactive")).toBe(true);
    expect(usesAuthorizationCode("delegated")).toBe(true);
    expect(usesAuthorizationCode("client_credentials")).toBe(false);
    expect(usesAuthorizationCode("static")).toBe(false);
  });
});
