/**
 * The activity charts' numbers, computed by the database over one time window: calls,
 * failures and the p50 / p95 of `duration_ms`, per group (a time bucket or a server) or
 * over the whole window.
 *
 * Portable SQL for SQLite and PostgreSQL: buckets are prefixes of the ISO 8601 `at` text
 * (`substr(at, 1, 16)` is the minute, 15 ten minutes, 13 the hour), so no dialect's date
 * functions are needed; percentiles are nearest-rank, picked with `row_number()` over
 * each group's events sorted by duration (SQLite has no percentile functions). The window
 * is bounded by `at` (an index), and by `server` too when one is asked for (the
 * `(server, at)` index). Only tool calls count: decisions and connection changes in the
 * same trail (other outcomes) are not calls.
 */
import { sql, type RawBuilder } from "kysely";
import type { Db } from "./schema.js";

export interface WindowStats {
  /** The bucket's `at` prefix, or the server, by what was grouped. */
  group: string;
  calls: number;
  /** Events whose outcome is `error`. */
  errors: number;
  /** Events whose outcome is `tool_error`. */
  toolErrors: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface WindowQuery {
  since: string;
  until: string;
  server?: string;
}

/** Groups: `{ bucketChars }` a time bucket as that many leading characters of `at`; `"server"` each server; `"all"` the whole window. */
export type Grouping = { bucketChars: number } | "server" | "all";

type StatsRow = { grp: string | null; calls: number | string; errors: number | string | null; tool_errors: number | string | null; p50: number | string | null; p95: number | string | null };

export async function windowStats(db: Db, query: WindowQuery, grouping: Grouping): Promise<WindowStats[]> {
  const result = await windowStatsQuery(query, grouping).execute(db);
  const number = (value: number | string | null) => (value === null ? null : Number(value));
  return result.rows
    .filter((row) => Number(row.calls) > 0)
    .map((row) => ({
      group: row.grp ?? "",
      calls: Number(row.calls),
      errors: number(row.errors) ?? 0,
      toolErrors: number(row.tool_errors) ?? 0,
      p50Ms: number(row.p50),
      p95Ms: number(row.p95),
    }));
}

/** The query of `windowStats` (exported for the test that reads its plan). */
export function windowStatsQuery(query: WindowQuery, grouping: Grouping): RawBuilder<StatsRow> {
  const group: RawBuilder<unknown> | undefined =
    grouping === "all" ? undefined : grouping === "server" ? sql.ref("server") : sql`substr(at, 1, ${sql.lit(grouping.bucketChars)})`;
  const partition = group === undefined ? sql`` : sql`partition by ${group}`;
  const onServer = query.server === undefined ? sql`` : sql`and server = ${query.server}`;
  return sql<StatsRow>`
    select ${group === undefined ? sql`null` : sql.ref("grp")} as grp,
      count(*) as calls,
      sum(case when outcome = 'error' then 1 else 0 end) as errors,
      sum(case when outcome = 'tool_error' then 1 else 0 end) as tool_errors,
      max(case when rn = (n * 50 + 99) / 100 then duration_ms end) as p50,
      max(case when rn = (n * 95 + 99) / 100 then duration_ms end) as p95
    from (
      select ${group ?? sql`null`} as grp, outcome, duration_ms,
        row_number() over (${partition} order by duration_ms) as rn,
        count(*) over (${partition}) as n
      from audit_events
      where at >= ${query.since} and at < ${query.until} ${onServer} and outcome in ('ok', 'tool_error', 'error')
    ) ranked
    ${group === undefined ? sql`` : sql`group by grp order by grp`}
  `;
}
