/** Keys: create (the key is shown once), list, delete, limit to servers. */
import type { ListedKey } from "../../auth/inbound/key-admin.js";
import { Alert, Page, type Viewer } from "../layout.js";
import { Field } from "./servers.js";

export interface KeysPageProps {
  viewer: Viewer;
  keys: ListedKey[];
  /** Server id → name, for the permission column and the checkboxes. */
  servers: { id: string; name: string }[];
  created?: { key: string; alias: string | null };
  notice?: string;
  values?: Record<string, string>;
  checked?: string[];
  errors?: Record<string, string>;
  general?: string[];
}

export function KeysPage(props: KeysPageProps) {
  const names = new Map(props.servers.map((server) => [server.id, server.name]));
  const errors = props.errors ?? {};
  const values = props.values ?? {};
  const input = (name: string, label: string, hint?: string) => (
    <Field name={name} label={label} error={errors[name]} hint={hint}>
      {(describedBy: string | undefined) => (
        <input id={`f-${name}`} name={name} value={values[name] ?? ""} aria-describedby={describedBy} aria-invalid={errors[name] === undefined ? undefined : "true"} />
      )}
    </Field>
  );
  return (
    <Page title="Keys" viewer={props.viewer} section="keys">
      <h1>Keys</h1>
      {props.created === undefined ? null : (
        <Alert kind="ok">
          <p>
            Key {props.created.alias === null ? "" : <strong>{props.created.alias} </strong>}created. Copy it now: it is shown only once.
          </p>
          <p>
            <code class="secret-once">{props.created.key}</code>
          </p>
        </Alert>
      )}
      {props.notice === undefined ? null : <Alert kind="ok">{props.notice}</Alert>}
      {(props.general ?? []).map((message) => (
        <Alert kind="error">{message}</Alert>
      ))}
      <form method="post" action="/ui/keys" class="card">
        <h2>Create a key</h2>
        <input type="hidden" name="csrf" value={props.viewer.csrf} />
        <div class="grid">
          {input("key_alias", "Key alias")}
          {input("user_id", "User ID", "Per-user OAuth tokens are stored under it.")}
          {input("duration", "Expires after", "e.g. 30d, 12h; empty: never.")}
        </div>
        <fieldset>
          <legend>MCP servers this key may use</legend>
          <p class="hint muted">None checked: every server.</p>
          {props.servers.map((server) => (
            <div class="field check">
              <input type="checkbox" id={`srv-${server.id}`} name="mcp_servers" value={server.id} checked={(props.checked ?? []).includes(server.id)} />
              <label for={`srv-${server.id}`}>{server.name}</label>
            </div>
          ))}
          {errors.mcp_servers === undefined ? null : (
            <span class="field-error" role="alert">
              {errors.mcp_servers}
            </span>
          )}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
      <h2>Existing keys</h2>
      {props.keys.length === 0 ? (
        <p class="card">No virtual keys yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Alias</th>
                <th scope="col">Key</th>
                <th scope="col" class="optional">User</th>
                <th scope="col">MCP servers</th>
                <th scope="col" class="optional">Expires</th>
                <th scope="col">
                  <span class="muted">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.keys.map((key) => (
                <tr>
                  <td>{key.key_alias ?? <span class="muted">—</span>}</td>
                  <td>
                    <code>{key.key_name}</code>
                  </td>
                  <td class="optional">{key.user_id ?? <span class="muted">—</span>}</td>
                  <td>{serversOf(key, names)}</td>
                  <td class="optional">{key.expires ?? "never"}</td>
                  <td>
                    <form method="post" action="/ui/keys/delete" class="inline">
                      <input type="hidden" name="csrf" value={props.viewer.csrf} />
                      <input type="hidden" name="token" value={key.token} />
                      <button type="submit" class="danger" data-confirm={`Delete key ${key.key_alias ?? key.key_name}? Clients using it stop working at once.`} aria-label={`Delete key ${key.key_alias ?? key.key_name}`}>
                        Delete
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}

/** The servers a key may use, as the table shows them: access groups named, never shown as "all". */
function serversOf(key: ListedKey, names: ReadonlyMap<string, string>): string {
  const servers = key.object_permission?.mcp_servers;
  const groups = key.object_permission?.mcp_access_groups ?? [];
  const listed = servers?.map((id) => names.get(id) ?? id) ?? [];
  if (servers === undefined && groups.length === 0) return "all";
  const parts = [...listed, ...groups.map((group) => `group ${group}`)];
  return parts.join(", ") || "none";
}
