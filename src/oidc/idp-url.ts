/**
 * An IdP URL under a base (an issuer, a tenant origin), built with URL, never by concatenation: the base is taken
 * as a directory, so `https://idp.example/tenant` and `https://idp.example/tenant/` both give
 * `https://idp.example/tenant/<relative>` (`${issuer}mfa/…` gave `https://idp.example/tenantmfa/…`, and for an
 * issuer without a path and without a trailing slash a different host).
 */
export function idpUrl (base: string, relative: string): string {
  const directory = new URL(base)
  if (!directory.pathname.endsWith('/')) directory.pathname = `${directory.pathname}/`
  directory.search = ''
  directory.hash = ''
  // A leading slash would resolve against the origin and drop the base's path.
  return new URL(relative.replace(/^\/+/, ''), directory).href
}
