/**
 * The HTML pages the gateway shows in the middle of an OAuth flow: plain, no JavaScript, no
 * login needed (MCP clients' users are not signed in to the UI), never framed, never a
 * stack trace.
 */

const escape = (value: string) =>
  value.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char]!);

/** Response headers of every flow page: not frameable (clickjacking), not cached, no scripts. */
export const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "x-frame-options": "DENY",
  // No form-action: browsers apply it to the redirect after the consent form, which goes upstream.
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  "cache-control": "no-store",
  // Not no-referrer: under it browsers send `Origin: null` with the consent form (Fetch standard,
  // "append a request Origin header"), which the DNS-rebinding check refuses. same-origin
  // still sends nothing to other origins (the upstream the consent redirects to).
  "referrer-policy": "same-origin",
} as const;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1f24}h1{font-size:1.4rem}button{font:inherit;padding:.5rem 1.2rem;margin-right:.5rem}code{background:#f3f4f6;padding:0 .2rem}</style>
</head><body><main>${body}</main></body></html>`;
}

export function errorPage(title: string, message: string, next: string): string {
  return page(title, `<h1>${escape(title)}</h1><p role="alert">${escape(message)}</p><p>${escape(next)}</p>`);
}

export function consentPage(input: {
  action: string;
  clientName: string;
  redirectHost: string;
  /** A metadata-document client: the host of its client_id URL, which vouches for it. */
  clientHost?: string;
  /** Every redirect URI of the client is on loopback: any program on the machine could be it. */
  loopbackOnly?: boolean;
  serverName: string;
  scopes: string[];
  fields: Record<string, string>;
}): string {
  const hidden = Object.entries(input.fields)
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join("");
  const scopes = input.scopes.length === 0 ? "" : `<p>Requested access: ${input.scopes.map((scope) => `<code>${escape(scope)}</code>`).join(" ")}</p>`;
  const identity = input.clientHost === undefined ? "" : `<p>This client is identified by <code>${escape(input.clientHost)}</code>, which published its description.</p>`;
  const warning =
    input.loopbackOnly === true
      ? `<p role="alert"><strong>Warning:</strong> this client only returns to addresses on your own computer (<code>localhost</code>), which any program running there can also claim. Allow only if you started ${escape(input.clientName)} yourself just now.</p>`
      : "";
  return page(
    "Allow access?",
    `<h1>Allow access to ${escape(input.serverName)}?</h1>
<p><strong>${escape(input.clientName)}</strong> (returning to <code>${escape(input.redirectHost)}</code>) asks to use the MCP server <strong>${escape(input.serverName)}</strong> on your behalf, through this gateway.</p>
${identity}${warning}${scopes}<p>Only allow clients you started yourself.</p>
<form method="post" action="${escape(input.action)}">${hidden}<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny">Deny</button></form>`,
  );
}
