/**
 * Where an API's requests go (OpenAPI 3.x Server Object): the configured `url` wins (as in
 * LiteLLM); else `servers[0]` with its variables' defaults substituted, a relative one resolved
 * against the URL the document came from (OpenAPI 3.1 §4.8.5.1, RFC 3986). The guard rail:
 * requests carry the server's credentials, so a base URL taken from a fetched document, or a
 * path's or operation's own `servers`, may name another origin only when the operator says so.
 */
import { isObject } from "./schema.js";
import { SpecError } from "./types.js";

export interface ServerContext {
  /** Prefix of every message: `mcp_servers.x.spec_path: ./x.yaml`. */
  where: string;
  /** The URL the spec came from; undefined for a file. */
  specUrl: URL | undefined;
  configured: string | undefined;
  allowOtherHosts: boolean;
}

export function baseUrlOf(doc: Record<string, unknown>, context: ServerContext): URL {
  if (context.configured) return httpUrl(context.configured, context, "url");
  const servers = Array.isArray(doc.servers) ? doc.servers : [];
  const first = servers[0];
  let base: URL;
  if (first === undefined) {
    if (!context.specUrl) throw new SpecError(`${context.where}: the document has no servers; set url`);
    base = new URL("/", context.specUrl);
  } else {
    base = serverUrl(first, "#/servers/0", context, undefined);
  }
  if (context.specUrl && base.origin !== context.specUrl.origin && !context.allowOtherHosts) {
    throw new SpecError(
      `${context.where}: #/servers/0: ${base.origin} is not the origin the document came from (${context.specUrl.origin}); set url, or openapi_allow_other_hosts: true`,
    );
  }
  return base;
}

/** A path's or operation's own `servers` (first one), or undefined: requests then go to the base URL. */
export function operationBaseUrl(servers: unknown, pointer: string, base: URL, context: ServerContext): URL | undefined {
  if (!Array.isArray(servers) || servers.length === 0) return undefined;
  const url = serverUrl(servers[0], `${pointer}/0`, context, base);
  if (url.origin !== base.origin && !context.allowOtherHosts) {
    throw new SpecError(
      `${context.where}: ${pointer}/0: ${url.origin} is not the base URL's origin (${base.origin}); remove it from operations, or set openapi_allow_other_hosts: true`,
    );
  }
  return url;
}

function serverUrl(server: unknown, pointer: string, context: ServerContext, fallback: URL | undefined): URL {
  if (!isObject(server) || typeof server.url !== "string") throw new SpecError(`${context.where}: ${pointer}: a server needs a url`);
  const variables = isObject(server.variables) ? server.variables : {};
  const text = server.url.replace(/\{([^}]*)\}/g, (_whole, name: string) => {
    const variable = variables[name];
    if (!isObject(variable) || variable.default === undefined) {
      throw new SpecError(`${context.where}: ${pointer}: server variable {${name}} has no default; set url`);
    }
    return String(variable.default);
  });
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return httpUrl(text, context, pointer);
  const against = context.specUrl ?? fallback;
  if (!against) throw new SpecError(`${context.where}: ${pointer}: the server url "${text}" is relative and the document is a file; set url`);
  return httpUrl(new URL(text, against).href, context, pointer);
}

function httpUrl(text: string, context: ServerContext, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SpecError(`${context.where}: ${what}: "${text}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new SpecError(`${context.where}: ${what}: "${text}" is not an http(s) URL`);
  url.hash = "";
  url.pathname = url.pathname.replace(/\/+$/, "");
  return url;
}
