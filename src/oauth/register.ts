/**
 * `POST /{server}/register`: RFC 7591 dynamic client registration of an MCP client.
 *
 * The gateway registers the MCP client itself (a public client, PKCE protected,
 * `token_endpoint_auth_method: none`); no fake secret is ever handed out. Anyone may call
 * this, so it costs the operator as little as possible (issue 15 item 7): the route caps
 * the body and rate-limits per client address, every field here is capped in count and
 * length, nothing is sent upstream (the gateway's own upstream registration, when the
 * server has no pre-stored client_id, waits for the client's first authorization:
 * upstream-registration.ts), and a client that never completes a flow expires.
 */
import { randomBytes } from "node:crypto";
import type { McpServerEntry } from "../registry/server-entry.js";
import type { OauthRepository } from "../store/oauth-repository.js";
import { oauthError } from "./oauth-error.js";
import { registrableRedirectUri } from "./redirect-uris.js";

export interface RegistrationDeps {
  repo: OauthRepository;
}

/** The largest registration body read (a real client's metadata is well under 2 KB). */
export const REGISTRATION_BODY_LIMIT_BYTES = 16 * 1024;

/** Bounds on what one registration may hold; every field, stored or not. */
export const REGISTRATION_LIMITS = {
  fields: 32,
  redirectUris: 10,
  arrayItems: 10,
  clientNameLength: 200,
  scopeLength: 1000,
  stringLength: 2048,
} as const;

function invalidMetadata(description: string) {
  return oauthError("invalid_client_metadata", description);
}

/** No field may be longer or hold more items than the limits, whether the gateway keeps it or not. */
function checkBounds(metadata: Record<string, unknown>): void {
  const fields = Object.keys(metadata);
  if (fields.length > REGISTRATION_LIMITS.fields) throw invalidMetadata(`the client metadata has ${fields.length} fields; at most ${REGISTRATION_LIMITS.fields} are accepted`);
  for (const field of fields) {
    const value = metadata[field];
    const values = Array.isArray(value) ? value : [value];
    const maxItems = field === "redirect_uris" ? REGISTRATION_LIMITS.redirectUris : REGISTRATION_LIMITS.arrayItems;
    if (values.length > maxItems) {
      throw oauthError(field === "redirect_uris" ? "invalid_redirect_uri" : "invalid_client_metadata", `${field}: at most ${maxItems} entries are accepted`);
    }
    const maxLength = field === "client_name" ? REGISTRATION_LIMITS.clientNameLength : field === "scope" ? REGISTRATION_LIMITS.scopeLength : REGISTRATION_LIMITS.stringLength;
    for (const item of values) {
      if (typeof item === "string" && item.length > maxLength) {
        throw oauthError(field === "redirect_uris" ? "invalid_redirect_uri" : "invalid_client_metadata", `${field}: longer than ${maxLength} characters`);
      }
    }
  }
}

function parseRequest(body: unknown): { redirectUris: string[]; clientName?: string; scope?: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidMetadata("the body must be a JSON object of client metadata (RFC 7591 §2)");
  const metadata = body as Record<string, unknown>;
  checkBounds(metadata);
  const uris = metadata.redirect_uris;
  if (!Array.isArray(uris) || uris.length === 0) throw oauthError("invalid_redirect_uri", "redirect_uris: at least one redirect URI is required");
  uris.forEach((uri, index) => {
    const problem = registrableRedirectUri(uri);
    if (problem !== undefined) throw oauthError("invalid_redirect_uri", `redirect_uris[${index}] ${problem}`);
  });
  const grantTypes = metadata.grant_types;
  if (grantTypes !== undefined && (!Array.isArray(grantTypes) || grantTypes.some((grant) => grant !== "authorization_code" && grant !== "refresh_token"))) {
    throw invalidMetadata("grant_types: only authorization_code and refresh_token are supported");
  }
  const responseTypes = metadata.response_types;
  if (responseTypes !== undefined && (!Array.isArray(responseTypes) || responseTypes.some((type) => type !== "code"))) {
    throw invalidMetadata("response_types: only code is supported");
  }
  return {
    redirectUris: uris as string[],
    ...(typeof metadata.client_name === "string" ? { clientName: metadata.client_name } : {}),
    ...(typeof metadata.scope === "string" ? { scope: metadata.scope } : {}),
  };
}

export interface RegistrationOptions {
  /** The gateway's own Connect flow, whose redirect_uris passed the same-origin policy (redirect-policy.ts). */
  firstParty?: boolean;
}

export async function registerClient(deps: RegistrationDeps, server: McpServerEntry, body: unknown, options: RegistrationOptions = {}) {
  const request = parseRequest(body);
  const clientId = `gh_${randomBytes(18).toString("base64url")}`;
  const issuedAt = Math.floor(Date.now() / 1000);
  const metadata = {
    client_id: clientId,
    client_id_issued_at: issuedAt,
    redirect_uris: request.redirectUris,
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    ...(request.clientName === undefined ? {} : { client_name: request.clientName }),
    ...(request.scope === undefined ? {} : { scope: request.scope }),
  };
  await deps.repo.saveClient({ clientId, serverId: server.id, metadata, upstreamCredentials: null, ...(options.firstParty === true ? { firstParty: true } : {}) });
  return metadata;
}
