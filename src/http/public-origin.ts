/**
 * PUBLIC_ORIGIN (issue #15, items 8 and 9): the origins the gateway is served at. When set, they replace everything
 * the gateway would otherwise derive from the `Host` header: which host it answers for, which `Origin` is its own,
 * and the `X-Forwarded-Host`/`-Proto` it sends upstream.
 */

export interface PublicOrigin {
  /** `https://app.example.com` (as URL.origin writes it: lower case, no default port). */
  readonly origin: string
  /** `app.example.com`: what X-Forwarded-Host says. */
  readonly host: string
  /** `https`: what X-Forwarded-Proto says. */
  readonly proto: 'http' | 'https'
}

/** Looks up the public origin a request's `Host` (or a trusted proxy's X-Forwarded-Host) names. */
export type PublicOriginLookup = (host: string) => PublicOrigin | undefined

/**
 * A lookup from Host values to the public origin they name, built once. `https://app.example.com` answers for
 * `app.example.com` and `app.example.com:443`, in any case; the first origin listed wins for a host listed twice.
 */
export function publicOriginLookup (origins: readonly string[]): PublicOriginLookup {
  const byHost = new Map<string, PublicOrigin>()
  for (const origin of origins) {
    const url = new URL(origin)
    const proto = url.protocol === 'https:' ? 'https' : 'http'
    const entry: PublicOrigin = { origin: url.origin, host: url.host, proto }
    const hosts = url.port === '' ? [url.host, `${url.host}:${proto === 'https' ? 443 : 80}`] : [url.host]
    for (const host of hosts) if (!byHost.has(host)) byHost.set(host, entry)
  }
  return host => byHost.get(host) ?? byHost.get(host.toLowerCase())
}
