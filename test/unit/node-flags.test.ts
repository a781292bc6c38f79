/**
 * The gateway runs with the V8 flags in its bin's shebang (`src/cli.ts`); `npm start` must
 * pass the same ones, or `npm start` and an installed `gatehouse` behave differently under
 * load (README, Performance: the young generation's size bounds GC pauses).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const shebang = readFileSync(new URL("src/cli.ts", root), "utf8").split("\n")[0]!;
const start = (JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { scripts: { start: string } }).scripts.start;

describe("the gateway's node flags", () => {
  it("are in the bin's shebang, through env -S", () => {
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node( --[a-z-]+=\S+)+$/);
    expect(shebang).toContain("--max-semi-space-size=8");
  });

  it("are the ones npm start passes", () => {
    const flags = shebang.replace("#!/usr/bin/env -S node", "").trim();
    expect(start).toMatch(new RegExp(`^node ${flags.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} dist/cli\\.js `));
  });
});
