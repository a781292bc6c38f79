import { describe, expect, it } from "vitest";
import { maskDatabaseUrl, openDatabase, parseDatabaseUrl } from "../../../src/store/database.js";

describe("database URLs", () => {
  it("parses the documented forms", () => {
    expect(parseDatabaseUrl("sqlite:./gatehouse.db")).toEqual({ dialect: "sqlite", path: "./gatehouse.db" });
    expect(parseDatabaseUrl("sqlite::memory:")).toEqual({ dialect: "sqlite", path: ":memory:" });
    expect(parseDatabaseUrl("sqlite:///var/lib/gatehouse.db")).toEqual({ dialect: "sqlite", path: "/var/lib/gatehouse.db" });
    expect(parseDatabaseUrl("postgres://u@127.0.0.1/db").dialect).toBe("postgres");
    expect(parseDatabaseUrl("postgresql://u@127.0.0.1/db").dialect).toBe("postgres");
  });

  it("refuses anything else with the accepted forms in the message", () => {
    expect(() => parseDatabaseUrl("mysql://x")).toThrow(/sqlite:PATH/);
    expect(() => parseDatabaseUrl("sqlite:")).toThrow(/file path/);
  });

  it("masks passwords", () => {
    expect(maskDatabaseUrl("postgres://user:hunter2@db:5432/x")).toBe("postgres://user:****@db:5432/x");
    expect(maskDatabaseUrl("postgres://user@db/x")).toBe("postgres://user@db/x");
  });

  it("opens and pings an in-memory SQLite database", async () => {
    const database = await openDatabase("sqlite::memory:");
    expect(database.dialect).toBe("sqlite");
    await expect(database.ping()).resolves.toBeUndefined();
    await database.close();
  });

  it("names the database, without its password, when it cannot be opened", async () => {
    await expect(openDatabase("postgres://user:hunter2@127.0.0.1:1/none")).rejects.toThrow(/cannot open the database postgres:\/\/user:\*\*\*\*@/);
  });
});
