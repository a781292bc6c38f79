/**
 * The tables, as Kysely sees them. Timestamps are ISO-8601 strings and JSON is text, so
 * the same rows read identically on SQLite and PostgreSQL.
 */
import type { ColumnType, Kysely } from "kysely";

export interface McpServersTable {
  /** Stable id, never changed by an edit (LiteLLM #33431). */
  id: string;
  name: string;
  /** JSON of the server's non-secret config fields. */
  config: string;
  /** The secret fields (auth_value, client_secret, static_headers), as JSON sealed by the SecretBox; null when there are none. */
  secrets: string | null;
  created_at: string;
  updated_at: string;
}

export interface VirtualKeysTable {
  /** SHA-256 (hex) of the key: the only form in which a key is stored. */
  token: string;
  /** A recognisable, non-secret form of the key: `sk-...abcd`. */
  key_name: string;
  key_alias: string | null;
  user_id: string | null;
  /** JSON `{mcp_servers?: string[], mcp_tool_permissions?: {server: string[]}}`; null = every server. */
  object_permission: string | null;
  expires_at: string | null;
  created_at: string;
  // Migration 008 (LiteLLM's key parameters). Keys made before it have nulls and defaults here.
  team_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON array. */
  models: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON object. */
  metadata: ColumnType<string | null, string | null | undefined, string | null>;
  spend: ColumnType<number, number | undefined, number>;
  max_budget: ColumnType<number | null, number | null | undefined, number | null>;
  budget_duration: ColumnType<string | null, string | null | undefined, string | null>;
  budget_reset_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** bigint: PostgreSQL answers it as a string. */
  tpm_limit: ColumnType<number | string | null, number | null | undefined, number | null>;
  rpm_limit: ColumnType<number | string | null, number | null | undefined, number | null>;
  max_parallel_requests: ColumnType<number | null, number | null | undefined, number | null>;
  /** 1: blocked. */
  blocked: ColumnType<number, number | undefined, number>;
  /** JSON object of LiteLLM's other key fields, returned as given. */
  extra_fields: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Tool calls of a key in one fixed window (rpm_limit), shared by every instance on the database. */
export interface KeyRateWindowsTable {
  subject: string;
  window_start: ColumnType<number | string, number, number>;
  count: number;
}

/** One in-flight request of a key with max_parallel_requests; expires unless its instance renews it. */
export interface KeyParallelLeasesTable {
  lease_id: string;
  subject: string;
  expires_at: ColumnType<number | string, number, number>;
}

/** A private_key_jwt assertion's jti the token endpoint accepted, until the assertion expires (replays are refused). */
export interface OauthAssertionJtisTable {
  /** SHA-256 (hex) of client_id + "\n" + jti. */
  jti_hash: string;
  /** Epoch milliseconds. */
  expires_at: ColumnType<number | string, number, number>;
}

/** One counter per kind of shared state; every write bumps it in the same transaction, and every instance polls it. */
export interface RevisionsTable {
  name: string;
  revision: number;
}

export interface OauthClientsTable {
  client_id: string;
  server_id: string;
  metadata: string;
  upstream_credentials: string | null;
  created_at: string;
  /** When the client first redeemed an authorization code; null: never (not trusted yet, expires). */
  completed_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 for the clients of the gateway's own Connect flow (their redirect_uri passed the same-origin policy). */
  first_party: ColumnType<number, number | undefined, number>;
}

/** A pending authorization (oauth_flows) or an issued authorization code (oauth_codes): single-use, expiring. */
export interface SingleUseTable {
  server_id: string;
  sealed: string;
  expires_at: string;
  consumed_at: string | null;
}

export interface UserTokensTable {
  server_id: string;
  user_id: string;
  sealed: string;
  expires_at: string | null;
  updated_at: string;
  /** Bumped by every save: a refresh or delete applies only to the version it read. */
  version: ColumnType<number, number | undefined, number>;
  /** While set and in the future, one instance is refreshing this token. */
  refresh_lease_until: ColumnType<string | null, string | null | undefined, string | null>;
  /** ISO time the user last connected (a new grant); null in rows older than migration 016. */
  connected_at: ColumnType<string | null, string | null | undefined, string | null>;
  /** ISO time of the last refresh_token grant; null until the first one. */
  refreshed_at: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface UiSessionsTable {
  id_hash: string;
  subject: string;
  created_at: string;
  expires_at: string;
  /** HMAC fingerprint of the key the session was opened with; null for sessions older than migration 007 (refused). */
  binding: string | null;
}

export interface AuditEventsTable {
  id: string;
  at: string;
  request_id: string | null;
  caller_kind: string;
  caller: string;
  subject: string;
  user_id: string | null;
  route: string;
  server: string;
  tool: string;
  outcome: string;
  status: number | null;
  error_code: string | null;
  duration_ms: number;
}

export interface AggregateSessionsTable {
  session_id: string;
  server_id: string;
  upstream_session_id: string | null;
  protocol_version: string | null;
  capabilities: string | null;
  created_at: number;
  ended_at: number | null;
  /** Whose session (the session's own row only): its key's subject, or a credential's hash. */
  owner: string | null;
  /** The level its client set with logging/setLevel (the session's own row only; migration 013). */
  log_level?: string | null;
}

/** A resource a 2025 client's `/mcp` session subscribed to at a 2026-07-28 upstream (migration 013). */
export interface AggregateSubscriptionsTable {
  session_id: string;
  server_id: string;
  uri_hash: string;
  uri: string;
  created_at: number;
}

export interface InputEventsTable {
  call_id: string;
  seq: number;
  event: string;
  created_at: number;
}

/** A tool's pinned definition per server, and a changed one awaiting a decision (migration 014). */
export interface ToolPinsTable {
  server_id: string;
  tool_name: string;
  pinned_hash: string;
  pinned_definition: string;
  first_seen_at: number;
  pinned_at: number;
  pending_hash: string | null;
  pending_definition: string | null;
  pending_seen_at: number | null;
  pending_rejected: ColumnType<number, number | undefined, number>;
}

/** An admin's decision on a changed tool definition (migration 014). */
export interface ToolPinDecisionsTable {
  id: string;
  at: number;
  actor: string;
  server_id: string;
  server_name: string;
  tool_name: string;
  decision: string;
  old_hash: string;
  new_hash: string;
}

export interface Tables {
  mcp_servers: McpServersTable;
  virtual_keys: VirtualKeysTable;
  gatehouse_revisions: RevisionsTable;
  oauth_clients: OauthClientsTable;
  oauth_flows: SingleUseTable & { state_hash: string };
  oauth_codes: SingleUseTable & { code_hash: string };
  user_tokens: UserTokensTable;
  ui_sessions: UiSessionsTable;
  audit_events: AuditEventsTable;
  key_rate_windows: KeyRateWindowsTable;
  key_parallel_leases: KeyParallelLeasesTable;
  oauth_assertion_jtis: OauthAssertionJtisTable;
  mcp_aggregate_sessions: AggregateSessionsTable;
  mcp_input_events: InputEventsTable;
  mcp_aggregate_subscriptions: AggregateSubscriptionsTable;
  tool_pins: ToolPinsTable;
  tool_pin_decisions: ToolPinDecisionsTable;
}

export type Db = Kysely<Tables>;

export type RevisionName = "servers" | "keys";
