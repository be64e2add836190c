/** Which MFA grant (reference §8.4) a POST /session/mfa body asks for, from the pending login's state. */
import { GatewayError } from '../errors.js'
import type { PendingLogin } from './pending-logins.js'

export const GRANT_MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'
export const GRANT_MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob'
export const GRANT_MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code'

/** At most one field (the route's schema says so). */
export interface MfaVerifyBody { otp?: string, binding_code?: string, recovery_code?: string }

export interface MfaGrant {
  readonly grant: string
  /** The grant's parameters, with the mfa_token (and the oob_code): for the token endpoint only. */
  readonly params: Readonly<Record<string, string>>
  /** For logs: `otp`, `recovery-code`, `push` or the channel of the binding code (`sms`, `voice`, `email`). */
  readonly factor: string
  /** A push poll (empty body after a push challenge): it sends no code, so it reserves no wrong code. */
  readonly poll: boolean
}

/** The grant for a body; 400 invalid_request when the body does not fit the pending login's challenge. */
export function mfaGrant (body: MfaVerifyBody, record: PendingLogin): MfaGrant {
  if (body.otp !== undefined) return { grant: GRANT_MFA_OTP, params: { mfa_token: record.mfaToken, otp: body.otp }, factor: 'otp', poll: false }
  if (body.recovery_code !== undefined) {
    return { grant: GRANT_MFA_RECOVERY_CODE, params: { mfa_token: record.mfaToken, recovery_code: body.recovery_code }, factor: 'recovery-code', poll: false }
  }
  const oob = record.oob
  if (oob === undefined) throw new GatewayError('invalid_request', { message: 'Send { "otp" } or { "recovery_code" }, or start a challenge first (POST /session/mfa/challenge)' })
  if (oob.binding && body.binding_code === undefined) throw new GatewayError('invalid_request', { message: 'binding_code is required: the code sent to the user' })
  if (!oob.binding && body.binding_code !== undefined) throw new GatewayError('invalid_request', { message: 'This challenge is a push: poll with an empty body' })
  return {
    grant: GRANT_MFA_OOB,
    params: { mfa_token: record.mfaToken, oob_code: oob.code, ...(body.binding_code === undefined ? {} : { binding_code: body.binding_code }) },
    factor: oob.binding ? record.authenticators.find(a => a.id === oob.authenticatorId)?.channel ?? 'oob' : 'push',
    poll: !oob.binding
  }
}
