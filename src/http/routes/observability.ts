/**
 * What operators read: `GET /metrics` (Prometheus text format) and `GET /v1/mcp/audit`
 * (the audit trail of tool calls, newest first), both with the master key.
 */
import { Hono } from "hono";
import type { KeyResolver } from "../../auth/inbound/key-resolver.js";
import { GatewayError } from "../../errors.js";
import { parseCursor, type AuditTrail } from "../../observability/audit.js";
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
    const since = query.since;
    if (since !== undefined && Number.isNaN(Date.parse(since))) throw badQuery("since must be an ISO 8601 time, e.g. 2026-11-26T00:00:00Z");
    const after = query.cursor === undefined ? undefined : parseCursor(query.cursor);
    if (query.cursor !== undefined && after === undefined) throw badQuery("cursor must be the `next` value of a previous page");
    const page = await deps.audit.list({
      limit,
      ...(query.server === undefined ? {} : { server: query.server }),
      ...(query.tool === undefined ? {} : { tool: query.tool }),
      ...(query.caller === undefined ? {} : { caller: query.caller }),
      ...(query.outcome === undefined ? {} : { outcome: query.outcome }),
      ...(since === undefined ? {} : { since: new Date(since).toISOString() }),
      ...(after === undefined ? {} : { after }),
    });
    return c.json(page);
  });
  return app;
}

function badQuery(message: string): GatewayError {
  return new GatewayError({ status: 400, code: "invalid_request", message });
}
