/**
 * The gateway runs the same however it is started: the installed bin, `npm start` and
 * `node dist/cli.js` (what the README tells operators to run, and what `npm run bench`
 * measures) pass no node flags. A V8 flag in the shebang or in `npm start` only applied to
 * those two, so the benchmark and production ran a differently tuned process; and V8 reads
 * heap-sizing flags such as `--max-semi-space-size` when the isolate is created, so
 * `v8.setFlagsFromString` in the code cannot apply them. An operator who wants one sets it
 * in `NODE_OPTIONS` (README, Performance).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const shebang = readFileSync(new URL("src/cli.ts", root), "utf8").split("\n")[0]!;
const start = (JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { scripts: { start: string } }).scripts.start;

describe("the gateway's node flags", () => {
  it("are none in the bin's shebang", () => {
    expect(shebang).toBe("#!/usr/bin/env node");
  });

  it("are none in npm start", () => {
    expect(start).toMatch(/^node dist\/cli\.js /);
  });
});
