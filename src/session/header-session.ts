/**
 * Native clients' alternative to the session cookie: `Authorization: Session <signed session id>`. The credential is
 * the session id signed exactly like the cookie value (so it is never an IdP token, and the store key stays its hash);
 * on the wire it is the `session_handle` of a header-session login, but it is a bearer credential, unlike the listed
 * session handles of GET /session/all (src/session/user-index.ts).
 */
const SESSION_SCHEME = /^Session\s+([A-Za-z0-9_.+/=-]{1,512})\s*$/

/** True when the request presents a header session (well-formed or not): it then never falls back to the cookie. */
export function hasSessionAuthorization (authorization: string | undefined): boolean {
  return authorization !== undefined && /^Session(\s|$)/i.test(authorization)
}

/** The signed session id from `Authorization: Session <signed session id>`, or undefined. */
export function signedSessionIdFrom (authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined
  return SESSION_SCHEME.exec(authorization)?.[1]
}
