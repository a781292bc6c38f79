/**
 * Errors of the gateway's OAuth endpoints, answered as RFC 6749 §5.2 bodies
 * (`{error, error_description}`) by the HTTP layer. The description is client-safe.
 */
import { GatewayError } from "../errors.js";

export function oauthError(error: string, description: string, status = 400, detail?: string): GatewayError {
  return new GatewayError({ status, code: error, message: description, expose: true, ...(detail === undefined ? {} : { detail }) });
}
