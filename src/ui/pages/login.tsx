/** The sign-in page: a gateway key (the master key, or a virtual key). */
import { Alert, Page } from "../layout.js";

export function LoginPage(props: { csrf: string; error?: string; next?: string; loggedOut?: boolean }) {
  return (
    <Page title="Sign in">
      <div class="login card">
        <h1>Sign in to Gatehouse</h1>
        {props.loggedOut === true ? <Alert kind="ok">You are signed out.</Alert> : null}
        <form method="post" action="/ui/login">
          <input type="hidden" name="csrf" value={props.csrf} />
          {props.next === undefined ? null : <input type="hidden" name="next" value={props.next} />}
          <div class="field">
            <label for="key">Gateway key</label>
            <input
              id="key"
              name="key"
              type="password"
              autocomplete="current-password"
              required
              aria-describedby={props.error === undefined ? "key-hint" : "key-hint key-error"}
              {...(props.error === undefined ? {} : { "aria-invalid": "true" })}
            />
            <span class="hint" id="key-hint">
              The master key, or a virtual key from <code>/key/generate</code>.
            </span>
            {props.error === undefined ? null : (
              <span class="field-error" id="key-error" role="alert">
                {props.error}
              </span>
            )}
          </div>
          <button type="submit">Sign in</button>
        </form>
      </div>
    </Page>
  );
}
