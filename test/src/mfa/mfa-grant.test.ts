import t from 'tap'
import { GRANT_MFA_OOB, GRANT_MFA_OTP, GRANT_MFA_RECOVERY_CODE, mfaGrant } from '../../../src/mfa/mfa-grant.js'
import type { PendingLogin } from '../../../src/mfa/pending-logins.js'

const base: PendingLogin = {
  kind: 'mfa_pending',
  mfaToken: 'mfa-token',
  user: 'u',
  realm: undefined,
  transport: 'cookie',
  authenticators: [{ id: 'sms|1', type: 'oob', channel: 'sms' }, { id: 'push|1', type: 'oob', channel: 'auth0' }],
  createdAt: 0,
  expiresAt: 300_000
}
const sms: PendingLogin = { ...base, oob: { code: 'oob-1', authenticatorId: 'sms|1', binding: true, intervalSec: 5 } }
const push: PendingLogin = { ...base, oob: { code: 'oob-2', authenticatorId: 'push|1', binding: false, intervalSec: 5 } }

t.test('each body picks its grant, with the mfa_token and the oob_code from the pending login', async t => {
  t.same(mfaGrant({ otp: '123456' }, push), { grant: GRANT_MFA_OTP, params: { mfa_token: 'mfa-token', otp: '123456' }, factor: 'otp', poll: false }, 'a code, even after a push challenge')
  t.same(mfaGrant({ recovery_code: 'R' }, base), { grant: GRANT_MFA_RECOVERY_CODE, params: { mfa_token: 'mfa-token', recovery_code: 'R' }, factor: 'recovery-code', poll: false })
  t.same(mfaGrant({ binding_code: '42' }, sms), { grant: GRANT_MFA_OOB, params: { mfa_token: 'mfa-token', oob_code: 'oob-1', binding_code: '42' }, factor: 'sms', poll: false })
  t.same(mfaGrant({}, push), { grant: GRANT_MFA_OOB, params: { mfa_token: 'mfa-token', oob_code: 'oob-2' }, factor: 'push', poll: true })
  const unlisted: PendingLogin = { ...sms, oob: { code: 'oob-3', authenticatorId: 'gone', binding: true, intervalSec: 5 } }
  t.equal(mfaGrant({ binding_code: '42' }, unlisted).factor, 'oob', 'an authenticator not listed: oob')
})

t.test('a body that does not fit the challenge is invalid_request', async t => {
  for (const [body, record, message] of [
    [{}, base, /start a challenge first/],
    [{ binding_code: '42' }, base, /start a challenge first/],
    [{}, sms, /binding_code is required/],
    [{ binding_code: '42' }, push, /poll with an empty body/]
  ] as const) {
    t.throws(() => mfaGrant(body, record), { name: 'GatewayError', code: 'invalid_request', statusCode: 400, message })
  }
})
