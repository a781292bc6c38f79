/**
 * Activity (admins): the audit trail with filters and paging, one event's details, and
 * per-server charts of calls per minute, error rate and p50 / p95 latency over the last
 * hour, day or week. Never the arguments or results of a call (the trail has none).
 */
import type { ActivityRange, ActivitySummary, ActivityTotals } from "../../observability/activity.js";
import type { AuditEvent } from "../../observability/audit.js";
import { ACTIVITY_JS, UPLOT_PATH } from "../activity-assets.js";
import { Page, type Viewer } from "../layout.js";
import { Visible, visibleText } from "../visible-text.js";

/** The list's filters as given in the query string (what the form shows back). */
export interface ActivityFilters {
  server: string;
  tool: string;
  caller: string;
  outcome: string;
  /** `hour`, `day`, `week` or "" (any time): events since then. */
  period: string;
  /** `YYYY-MM-DDTHH:MM` in UTC, or "". */
  from: string;
  to: string;
}

/** Tool calls' outcomes, then the trail's other events (an admin's decisions, users' connections). */
export const OUTCOMES = ["ok", "tool_error", "error", "tool_change_approved", "tool_change_rejected", "connected", "disconnected"] as const;
const NOT_CALLS = new Set(["admin", "connections"]);
/** What an event is, in a few words: a call of its tool, or a decision or connection change on its server. */
const eventTitle = (event: Pick<AuditEvent, "route" | "outcome" | "tool" | "server">) => (NOT_CALLS.has(event.route) ? `${event.outcome.replaceAll("_", " ")} on ${event.server}` : `Call of ${visibleText(event.tool)}`);
const PERIODS: ReadonlyArray<[string, string]> = [
  ["", "Any time"],
  ["hour", "Last hour"],
  ["day", "Last day"],
  ["week", "Last week"],
];
const RANGE_LABELS: Record<ActivityRange, string> = { hour: "Last hour", day: "Last day", week: "Last week" };

export interface ActivityPageProps {
  viewer: Viewer;
  servers: readonly string[];
  filters: ActivityFilters;
  range: ActivityRange;
  summary: ActivitySummary;
  events: readonly AuditEvent[];
  /** The query string of the next (older) page, when there may be one. */
  nextQuery?: string;
  /** Whether this is a later page (a link back to the newest is shown). */
  paged: boolean;
  error?: string;
  uplot: { integrity: string; version: string; css: string };
}

export const percent = (rate: number | null) => (rate === null ? "–" : `${(rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0)}%`);
export const millis = (ms: number | null) => (ms === null ? "–" : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`);

/** `{ calls · error rate · p50 }` at a glance (the servers list, the charts' heading). */
export function Glance(props: { totals: ActivityTotals | undefined; p95?: boolean }) {
  const totals = props.totals;
  if (totals === undefined || totals.calls === 0) return <span class="muted">no calls</span>;
  const rate = totals.errorRate ?? 0;
  return (
    <span class="glance">
      {`${totals.calls} call${totals.calls === 1 ? "" : "s"} · `}
      <span class={rate >= 0.05 ? "rate bad" : rate > 0 ? "rate warn" : "rate ok"}>{`${percent(totals.errorRate)} errors`}</span>
      {` · p50 ${millis(totals.p50Ms)}`}
      {props.p95 === true ? ` · p95 ${millis(totals.p95Ms)}` : ""}
    </span>
  );
}

/** A query string from the filters, without the empty ones, plus `extra`. */
export function activityQuery(filters: Partial<ActivityFilters> & { range?: string; cursor?: string }): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value !== undefined && value !== "") params.set(name, value);
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/** Embeds the summary as a JSON data block; `<` escaped so no text in it can end the element. */
const dataBlock = (summary: ActivitySummary) => JSON.stringify(summary).replace(/</g, "\\u003c");

export function ActivityPage(props: ActivityPageProps) {
  const { filters, summary } = props;
  const servers = filters.server !== "" && !props.servers.includes(filters.server) ? [...props.servers, filters.server] : props.servers;
  return (
    <Page title="Activity" viewer={props.viewer} section="activity" styles={[props.uplot.css]}>
      <h1>Activity</h1>
      <section class="card" aria-labelledby="charts-heading">
        <div class="toolbar">
          <h2 id="charts-heading">{filters.server === "" ? "All servers" : filters.server}</h2>
          <nav class="tabs ranges" aria-label="Chart range">
            {(["hour", "day", "week"] as const).map((range) => (
              <a href={`/ui/activity${activityQuery({ ...filters, range })}`} {...(range === props.range ? { "aria-current": "page" as const } : {})}>
                {RANGE_LABELS[range]}
              </a>
            ))}
          </nav>
        </div>
        <p class="totals">
          <Glance totals={summary.totals} p95 />
          <span class="muted">{` · ${summary.bucketSeconds / 60}-minute buckets, your local time`}</span>
        </p>
        <div class="charts">
          <figure>
            <figcaption>Calls per minute</figcaption>
            <div id="chart-calls" class="chart" />
          </figure>
          <figure>
            <figcaption>Error rate (errors and tool errors)</figcaption>
            <div id="chart-errors" class="chart" />
          </figure>
          <figure>
            <figcaption>Latency p50 / p95</figcaption>
            <div id="chart-latency" class="chart" />
          </figure>
        </div>
        <script type="application/json" id="activity-data" dangerouslySetInnerHTML={{ __html: dataBlock(summary) }} />
      </section>

      <form method="get" action="/ui/activity" class="card filters" aria-label="Filter the audit trail">
        <input type="hidden" name="range" value={props.range} />
        <div class="grid">
          <div class="field">
            <label for="f-server">Server</label>
            <select id="f-server" name="server">
              <option value="">Any server</option>
              {servers.map((name) => (
                <option value={name} selected={name === filters.server}>
                  {name}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-tool">Tool</label>
            <input id="f-tool" name="tool" value={filters.tool} autocomplete="off" />
          </div>
          <div class="field">
            <label for="f-caller">Caller</label>
            <input id="f-caller" name="caller" value={filters.caller} autocomplete="off" aria-describedby="f-caller-hint" />
            <span class="hint" id="f-caller-hint">
              A key's alias (or <code>master</code>), or its identity <code>key:…</code>
            </span>
          </div>
          <div class="field">
            <label for="f-outcome">Outcome</label>
            <select id="f-outcome" name="outcome">
              <option value="">Any outcome</option>
              {OUTCOMES.map((outcome) => (
                <option value={outcome} selected={outcome === filters.outcome}>
                  {outcome}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-period">Time</label>
            <select id="f-period" name="period">
              {PERIODS.map(([value, label]) => (
                <option value={value} selected={value === filters.period}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-from">From (UTC)</label>
            <input id="f-from" name="from" type="datetime-local" value={filters.from} />
          </div>
          <div class="field">
            <label for="f-to">To (UTC)</label>
            <input id="f-to" name="to" type="datetime-local" value={filters.to} />
          </div>
        </div>
        <div class="toolbar start">
          <button type="submit">Apply filters</button>
          <a class="button secondary" href="/ui/activity">
            Clear
          </a>
        </div>
      </form>

      {props.error === undefined ? null : (
        <div class="alert error" role="alert">
          {props.error}
        </div>
      )}
      <h2>Tool calls</h2>
      {props.events.length === 0 ? (
        <p class="card">No tool calls match{props.paged ? " on this page" : ""}.</p>
      ) : (
        <div class="table-wrap">
          <table class="events">
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Tool / server</th>
                <th scope="col" class="optional">Caller</th>
                <th scope="col">Outcome</th>
                <th scope="col">Duration</th>
              </tr>
            </thead>
            <tbody>
              {props.events.map((event) => (
                <tr>
                  <td>
                    <a href={`/ui/activity/events/${encodeURIComponent(event.id)}`} aria-label={`Details of ${NOT_CALLS.has(event.route) ? eventTitle(event) : visibleText(event.tool)} at ${event.at}`}>
                      <time datetime={event.at}>
                        <span class="date">{`${event.at.slice(0, 10)} `}</span>
                        {event.at.slice(11, 19)}
                      </time>
                    </a>
                  </td>
                  <td>
                    {event.tool === "" ? <span class="muted">{event.outcome.replaceAll("_", " ")}</span> : (
                      <code>
                        <Visible text={event.tool} />
                      </code>
                    )}
                    <span class="desc">{event.server}</span>
                  </td>
                  <td class="optional">{event.caller}</td>
                  <td>
                    <OutcomeBadge outcome={event.outcome} />
                  </td>
                  <td>{millis(event.duration_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="toolbar start pager" aria-label="Pages">
        {props.paged ? (
          <a class="button secondary" href={`/ui/activity${activityQuery({ ...filters, range: props.range })}`}>
            ← Newest
          </a>
        ) : null}
        {props.nextQuery === undefined ? null : (
          <a class="button secondary" href={`/ui/activity${props.nextQuery}`} rel="next">
            Older →
          </a>
        )}
      </nav>
      <script src={`${UPLOT_PATH}?v=${props.uplot.version}`} integrity={props.uplot.integrity} />
      <script dangerouslySetInnerHTML={{ __html: ACTIVITY_JS }} />
    </Page>
  );
}

export function OutcomeBadge(props: { outcome: string }) {
  const kind = props.outcome === "ok" || props.outcome === "connected" || props.outcome === "tool_change_approved" ? "ok" : props.outcome === "error" ? "bad" : "warn";
  return <span class={`badge ${kind}`}>{props.outcome}</span>;
}

/** One event: everything the trail keeps about a call (which is never its arguments). */
export function ActivityEventPage(props: { viewer: Viewer; event: AuditEvent }) {
  const event = props.event;
  const rows: Array<[string, unknown]> = [
    ["Request id", event.request_id === null ? <span class="muted">none</span> : <code>{event.request_id}</code>],
    ["Time (UTC)", <time datetime={event.at}>{event.at}</time>],
    ["Caller", event.caller],
    ["Caller kind", event.caller_kind],
    ["User", event.user_id ?? <span class="muted">none</span>],
    ["Route", event.route],
    ["Server", <a href={`/ui/activity${activityQuery({ server: event.server })}`}>{event.server}</a>],
    ["Tool", event.tool === "" ? <span class="muted">none</span> : <code><Visible text={event.tool} /></code>],
    ["Outcome", <OutcomeBadge outcome={event.outcome} />],
    ["Status", event.status ?? <span class="muted">none</span>],
    ["Error code", event.error_code === null ? <span class="muted">none</span> : <code>{event.error_code}</code>],
    ["Duration", millis(event.duration_ms)],
    ["Event id", <code>{event.id}</code>],
  ];
  return (
    <Page title={eventTitle(event)} viewer={props.viewer} section="activity">
      <p>
        <a href="/ui/activity">← Activity</a>
      </p>
      {NOT_CALLS.has(event.route) ? (
        <h1>{eventTitle(event)}</h1>
      ) : (
        <h1>
          Call of <code><Visible text={event.tool} /></code> on {event.server}
        </h1>
      )}
      <div class="card">
        <table class="details">
          <tbody>
            {rows.map(([label, value]) => (
              <tr>
                <th scope="row">{label}</th>
                <td>{value as string}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="note">The audit trail records who called which tool, how it ended and how long it took; never the arguments or the result.</p>
    </Page>
  );
}
