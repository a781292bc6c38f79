/**
 * The add / edit server form, as the management API sees it: form fields are the config
 * file's server fields (so the API's validation and messages apply unchanged), and the
 * API's problems (`field: what is wrong`) are put next to their fields.
 */
import type { GatewayError } from "../errors.js";
import type { ServerView } from "../registry/server-admin.js";
import type { ServerFormState } from "./pages/servers.js";

const TEXT_FIELDS = [
  "url",
  "spec_path",
  "description",
  "transport",
  "auth_type",
  "auth_value",
  "oauth2_flow",
  "client_id",
  "client_secret",
  "token_url",
  "authorization_url",
  "registration_url",
  "revocation_url",
  "registration",
  "issuer",
  "resource",
  "token_exchange_endpoint",
  "audience",
  "tool_changes",
] as const;
const LIST_FIELDS = ["scopes", "allowed_tools", "disallowed_tools"] as const;
export const FORM_FIELDS = new Set<string>(["server_name", ...TEXT_FIELDS, ...LIST_FIELDS, "timeout", "static_headers", "delegate_auth_to_upstream", "available_on_public_internet"]);

const list = (text: string) => text.split(/[\s,]+/).filter((item) => item !== "");

const STATIC_AUTH = new Set(["api_key", "bearer_token", "basic", "authorization", "token"]);
const OAUTH_AUTH = new Set(["oauth2", "oauth2_token_exchange"]);
const STATIC_FIELDS = new Set(["auth_value"]);
const OAUTH_FIELDS = new Set(["oauth2_flow", "client_id", "client_secret", "token_url", "authorization_url", "registration_url", "revocation_url", "registration", "issuer", "resource", "token_exchange_endpoint", "audience", "scopes"]);

/**
 * Whether a field belongs to the chosen authentication. The form shows every section
 * without JavaScript (and the script only hides them): what was typed into another
 * authentication's section is not saved.
 */
function applies(field: string, authType: string): boolean {
  if (STATIC_FIELDS.has(field)) return STATIC_AUTH.has(authType);
  if (OAUTH_FIELDS.has(field)) return OAUTH_AUTH.has(authType);
  if (field === "delegate_auth_to_upstream") return authType === "oauth2";
  return true;
}

/** The API body for a submitted form: empty fields are left out (for secrets: kept as they are). */
export function serverBodyFromForm(form: URLSearchParams): { body: Record<string, unknown>; errors: Record<string, string> } {
  const body: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const authType = (form.get("auth_type") ?? "none").trim() || "none";
  const text = (name: string) => (applies(name, authType) ? (form.get(name) ?? "").trim() : "");
  body.server_name = text("server_name");
  for (const name of TEXT_FIELDS) if (text(name) !== "") body[name] = text(name);
  for (const name of LIST_FIELDS) if (text(name) !== "") body[name] = list(text(name));
  if (text("timeout") !== "") {
    const timeout = Number(text("timeout"));
    if (Number.isFinite(timeout)) body.timeout = timeout;
    else errors.timeout = "must be a number of seconds";
  }
  if (text("static_headers") !== "") {
    const headers: Record<string, string> = {};
    for (const line of text("static_headers").split(/\r?\n/)) {
      if (line.trim() === "") continue;
      const colon = line.indexOf(":");
      if (colon <= 0) {
        errors.static_headers = `“${line.trim().slice(0, 40)}” is not “Name: value”`;
        continue;
      }
      headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
    }
    body.static_headers = headers;
  }
  if (applies("delegate_auth_to_upstream", authType) && form.get("delegate_auth_to_upstream") === "true") body.delegate_auth_to_upstream = true;
  if (form.has("available_on_public_internet_present") && form.get("available_on_public_internet") !== "true") body.available_on_public_internet = false;
  return { body, errors };
}

/** The form as it was submitted (secrets are never echoed back). */
export function formValues(form: URLSearchParams): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of FORM_FIELDS) {
    if (name === "auth_value" || name === "client_secret" || name === "static_headers") continue;
    const value = form.get(name);
    if (value !== null) values[name] = value;
  }
  if (form.has("available_on_public_internet_present") && form.get("available_on_public_internet") !== "true") values.available_on_public_internet = "false";
  return values;
}

/** The form pre-filled from a server as the API shows it (secrets stay empty: write-only). */
export function formValuesFromView(view: ServerView): Record<string, string> {
  const values: Record<string, string> = { server_name: view.server_name };
  for (const name of TEXT_FIELDS) {
    if (name === "auth_value" || name === "client_secret") continue;
    const value = view[name];
    if (typeof value === "string") values[name] = value;
  }
  for (const name of LIST_FIELDS) {
    const value = view[name];
    if (Array.isArray(value)) values[name] = value.join(" ");
  }
  if (typeof view.timeout === "number") values.timeout = String(view.timeout);
  if (view.delegate_auth_to_upstream === true) values.delegate_auth_to_upstream = "true";
  if (view.available_on_public_internet === false) values.available_on_public_internet = "false";
  return values;
}

/** The API's refusal, spread over the form: `field: message` lines go next to their field. */
export function formStateFromError(values: Record<string, string>, error: GatewayError): ServerFormState {
  const problems = Array.isArray(error.extra.problems) ? (error.extra.problems as string[]) : [error.message];
  const errors: Record<string, string> = {};
  const general: string[] = [];
  for (const problem of problems) {
    const match = /^([a-z_]+)(?:\.[^:]*)?: (.*)$/s.exec(problem);
    const field = match?.[1] === "name" ? "server_name" : match?.[1];
    if (field !== undefined && FORM_FIELDS.has(field) && errors[field] === undefined) errors[field] = match![2]!;
    else general.push(problem);
  }
  return { values, errors, general };
}
