/**
 * oauth4webapi refuses plain http:// endpoints unless told otherwise. The gateway accepts
 * them (loopback development, internal networks; a non-loopback one is warned about at
 * startup), so every upstream OAuth call passes this option for its own URL.
 */
import * as oauth from "oauth4webapi";

export function allowHttp(url: string | URL): { [oauth.allowInsecureRequests]: boolean } {
  return { [oauth.allowInsecureRequests]: new URL(url).protocol === "http:" };
}
