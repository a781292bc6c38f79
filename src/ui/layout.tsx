/**
 * The frame of every UI page: head, top navigation, main. The stylesheet and the script
 * are inline, each allowed by its hash in the UI's CSP (`UI_CONTENT_SECURITY_POLICY`).
 */
import type { Child } from "hono/jsx";
import { APP_CSS, APP_JS } from "./assets.js";

export interface Viewer {
  /** What the top bar says about who is signed in: `master key` or the key's alias. */
  label: string;
  isAdmin: boolean;
  csrf: string;
}

export type Section = "servers" | "connections" | "keys" | "activity" | "tool-changes" | "none";

/** `styles`: more inline stylesheets for this page (each allowed by hash in the page's CSP). */
export function Page(props: { title: string; viewer?: Viewer; section?: Section; styles?: readonly string[]; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Gatehouse`}</title>
        <style dangerouslySetInnerHTML={{ __html: APP_CSS }} />
        {(props.styles ?? []).map((css) => (
          <style dangerouslySetInnerHTML={{ __html: css }} />
        ))}
      </head>
      <body>
        {props.viewer === undefined ? null : <TopBar viewer={props.viewer} section={props.section ?? "none"} />}
        <main id="main">{props.children}</main>
        <script dangerouslySetInnerHTML={{ __html: APP_JS }} />
      </body>
    </html>
  );
}

function TopBar(props: { viewer: Viewer; section: Section }) {
  const current = (section: Section) => (props.section === section ? { "aria-current": "page" as const } : {});
  return (
    <header class="top">
      <span class="brand">Gatehouse</span>
      <nav aria-label="Main">
        <a href="/ui/mcp/servers" {...current("servers")}>
          MCP Servers
        </a>
        <a href="/ui/connections" {...current("connections")}>
          My connections
        </a>
        {props.viewer.isAdmin ? (
          <a href="/ui/keys" {...current("keys")}>
            Keys
          </a>
        ) : null}
        {props.viewer.isAdmin ? (
          <a href="/ui/activity" {...current("activity")}>
            Activity
          </a>
        ) : null}
        {props.viewer.isAdmin ? (
          <a href="/ui/tool-changes" {...current("tool-changes")}>
            Tool changes
          </a>
        ) : null}
      </nav>
      <span class="who">Signed in with {props.viewer.label}</span>
      <form method="post" action="/ui/logout" class="inline">
        <input type="hidden" name="csrf" value={props.viewer.csrf} />
        <button type="submit">Log out</button>
      </form>
    </header>
  );
}

/** A page-level message; errors are announced to screen readers. */
export function Alert(props: { kind: "error" | "warn" | "ok"; children?: Child }) {
  return (
    <div class={`alert ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

/**
 * A one-button form that POSTs to `action` with the session's CSRF token: every UI action
 * that changes something is a POST (never a link a page elsewhere could follow).
 */
export function PostButton(props: { action: string; csrf: string; label: string; danger?: boolean; ariaLabel?: string; title?: string; confirm?: string }) {
  return (
    <form method="post" action={props.action} class="inline">
      <input type="hidden" name="csrf" value={props.csrf} />
      <button
        type="submit"
        {...(props.danger === true ? { class: "danger" } : {})}
        {...(props.ariaLabel === undefined ? {} : { "aria-label": props.ariaLabel })}
        {...(props.title === undefined ? {} : { title: props.title })}
        {...(props.confirm === undefined ? {} : { "data-confirm": props.confirm })}
      >
        {props.label}
      </button>
    </form>
  );
}
