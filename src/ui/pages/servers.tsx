/** MCP Servers: the list, and the add / edit form. */
import type { Child } from "hono/jsx";
import type { ActivityTotals } from "../../observability/activity.js";
import { Alert, Page, type Viewer } from "../layout.js";
import { Glance } from "./activity.js";

export type Health = { state: "ok"; tools: number } | { state: "not-connected" } | { state: "error"; message: string };

export interface ServerRow {
  id: string;
  name: string;
  url: string;
  transport: string;
  authType: string;
  source: "config" | "database";
  /** `mcp_info.description` (the server's `description` when it has none). */
  description?: string;
  accessGroups: readonly string[];
  health: Health;
  warnings: readonly string[];
  /** Admins: the last hour's calls, error rate and latency (null: no calls). */
  recent?: ActivityTotals | null;
}

const AUTH_LABELS: Record<string, string> = {
  none: "None",
  api_key: "API key",
  bearer_token: "Bearer token",
  basic: "Basic",
  authorization: "Authorization header",
  token: "Token",
  oauth2: "OAuth",
  oauth2_token_exchange: "OAuth token exchange (on-behalf-of)",
};

export const authLabel = (type: string) => AUTH_LABELS[type] ?? type;

export function HealthBadge(props: { health: Health }) {
  const health = props.health;
  if (health.state === "ok") return <span class="badge ok">{`✓ ${health.tools} tool${health.tools === 1 ? "" : "s"}`}</span>;
  if (health.state === "not-connected") return <span class="badge warn">not connected</span>;
  return (
    <span class="badge bad" title={health.message}>
      ✗ {health.message}
    </span>
  );
}

export function ServersPage(props: { viewer: Viewer; rows: ServerRow[]; problems: readonly { name: string; problem: string }[]; notice?: string; toolChanges?: number }) {
  return (
    <Page title="MCP Servers" viewer={props.viewer} section="servers">
      <div class="toolbar">
        <h1>MCP Servers</h1>
        {props.viewer.isAdmin ? (
          <a class="button" href="/ui/mcp/servers/new">
            + Add New MCP Server
          </a>
        ) : null}
      </div>
      {props.notice === undefined ? null : <Alert kind="ok">{props.notice}</Alert>}
      {props.toolChanges === undefined || props.toolChanges === 0 ? null : (
        <Alert kind="warn">
          {props.toolChanges === 1 ? "One tool changed its definition" : `${props.toolChanges} tools changed their definition`} since it was pinned: <a href="/ui/tool-changes">review the changes</a>.
        </Alert>
      )}
      {props.problems.map((problem) => (
        <Alert kind="warn">
          Database server <strong>{problem.name}</strong> cannot be loaded: {problem.problem}
        </Alert>
      ))}
      {props.rows.length === 0 ? (
        <p class="card">No MCP servers yet{props.viewer.isAdmin ? ": add one with “+ Add New MCP Server”." : " that this key may use."}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Health</th>
                {props.viewer.isAdmin ? <th scope="col">Last hour</th> : null}
                <th scope="col" class="optional">URL</th>
                <th scope="col" class="optional">Transport</th>
                <th scope="col">Authentication</th>
                <th scope="col" class="optional">Source</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((row) => (
                <tr>
                  <td>
                    <a href={`/ui/mcp/servers/${encodeURIComponent(row.id)}`}>{row.name}</a>
                    {row.warnings.length > 0 ? (
                      <span class="badge warn" title={row.warnings.join("\n")}>
                        {" "}
                        warning
                      </span>
                    ) : null}
                    {row.accessGroups.map((group) => (
                      <span class="badge" title="access group">
                        {" "}
                        {group}
                      </span>
                    ))}
                    {row.description === undefined ? null : <span class="desc">{row.description}</span>}
                  </td>
                  <td>
                    <HealthBadge health={row.health} />
                  </td>
                  {row.recent === undefined ? null : (
                    <td class="recent">
                      <a href={`/ui/activity?server=${encodeURIComponent(row.name)}`} title={`${row.name}'s activity`}>
                        <Glance totals={row.recent ?? undefined} />
                      </a>
                    </td>
                  )}
                  <td class="optional">
                    <code>{row.url}</code>
                  </td>
                  <td class="optional">{row.transport === "sse" ? "SSE" : row.transport === "stdio" ? "stdio" : "HTTP"}</td>
                  <td>{authLabel(row.authType)}</td>
                  <td class="optional">{row.source === "config" ? "config file" : "database"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}

/** The form's values (strings as typed) and where they are wrong. */
export interface ServerFormState {
  values: Record<string, string>;
  errors: Record<string, string>;
  /** Errors that belong to no field. */
  general: string[];
}

export function ServerFormPage(props: { viewer: Viewer; mode: "create" | "edit"; id?: string; state: ServerFormState; warnings?: readonly string[] }) {
  const { values, errors } = props.state;
  const title = props.mode === "create" ? "Add MCP Server" : `Edit MCP Server ${values.server_name ?? ""}`;
  const action = props.mode === "create" ? "/ui/mcp/servers" : `/ui/mcp/servers/${encodeURIComponent(props.id ?? "")}`;
  const field = (name: string, label: string, options: { type?: string; hint?: string; required?: boolean; placeholder?: string; secret?: boolean } = {}) => (
    <Field name={name} label={label} error={errors[name]} hint={options.hint} required={options.required}>
      {(describedBy: string | undefined) => (
        <input
          id={`f-${name}`}
          name={name}
          type={options.secret === true ? "password" : (options.type ?? "text")}
          value={options.secret === true ? "" : (values[name] ?? "")}
          placeholder={options.placeholder}
          required={options.required}
          autocomplete={options.secret === true ? "new-password" : "off"}
          aria-describedby={describedBy}
          aria-invalid={errors[name] === undefined ? undefined : "true"}
        />
      )}
    </Field>
  );
  const select = (name: string, label: string, choices: [string, string][], hint?: string) => (
    <Field name={name} label={label} error={errors[name]} hint={hint}>
      {(describedBy: string | undefined) => (
        <select id={`f-${name}`} name={name} aria-describedby={describedBy} aria-invalid={errors[name] === undefined ? undefined : "true"}>
          {choices.map(([value, text]) => (
            <option value={value} selected={(values[name] ?? "") === value}>
              {text}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
  const keep = props.mode === "edit" ? "Leave empty to keep the current value." : undefined;
  return (
    <Page title={title} viewer={props.viewer} section="servers">
      <p>
        <a href={props.mode === "edit" ? `/ui/mcp/servers/${encodeURIComponent(props.id ?? "")}` : "/ui/mcp/servers"}>← Back</a>
      </p>
      <h1>{title}</h1>
      {props.state.general.map((message) => (
        <Alert kind="error">{message}</Alert>
      ))}
      {(props.warnings ?? []).map((warning) => (
        <Alert kind="warn">{warning}</Alert>
      ))}
      <form method="post" action={action} class="card" data-server-form novalidate>
        <input type="hidden" name="csrf" value={props.viewer.csrf} />
        <div class="grid">
          {field("server_name", "Name", { required: true, hint: "Letters, digits, _ and -: used in /{name}/mcp and tool prefixes." })}
          {field("url", "URL", { type: "url", required: true, placeholder: "https://mcp.example.com/mcp" })}
          {field("spec_path", "OpenAPI spec URL", { type: "url", hint: "A REST API instead of an MCP server: its OpenAPI document's URL; URL above is then the API's base URL." })}
          {select("transport", "Transport", [
            ["http", "HTTP (streamable)"],
            ["sse", "SSE (legacy)"],
          ])}
          {select(
            "auth_type",
            "Authentication",
            Object.entries(AUTH_LABELS).map(([value, text]) => [value, text]),
          )}
          {field("description", "Description")}
          {field("timeout", "Timeout (seconds)", { type: "number", placeholder: "60" })}
        </div>
        <Section showFor="api_key bearer_token basic authorization token" legend="Static credential">
          {field("auth_value", "Credential", { secret: true, hint: `Basic: user:password. ${keep ?? ""}`.trim() })}
        </Section>
        <Section showFor="oauth2 oauth2_token_exchange" legend="OAuth">
          <div class="grid">
            {select(
              "oauth2_flow",
              "OAuth flow",
              [
                ["", "Inferred from the fields"],
                ["client_credentials", "Machine-to-Machine (client credentials)"],
                ["authorization_code", "Interactive (authorization code, per user)"],
              ],
              "Used with OAuth; token exchange ignores it.",
            )}
            {field("client_id", "Client ID")}
            {field("client_secret", "Client Secret", { secret: true, ...(keep === undefined ? {} : { hint: keep }) })}
            {field("token_url", "Token URL", { type: "url" })}
            {field("authorization_url", "Authorization URL", { type: "url", hint: "Interactive flow; empty: discovered from the upstream." })}
            {field("registration_url", "Registration URL", { type: "url" })}
            {field("revocation_url", "Revocation URL", { type: "url", hint: "RFC 7009; empty: from the metadata. Disconnect revokes there." })}
            {select(
              "registration",
              "Gateway's client at the authorization server",
              [
                ["", "Automatic (the Client ID when set, else the metadata document, else dynamic registration)"],
                ["cimd", "Client ID Metadata Document only (needs an https public origin)"],
                ["dcr", "Dynamic registration only"],
                ["pre-registered", "Pre-registered (the Client ID above)"],
              ],
              "Interactive flow.",
            )}
            {field("issuer", "Issuer", { type: "url", hint: "Interactive flow: the authorization server whose metadata gives the endpoints. A Client Secret needs this or the Token URL." })}
            {field("scopes", "Scopes", { hint: "Separated by spaces or commas." })}
            {field("resource", "Resource", { hint: "RFC 8707 resource indicator (optional)." })}
            {field("token_exchange_endpoint", "Token Exchange Endpoint", { type: "url", hint: "Token exchange only; else the Token URL." })}
            {field("audience", "Audience")}
          </div>
          <CheckField name="delegate_auth_to_upstream" label="Delegate auth to the upstream (clients use the upstream's own OAuth; no gateway key)" checked={values.delegate_auth_to_upstream === "true"} />
        </Section>
        <fieldset>
          <legend>Access</legend>
          <input type="hidden" name="available_on_public_internet_present" value="1" />
          <CheckField name="available_on_public_internet" label="Available on the public internet (unchecked: only callers inside mcp_internal_ip_ranges)" checked={values.available_on_public_internet !== "false"} />
          <div class="grid">
            {field("allowed_tools", "Allowed tools", { hint: "Only these (separated by spaces or commas); empty: all." })}
            {field("disallowed_tools", "Disallowed tools")}
            {select(
              "tool_changes",
              "When a tool's definition changes",
              [
                ["", "Warn: serve it, flag it for review (default)"],
                ["block", "Block: hide it and refuse its calls until an admin approves"],
                ["allow", "Allow: serve it and pin the new definition"],
              ],
              "Tool pinning: the gateway pins each tool's definition when it first sees it.",
            )}
          </div>
          <Field name="static_headers" label="Static headers" error={errors.static_headers} hint={`One “Name: value” per line, sent upstream on every request. ${keep ?? ""}`.trim()}>
            {(describedBy: string | undefined) => (
              <textarea id="f-static_headers" name="static_headers" aria-describedby={describedBy} aria-invalid={errors.static_headers === undefined ? undefined : "true"}></textarea>
            )}
          </Field>
        </fieldset>
        <button type="submit">{props.mode === "create" ? "Create MCP Server" : "Save changes"}</button>
      </form>
    </Page>
  );
}

function Section(props: { showFor: string; legend: string; children?: Child }) {
  return (
    <fieldset data-show-for={props.showFor}>
      <legend>{props.legend}</legend>
      {props.children}
    </fieldset>
  );
}

function CheckField(props: { name: string; label: string; checked: boolean }) {
  return (
    <div class="field check">
      <input type="checkbox" id={`f-${props.name}`} name={props.name} value="true" checked={props.checked} />
      <label for={`f-${props.name}`}>{props.label}</label>
    </div>
  );
}

/** A labelled field with its hint and its error (announced, and linked to the control). */
export function Field(props: { name: string; label: string; error: string | undefined; hint?: string | undefined; required?: boolean | undefined; children: (describedBy: string | undefined) => Child }) {
  const ids = [props.hint === undefined ? undefined : `f-${props.name}-hint`, props.error === undefined ? undefined : `f-${props.name}-error`].filter((id) => id !== undefined);
  return (
    <div class="field">
      {/* The mark is outside the label: the accessible name is exactly the label's text. */}
      <div class="label-row">
        <label for={`f-${props.name}`}>{props.label}</label>
        {props.required === true ? (
          <span class="required" aria-hidden="true">
            *
          </span>
        ) : null}
      </div>
      {props.children(ids.length === 0 ? undefined : ids.join(" "))}
      {props.hint === undefined ? null : (
        <span class="hint" id={`f-${props.name}-hint`}>
          {props.hint}
        </span>
      )}
      {props.error === undefined ? null : (
        <span class="field-error" id={`f-${props.name}-error`} role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}
