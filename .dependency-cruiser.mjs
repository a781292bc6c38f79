// @ts-check
/**
 * The layers of src/ and the one direction dependencies may point (`npm run lint` fails
 * otherwise). Upper may import lower, never the reverse:
 *
 *   cli.ts, gateway.ts, mock-server/,  composition root and tools: may import anything
 *   litellm-import/
 *   http/, ui/                         the web layer (http may use ui; ui never uses http)
 *   mcp/ -> oauth/ -> auth/            the middle tier, in that order; in auth/, upstream/
 *                                      may use inbound/, never the reverse
 *   observability/                     used by all of the middle tier, uses none of it
 *   registry/                          the servers and their snapshots
 *   openapi/                           OpenAPI documents as tools and HTTP requests: uses only leaves
 *   store/, config/                    siblings: neither imports the other
 *   src/*.ts                           leaf modules (errors, headers, log, debug,
 *                                      credential-scrubber, loopback ...): import only leaves
 *
 * Type-only imports count: a type is a dependency too. Each exception below says why it
 * exists and whether it is temporary.
 * @type {import("dependency-cruiser").IConfiguration}
 */

const MIDDLE = "^src/(mcp|oauth|auth|observability)/";
const WEB = "^src/(http|ui)/";
const ROOT = "^src/(cli\\.ts|gateway\\.ts|mock-server/|litellm-import/)";

/**
 * Upstream strategies (they never import each other) and the helpers they may
 * share. Helpers: `strategy.ts` (the interface every strategy implements),
 * `token-endpoint.ts` (the token endpoint call and client authentication of RFC 6749 §2.3),
 * `client-auth.ts` (HTTP Basic client credentials, encoded as servers in the wild read them),
 * `metadata-discovery.ts` (every RFC 8414 / OpenID / RFC 9728 lookup, under one cache policy),
 * `keyed-token-cache.ts` and `refreshing-cache.ts` (the single-flight caches),
 * `allow-http.ts` (the plain-HTTP policy for upstream OAuth endpoints) and
 * `per-request-headers.ts` (the `x-mcp-{server}-*` parser the proxy calls; not a strategy).
 * `select-strategy.ts` is the picker: it imports every strategy, and nothing imports it
 * but the composition root.
 */
const UPSTREAM_HELPERS = "(strategy|token-endpoint|client-auth|metadata-discovery|keyed-token-cache|refreshing-cache|allow-http|per-request-headers)\\.ts$";

export default {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No module may reach itself through its imports, type-only ones included.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "leaves-import-only-leaves",
      severity: "error",
      comment: "src/*.ts (but the composition root) are leaves: every layer uses them, they use no layer.",
      from: { path: "^src/[^/]+\\.ts$", pathNot: ROOT },
      to: { path: "^src/[^/]+/" },
    },
    {
      name: "openapi-uses-only-leaves",
      severity: "error",
      comment: "openapi/ turns documents into tools and requests; credentials, keys and sessions are the middle tier's, above it.",
      from: { path: "^src/openapi/" },
      to: { path: "^src/[^/]+/", pathNot: "^src/openapi/" },
    },
    {
      name: "nothing-imports-the-composition-root",
      severity: "error",
      comment: "cli.ts, gateway.ts, mock-server/ and litellm-import/ wire things together; only cli.ts starts them.",
      from: { path: "^src/", pathNot: "^src/(cli\\.ts$|litellm-import/)" },
      to: { path: ROOT },
    },
    {
      name: "the-importer-uses-no-other-part-of-the-root",
      severity: "error",
      comment: "litellm-import/ (the import-litellm command) is a tool of its own: its modules import each other, never the gateway or the CLI.",
      from: { path: "^src/litellm-import/" },
      to: { path: ROOT, pathNot: "^src/litellm-import/" },
    },
    {
      name: "config-and-store-are-siblings",
      severity: "error",
      from: { path: "^src/config/" },
      to: { path: "^src/store/" },
    },
    {
      name: "store-and-config-are-siblings",
      severity: "error",
      from: { path: "^src/store/" },
      to: { path: "^src/config/" },
    },
    {
      name: "config-and-store-sit-below-everything-but-leaves",
      severity: "error",
      from: { path: "^src/(config|store)/" },
      to: { path: "^src/(registry|mcp|oauth|auth|observability|http|ui)/" },
    },
    {
      name: "registry-sits-below-the-middle-tier",
      severity: "error",
      comment:
        "The registry keeps servers; the composition root hands it a factory that builds each server's credential strategy (auth/upstream).",
      from: { path: "^src/registry/" },
      to: { path: "^src/(mcp|oauth|auth|observability|http|ui)/", pathNot: "^src/auth/upstream/strategy\\.ts$" },
    },
    {
      // Permanent, type-only: an entry carries the strategy the factory built, and the
      // strategy's interface speaks of the caller, the presented key and the credential
      // screen (auth/inbound). Moving those types below the registry would pull auth's
      // vocabulary into a leaf to save one type import.
      name: "registry-knows-the-strategy-interface-only-as-a-type",
      severity: "error",
      from: { path: "^src/registry/" },
      to: { path: "^src/auth/upstream/strategy\\.ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "observability-uses-no-other-middle-layer",
      severity: "error",
      comment: "Metrics, audit and request ids are used by mcp, oauth and auth; they must not depend on them.",
      from: { path: "^src/observability/" },
      to: { path: "^src/(mcp|oauth|auth)/" },
    },
    {
      name: "auth-uses-neither-oauth-nor-mcp",
      severity: "error",
      from: { path: "^src/auth/" },
      to: { path: "^src/(mcp|oauth)/" },
    },
    {
      name: "inbound-auth-never-uses-upstream-auth",
      severity: "error",
      from: { path: "^src/auth/inbound/" },
      to: { path: "^src/auth/upstream/" },
    },
    {
      name: "oauth-never-uses-mcp",
      severity: "error",
      from: { path: "^src/oauth/" },
      to: { path: "^src/mcp/" },
    },
    {
      name: "middle-tier-never-uses-the-web-layer",
      severity: "error",
      from: { path: MIDDLE },
      to: { path: WEB },
    },
    {
      name: "ui-never-uses-http",
      severity: "error",
      comment: "http/ serves the pages; the pages do not know the routes' code.",
      from: { path: "^src/ui/" },
      to: { path: "^src/http/" },
    },
    {
      name: "upstream-strategies-never-import-each-other",
      severity: "error",
      comment: "One file per way of getting upstream credentials; shared code lives in the helpers (UPSTREAM_HELPERS).",
      from: { path: "^src/auth/upstream/", pathNot: [`^src/auth/upstream/${UPSTREAM_HELPERS}`, "^src/auth/upstream/select-strategy\\.ts$"] },
      to: { path: "^src/auth/upstream/", pathNot: `^src/auth/upstream/${UPSTREAM_HELPERS}` },
    },
    {
      name: "upstream-helpers-import-no-strategy",
      severity: "error",
      from: { path: `^src/auth/upstream/${UPSTREAM_HELPERS}` },
      to: { path: "^src/auth/upstream/", pathNot: `^src/auth/upstream/${UPSTREAM_HELPERS}` },
    },
    {
      name: "only-the-composition-root-picks-strategies",
      severity: "error",
      from: { path: "^src/", pathNot: ROOT },
      to: { path: "^src/auth/upstream/select-strategy\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
