/** One MCP server: its overview (details, connection, warnings) and its MCP Tools tab. */
import type { Tool, CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Child } from "hono/jsx";
import { Alert, Page, PostButton, type Viewer } from "../layout.js";
import { REVOKES_FIRST } from "./connections.js";
import { Visible } from "../visible-text.js";
import { ToolCallForm, type FieldErrors } from "../tool-form.js";
import { ToolError, ToolResult } from "../tool-result.js";
import { authLabel } from "./servers.js";

export interface ServerSummary {
  id: string;
  name: string;
  url: string;
  transport: string;
  authType: string;
  oauthFlow?: string;
  description?: string;
  alias?: string;
  /** What its tools are prefixed with on /mcp and REST (`{alias or name}{separator}`). */
  toolPrefix: string;
  accessGroups: readonly string[];
  allowAllKeys: boolean;
  /** LiteLLM's `mcp_info`, as configured (description shown on its own row). */
  mcpInfo: Readonly<Record<string, unknown>>;
  source: "config" | "database";
  warnings: readonly string[];
}

/** The signed-in user's connection to an interactive server. */
export type Connection = { connected: false } | { connected: true; expiresAt?: number };

function ServerFrame(props: { viewer: Viewer; server: ServerSummary; tab: "overview" | "tools"; children?: Child }) {
  const base = `/ui/mcp/servers/${encodeURIComponent(props.server.id)}`;
  return (
    <Page title={props.server.name} viewer={props.viewer} section="servers">
      <p>
        <a href="/ui/mcp/servers">← MCP Servers</a>
      </p>
      <h1>{props.server.name}</h1>
      {props.server.warnings.map((warning) => (
        <Alert kind="warn">{warning}</Alert>
      ))}
      <nav class="tabs" aria-label="Server">
        <a href={base} {...(props.tab === "overview" ? { "aria-current": "page" } : {})}>
          Overview
        </a>
        <a href={`${base}/tools`} {...(props.tab === "tools" ? { "aria-current": "page" } : {})}>
          MCP Tools
        </a>
      </nav>
      {props.children}
    </Page>
  );
}

/** An `mcp_info` field as a row label: LiteLLM's known ones in words, others as they are. */
function infoLabel(field: string): string {
  const known: Record<string, string> = { logo_url: "Logo", mcp_server_cost_info: "Cost", is_public: "Public" };
  return known[field] ?? field;
}

export function ServerOverviewPage(props: {
  viewer: Viewer;
  server: ServerSummary;
  /** Present for interactive OAuth servers the user connects to themselves. */
  connection?: Connection;
  /** Where Connect sends the browser back (the gateway's `/ui/mcp/oauth/callback`). */
  callbackUrl: string;
  notice?: string;
  /** How the notice reads: a disconnect whose revocation failed is an error. Default ok. */
  noticeKind?: "ok" | "warn" | "error";
}) {
  const server = props.server;
  const base = `/ui/mcp/servers/${encodeURIComponent(server.id)}`;
  return (
    <ServerFrame viewer={props.viewer} server={server} tab="overview">
      {props.notice === undefined ? null : <Alert kind={props.noticeKind ?? "ok"}>{props.notice}</Alert>}
      <div class="card table-wrap">
        <table class="details">
          <tbody>
            <Row label="URL">
              <code>{server.url}</code>
            </Row>
            <Row label="Transport">{server.transport === "sse" ? "SSE (legacy)" : server.transport === "stdio" ? "stdio (a process the gateway runs)" : "HTTP (streamable)"}</Row>
            <Row label="Authentication">{authLabel(server.authType)}</Row>
            {server.oauthFlow === undefined ? null : <Row label="OAuth flow">{server.oauthFlow === "client_credentials" ? "Machine-to-Machine (client credentials)" : "Interactive (authorization code)"}</Row>}
            {server.description === undefined ? null : <Row label="Description">{server.description}</Row>}
            {server.alias === undefined ? null : (
              <Row label="Alias">
                <code>{server.alias}</code>
              </Row>
            )}
            {server.accessGroups.length === 0 ? null : <Row label="Access groups">{server.accessGroups.join(", ")}</Row>}
            {server.allowAllKeys ? <Row label="Keys">every gateway key may use it (allow_all_keys)</Row> : null}
            {Object.entries(server.mcpInfo)
              .filter(([field]) => field !== "description" && field !== "server_name")
              .map(([field, value]) => (
                <Row label={infoLabel(field)}>{typeof value === "string" ? value : <code>{JSON.stringify(value)}</code>}</Row>
              ))}
            <Row label="Source">{server.source === "config" ? "config file (read-only here)" : "database"}</Row>
            <Row label="Endpoints">
              <code>/{server.name}/mcp</code>, or <code>/mcp</code> with tools named <code>{server.toolPrefix}&lt;tool&gt;</code>
            </Row>
          </tbody>
        </table>
      </div>
      {props.connection === undefined ? null : <ConnectionCard server={server} connection={props.connection} callbackUrl={props.callbackUrl} csrf={props.viewer.csrf} />}
      {props.viewer.isAdmin && server.source === "database" ? (
        <div class="toolbar">
          <a class="button secondary" href={`${base}/edit`}>
            Edit
          </a>
          <PostButton action={`${base}/delete`} csrf={props.viewer.csrf} label="Delete" danger confirm={`Delete MCP server ${server.name}? Keys that grant it lose it.`} />
        </div>
      ) : null}
    </ServerFrame>
  );
}

function Row(props: { label: string; children?: Child }) {
  return (
    <tr>
      <th scope="row">{props.label}</th>
      <td>{props.children}</td>
    </tr>
  );
}

function ConnectionCard(props: { server: ServerSummary; connection: Connection; callbackUrl: string; csrf: string }) {
  const connection = props.connection;
  return (
    <section class="card" aria-labelledby="connection-heading">
      <h2 id="connection-heading">Your connection</h2>
      {connection.connected ? (
        <p>
          <span class="badge ok">Connected</span>{" "}
          {connection.expiresAt === undefined ? "The access token does not say when it expires." : `The access token expires at ${new Date(connection.expiresAt).toISOString().replace("T", " ").slice(0, 19)} UTC (refreshed automatically when a refresh token was issued).`}
        </p>
      ) : (
        <p>
          <span class="badge warn">Not connected</span> Connect to authorize this gateway to call {props.server.name} for you.
        </p>
      )}
      <div class="toolbar start">
        {connection.connected ? (
          <PostButton action={`/ui/mcp/servers/${encodeURIComponent(props.server.id)}/reconnect`} csrf={props.csrf} label="Reconnect" title={REVOKES_FIRST} />
        ) : (
          <form method="get" action={`/v1/mcp/server/oauth/${encodeURIComponent(props.server.id)}/authorize`} class="inline">
            <input type="hidden" name="redirect_uri" value={props.callbackUrl} />
            <button type="submit">Connect</button>
          </form>
        )}
        {connection.connected ? <PostButton action={`/ui/mcp/servers/${encodeURIComponent(props.server.id)}/disconnect`} csrf={props.csrf} label="Disconnect" danger /> : null}
      </div>
    </section>
  );
}

export type ToolsState =
  | { kind: "tools"; tools: Tool[] }
  | { kind: "error"; title: string; message: string; hint?: string };

export function ServerToolsPage(props: {
  viewer: Viewer;
  server: ServerSummary;
  state: ToolsState;
  selected?: Tool;
  values?: URLSearchParams;
  errors?: FieldErrors;
  result?: CallToolResult;
  callError?: { title: string; message: string; hint?: string };
}) {
  const base = `/ui/mcp/servers/${encodeURIComponent(props.server.id)}/tools`;
  const state = props.state;
  return (
    <ServerFrame viewer={props.viewer} server={props.server} tab="tools">
      {state.kind === "error" ? (
        <ToolError title={state.title} message={state.message} {...(state.hint === undefined ? {} : { hint: state.hint })} />
      ) : state.tools.length === 0 ? (
        <p class="card">This server offers no tools (or none this key may use).</p>
      ) : (
        <div class="tools">
          <nav aria-label="Tools" class="card">
            <ul>
              {state.tools.map((tool) => (
                <li>
                  <a href={`${base}?tool=${encodeURIComponent(tool.name)}`} {...(props.selected?.name === tool.name ? { "aria-current": "true" } : {})}>
                    <Visible text={tool.name} />
                    {tool.description === undefined ? null : (
                      <span class="desc">
                        <Visible text={tool.description} multiline />
                      </span>
                    )}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <section class="card" aria-live="polite">
            {props.selected === undefined ? (
              <p class="muted">Pick a tool to call it.</p>
            ) : (
              <>
                <h2>
                  <Visible text={props.selected.name} />
                </h2>
                <ToolCallForm
                  tool={props.selected}
                  action={`${base}/call`}
                  csrf={props.viewer.csrf}
                  {...(props.values === undefined ? {} : { values: props.values })}
                  {...(props.errors === undefined ? {} : { errors: props.errors })}
                />
                {props.callError === undefined ? null : <ToolError {...props.callError} />}
                {props.result === undefined ? null : <ToolResult result={props.result} />}
              </>
            )}
          </section>
        </div>
      )}
    </ServerFrame>
  );
}
