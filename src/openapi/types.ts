/**
 * OpenAPI servers (`spec_path`): what the gateway makes of an OpenAPI document. A leaf
 * module: it knows OpenAPI and HTTP, nothing of keys, credentials or MCP sessions; the MCP
 * side (mcp/openapi-client.ts) sends what it builds with the server's credentials.
 */
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";

export type HttpMethod = "GET" | "PUT" | "POST" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS";

/** Where a server's spec comes from, as configured. */
export interface SpecSource {
  /** `spec_path`: a file (relative to the working directory, as LiteLLM reads it) or an http(s) URL. */
  specPath: string;
  /** The server's `url`: the API's base URL; wins over the spec's `servers` (as in LiteLLM). */
  baseUrl?: string;
  /** `operations`: only these (operationId, or `METHOD /path`); absent: all. */
  operations?: readonly string[];
  /** `openapi_allow_other_hosts`: a base URL (or a path's or operation's `servers`) on another origin than the spec's or `url`'s is allowed. */
  allowOtherHosts?: boolean;
  /** For messages: `mcp_servers.<name>.spec_path` and the like. */
  label: string;
}

export interface SpecLoadOptions {
  /** Bytes a spec may have (file or URL); default 32 MiB. */
  maxSpecBytes?: number;
  /** Ms a URL spec may take to arrive; default 30 s. */
  fetchTimeoutMs?: number;
  /** fetch for URL specs (tests); default the global one. Redirects are not followed. */
  fetch?: typeof fetch;
  /** Longest tool name (before the gateway's server prefix); default 128, the MCP limit. Pass less to leave room for the prefix. */
  maxToolName?: number;
}

/** A parameter of an operation, and the tool argument that carries it. */
export interface CompiledParameter {
  /** The name in the HTTP request. */
  name: string;
  in: "path" | "query" | "header" | "cookie";
  /** The tool argument's name: `name` (`[^A-Za-z0-9_.-]` → `_`), or `name__in` when two locations share a name (or a parameter is called `body` beside a request body). */
  argument: string;
  required: boolean;
  style: string;
  explode: boolean;
  allowReserved: boolean;
  /** A `content`-typed parameter: its value is serialised as JSON. */
  json: boolean;
  /**
   * The keys an object value may have where they become names of their own (form style,
   * exploded: `R=100&G=200`): its schema's `properties`; undefined when its schema admits any
   * (`additionalProperties`).
   */
  objectKeys: ReadonlySet<string> | undefined;
}

export interface CompiledBody {
  /** The tool argument carrying it: `body` (LiteLLM's name). */
  argument: string;
  mediaType: string;
  required: boolean;
}

export interface CompiledOperation {
  /** The tool (its `name` unprefixed: sanitised, unique in the spec). */
  tool: Tool;
  operationId: string | undefined;
  method: HttpMethod;
  /** The path template as in the spec (`/pets/{petId}`). */
  path: string;
  /** Where this operation's requests go: the spec's base URL, or its path's or operation's own `servers` (when allowed). */
  baseUrl: URL;
  parameters: readonly CompiledParameter[];
  body: CompiledBody | undefined;
}

export interface LoadedSpec {
  /** The base URL requests go to (without a trailing slash). */
  baseUrl: URL;
  operations: readonly CompiledOperation[];
  /** By tool name (unprefixed). */
  byName: ReadonlyMap<string, CompiledOperation>;
  /** Things the operator should know (operations skipped, media types not sent...), one line each. */
  warnings: readonly string[];
  /** `info.title` and `info.version`, for the server's description. */
  title: string | undefined;
  version: string | undefined;
}

/** A spec that cannot be served: `message` names the file or URL and, where known, the JSON pointer of the problem. */
export class SpecError extends Error {
  override readonly name = "SpecError";
}

/** A call's arguments that cannot make a request (a missing required one, a value of the wrong shape): the client's fault. */
export class ArgumentError extends Error {
  override readonly name = "ArgumentError";
}

/** The HTTP request a tool call becomes (before the server's credentials are added). */
export interface HttpCall {
  method: HttpMethod;
  url: URL;
  /** Header parameters, cookie parameters as one `cookie`, `content-type` with a body, and `accept`. */
  headers: Record<string, string>;
  body: string | undefined;
}

/** The API's answer, read (bounded) by the caller. */
export interface HttpAnswer {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

export type { CallToolResult };
