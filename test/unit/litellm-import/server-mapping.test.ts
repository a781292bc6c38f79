import { describe, expect, it } from "vitest";
import { litellmKeys, openLiteLLMSecret } from "../../../src/litellm-import/litellm-secrets.js";
import { mapServer } from "../../../src/litellm-import/server-mapping.js";

const keys = litellmKeys("salt");
const open = (stored: string) => openLiteLLMSecret(stored, keys);
const row = (extra: Record<string, unknown>) => ({ server_id: "s1", server_name: "github", url: "https://mcp.example.com/mcp", transport: "http", ...extra });

describe("a LiteLLM server row as a Gatehouse server config", () => {
  it("basic credentials stored pre-encoded (with or without 'Basic ') become user:password", () => {
    for (const value of ["dXNlcjpwYXNz", "Basic dXNlcjpwYXNz", "user:pass"]) {
      expect(mapServer(row({ auth_type: "basic", credentials: { auth_value: value } }), { open })).toMatchObject({ ok: true, config: { auth_type: "basic", auth_value: "user:pass" } });
    }
    expect(mapServer(row({ auth_type: "basic", credentials: { auth_value: "no-colon-here" } }), { open })).toMatchObject({ ok: false, skipped: false });
  });

  it("a bearer token stored with its 'Bearer ' prefix is not sent as 'Bearer Bearer ...'", () => {
    expect(mapServer(row({ auth_type: "bearer_token", credentials: { auth_value: "Bearer abc" } }), { open })).toMatchObject({ config: { auth_value: "abc" } });
  });

  it("an empty allowed_tools list stays unrestricted (in Gatehouse [] would allow nothing); prefixed names keep their tool", () => {
    const empty = mapServer(row({ allowed_tools: [] }), { open });
    expect(empty.ok && "allowed_tools" in empty.config).toBe(false);
    expect(mapServer(row({ allowed_tools: ["github-search", "list"] }), { open })).toMatchObject({ config: { allowed_tools: ["github-search", "search", "list"] } });
  });

  it("LiteLLM's transport default (sse) is kept; stdio and credential-less auth types are not carried; an OpenAPI server is, over HTTP", () => {
    expect(mapServer({ server_id: "s", server_name: "x", url: "https://h/sse" }, { open })).toMatchObject({ ok: true, config: { transport: "sse" } });
    expect(mapServer(row({ transport: "stdio", command: "npx" }), { open })).toMatchObject({ ok: false, skipped: true });
    expect(mapServer(row({ url: null, spec_path: "https://api.example.com/openapi.json" }), { open })).toMatchObject({ ok: true, config: { spec_path: "https://api.example.com/openapi.json", transport: "http" } });
    expect(mapServer(row({ url: "https://api.example.com", transport: "sse", spec_path: "/openapi.json" }), { open })).toMatchObject({ ok: true, config: { url: "https://api.example.com", spec_path: "/openapi.json", transport: "http" } });
    expect(mapServer(row({ url: null }), { open })).toMatchObject({ ok: false, reason: "no url" });
    for (const authType of ["aws_sigv4", "oauth2_id_jag", "true_passthrough"]) {
      expect(mapServer(row({ auth_type: authType }), { open })).toMatchObject({ ok: false, skipped: false, reason: expect.stringMatching(authType) });
    }
  });

  it("oauth2 fields come from credentials and columns; available_on_public_internet false is kept", () => {
    const mapped = mapServer(
      row({ auth_type: "oauth2", credentials: { client_id: "cid", client_secret: "cs", scopes: ["a", "b"] }, token_url: "https://as/token", available_on_public_internet: false }),
      { open },
    );
    expect(mapped).toMatchObject({ ok: true, config: { auth_type: "oauth2", client_id: "cid", client_secret: "cs", scopes: ["a", "b"], token_url: "https://as/token", available_on_public_internet: false } });
  });
});
