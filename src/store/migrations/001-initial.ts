/** Servers added at runtime, virtual keys, and the revision counters that tell other instances to reload. */
import type { Kysely } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("mcp_servers")
    .addColumn("id", "varchar(64)", (col) => col.primaryKey())
    .addColumn("name", "varchar(255)", (col) => col.notNull().unique())
    .addColumn("config", "text", (col) => col.notNull())
    .addColumn("secrets", "text")
    .addColumn("created_at", "varchar(40)", (col) => col.notNull())
    .addColumn("updated_at", "varchar(40)", (col) => col.notNull())
    .execute();

  await db.schema
    .createTable("virtual_keys")
    .addColumn("token", "varchar(64)", (col) => col.primaryKey())
    .addColumn("key_name", "varchar(64)", (col) => col.notNull())
    .addColumn("key_alias", "varchar(255)", (col) => col.unique())
    .addColumn("user_id", "varchar(255)")
    .addColumn("object_permission", "text")
    .addColumn("expires_at", "varchar(40)")
    .addColumn("created_at", "varchar(40)", (col) => col.notNull())
    .execute();
  await db.schema.createIndex("virtual_keys_user_id").on("virtual_keys").column("user_id").execute();

  await db.schema
    .createTable("gatehouse_revisions")
    .addColumn("name", "varchar(32)", (col) => col.primaryKey())
    .addColumn("revision", "integer", (col) => col.notNull().defaultTo(0))
    .execute();
  await (db as Kysely<{ gatehouse_revisions: { name: string; revision: number } }>)
    .insertInto("gatehouse_revisions")
    .values([
      { name: "servers", revision: 0 },
      { name: "keys", revision: 0 },
    ])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("gatehouse_revisions").execute();
  await db.schema.dropTable("virtual_keys").execute();
  await db.schema.dropTable("mcp_servers").execute();
}
