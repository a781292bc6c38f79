/**
 * Which route family a request belongs to, and which configured MCP server it names, for
 * metric labels. Read from the path alone, so every request is counted the same way
 * whichever lane answered it; a server name that is not configured counts as "" (an
 * attacker's made-up paths must not grow the label set).
 */
import type { RegistrySnapshot } from "../registry/registry.js";
import type { RouteLabel } from "./metrics.js";

export function routeLabel(url: string, snapshot: RegistrySnapshot): { route: RouteLabel; server: string } {
  const end = url.indexOf("?");
  const path = end === -1 ? url : url.slice(0, end);
  if (path === "/mcp") return { route: "aggregate", server: "" };
  if (path.startsWith("/mcp-rest/")) return { route: "rest", server: "" };
  if (path === "/metrics") return { route: "metrics", server: "" };
  if (path.startsWith("/health")) return { route: "health", server: "" };
  if (path === "/ui" || path.startsWith("/ui/")) return { route: "ui", server: "" };
  if (path.startsWith("/.well-known/") || path === "/callback") return { route: "oauth", server: "" };
  if (path.startsWith("/v1/") || path.startsWith("/key/")) return { route: "admin", server: "" };
  // Two segments, /first/second, read without splitting (this runs for every request).
  const start = path.indexOf("/");
  const slash = start === -1 ? -1 : path.indexOf("/", start + 1);
  if (slash !== -1 && path.indexOf("/", slash + 1) === -1) {
    const first = path.slice(start + 1, slash);
    const second = path.slice(slash + 1);
    if (first === "mcp") return { route: "passthrough", server: known(second, snapshot) };
    if (second === "mcp") return { route: "passthrough", server: known(first, snapshot) };
    if (second === "authorize" || second === "token" || second === "register") return { route: "oauth", server: known(first, snapshot) };
  }
  return { route: "other", server: "" };
}

function known(name: string, snapshot: RegistrySnapshot): string {
  return snapshot.byIdOrName(name)?.name ?? "";
}
