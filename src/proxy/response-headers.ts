/**
 * What an upstream's answer may not carry to the client (issue #15, item 10): cookies the gateway owns, a `Vary`
 * that drops the gateway's `Origin`, and CORS headers (the gateway's CORS answer is the only one).
 */

/**
 * A filter for upstream `Set-Cookie` lines: false for a cookie whose name starts with the gateway's cookie name (any
 * case: `__Host-bff-session`, `__Host-bff-session-mfa`, `__HOST-bff-sessionX`), and for a cookie without a name
 * (`=__Host-bff-session=x`, or no `=` before the first `;`), which browsers store under the empty name and send as
 * `__Host-bff-session=x`: a malicious upstream could plant a session cookie (fixation).
 */
export function upstreamCookieFilter (cookieName: string): (line: string) => boolean {
  const prefix = cookieName.toLowerCase()
  return line => {
    const equals = line.indexOf('=')
    if (equals === -1) return false
    const semicolon = line.indexOf(';')
    if (semicolon !== -1 && semicolon < equals) return false
    const name = line.slice(0, equals).trim()
    return name !== '' && !name.toLowerCase().startsWith(prefix)
  }
}

/** Upstream response headers that are CORS: the gateway answers CORS itself (plugins/csrf.ts). */
export function isUpstreamCorsHeader (name: string): boolean {
  // Expose-Headers only takes effect with the gateway's own Access-Control-Allow-Origin: the upstream's to set.
  return name.charCodeAt(0) === 97 /* a */ && name.startsWith('access-control-') && name !== 'access-control-expose-headers'
}

/**
 * `upstream` (a Vary header, several lines of it as an array, or undefined) with `name` in it: the upstream's list is
 * kept (as one line) and `name` appended unless it is there (any case) or the list is `*`.
 */
export function mergeVary (upstreamLines: string | string[] | undefined, name: string): string {
  const upstream = Array.isArray(upstreamLines) ? upstreamLines.join(', ') : upstreamLines
  if (upstream === undefined || upstream.trim() === '') return name
  const wanted = name.toLowerCase()
  for (const part of upstream.split(',')) {
    const field = part.trim().toLowerCase()
    if (field === wanted || field === '*') return upstream
  }
  return `${upstream}, ${name}`
}
