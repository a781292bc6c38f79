/**
 * The activity summary: one server's (or every server's) calls over the last hour, day or
 * week, in time buckets the charts draw (calls per minute, error rate, p50 / p95 latency),
 * and the same numbers per server for the servers list. The database computes the numbers
 * (store/audit-summary.ts); this fills the buckets without calls, so a chart's x axis
 * has no holes, and keeps the number of buckets bounded (at most 168).
 */
import type { WindowStats } from "../store/audit-summary.js";

export const ACTIVITY_RANGES = ["hour", "day", "week"] as const;
export type ActivityRange = (typeof ACTIVITY_RANGES)[number];

/** Each range's bucket: its length, how many make the range, and the `at` prefix that names it. */
export const RANGE_BUCKETS: Record<ActivityRange, { bucketMs: number; buckets: number; bucketChars: number }> = {
  hour: { bucketMs: 60_000, buckets: 60, bucketChars: 16 },
  day: { bucketMs: 600_000, buckets: 144, bucketChars: 15 },
  week: { bucketMs: 3_600_000, buckets: 168, bucketChars: 13 },
};

export const isActivityRange = (value: string): value is ActivityRange => (ACTIVITY_RANGES as readonly string[]).includes(value);

export interface ActivityTotals {
  calls: number;
  errors: number;
  toolErrors: number;
  /** (errors + tool errors) / calls; null without calls. */
  errorRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface ActivityBucket extends ActivityTotals {
  /** The bucket's start, ISO 8601. */
  start: string;
  callsPerMinute: number;
}

export interface ActivitySummary {
  server: string | null;
  range: ActivityRange;
  from: string;
  to: string;
  bucketSeconds: number;
  totals: ActivityTotals;
  buckets: ActivityBucket[];
}

/** The window of a range ending with the bucket that holds `now`. */
export function rangeWindow(range: ActivityRange, now: Date): { since: string; until: string } {
  const { bucketMs, buckets } = RANGE_BUCKETS[range];
  const end = Math.floor(now.getTime() / bucketMs) * bucketMs + bucketMs;
  return { since: new Date(end - buckets * bucketMs).toISOString(), until: new Date(end).toISOString() };
}

export function totalsOf(stats: WindowStats | undefined): ActivityTotals {
  if (stats === undefined) return { calls: 0, errors: 0, toolErrors: 0, errorRate: null, p50Ms: null, p95Ms: null };
  const { calls, errors, toolErrors, p50Ms, p95Ms } = stats;
  return { calls, errors, toolErrors, errorRate: calls === 0 ? null : (errors + toolErrors) / calls, p50Ms, p95Ms };
}

/** The summary document, every bucket of the window present (empty ones with zero calls). */
export function activitySummary(input: { server: string | undefined; range: ActivityRange; window: { since: string; until: string }; totals: WindowStats | undefined; buckets: WindowStats[] }): ActivitySummary {
  const { bucketMs, bucketChars } = RANGE_BUCKETS[input.range];
  const byGroup = new Map(input.buckets.map((bucket) => [bucket.group, bucket]));
  const buckets: ActivityBucket[] = [];
  for (let start = Date.parse(input.window.since); start < Date.parse(input.window.until); start += bucketMs) {
    const iso = new Date(start).toISOString();
    const found = byGroup.get(iso.slice(0, bucketChars));
    const totals = totalsOf(found);
    buckets.push({ start: iso, ...totals, callsPerMinute: totals.calls / (bucketMs / 60_000) });
  }
  return {
    server: input.server ?? null,
    range: input.range,
    from: input.window.since,
    to: input.window.until,
    bucketSeconds: bucketMs / 1000,
    totals: totalsOf(input.totals),
    buckets,
  };
}
