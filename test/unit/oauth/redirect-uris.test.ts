import { describe, expect, it } from "vitest";
import { registrableRedirectUri } from "../../../src/oauth/redirect-uris.js";

describe("registrable redirect URIs", () => {
  it.each(["https://app.example.com/cb", "http://127.0.0.1:5555/callback", "http://localhost/cb", "http://[::1]:8080/cb", "cursor://anysphere.cursor-retrieval/oauth/callback"])("accepts %s", (uri) => {
    expect(registrableRedirectUri(uri)).toBeUndefined();
  });

  it.each([
    ["http://app.example.com/cb", "loopback"],
    ["https://app.example.com/cb#frag", "fragment"],
    ["https://user:pw@app.example.com/cb", "userinfo"],
    ["javascript:alert(1)", "not allowed"],
    ["data:text/html,hi", "not allowed"],
    ["/relative", "absolute"],
    [42, "string"],
  ] as const)("refuses %s", (uri, why) => {
    expect(registrableRedirectUri(uri)).toContain(why);
  });
});
