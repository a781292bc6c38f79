/**
 * Tool changes (admin): the tool definitions MCP servers changed since they were pinned
 * (README, "Tool pinning"), each with a line diff of the old and new definition and
 * Approve / Reject forms that name the hash shown, and the recent decisions.
 */
import { Alert, Page, type Viewer } from "../layout.js";
import { hunks, lineDiff, type DiffLine, type SkippedLines } from "../line-diff.js";
import { hasHiddenCharacters, Visible, visibleText } from "../visible-text.js";

export interface ShownChange {
  serverId: string;
  serverName: string;
  tool: string;
  policy: string;
  status: "pending" | "rejected";
  pinnedHash: string;
  pinnedDefinition: unknown;
  changedHash: string;
  changedDefinition: unknown;
  seenAt: number;
}

export interface ShownDecision {
  at: number;
  actor: string;
  serverName: string;
  tool: string;
  decision: string;
}

/**
 * What one page shows: upstreams choose how many tools change and how long a definition
 * is, and the page is rendered on the event loop. Past these, the page says what it left
 * out (the API, GET /v1/mcp/tool-changes, has everything).
 */
const MAX_SHOWN_CHANGES = 20;
const MAX_DIFF_ROWS = 400;
const MAX_DIFF_CHARS = 200_000;

const WHAT_POLICY_DOES: Record<string, string> = {
  block: "hidden from lists, calls refused until approved",
  warn: "still served, flagged here",
  allow: "pinned again on the next list",
};

export function ToolChangesPage(props: { viewer: Viewer; changes: ShownChange[]; decisions: ShownDecision[]; notice?: string }) {
  return (
    <Page title="Tool changes" viewer={props.viewer} section="tool-changes">
      <h1>Tool changes</h1>
      <p class="muted">
        MCP servers whose tools changed their definition (description, schemas, annotations) since the gateway first saw them. Approve pins the new definition; Reject keeps the old pin, and the tool stays
        blocked or flagged.
      </p>
      {props.notice === undefined ? null : <Alert kind="ok">{props.notice}</Alert>}
      {props.changes.length === 0 ? <p class="card">No changed tool definitions.</p> : props.changes.slice(0, MAX_SHOWN_CHANGES).map((change) => <ChangeCard change={change} csrf={props.viewer.csrf} />)}
      {props.changes.length > MAX_SHOWN_CHANGES ? (
        <Alert kind="warn">{`${props.changes.length - MAX_SHOWN_CHANGES} more changed tool definitions are not shown here: decide these first, or list them all with GET /v1/mcp/tool-changes.`}</Alert>
      ) : null}
      <h2>Recent decisions</h2>
      {props.decisions.length === 0 ? (
        <p class="card">None yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Server</th>
                <th scope="col">Tool</th>
                <th scope="col">Decision</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {props.decisions.map((decision) => (
                <tr>
                  <td>{new Date(decision.at).toISOString().replace("T", " ").slice(0, 19)} UTC</td>
                  <td>{decision.serverName}</td>
                  <td>
                    <code>
                      <Visible text={decision.tool} />
                    </code>
                  </td>
                  <td>{decision.decision}</td>
                  <td>{decision.actor}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}

/** The rows of a diff that fit the page's bounds, and how many changed lines did not. */
function shownRows(lines: readonly DiffLine[]): { rows: Array<DiffLine | SkippedLines>; changedNotShown: number } {
  const rows: Array<DiffLine | SkippedLines> = [];
  let chars = 0;
  let changedNotShown = 0;
  for (const row of hunks(lines)) {
    if (rows.length < MAX_DIFF_ROWS && chars < MAX_DIFF_CHARS) {
      rows.push(row);
      if (row.kind !== "skipped") chars += row.text.length;
    } else if (row.kind === "added" || row.kind === "removed") changedNotShown++;
  }
  return { rows, changedNotShown };
}

function ChangeCard(props: { change: ShownChange; csrf: string }) {
  const { change } = props;
  const before = JSON.stringify(change.pinnedDefinition, null, 2);
  const after = JSON.stringify(change.changedDefinition, null, 2);
  const { rows, changedNotShown } = shownRows(lineDiff(before, after));
  const decide = (decision: "approve" | "reject", label: string, style: string) => (
    <form method="post" action="/ui/tool-changes" class="inline">
      <input type="hidden" name="csrf" value={props.csrf} />
      <input type="hidden" name="server" value={change.serverId} />
      <input type="hidden" name="tool" value={change.tool} />
      <input type="hidden" name="hash" value={change.changedHash} />
      <input type="hidden" name="decision" value={decision} />
      <button type="submit" class={style}>
        {label}
      </button>
    </form>
  );
  return (
    <section class="card tool-change" aria-label={`${change.serverName}: ${visibleText(change.tool)}`}>
      <div class="toolbar">
        <h2>
          {change.serverName} · <code><Visible text={change.tool} /></code>
        </h2>
        <span>
          <span class={`badge ${change.policy === "block" ? "bad" : "warn"}`}>tool_changes: {change.policy}</span> <span class="badge">{change.status}</span>
        </span>
      </div>
      <p class="muted">
        Seen {new Date(change.seenAt).toISOString().replace("T", " ").slice(0, 19)} UTC; {WHAT_POLICY_DOES[change.policy] ?? ""}. Pinned <code>{change.pinnedHash.slice(0, 12)}</code> → new{" "}
        <code>{change.changedHash.slice(0, 12)}</code>
      </p>
      {hasHiddenCharacters(before) || hasHiddenCharacters(after) || hasHiddenCharacters(change.tool) ? (
        <Alert kind="warn">This definition holds characters that do not show (invisible, or changing the text's direction), which a model still reads: they are highlighted below as \u escapes.</Alert>
      ) : null}
      {changedNotShown > 0 ? (
        <Alert kind="warn">{`This change is too long to show in full: ${changedNotShown} changed lines are not shown. Read the whole definition with GET /v1/mcp/tool-changes/${encodeURIComponent(change.serverId)}/${encodeURIComponent(change.tool)} before you approve it.`}</Alert>
      ) : null}
      <div class="table-wrap">
        <table class="diff" aria-label="Old and new definition, line by line">
          <thead>
            <tr>
              <th scope="col">Old</th>
              <th scope="col">New</th>
              <th scope="col">Definition</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((line) =>
              line.kind === "skipped" ? (
                <tr class="skipped">
                  <td class="ln" />
                  <td class="ln" />
                  <td class="muted">{`⋯ ${line.count} unchanged line${line.count === 1 ? "" : "s"}`}</td>
                </tr>
              ) : (
                <tr class={line.kind}>
                  <td class="ln">{line.oldLine ?? ""}</td>
                  <td class="ln">{line.newLine ?? ""}</td>
                  <td>
                    <span class="sign" aria-label={line.kind === "same" ? undefined : line.kind}>
                      {line.kind === "added" ? "+" : line.kind === "removed" ? "−" : " "}
                    </span>
                    <code>
                      <Visible text={line.text} />
                    </code>
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
      <div class="toolbar start decide">
        {decide("approve", "Approve new definition", "")}
        {change.status === "rejected" ? <span class="muted">Rejected: the old definition stays pinned.</span> : decide("reject", "Reject (keep old pin)", "danger")}
      </div>
    </section>
  );
}
