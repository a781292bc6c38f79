/**
 * The `resource_metadata` auth-param of a `WWW-Authenticate: Bearer` challenge (RFC 9728
 * §5.1): where a protected resource says its metadata is.
 */

/**
 * A quoted string (skipped: its text is not a parameter, RFC 9110 §5.6.4), or the
 * `resource_metadata` auth-param with its quoted or token value.
 */
const PARAMETERS = /"(?:[^"\\]|\\.)*"|(\bresource_metadata\s*=\s*)("(?:[^"\\]|\\.)*"|[^\s,]+)/gi;

export function findResourceMetadata(challenge: string): { index: number; length: number; name: string; url: string } | undefined {
  for (const match of challenge.matchAll(PARAMETERS)) {
    const [whole, name, value] = match;
    if (name === undefined || value === undefined) continue;
    const url = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
    return { index: match.index, length: whole.length, name, url };
  }
  return undefined;
}

/** The `resource_metadata` URL of a WWW-Authenticate value, if it names one. */
export function challengeMetadataUrl(challenge: string): string | undefined {
  return findResourceMetadata(challenge)?.url;
}

