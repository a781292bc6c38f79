/**
 * Settings that are accepted but do not do what they seem to, or that weaken security:
 * logged once when a server is loaded (config file or database) and shown by the admin
 * API and UI beside the server.
 */
import type { ServerConfig } from "../config/schema.js";
import type { ServerKind } from "../config/server-kind.js";

export function serverWarnings(config: ServerConfig, kind: ServerKind): string[] {
  if (kind === "stdio") return stdioWarnings(config);
  const warnings: string[] = [];
  if (config.delegate_auth_to_upstream && config.auth_type !== "oauth2") {
    warnings.push(
      `delegate_auth_to_upstream is ignored: it applies only to auth_type oauth2, and this server uses ${config.auth_type}; the gateway checks keys for it as usual`,
    );
  } else if (config.delegate_auth_to_upstream && kind === "client_credentials") {
    warnings.push(
      "delegate_auth_to_upstream is ignored: this oauth2 server uses the client_credentials (M2M) flow, so there is no user OAuth flow to delegate; the gateway checks keys for it as usual",
    );
  }
  if (!config.available_on_public_internet && kind === "delegated") {
    // The seed's warning: the internal-only flag does not turn the delegate bypass off.
    warnings.push(
      "available_on_public_internet: false with delegate_auth_to_upstream: true: callers inside mcp_internal_ip_ranges reach this server and its upstream OAuth flow without a gateway key; enforce access at the upstream IdP and at the network edge",
    );
  }
  return warnings;
}

/**
 * LiteLLM ignores a stdio server's url and credentials: so does Gatehouse, saying so. Nothing
 * here widens access (no credential is sent anywhere, and a stdio server never delegates auth).
 */
function stdioWarnings(config: ServerConfig): string[] {
  const warnings: string[] = [];
  if (config.url !== undefined) warnings.push("url is ignored for transport stdio: the gateway runs command and speaks MCP over its stdin and stdout");
  if (config.auth_type !== "none") {
    warnings.push(`auth_type ${config.auth_type} is ignored for transport stdio: a local process gets no upstream credentials; pass what it needs in env`);
  }
  if (config.delegate_auth_to_upstream) warnings.push("delegate_auth_to_upstream is ignored for transport stdio: the gateway checks keys for it as usual");
  const headers = [...(Object.keys(config.static_headers).length > 0 ? ["static_headers"] : []), ...(config.extra_headers.length > 0 ? ["extra_headers"] : [])];
  if (headers.length > 0) warnings.push(`${headers.join(" and ")} ignored for transport stdio: there is no HTTP request to carry headers; pass values in env`);
  return warnings;
}
