/**
 * HTTP Basic client authentication toward upstream token endpoints (RFC 6749 §2.3.1).
 *
 * The client_id and secret are form-encoded before they are joined, as WHATWG's
 * application/x-www-form-urlencoded serializer encodes them (letters, digits and `*-._` as
 * they are, space as `+`, the rest percent-encoded). oauth4webapi's ClientSecretBasic
 * percent-encodes `-_.!~*'()` too: a server that decodes the credentials reads both forms
 * alike, but servers that compare them undecoded (the MCP conformance suite's, others in
 * the wild) refuse `pre%2Dregistered` for `pre-registered`.
 */
import type * as oauth from "oauth4webapi";

const formEncode = (value: string): string => new URLSearchParams({ v: value }).toString().slice(2);

export function clientSecretBasic(clientSecret: string): oauth.ClientAuth {
  return (_as, client, _body, headers) => {
    headers.set("authorization", `Basic ${Buffer.from(`${formEncode(client.client_id)}:${formEncode(clientSecret)}`, "utf8").toString("base64")}`);
  };
}
