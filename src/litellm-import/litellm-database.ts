/**
 * Reads a LiteLLM proxy's PostgreSQL database: the tables Prisma creates from LiteLLM's
 * `schema.prisma` (quoted, case-preserving names). Deployments were built by hundreds of
 * migrations, so column order and even the set of columns differ: every column is selected
 * by name, and only if the table has it (a missing optional column reads as undefined).
 * Nothing here writes.
 */
import { Kysely, PostgresDialect, sql } from "kysely";
import { GatewayError } from "../errors.js";
import { maskDatabaseUrl } from "../store/database.js";

export type Row = Readonly<Record<string, unknown>>;

export const SERVERS_TABLE = "LiteLLM_MCPServerTable";
export const KEYS_TABLE = "LiteLLM_VerificationToken";
export const PERMISSIONS_TABLE = "LiteLLM_ObjectPermissionTable";
export const TEAMS_TABLE = "LiteLLM_TeamTable";
export const ORGANIZATIONS_TABLE = "LiteLLM_OrganizationTable";
export const USERS_TABLE = "LiteLLM_UserTable";

/** Columns read from each table, where present. Newer and older LiteLLM versions have more or fewer. */
const COLUMNS: Record<string, readonly string[]> = {
  [SERVERS_TABLE]: [
    "server_id", "server_name", "alias", "description", "instructions", "url", "spec_path", "transport", "auth_type",
    "credentials", "mcp_info", "mcp_access_groups", "allowed_tools", "tool_name_to_display_name", "tool_name_to_description",
    "extra_headers", "static_headers", "command", "args", "env", "authorization_url", "token_url", "registration_url",
    "allow_all_keys", "available_on_public_internet", "delegate_auth_to_upstream", "is_byok", "approval_status", "team_id",
    "oauth2_flow", "header_variables", "token_exchange_endpoint", "audience", "subject_token_type", "token_exchange_profile",
    "created_at",
  ],
  [KEYS_TABLE]: [
    "token", "key_name", "key_alias", "expires", "models", "user_id", "team_id", "agent_id", "project_id", "organization_id",
    "max_parallel_requests", "metadata", "blocked", "tpm_limit", "rpm_limit", "max_budget", "budget_duration", "budget_reset_at",
    "soft_budget_cooldown", "spend", "allowed_routes", "access_group_ids", "budget_id", "object_permission_id", "created_at",
    "created_by", "aliases", "config", "permissions", "model_max_budget", "allowed_cache_controls", "policies", "budget_limits",
  ],
  [PERMISSIONS_TABLE]: ["object_permission_id", "mcp_servers", "mcp_access_groups", "mcp_tool_permissions", "mcp_toolsets", "blocked_tools", "agents", "agent_access_groups"],
  [TEAMS_TABLE]: ["team_id", "team_alias", "object_permission_id", "blocked", "access_group_ids", "organization_id"],
  [ORGANIZATIONS_TABLE]: ["organization_id", "organization_alias", "object_permission_id"],
  [USERS_TABLE]: ["user_id", "user_role"],
};

export interface LiteLLMDatabase {
  /** The URL with its password masked. */
  readonly description: string;
  /** Which of the tables exist (in the connection's schema). */
  has(table: string): boolean;
  /** Whether `table` has `column`. */
  hasColumn(table: string, column: string): boolean;
  servers(): Promise<Row[]>;
  countKeys(): Promise<number>;
  /** Keys in pages of `size`, ordered by token (keyset pagination: no OFFSET scans on a large table). */
  keyPages(size: number): AsyncGenerator<Row[]>;
  /** Object permissions by id (unknown ids are left out). */
  objectPermissions(ids: readonly string[]): Promise<Map<string, Row>>;
  /** Every row of a small table (teams, organizations), by its id column; empty when the table is absent. */
  byId(table: typeof TEAMS_TABLE | typeof ORGANIZATIONS_TABLE, idColumn: string): Promise<Map<string, Row>>;
  /** Users' roles for these ids (empty when LiteLLM_UserTable is absent). */
  userRoles(ids: readonly string[]): Promise<Map<string, string>>;
  close(): Promise<void>;
}

/** pg type ids: `timestamp` (without time zone, as Prisma creates DateTime), `timestamptz`, `int8`. */
const TIMESTAMP_OID = 1114;
const TIMESTAMPTZ_OID = 1184;

/**
 * Opens the database at `url` (postgres://...). A Prisma-style `?schema=NAME` parameter
 * (how LiteLLM's DATABASE_URL names a schema other than public) sets the search path.
 */
export async function openLiteLLMDatabase(url: string): Promise<LiteLLMDatabase> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new GatewayError({ status: 500, code: "bad_database_url", message: `--from must be a LiteLLM PostgreSQL URL (postgres://user:password@host:5432/litellm), got '${maskDatabaseUrl(url)}'` });
  }
  const description = maskDatabaseUrl(url);
  const parsed = new URL(url);
  const schema = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 2,
    connectionTimeoutMillis: 10_000,
    ...(schema === undefined ? {} : { options: `-c search_path=${quoteSearchPath(schema)}` }),
    types: {
      // Prisma writes DateTime as UTC into columns without a time zone; pg would read them as local time.
      getTypeParser: ((oid: number, format?: "text" | "binary") => {
        if (oid === TIMESTAMP_OID) return (value: string) => `${value.replace(" ", "T")}Z`;
        if (oid === TIMESTAMPTZ_OID) return (value: string) => new Date(value).toISOString();
        return pg.types.getTypeParser(oid, format ?? "text");
      }) as typeof pg.types.getTypeParser,
    },
  });
  pool.on("error", () => undefined);
  const db = new Kysely<Record<string, Record<string, unknown>>>({ dialect: new PostgresDialect({ pool }) });
  let columns: Map<string, Set<string>>;
  try {
    const rows = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and table_name in (${sql.join(Object.keys(COLUMNS))})`.execute(db);
    columns = new Map();
    for (const row of rows.rows) {
      const set = columns.get(row.table_name) ?? new Set<string>();
      set.add(row.column_name);
      columns.set(row.table_name, set);
    }
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw new GatewayError({
      status: 500,
      code: "database_unavailable",
      message: `cannot read the LiteLLM database ${description}: ${error instanceof Error ? error.message : String(error)}`,
      cause: error,
    });
  }

  const present = (table: string): string[] => (COLUMNS[table] ?? []).filter((column) => columns.get(table)?.has(column) === true);
  const select = (table: string) => db.selectFrom(table).select(present(table));

  return {
    description,
    has: (table) => columns.has(table),
    hasColumn: (table, column) => columns.get(table)?.has(column) === true,
    async servers() {
      if (!columns.has(SERVERS_TABLE)) return [];
      return select(SERVERS_TABLE).orderBy("server_id").execute();
    },
    async countKeys() {
      if (!columns.has(KEYS_TABLE)) return 0;
      const row = await db.selectFrom(KEYS_TABLE).select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async *keyPages(size) {
      if (!columns.has(KEYS_TABLE)) return;
      let after: string | undefined;
      for (;;) {
        let query = select(KEYS_TABLE).orderBy("token").limit(size);
        if (after !== undefined) query = query.where("token", ">", after);
        const rows = await query.execute();
        if (rows.length === 0) return;
        yield rows;
        after = rows[rows.length - 1]!.token as string;
        if (rows.length < size) return;
      }
    },
    async objectPermissions(ids) {
      const found = new Map<string, Row>();
      if (!columns.has(PERMISSIONS_TABLE) || ids.length === 0) return found;
      const rows = await select(PERMISSIONS_TABLE).where("object_permission_id", "in", [...new Set(ids)]).execute();
      for (const row of rows) found.set(row.object_permission_id as string, row);
      return found;
    },
    async byId(table, idColumn) {
      const found = new Map<string, Row>();
      if (!columns.has(table)) return found;
      for (const row of await select(table).execute()) found.set(row[idColumn] as string, row);
      return found;
    },
    async userRoles(ids) {
      const roles = new Map<string, string>();
      if (!columns.get(USERS_TABLE)?.has("user_role") || ids.length === 0) return roles;
      const rows = await select(USERS_TABLE).where("user_id", "in", [...new Set(ids)]).execute();
      for (const row of rows) if (typeof row.user_role === "string") roles.set(row.user_id as string, row.user_role);
      return roles;
    },
    close: () => db.destroy(),
  };
}

/** A schema name as a search_path entry: an identifier, double-quoted. */
function quoteSearchPath(schema: string): string {
  if (!/^[A-Za-z0-9_$-]+$/.test(schema)) {
    throw new GatewayError({ status: 500, code: "bad_database_url", message: `the schema parameter of --from must be a plain schema name, got '${schema}'` });
  }
  return `"${schema}"`;
}
