/**
 * Native clients' alternative to the session cookie: `Authorization: Session <handle>`, where the handle is the
 * session id signed exactly like the cookie value (so it is never an IdP token, and the store key stays its hash).
 */
const SESSION_SCHEME = /^Session\s+([A-Za-z0-9_.+/=-]{1,512})\s*$/

/** True when the request presents a header session (well-formed or not): it then never falls back to the cookie. */
export function hasSessionAuthorization (authorization: string | undefined): boolean {
  return authorization !== undefined && /^Session(\s|$)/i.test(authorization)
}

/** The handle from `Authorization: Session <handle>`, or undefined. */
export function sessionHandleFrom (authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined
  return SESSION_SCHEME.exec(authorization)?.[1]
}
