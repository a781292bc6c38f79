/**
 * My connections: the signed-in user's upstream OAuth connections (server, scopes, expiry,
 * last refresh; never a token), with Connect, Reconnect and Disconnect each; for the master
 * key also how many users connected each server.
 */
import { Alert, Page, PostButton, type Viewer } from "../layout.js";

/** What Reconnect does first (its tooltip). */
export const REVOKES_FIRST = "Revokes the current grant, then signs in again";

export interface ConnectionsRow {
  serverId: string;
  serverName: string;
  available: boolean;
  connection?: { scope?: string; expiresAt?: number; hasRefreshToken: boolean; connectedAt?: number; refreshedAt?: number };
}

export interface ConnectionsPageProps {
  viewer: Viewer;
  rows: ConnectionsRow[];
  callbackUrl: string;
  /** The master key's overview: users per server. */
  counts?: { serverId: string; serverName: string; users: number }[];
  notice?: { kind: "ok" | "warn" | "error"; text: string };
}

/** `2026-12-07 22:43 UTC`: minutes are enough here, and the same in every browser. */
export function utcTime(ms: number): string {
  return `${new Date(ms).toISOString().replace("T", " ").slice(0, 16)} UTC`;
}

function Expiry(props: { expiresAt: number | undefined; refreshable: boolean }) {
  if (props.expiresAt === undefined) return <span class="muted">not stated</span>;
  return (
    <span>
      {utcTime(props.expiresAt)}
      {props.refreshable ? <span class="muted"> (refreshed automatically)</span> : null}
    </span>
  );
}

function Actions(props: { row: ConnectionsRow; callbackUrl: string; csrf: string }) {
  const { row } = props;
  return (
    <div class="toolbar start">
      {row.available && row.connection === undefined ? (
        <form method="get" action={`/v1/mcp/server/oauth/${encodeURIComponent(row.serverId)}/authorize`} class="inline">
          <input type="hidden" name="redirect_uri" value={props.callbackUrl} />
          <input type="hidden" name="state" value="connections" />
          <button type="submit" aria-label={`Connect ${row.serverName}`}>
            Connect
          </button>
        </form>
      ) : null}
      {row.available && row.connection !== undefined ? (
        <PostButton action={`/ui/connections/${encodeURIComponent(row.serverId)}/reconnect`} csrf={props.csrf} label="Reconnect" ariaLabel={`Reconnect ${row.serverName}`} title={REVOKES_FIRST} />
      ) : null}
      {row.connection === undefined ? null : (
        <PostButton action={`/ui/connections/${encodeURIComponent(row.serverId)}/disconnect`} csrf={props.csrf} label="Disconnect" danger ariaLabel={`Disconnect ${row.serverName}`} />
      )}
    </div>
  );
}

export function ConnectionsPage(props: ConnectionsPageProps) {
  return (
    <Page title="My connections" viewer={props.viewer} section="connections">
      <h1>My connections</h1>
      <p class="muted">
        The accounts you connected at MCP servers that sign in with OAuth: the gateway calls them for you with these tokens. Disconnect deletes the tokens here and
        revokes them at the server's authorization server when it offers revocation.
      </p>
      {props.notice === undefined ? null : <Alert kind={props.notice.kind}>{props.notice.text}</Alert>}
      {props.rows.length === 0 ? (
        <p class="card">No MCP server you may use signs in with OAuth, and you hold no connections.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">Status</th>
                <th scope="col">Scopes</th>
                <th scope="col">Access token expires</th>
                <th scope="col">Connected</th>
                <th scope="col">Last refresh</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((row) => (
                <tr>
                  <th scope="row">{row.available ? <a href={`/ui/mcp/servers/${encodeURIComponent(row.serverId)}`}>{row.serverName}</a> : row.serverName}</th>
                  <td data-label="Status">
                    {row.connection === undefined ? <span class="badge warn">Not connected</span> : <span class="badge ok">Connected</span>}
                    {row.available ? null : <span class="muted"> (no longer available to you)</span>}
                  </td>
                  <td data-label="Scopes">{row.connection?.scope === undefined || row.connection.scope === "" ? <span class="muted">—</span> : row.connection.scope.split(" ").map((scope) => <code class="scope">{scope}</code>)}</td>
                  <td data-label="Access token expires">{row.connection === undefined ? <span class="muted">—</span> : <Expiry expiresAt={row.connection.expiresAt} refreshable={row.connection.hasRefreshToken} />}</td>
                  <td data-label="Connected">{row.connection?.connectedAt === undefined ? <span class="muted">—</span> : utcTime(row.connection.connectedAt)}</td>
                  <td data-label="Last refresh">{row.connection === undefined ? <span class="muted">—</span> : row.connection.refreshedAt === undefined ? <span class="muted">not yet</span> : utcTime(row.connection.refreshedAt)}</td>
                  <td>
                    <Actions row={row} callbackUrl={props.callbackUrl} csrf={props.viewer.csrf} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.counts === undefined ? null : (
        <section aria-labelledby="counts-heading">
          <h2 id="counts-heading">Connections of all users</h2>
          <p class="muted">How many users (keys or their user IDs) hold tokens for each server. Their tokens are theirs: neither shown nor revocable here.</p>
          {props.counts.length === 0 ? (
            <p class="card">Nobody has connected yet.</p>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Server</th>
                    <th scope="col">Users connected</th>
                  </tr>
                </thead>
                <tbody>
                  {props.counts.map((row) => (
                    <tr>
                      <th scope="row">{row.serverName}</th>
                      <td>{row.users}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}
    </Page>
  );
}
