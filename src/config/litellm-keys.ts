/**
 * Every key a LiteLLM config.yaml may hold that Gatehouse does not take as it is (README,
 * "Switching from LiteLLM"): each is either ignored with one startup warning that says what
 * Gatehouse does instead, or refused, when ignoring it would leave access wider than the
 * file asks for. Keys Gatehouse honours live in the zod schema (schema.ts), not here.
 *
 * Pure data: config/litellm-compat.ts applies it.
 */

export type Treatment =
  /** Loaded with one warning: `instead` says what Gatehouse does. */
  | { readonly action: "ignore"; readonly instead: string }
  /** A startup error: `why` says what ignoring it would open, and what to do. */
  | { readonly action: "refuse"; readonly why: string };

const ignore = (instead: string): Treatment => ({ action: "ignore", instead });
const refuse = (why: string): Treatment => ({ action: "refuse", why });

const LLM_SECTION = ignore("it configures LiteLLM's LLM proxy, and Gatehouse is an MCP gateway only");
const LLM_SETTING = ignore("it is a LiteLLM LLM-proxy or operations setting with no counterpart in an MCP gateway");
const NO_JWT = ignore("Gatehouse accepts only its master key and virtual keys as gateway keys (no JWT or OAuth2 caller auth), which is narrower");
const SECRET_MANAGER = ignore("os.environ/ references are read from the process environment (and the file's environment_variables) only; no secret manager is asked");
const NOT_READ_BY_LITELLM = (what: string): Treatment => ignore(`LiteLLM does not read this key either; ${what}`);

function every(names: readonly string[], treatment: Treatment): Record<string, Treatment> {
  return Object.fromEntries(names.map((name) => [name, treatment]));
}

/** Guardrail modes that run on MCP tool calls (LiteLLM `pre_mcp_call`, `during_mcp_call`, `post_mcp_call`). */
export const MCP_GUARDRAIL_MODES = ["pre_mcp_call", "during_mcp_call", "post_mcp_call"] as const;

/** Top-level sections. `guardrails` is decided per entry (litellm-compat.ts). */
export const TOP_LEVEL_KEYS: Readonly<Record<string, Treatment>> = {
  ...every(
    [
      "model_list",
      "router_settings",
      "callback_settings",
      "credential_list",
      "vector_store_registry",
      "search_tools",
      "prompts",
      "assistant_settings",
      "finetune_settings",
      "files_settings",
      "default_vertex_config",
    ],
    LLM_SECTION,
  ),
  agent_list: ignore("A2A agents are not served; Gatehouse serves MCP servers only"),
  guardrails: ignore("Gatehouse runs no guardrails; these have no MCP mode (pre_mcp_call, during_mcp_call, post_mcp_call), so they never touched MCP traffic"),
  policies: ignore("Gatehouse runs no guardrail policies (a guardrail with an MCP mode is refused where it is defined)"),
  policy_attachments: ignore("Gatehouse runs no guardrail policies (a guardrail with an MCP mode is refused where it is defined)"),
  mcp_tools: ignore("local Python tools are not served: Gatehouse runs no Python code; serve them from an MCP server instead"),
  callbacks: NOT_READ_BY_LITELLM("no callbacks run in Gatehouse; every tool call is recorded in the audit trail (GET /v1/mcp/audit)"),
  virtual_keys: NOT_READ_BY_LITELLM(
    "the keys listed are not created (so nothing gains access through them): create keys with POST /key/generate (object_permission.mcp_servers limits a key to servers)",
  ),
};

export const GENERAL_SETTINGS_KEYS: Readonly<Record<string, Treatment>> = {
  ...every(
    [
      "alert_to_webhook_url",
      "alert_types",
      "alerting",
      "alerting_args",
      "alerting_threshold",
      "allow_client_side_credentials",
      "allow_requests_on_db_unavailable",
      "background_health_checks",
      "block_robots",
      "completion_model",
      "custom_auth_settings",
      "database_args",
      "database_connection_pool_limit",
      "database_connection_pool_timeout",
      "database_type",
      "disable_adding_master_key_hash_to_db",
      "disable_error_logs",
      "disable_master_key_return",
      "disable_prisma_schema_update",
      "disable_reset_budget",
      "disable_responses_id_security",
      "disable_retry_on_max_parallel_request_limit_error",
      "disable_spend_logs",
      "disable_spend_updates",
      "email_settings",
      "enable_public_model_hub",
      "enforce_user_param",
      "enforced_params",
      "forward_client_headers_to_llm_api",
      "forward_openai_org_id",
      "global_max_parallel_requests",
      "health_check_details",
      "health_check_interval",
      "image_generation_model",
      "infer_model_from_keys",
      "litellm_license",
      "max_parallel_requests",
      "maximum_spend_logs_cleanup_cron",
      "maximum_spend_logs_retention_interval",
      "maximum_spend_logs_retention_period",
      "moderation_model",
      "otel",
      "proxy_batch_polling_interval",
      "proxy_batch_write_at",
      "proxy_budget_rescheduler_max_time",
      "proxy_budget_rescheduler_min_time",
      "reject_clientside_metadata_tags",
      "search_tools",
      "service_account_settings",
      "spend_report_frequency",
      "store_prompts_in_spend_logs",
      "token_rate_limit_type",
      "use_redis_transaction_buffer",
      "use_shared_health_check",
      "user_api_key_cache_ttl",
      "user_header_mappings",
      "user_header_name",
    ],
    LLM_SETTING,
  ),
  ...every(["enable_jwt_auth", "litellm_jwtauth", "enforce_rbac", "role_permissions", "enable_oauth2_auth", "enable_oauth2_proxy_auth", "oauth2_config_mappings"], NO_JWT),
  ...every(["key_management_system", "key_management_settings", "use_azure_key_vault", "use_google_kms"], SECRET_MANAGER),
  allow_user_auth: ignore("Gatehouse has no user logins; callers use the master key or a virtual key, which is narrower"),
  custom_key_generate: ignore("no custom hook runs: only the master key may generate keys (POST /key/generate)"),
  custom_sso: ignore("the admin UI signs in with the master key only (no SSO), which is narrower"),
  custom_ui_sso_sign_in_handler: ignore("the admin UI signs in with the master key only (no SSO), which is narrower"),
  default_team_disabled: ignore("Gatehouse has no teams"),
  ui_access_mode: ignore("the admin UI is for the master key only, which is narrower"),
  litellm_key_header_name: ignore("clients send the gateway key in x-litellm-api-key or Authorization; no other header is read (clients using another header get 401)"),
  pass_through_endpoints: ignore("these routes are not served: Gatehouse proxies MCP only"),
  public_routes: ignore("every route keeps its own authentication: no route is made public, which is narrower"),
  enable_mcp_registry: ignore("no public MCP registry (/v1/mcp/registry.json) is served, which is narrower"),
  user_mcp_management_mode: ignore("the server list (/v1/mcp/server) is for the master key only, which is narrower"),
  store_model_in_db: ignore("servers added through /v1/mcp/server are always kept in Gatehouse's database and served beside the config file's"),
  supported_db_objects: ignore("Gatehouse always loads its servers and keys from its database"),
  max_response_size_mb: ignore("answers are not cut at a size; bound them at the upstream or a reverse proxy"),
  environment_variables: ignore("Gatehouse reads environment_variables at the top level of the file only"),
  ui_username: NOT_READ_BY_LITELLM("it reads UI_USERNAME from the environment; Gatehouse's admin UI signs in with the master key"),
  ui_password: NOT_READ_BY_LITELLM("it reads UI_PASSWORD from the environment; Gatehouse's admin UI signs in with the master key"),
  cors_allowed_origins: NOT_READ_BY_LITELLM("Gatehouse's browser origins are general_settings.mcp_allowed_origins or LITELLM_CORS_ORIGINS"),
  log_level: NOT_READ_BY_LITELLM("set Gatehouse's log level with --log-level or GATEHOUSE_LOG_LEVEL"),
  detailed_debug: NOT_READ_BY_LITELLM("set Gatehouse's log level with --log-level or GATEHOUSE_LOG_LEVEL"),
  telemetry: NOT_READ_BY_LITELLM("Gatehouse sends no telemetry"),
  allowed_ips: refuse(
    "it limits callers to the listed IP addresses, and Gatehouse does not filter callers by address: ignoring it would let every address in. Restrict addresses at the network (firewall, reverse proxy) and remove the key",
  ),
  allowed_routes: refuse("it limits the routes keys may call, and Gatehouse has no route allowlist: ignoring it would open every route to every key. Remove the key (admin routes need the master key in Gatehouse)"),
  admin_only_routes: refuse(
    "it reserves routes for admins, and Gatehouse keeps no such list: ignoring it would let virtual keys call the routes you listed. Remove the key (Gatehouse's admin routes always need the master key)",
  ),
  custom_auth: refuse(
    "it replaces key checks with your Python function, which Gatehouse cannot run: ignoring it would admit callers your function refuses. Remove it and use Gatehouse's master key and virtual keys",
  ),
  mcp_allowed_clients: refuse("it limits which MCP clients may connect, and Gatehouse does not check clients: ignoring it would admit every client. Remove the key"),
  require_key_mcp_access_defined: refuse(
    "it denies MCP servers to keys without their own server list, and Gatehouse gives such keys every server: ignoring it would widen them. Give each key object_permission.mcp_servers and remove the key",
  ),
  require_end_user_mcp_access_defined: refuse("it denies MCP servers to end users without their own list, and Gatehouse has no end users: remove the key"),
};

/** litellm_settings keys that concern MCP (the others are LLM settings: see litellm-compat.ts). */
export const LITELLM_SETTINGS_KEYS: Readonly<Record<string, Treatment>> = {
  public_mcp_servers: ignore("the servers listed are not made public by this list; set available_on_public_internet: true on each server instead (the default)"),
  mcp_semantic_tool_filter: ignore("tools/list returns every tool the key may use, unfiltered"),
  mcp_tool_search: ignore("no mcp_tool_search tool is served; tools/list returns every tool the key may use"),
  callbacks: ignore("no callbacks run in Gatehouse; every tool call is recorded in the audit trail (GET /v1/mcp/audit)"),
  success_callback: ignore("no callbacks run in Gatehouse; every tool call is recorded in the audit trail (GET /v1/mcp/audit)"),
  failure_callback: ignore("no callbacks run in Gatehouse; every tool call is recorded in the audit trail (GET /v1/mcp/audit)"),
  guardrails: ignore("Gatehouse runs no guardrails (legacy guardrails here apply to LLM calls only)"),
  master_key: NOT_READ_BY_LITELLM("the master key goes in general_settings.master_key or GATEHOUSE_MASTER_KEY / LITELLM_MASTER_KEY"),
  key_generation_settings: ignore("only the master key may generate keys, which is narrower"),
  default_key_generate_params: ignore("keys get only the parameters given to POST /key/generate"),
  upperbound_key_generate_params: ignore("only the master key may generate keys; no upper bounds are applied to what it asks for"),
};

/**
 * LiteLLM's module attributes that litellm_settings may set (LiteLLM sets any key it is
 * given); all concern its LLM proxy. A key in neither this list nor the MCP keys loads with
 * a warning unless it is a likely typo of an MCP key.
 */
export const LITELLM_LLM_SETTINGS = [
  "litellm_mode", "input_callback", "service_callback", "cold_storage_custom_logger", "logged_real_time_event_types", "callback_settings",
  "langfuse_default_tags", "langsmith_batch_size", "prometheus_initialize_budget_metrics", "require_auth_for_metrics_endpoint", "argilla_batch_size",
  "datadog_use_v1", "gcs_pub_sub_use_v1", "generic_api_use_v1", "pre_call_rules", "post_call_rules", "turn_off_message_logging",
  "log_raw_request_response", "redact_messages_in_exceptions", "redact_user_api_key_info", "filter_invalid_headers",
  "add_user_information_to_llm_headers", "store_audit_logs", "email", "token", "telemetry", "max_tokens", "drop_params", "modify_params",
  "retry", "api_key", "openai_key", "azure_key", "anthropic_key", "vertex_project", "vertex_location", "common_cloud_provider_auth_params",
  "use_litellm_proxy", "use_client", "ssl_verify", "ssl_security_level", "ssl_certificate", "ssl_ecdh_curve", "disable_streaming_logging",
  "disable_token_counter", "disable_add_transform_inline_image_block", "disable_add_user_agent_to_request_tags", "extra_spend_tag_headers",
  "safe_memory_mode", "enable_azure_ad_token_refresh", "proxy_auth", "credential_list", "llamaguard_model_name", "openai_moderations_model_name",
  "presidio_ad_hoc_recognizers", "google_moderation_confidence_threshold", "llamaguard_unsafe_content_categories", "blocked_user_list",
  "banned_keywords_list", "llm_guard_mode", "guardrail_name_config_map", "include_cost_in_streaming_usage", "reasoning_auto_summary",
  "prompt_name_config_map", "enable_preview_features", "return_response_headers", "enable_json_schema_validation", "logging",
  "enable_loadbalancing_on_batch_endpoints", "enable_caching_on_provider_specific_optional_params", "caching", "cache", "cache_params",
  "default_in_memory_ttl", "default_redis_ttl", "default_redis_batch_cache_expiry", "model_alias_map", "model_group_settings", "max_budget",
  "budget_duration", "default_soft_budget", "forward_traceparent_to_llm_provider", "error_logs", "add_function_to_prompt", "model_fallbacks",
  "model_cost_map_url", "suppress_debug_info", "dynamodb_table_name", "s3_callback_params", "datadog_llm_observability_params", "datadog_params",
  "aws_sqs_callback_params", "generic_logger_headers", "default_internal_user_params", "default_team_params", "default_team_settings",
  "max_user_budget", "default_max_internal_user_budget", "max_internal_user_budget", "max_ui_session_budget", "internal_user_budget_duration",
  "tag_budget_config", "max_end_user_budget", "max_end_user_budget_id", "disable_end_user_cost_tracking",
  "disable_end_user_cost_tracking_prometheus_only", "enable_end_user_cost_tracking_prometheus_only", "custom_prometheus_metadata_labels",
  "custom_prometheus_tags", "prometheus_metrics_config", "disable_add_prefix_to_prompt", "disable_copilot_system_to_assistant",
  "public_model_groups", "public_agent_groups", "public_model_groups_links", "priority_reservation", "priority_reservation_settings",
  "use_aiohttp_transport", "aiohttp_trust_env", "disable_aiohttp_transport", "disable_aiohttp_trust_env", "force_ipv4",
  "disable_stop_sequence_limit", "num_retries", "max_fallbacks", "default_fallbacks", "fallbacks", "context_window_fallbacks",
  "content_policy_fallbacks", "allowed_fails", "allow_dynamic_callback_disabling", "num_retries_per_request", "secret_manager_client",
  "output_parse_pii", "model_cost", "cost_discount_config", "cost_margin_config", "custom_prompt_dict", "check_provider_endpoint", "api_base",
  "headers", "api_version", "organization", "project", "config_path", "vertex_ai_safety_settings", "adapters", "vector_store_registry",
  "vector_store_index_registry", "custom_provider_map", "disable_hf_tokenizer_download", "global_disable_no_log_param",
  "global_bitbucket_config", "global_gitlab_config", "global_prompt_directory", "responses", "json_logs", "request_timeout",
] as const;

/** Fields of an `mcp_servers` entry (LiteLLM v1.81.9 and newer). */
export const SERVER_KEYS: Readonly<Record<string, Treatment>> = {
  ...every(
    ["aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name", "aws_service_name", "aws_role_name", "aws_session_name"],
    ignore("AWS settings are used only by auth_type aws_sigv4, which Gatehouse does not support"),
  ),
  ...every(["id_jag_resource_token_endpoint", "id_jag_resource"], ignore("used only by auth_type oauth2_id_jag, which Gatehouse does not support")),
  ...every(["is_byok", "byok_description", "byok_api_key_help_url"], ignore("no bring-your-own-key form is shown; users send their own credential in x-mcp-{server}-{header} headers")),
  instructions: ignore("the aggregate /mcp sends no per-server instructions; /{server}/mcp relays the upstream's own"),
  allow_sampling: ignore("the aggregate /mcp relays no sampling requests from upstreams; /{server}/mcp relays the upstream's stream as it is"),
  allow_elicitation: ignore("the aggregate /mcp relays no elicitation requests from upstreams; /{server}/mcp relays the upstream's stream as it is"),
  max_concurrent_requests: ignore("no per-server request cap; connections per upstream are bounded by general_settings.max_connections_per_upstream, streams by max_streams"),
  header_variables: ignore("no header templates are filled in; use static_headers, extra_headers or x-mcp-{server}-{header}"),
  tool_name_to_display_name: ignore("tools keep their upstream names (with the server prefix on /mcp)"),
  tool_name_to_description: ignore("tools keep their upstream descriptions"),
  short_prefix: ignore("tools on /mcp are prefixed with the server's alias or name"),
  env_vars: ignore("not used; os.environ/ references work in every field"),
  redirect_uris: ignore("Gatehouse registers {public origin}/callback with the upstream"),
  oauth_passthrough: ignore(
    "the client's Authorization header is not forwarded by this flag; list it in extra_headers, or have the client send x-mcp-{server}-authorization",
  ),
  server_id: NOT_READ_BY_LITELLM("a config server's id in Gatehouse is its name"),
  spec_version: NOT_READ_BY_LITELLM("it is ignored"),
  upstream_token_header: refuse("Gatehouse sends the credential in the header its auth_type names, not in another one; use auth_type authorization with static_headers, or remove it"),
  client_private_key: refuse("private_key_jwt client authentication is not supported: the token request would go without the client's credentials; use client_secret"),
  client_private_key_id: refuse("private_key_jwt client authentication is not supported: the token request would go without the client's credentials; use client_secret"),
  client_assertion_signing_alg: refuse("private_key_jwt client authentication is not supported: the token request would go without the client's credentials; use client_secret"),
  /** `never` (or false) is what Gatehouse does anyway: see REQUIRE_APPROVAL_NEVER. */
  require_approval: refuse("LiteLLM does not read this key either, and Gatehouse asks for no approvals: tool calls would run without one. Remove it (allowed_tools narrows what may be called)"),
};

/** `require_approval: never` asks for nothing, which is what Gatehouse does: loaded with a warning instead of refused. */
export const REQUIRE_APPROVAL_NEVER: Treatment = NOT_READ_BY_LITELLM("'never' is what Gatehouse does: tool calls run without an approval step");

/** auth_type values of newer LiteLLM releases that Gatehouse refuses, and why. */
export const REFUSED_AUTH_TYPES: Readonly<Record<string, string>> = {
  aws_sigv4: "AWS SigV4 request signing is not supported, and the server would be called without credentials; put it behind an MCP server that signs, or remove it",
  oauth2_id_jag: "Okta ID-JAG token exchange is not supported, and the server would be called without credentials; use auth_type oauth2_token_exchange if the authorization server speaks RFC 8693",
  true_passthrough:
    "it lets every caller through without a gateway key, which Gatehouse does not do; for the upstream's own OAuth use auth_type oauth2 with delegate_auth_to_upstream: true, or keep key checks and have clients send their upstream token in x-mcp-{server}-authorization",
  oauth_delegate:
    "Gatehouse keeps the gateway key check and takes the caller's upstream token from an x-mcp-{server}-authorization header: use auth_type none and have clients send that header",
};

/** token_exchange_profile values: rfc8693 is what Gatehouse does; others are refused. */
export const TOKEN_EXCHANGE_PROFILES = ["rfc8693"] as const;
