/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9) at the
 * gateway's token endpoint, for a client whose metadata document publishes its keys.
 *
 * The assertion must be signed by one of the document's keys with an asymmetric algorithm,
 * have `iss` = `sub` = the client_id, an `aud` naming the token endpoint or the issuer, an
 * `exp` at most 5 minutes away, and a `jti` not seen before. A jti is recorded in the
 * database until the assertion expires, so a replay is refused by every instance sharing it
 * (the insert is the check: no instance reads then writes); this instance's own memory of
 * the jtis it accepted turns away its own replays before asking the database.
 */
import { errors, jwtVerify } from "jose";
import { oauthError } from "./oauth-error.js";
import type { ClientMetadataDocument } from "./client-metadata-document.js";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** The assertion algorithms accepted (asymmetric only: a document holds no shared secret); advertised in RFC 8414 metadata. */
export const CLIENT_ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];
const MAX_LIFETIME_SECONDS = 300;

function unauthenticated(problem: string) {
  return oauthError("invalid_client", `client authentication (private_key_jwt): ${problem}`, 401);
}

/** Records a jti for every instance until `expiresAtMs`; false when it was recorded before (OauthRepository.claimAssertionJti). */
export type ClaimJti = (clientId: string, jti: string, expiresAtMs: number) => Promise<boolean>;

export function createClientAssertionVerifier(claim: ClaimJti, now: () => number = Date.now) {
  /** client_id + jti → epoch ms until which it is remembered: a first filter, bounded; the database decides. */
  const seen = new Map<string, number>();

  function remember(key: string, until: number): boolean {
    const at = now();
    for (const [jti, expiry] of seen) if (expiry <= at) seen.delete(jti);
    if (seen.has(key)) return false;
    if (seen.size >= 10_000) seen.delete(seen.keys().next().value!);
    seen.set(key, until);
    return true;
  }

  return async function authenticate(document: ClientMetadataDocument, form: URLSearchParams, audiences: string[]): Promise<void> {
    if (document.tokenEndpointAuthMethod !== "private_key_jwt") {
      if (form.has("client_assertion")) throw unauthenticated("this client's document says token_endpoint_auth_method none; send no client_assertion");
      return;
    }
    const assertion = form.get("client_assertion");
    if (form.get("client_assertion_type") !== ASSERTION_TYPE || assertion === null) {
      throw unauthenticated(`this client's document requires a client_assertion with client_assertion_type ${ASSERTION_TYPE}`);
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, document.keys!, {
        issuer: document.clientId,
        subject: document.clientId,
        audience: audiences,
        algorithms: CLIENT_ASSERTION_ALGORITHMS,
        requiredClaims: ["exp", "jti"],
        currentDate: new Date(now()),
        clockTolerance: 30,
      }));
    } catch (error) {
      const reason =
        error instanceof errors.JWTClaimValidationFailed
          ? `claim ${error.claim} ${error.reason === "check_failed" ? "is wrong" : error.reason.replace(/_/g, " ")} (iss and sub must be the client_id, aud the token endpoint)`
          : error instanceof errors.JWTExpired
            ? "the assertion has expired"
            : "the signature does not verify with the keys of the client's metadata document";
      throw unauthenticated(reason);
    }
    if (payload.exp! * 1000 > now() + (MAX_LIFETIME_SECONDS + 30) * 1000) throw unauthenticated(`exp is more than ${MAX_LIFETIME_SECONDS} seconds away`);
    // Remembered here first (synchronously, so two requests at this instance cannot both pass), then claimed for every instance.
    const until = payload.exp! * 1000 + 30_000;
    if (!remember(`${document.clientId}\n${payload.jti}`, until) || !(await claim(document.clientId, payload.jti!, until))) {
      throw unauthenticated("this assertion (jti) was already used; sign a new assertion with a fresh jti for every token request");
    }
  };
}

export type ClientAssertionVerifier = ReturnType<typeof createClientAssertionVerifier>;
