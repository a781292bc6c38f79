/** `sessionBinding` (src/mcp/session-binding.ts): upstream session ids bound to a caller and a server (issue 15 item 3). */
import { describe, expect, it } from "vitest";
import { sessionBinding } from "../../../src/mcp/session-binding.js";

const binding = sessionBinding(Buffer.alloc(32, 1));

describe("sessionBinding", () => {
  it("gives the client the upstream id with a tag, and unwraps it for the same caller and server", () => {
    const id = binding.wrap("github", "key:x", "0b5e-session.with.dots");
    expect(id).toMatch(/^0b5e-session\.with\.dots\.[A-Za-z0-9_-]{22}$/);
    expect(binding.unwrap("github", "key:x", id)).toBe("0b5e-session.with.dots");
  });

  it("refuses the id for another caller, another server, or under another key", () => {
    const id = binding.wrap("github", "key:x", "s1");
    expect(binding.unwrap("github", "key:y", id)).toBeUndefined();
    expect(binding.unwrap("jira", "key:x", id)).toBeUndefined();
    expect(sessionBinding(Buffer.alloc(32, 2)).unwrap("github", "key:x", id)).toBeUndefined();
  });

  it("refuses a bare upstream id, a tampered tag, another upstream id under the same tag, and nonsense", () => {
    const id = binding.wrap("github", "key:x", "s1");
    const tag = id.slice(id.lastIndexOf(".") + 1);
    const flipped = `${tag[0] === "A" ? "B" : "A"}${tag.slice(1)}`;
    for (const presented of ["s1", `s1.${flipped}`, `s2.${tag}`, "", ".", `.${tag}`, "x".repeat(500), "s1.!!!!!!!!!!!!!!!!!!!!!!"]) {
      expect(binding.unwrap("github", "key:x", presented), presented).toBeUndefined();
    }
  });
});
