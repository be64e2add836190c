import type { IdpError } from '../token/idp-error.js'
import { isClientAuthenticationFailure } from '../token/login-errors.js'

/** What an IdP failure at refresh means for the session. */
export type RefreshFailure =
  /** The IdP refused the refresh token (invalid_grant, access_denied): the session ends. */
  | 'refused'
  /** 429: no refresh of the session before the IdP's Retry-After. */
  | 'rate_limited'
  /** Any other OAuth error: the gateway's configuration is wrong; the session is kept, as for a transient failure. */
  | 'misconfigured'
  /** 5xx, timeout, connection error, unusable answer: the session is kept, the next try after a short back-off. */
  | 'transient'

export function classifyRefreshFailure (err: IdpError): RefreshFailure {
  if ((err.error === 'invalid_grant' || err.error === 'access_denied') && !isClientAuthenticationFailure(err)) return 'refused'
  if (err.status === 429) return 'rate_limited'
  if (err.kind === 'oauth' && err.error !== 'temporarily_unavailable') return 'misconfigured'
  return 'transient'
}
