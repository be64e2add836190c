/**
 * What an IdP failure during the MFA continuation (POST /mfa/challenge, an MFA grant) means for the client, and
 * whether it ends the pending login. Auth0 tells an expired mfa_token, a rejected push and a wrong code apart only by
 * the OAuth `error` and, for the first two, its description (reference §8); everything else maps like a login.
 */
import { GatewayError, type ErrorCode } from '../errors.js'
import type { IdpError } from '../token/idp-error.js'
import { isClientAuthenticationFailure, loginError } from '../token/login-errors.js'

export interface MfaFailure {
  readonly error: GatewayError
  /** The pending login is over (its cookie is cleared): the user must sign in again with the password. */
  readonly endsPendingLogin: boolean
}

/** Login outcomes that no retry within the pending login's lifetime can change. */
const FINAL_LOGIN_CODES: ReadonlySet<ErrorCode> = new Set(['account_blocked', 'access_denied', 'password_reset_required', 'interactive_login_required'])

/** `factor`: the step's factor (`otp`, `push`, `sms`, `recovery-code`…), undefined when not known. */
export function mfaError (err: IdpError, factor: string | undefined): MfaFailure {
  const ends = (code: ErrorCode): MfaFailure => ({ error: new GatewayError(code, { cause: err }), endsPendingLogin: true })
  if (err.kind === 'oauth') {
    const description = err.description ?? ''
    if (err.error === 'expired_token') return ends('mfa_expired')
    if (err.error === 'invalid_grant' && /mfa_token/i.test(description)) return ends('mfa_expired')
    if ((err.error === 'access_denied' || err.error === 'invalid_grant') && /reject/i.test(description)) return ends('mfa_rejected')
    if (err.error === 'access_denied' && !isClientAuthenticationFailure(err) && factor === 'push') return ends('mfa_rejected')
    if (err.error === 'invalid_grant') return { error: new GatewayError('mfa_invalid_code', { cause: err }), endsPendingLogin: false }
  }
  const error = loginError(err)
  // Transient trouble (and the gateway's own misconfiguration) keeps the pending login: the user may try again.
  return { error, endsPendingLogin: FINAL_LOGIN_CODES.has(error.code) }
}
