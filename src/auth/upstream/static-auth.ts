/**
 * The static `auth_type`s (README, "config.yaml"): one header, computed once at load.
 */
import { basicCredentials, withoutScheme } from "../../config/basic-credentials.js";
import type { StaticAuthType } from "../../config/schema.js";
import { NO_CREDENTIALS, type UpstreamAuth, type UpstreamCredentials } from "./strategy.js";

export function staticAuthHeader(authType: StaticAuthType, value: string): [name: string, value: string] | undefined {
  switch (authType) {
    case "none":
      return undefined;
    case "api_key":
      return ["x-api-key", value];
    case "bearer_token":
      return ["authorization", `Bearer ${withoutScheme(value, "bearer")}`];
    case "basic":
      // The schema admits only values basicCredentials reads; the fallback encodes as LiteLLM always did.
      return ["authorization", `Basic ${basicCredentials(value) ?? Buffer.from(value, "utf8").toString("base64")}`];
    case "authorization":
      return ["authorization", value];
    case "token":
      return ["authorization", `token ${withoutScheme(value, "token")}`];
  }
}

export function staticAuth(authType: StaticAuthType, value: string | undefined): UpstreamAuth {
  const header = value === undefined ? undefined : staticAuthHeader(authType, value);
  const credentials: UpstreamCredentials =
    header === undefined
      ? NO_CREDENTIALS
      : Object.freeze({ headers: Object.freeze({ [header[0]]: header[1] }), resolution: "static-token" });
  return { credentials: () => credentials };
}
