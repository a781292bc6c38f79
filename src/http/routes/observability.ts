/**
 * What operators read, all with the master key: `GET /metrics` (Prometheus text format),
 * `GET /v1/mcp/audit` (the audit trail of tool calls, newest first) and
 * `GET /v1/mcp/activity/summary` (calls, error rate and latency over the last hour, day
 * or week, in buckets; what the activity page's charts draw).
 */
import { Hono } from "hono";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError } from "../../errors.js";
import { parseCursor, type AuditTrail } from "../../observability/audit.js";
import { ACTIVITY_RANGES, isActivityRange, type ActivityRange } from "../../observability/activity.js";
import type { GatewayMetrics } from "../../observability/metrics.js";
import type { AppEnv } from "../env.js";
import { authenticate, requireMaster } from "../middleware/authenticate.js";

export interface ObservabilityRouteDeps {
  keys: KeyResolver;
  metrics: GatewayMetrics;
  audit: AuditTrail;
}

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

export function observabilityRoutes(deps: ObservabilityRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const admin = [authenticate(deps.keys), requireMaster] as const;

  app.get("/metrics", ...admin, async (c) => c.body(await deps.metrics.text(), 200, { "content-type": deps.metrics.contentType }));

  app.get("/v1/mcp/audit", ...admin, async (c) => {
    const query = c.req.query();
    const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw badQuery(`limit must be an integer from 1 to ${MAX_PAGE}`);
    const since = isoTime(query.since, "since");
    const until = isoTime(query.until, "until");
    const after = query.cursor === undefined ? undefined : parseCursor(query.cursor);
    if (query.cursor !== undefined && after === undefined) throw badQuery("cursor must be the `next` value of a previous page");
    const page = await deps.audit.list({
      limit,
      ...(query.server === undefined ? {} : { server: query.server }),
      ...(query.tool === undefined ? {} : { tool: query.tool }),
      ...(query.caller === undefined ? {} : { caller: query.caller }),
      ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
      ...(after === undefined ? {} : { after }),
    });
    return c.json(page);
  });

  app.get("/v1/mcp/activity/summary", ...admin, async (c) => {
    const { range, server } = summaryQuery(c.req.query());
    return c.json(await deps.audit.summary(range, server));
  });
  return app;
}

/** The summary's query: `range` (`hour`, the default, `day` or `week`) and an optional `server`. */
export function summaryQuery(query: Record<string, string>): { range: ActivityRange; server?: string } {
  const range = query.range ?? "hour";
  if (!isActivityRange(range)) throw badQuery(`range must be one of ${ACTIVITY_RANGES.join(", ")}`);
  return { range, ...(query.server === undefined || query.server === "" ? {} : { server: query.server }) };
}

/** An ISO 8601 time parameter, normalized to the stored form (UTC, milliseconds). */
function isoTime(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) throw badQuery(`${name} must be an ISO 8601 time, e.g. 2026-11-26T00:00:00Z`);
  return new Date(parsed).toISOString();
}

function badQuery(message: string): GatewayError {
  return new GatewayError({ status: 400, code: "invalid_request", message });
}
