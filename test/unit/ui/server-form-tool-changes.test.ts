import { describe, expect, it } from "vitest";
import type { ServerView } from "../../../src/registry/server-admin.js";
import { formValuesFromView, serverBodyFromForm } from "../../../src/ui/server-form.js";

describe("the server form's tool_changes", () => {
  it("sends the chosen policy, and leaves it out (the default, warn) when none is chosen", () => {
    expect(serverBodyFromForm(new URLSearchParams({ server_name: "s", url: "http://127.0.0.1/mcp", tool_changes: "block" })).body.tool_changes).toBe("block");
    expect(serverBodyFromForm(new URLSearchParams({ server_name: "s", url: "http://127.0.0.1/mcp", tool_changes: "" })).body).not.toHaveProperty("tool_changes");
  });

  it("pre-fills the edit form with the stored policy, so saving an edit keeps it", () => {
    expect(formValuesFromView({ server_name: "s", tool_changes: "allow" } as unknown as ServerView).tool_changes).toBe("allow");
  });
});
