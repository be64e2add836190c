/**
 * Request headers the proxy never forwards (issue #15, item 8): headers an upstream, or a proxy or framework in front
 * of it, may take as the client's address, the user's identity, the URL that was asked for or the method. Only the
 * gateway knows these; a client that sends them is lying. The gateway sets its own `X-Forwarded-For`,
 * `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Request-Id` after this list is applied.
 *
 * Names are lower case. An entry ending in `*` is a prefix. STRIP_REQUEST_HEADERS adds entries.
 */

/** Hop-by-hop request headers (RFC 9110 §7.6.1) and proxy credentials: about the client's hop to us. */
export const HOP_BY_HOP_REQUEST_HEADERS: readonly string[] = [
  'forwarded', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect'
]

/** The default deny-list: the README lists it in this order. */
export const STRIPPED_REQUEST_HEADERS: readonly string[] = [
  // The client's address (the gateway sends X-Forwarded-For)
  'x-real-ip', 'true-client-ip', 'x-client-ip', 'client-ip', 'x-cluster-client-ip', 'x-originating-ip', 'x-remote-ip',
  'x-remote-addr', 'x-proxyuser-ip', 'cf-connecting-ip', 'cf-connecting-ipv6', 'fastly-client-ip', 'x-azure-clientip',
  'x-azure-socketip', 'x-appengine-user-ip', 'x-original-forwarded-for',
  // Every X-Forwarded-* (port, prefix, server, scheme, ssl, uri, user, email, groups, access-token, client-cert, …)
  // and the non-standard X-Forwarded
  'x-forwarded-*', 'x-forwarded',
  // The URL, host and scheme asked for
  'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-original-host', 'x-host', 'x-url-scheme', 'front-end-https',
  'x-arr-ssl',
  // Method override
  'x-http-method-override', 'x-http-method', 'x-method-override',
  // Identity set by authenticating proxies (oauth2-proxy, Kong, AWS ALB, Azure App Service, Google IAP, Cloudflare
  // Access, Grafana and friends)
  'remote-user', 'x-remote-user', 'x-user', 'x-user-id', 'x-userid', 'x-username', 'x-email', 'x-user-email',
  'x-authenticated-user', 'x-authenticated-userid', 'x-authenticated-groups', 'x-authenticated-scope',
  'x-credential-identifier', 'x-anonymous-consumer', 'x-consumer-*', 'x-auth-request-*', 'x-webauth-user',
  'x-amzn-oidc-*', 'x-ms-client-principal*', 'x-ms-token-*', 'x-goog-authenticated-user-*', 'x-goog-iap-jwt-assertion',
  'cf-access-*', 'x-jwt-claim-*',
  // Client certificates as a TLS-terminating proxy passes them on
  'x-ssl-client-*', 'ssl-client-*', 'x-client-cert', 'x-client-verify', 'x-client-dn', 'x-arr-clientcert',
  'x-amzn-mtls-*',
  // Envoy's own control and identity headers (retries, timeouts, original path, external address)
  'x-envoy-*'
]

/** Names the proxy cannot work without: STRIP_REQUEST_HEADERS may not remove them (fastify.config.ts checks). */
export const PROTECTED_REQUEST_HEADERS: readonly string[] = ['host', 'content-length', 'transfer-encoding', 'content-type', 'content-encoding']

/** A lower-case header name, or a prefix ending in `*`. */
export const HEADER_PATTERN = /^[!#$%&'+\-.^_`|~0-9a-z]+\*?$/

/**
 * A test for header names against exact names and `prefix*` entries, compiled once: one Set lookup, then, only for
 * names whose first and third characters are those of some prefix (`x-f…` for `x-forwarded-*`; most names, such as
 * `sec-fetch-mode`, `cookie` or `x-request-id`, stop here), one anchored regular expression. Nothing is allocated.
 */
export function headerNameMatcher (entries: readonly string[]): (name: string) => boolean {
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const entry of entries) {
    if (entry.endsWith('*')) prefixes.push(entry.slice(0, -1))
    else exact.add(entry)
  }
  if (prefixes.length === 0) return name => exact.has(name)
  // A prefix of one or two characters has no third one to compare: it always goes to the expression (NaN → 0).
  const short = prefixes.some(prefix => prefix.length < 3)
  const starts = new Set(prefixes.map(prefix => startKey(prefix)))
  const startsLikeOne = new RegExp(`^(?:${prefixes.map(escapeRegExp).join('|')})`)
  return name => exact.has(name) || ((short || starts.has(startKey(name))) && startsLikeOne.test(name))
}

/** The first and third character codes of a name, as one number. */
function startKey (name: string): number {
  return (name.charCodeAt(0) << 16) | (name.charCodeAt(2) || 0)
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
