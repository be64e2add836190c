import t from 'tap'
import { mfaError } from '../../../src/mfa/mfa-errors.js'
import { IdpError } from '../../../src/token/idp-error.js'

const oauth = (status: number, error: string, description?: string): IdpError =>
  new IdpError('oauth', { status, error, ...(description === undefined ? {} : { description }) })

/** [IdP failure, factor, client code, status, whether the pending login ends] */
type Case = [IdpError, string | undefined, string, number, boolean]

t.test('the MFA branches: expired mfa_token, rejected push, wrong code', async t => {
  const cases: Case[] = [
    // Branch 1: Auth0's expired_token, whatever the factor.
    [oauth(403, 'expired_token', 'mfa_token is expired'), 'otp', 'mfa_expired', 401, true],
    [oauth(400, 'expired_token'), undefined, 'mfa_expired', 401, true],
    // Branch 2: invalid_grant naming the mfa_token (a malformed or consumed one).
    [oauth(403, 'invalid_grant', 'Malformed mfa_token'), 'otp', 'mfa_expired', 401, true],
    [oauth(403, 'invalid_grant', 'Invalid MFA_TOKEN.'), 'push', 'mfa_expired', 401, true],
    // Branch 3: a rejection, said in the description, under access_denied or invalid_grant.
    [oauth(403, 'access_denied', 'The user rejected the transaction'), 'push', 'mfa_rejected', 403, true],
    [oauth(403, 'invalid_grant', 'MFA Authorization rejected.'), 'sms', 'mfa_rejected', 403, true],
    // Branch 4: access_denied on a push poll without a description saying so.
    [oauth(403, 'access_denied', 'denied'), 'push', 'mfa_rejected', 403, true],
    // Branch 5: any other invalid_grant is a wrong code; the pending login stays for another try.
    [oauth(403, 'invalid_grant', 'Invalid otp_code.'), 'otp', 'mfa_invalid_code', 401, false],
    [oauth(403, 'invalid_grant', 'Invalid binding_code.'), 'sms', 'mfa_invalid_code', 401, false],
    [oauth(403, 'invalid_grant'), 'recovery-code', 'mfa_invalid_code', 401, false]
  ]
  for (const [err, factor, code, status, ends] of cases) {
    const { error, endsPendingLogin } = mfaError(err, factor)
    const name = `${err.error ?? ''} "${err.description ?? ''}" (${factor ?? 'no factor'})`
    t.equal(error.code, code, name)
    t.equal(error.statusCode, status, `${name}: status`)
    t.equal(endsPendingLogin, ends, `${name}: ${ends ? 'ends' : 'keeps'} the pending login`)
    t.equal(error.cause, err, `${name}: the IdP failure is the cause`)
  }
})

t.test('everything else maps like a login; only outcomes no retry can change end the pending login', async t => {
  const cases: Case[] = [
    // access_denied outside a push, or a client authentication failure during a push, is not a rejection.
    [oauth(403, 'access_denied', 'denied by an Action'), 'otp', 'access_denied', 403, true],
    [oauth(403, 'access_denied', 'denied by an Action'), undefined, 'access_denied', 403, true],
    [oauth(401, 'access_denied', 'Unauthorized'), 'push', 'gateway_misconfigured', 502, false],
    [oauth(401, 'invalid_client'), 'push', 'gateway_misconfigured', 502, false],
    [oauth(429, 'too_many_attempts'), 'otp', 'account_blocked', 429, true],
    [oauth(401, 'password_leaked'), 'otp', 'password_reset_required', 403, true],
    [oauth(401, 'requires_verification'), 'sms', 'interactive_login_required', 403, true],
    [oauth(401, 'unauthorized', 'user is blocked'), 'otp', 'access_denied', 403, true],
    // Transient trouble and the gateway's own misconfiguration keep it: the user may try again within its lifetime.
    [oauth(429, 'too_many_requests'), 'otp', 'rate_limited', 429, false],
    [oauth(503, 'temporarily_unavailable'), 'push', 'idp_unavailable', 502, false],
    [oauth(403, 'unauthorized_client'), 'otp', 'gateway_misconfigured', 502, false],
    [oauth(400, 'authorization_pending'), 'otp', 'gateway_misconfigured', 502, false],
    [new IdpError('timeout'), 'push', 'idp_timeout', 504, false],
    [new IdpError('network'), 'otp', 'idp_unavailable', 502, false],
    [new IdpError('malformed', { status: 200, description: 'challenge answer has neither otp nor an oob_code' }), 'sms', 'idp_unavailable', 502, false],
    // Only an OAuth answer is read: a malformed body's description says nothing about the mfa_token or a rejection.
    [new IdpError('malformed', { status: 403, error: 'invalid_grant', description: 'rejected mfa_token' }), 'push', 'idp_unavailable', 502, false]
  ]
  for (const [err, factor, code, status, ends] of cases) {
    const { error, endsPendingLogin } = mfaError(err, factor)
    const name = `${err.kind} ${err.error ?? ''} "${err.description ?? ''}" (${factor ?? 'no factor'})`
    t.equal(error.code, code, name)
    t.equal(error.statusCode, status, `${name}: status`)
    t.equal(endsPendingLogin, ends, `${name}: ${ends ? 'ends' : 'keeps'} the pending login`)
  }
  t.equal(mfaError(oauth(429, 'too_many_requests'), 'otp').error.retryAfter, 1, 'a rate limit keeps its Retry-After')
})
