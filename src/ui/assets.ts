/**
 * The UI's stylesheet and its one small script, inline in every page (no build step).
 * The UI's CSP allows exactly these two by their SHA-256 hashes, not the gateway's origin:
 * the same origin serves `/{server}/mcp`, whose answers come from upstreams (issue 15
 * item 1), so `'self'` would trust whatever an upstream managed to have served there.
 * Every page works without the script: it only hides the form sections that do not apply.
 * Script and stylesheet must stay free of `</script>` and `</style>` (they are inlined raw).
 */
import { createHash } from "node:crypto";

export const APP_CSS = `
:root { --fg: #1c1e21; --muted: #5f6368; --line: #d9dce1; --bg: #f6f7f9; --card: #fff; --accent: #2457c5; --danger: #b3261e; --ok: #1e7b34; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #15233f; color: #fff; }
header.top .brand { font-weight: 700; margin-right: 1rem; }
header.top nav { display: flex; gap: 1rem; flex: 1; flex-wrap: wrap; }
header.top nav a { color: #dfe6f5; text-decoration: none; padding: .2rem 0; }
header.top nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #fff; }
header.top form { margin: 0; }
header.top .who { color: #b8c3db; font-size: .9em; }
main { max-width: 1100px; margin: 1.2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.2rem 0 .6rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; margin-bottom: 1rem; }
.toolbar { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; justify-content: space-between; margin-bottom: 1rem; }
.toolbar.start { justify-content: flex-start; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .5rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85em; color: var(--muted); font-weight: 600; }
td code { overflow-wrap: anywhere; }
table.details th { width: 28%; }
td form.inline button { padding: .2rem .7rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: #f0f2f5; padding: .6rem .8rem; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
.button, button { display: inline-block; font: inherit; padding: .45rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; }
.button.secondary, button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--danger); border-color: var(--danger); }
header.top button { background: transparent; border-color: #8ea0c6; }
form.inline { display: inline; }
.field { display: flex; flex-direction: column; gap: .25rem; margin-bottom: .8rem; }
.field label { font-weight: 600; }
.field .hint { color: var(--muted); font-size: .85em; }
.field input, .field select { min-height: 2.4rem; }
.field input, .field select, .field textarea { font: inherit; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; max-width: 100%; }
.field textarea { min-height: 4.5rem; }
.field input[aria-invalid="true"], .field select[aria-invalid="true"], .field textarea[aria-invalid="true"] { border-color: var(--danger); }
.field.check { flex-direction: row; align-items: center; gap: .5rem; margin-bottom: .35rem; }
.field.check label { font-weight: normal; }
.field-error, .error { color: var(--danger); font-size: .9em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 0 1.2rem; }
fieldset { border: 1px solid var(--line); border-radius: 8px; padding: .6rem 1rem; margin: 0 0 1rem; }
legend { font-weight: 600; padding: 0 .3rem; }
.alert { border-radius: 8px; padding: .7rem 1rem; margin-bottom: 1rem; border: 1px solid; }
.alert.error { background: #fdecea; border-color: #f1b0aa; color: var(--danger); font-size: 1em; }
.alert.warn { background: #fff6e0; border-color: #f0d48a; color: var(--warn); }
.alert.ok { background: #e8f5ec; border-color: #a6d8b4; color: var(--ok); }
.badge, .rate { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8em; border: 1px solid var(--line); color: var(--muted); white-space: nowrap; }
.badge.ok, .rate.ok { color: var(--ok); border-color: #a6d8b4; }
.badge.bad, .rate.bad { color: var(--danger); border-color: #f1b0aa; }
.badge.warn, .rate.warn { color: var(--warn); border-color: #f0d48a; }
.tabs { display: flex; gap: .2rem; border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
.tabs a { padding: .45rem .9rem; text-decoration: none; border: 1px solid transparent; border-bottom: none; border-radius: 6px 6px 0 0; }
.tabs a[aria-current="page"] { background: var(--card); border-color: var(--line); color: var(--fg); font-weight: 600; margin-bottom: -1px; }
.tools { display: grid; grid-template-columns: minmax(200px, 1fr) 2fr; gap: 1rem; }
.tools ul { list-style: none; padding: 0; margin: 0; }
.tools li a { display: block; padding: .4rem .6rem; border-radius: 6px; text-decoration: none; }
.tools li a[aria-current="true"] { background: #e7edfb; font-weight: 600; }
.tools li .desc { display: block; color: var(--muted); font-size: .85em; font-weight: normal; }
td .desc { display: block; color: var(--muted); font-size: .85em; }
.tool-result { border: 1px solid var(--line); border-radius: 8px; padding: .6rem 1rem; margin-top: 1rem; background: #fff; }
.tool-result.is-error { border-color: #f1b0aa; background: #fdecea; }
.tool-result img { max-width: 100%; }
.label-row { display: flex; gap: .3rem; align-items: baseline; }
.label-row label { font-weight: 600; }
.required { color: var(--danger); }
.hint, .hint-format, .note { color: var(--muted); font-size: .85em; }
.tool-description { color: var(--muted); }
details.raw-arguments { margin: .4rem 0 1rem; }
details.raw-arguments summary { cursor: pointer; color: var(--accent); margin-bottom: .5rem; }
.field-group { margin-bottom: .8rem; }
.content-item + .content-item { margin-top: .6rem; }
.form-error { margin-bottom: .8rem; }
.secret-once { font-size: 1.05em; user-select: all; }
.login { max-width: 420px; margin: 4rem auto; }
.muted { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(300px, 100%), 1fr)); gap: 1rem; }
.charts figure { margin: 0; min-width: 0; }
.charts figcaption { font-weight: 600; font-size: .9em; margin-bottom: .3rem; }
.chart { width: 100%; min-height: 180px; }
.totals { margin: 0 0 .8rem; }
.tabs.ranges { margin-bottom: 0; border-bottom: none; flex-wrap: wrap; }
.toolbar h2 { margin: 0; }
table.events time { white-space: nowrap; }
code.scope { display: inline-block; margin: 0 .3rem .2rem 0; padding: 0 .3rem; border-radius: 4px; background: #eef1f6; font-size: .85em; white-space: nowrap; }
table.diff { font-size: .85em; }
table.diff td { padding: 0 .5rem; border: none; vertical-align: top; }
table.diff td.ln { color: var(--muted); text-align: right; width: 3rem; user-select: none; }
table.diff tr.added { background: #e6f4ea; }
table.diff tr.removed { background: #fdecea; }
table.diff .sign { display: inline-block; width: 1.1rem; font-weight: 700; }
table.diff code { white-space: pre-wrap; word-break: break-word; }
.tool-change .decide { margin: .8rem 0 0; }
table.diff tr.skipped td { padding: .15rem .5rem; font-style: italic; }
.hidden-char { background: #ffe08a; color: #6b3b00; border-radius: 3px; padding: 0 .15em; font-weight: 700; }
@media (max-width: 700px) {
  .tools { grid-template-columns: 1fr; }
  main { margin-top: .6rem; }
  th.optional, td.optional { display: none; }
  table.events .date { display: none; }
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: .4rem 0; }
  table.stack th[scope="row"], table.stack td { display: block; border: none; padding: .2rem .6rem; }
  table.stack th[scope="row"] { font-size: 1em; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: .85em; }
}
`;

export const APP_JS = `
"use strict";
// Shows only the server form sections that apply to the chosen Authentication and OAuth flow.
(function () {
  var form = document.querySelector("form[data-server-form]");
  if (!form) return;
  var auth = form.querySelector("select[name=auth_type]");
  var flow = form.querySelector("select[name=oauth2_flow]");
  function update() {
    form.querySelectorAll("[data-show-for]").forEach(function (section) {
      var types = section.getAttribute("data-show-for").split(" ");
      var flows = (section.getAttribute("data-show-flow") || "").split(" ").filter(Boolean);
      var visible = types.indexOf(auth.value) !== -1 && (flows.length === 0 || auth.value !== "oauth2" || flows.indexOf(flow.value || "") !== -1);
      section.hidden = !visible;
    });
  }
  auth.addEventListener("change", update);
  if (flow) flow.addEventListener("change", update);
  update();
})();
// Asks before a destructive button submits.
document.querySelectorAll("button[data-confirm]").forEach(function (button) {
  button.addEventListener("click", function (event) {
    if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
});
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/**
 * The UI pages' Content-Security-Policy: the inline script and stylesheet by hash
 * (CSP Level 2 hash-source), images only as `data:` (tool results), nothing else. A page
 * with more inline code or an own-origin script (the activity page) adds their sources.
 */
export function uiContentSecurityPolicy(extra: { scripts?: readonly string[]; styles?: readonly string[] } = {}): string {
  const scripts = [sha256(APP_JS), ...(extra.scripts ?? [])].join(" ");
  const styles = [sha256(APP_CSS), ...(extra.styles ?? [])].join(" ");
  return `default-src 'none'; script-src ${scripts}; style-src ${styles}; img-src data:; media-src data:; base-uri 'none'; frame-ancestors 'none'`;
}

export const UI_CONTENT_SECURITY_POLICY = uiContentSecurityPolicy();

/** A CSP hash-source of an inline script or stylesheet. */
export const inlineHash = sha256;
