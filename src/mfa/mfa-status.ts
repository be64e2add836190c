/**
 * The MFA continuation's two non-final answers: a push not approved yet, or polled too fast. They are 202s, not
 * errors, so they live here and not in src/errors.ts; the wire format is the error shape plus `interval`, and the
 * `code` is as stable as an error code (clients switch on it).
 */
import type { IdpError } from '../token/idp-error.js'

export const MFA_STATUS_CATALOG = {
  mfa_pending: 'Waiting for the push notification to be approved; poll again after the interval',
  mfa_slow_down: 'Polling too fast; poll again after the (longer) interval'
} as const satisfies Record<string, string>

export type MfaStatusCode = keyof typeof MFA_STATUS_CATALOG

/** The body of a 202 from POST /session/mfa (sent with `Retry-After: <interval>`). */
export interface MfaStatusBody {
  readonly statusCode: 202
  readonly code: MfaStatusCode
  readonly error: 'Accepted'
  readonly message: string
  /** Seconds to wait before the next poll. */
  readonly interval: number
}

/**
 * How much each slow_down widens the push poll interval, seconds: RFC 8628 §3.5's 5 s, whatever the first interval
 * (MFA_POLL_INTERVAL) was, since slow_down means the IdP wants fewer polls than that.
 */
export const SLOW_DOWN_STEP_SEC = 5

export function mfaStatusBody (code: MfaStatusCode, interval: number): MfaStatusBody {
  return { statusCode: 202, code, error: 'Accepted', message: MFA_STATUS_CATALOG[code], interval }
}

/** The IdP's answer to a push poll, when it means "not yet" rather than a failure. */
export function pollStatusOf (err: IdpError): MfaStatusCode | undefined {
  if (err.kind !== 'oauth') return undefined
  if (err.error === 'authorization_pending') return 'mfa_pending'
  if (err.error === 'slow_down') return 'mfa_slow_down'
  return undefined
}
