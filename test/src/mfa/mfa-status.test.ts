import t from 'tap'
import { ERROR_CATALOG } from '../../../src/errors.js'
import { MFA_STATUS_CATALOG, mfaStatusBody, pollStatusOf } from '../../../src/mfa/mfa-status.js'
import { IdpError } from '../../../src/token/idp-error.js'

t.test('the 202 body: the error shape plus interval, with the catalog message', async t => {
  t.same(mfaStatusBody('mfa_pending', 5), { statusCode: 202, code: 'mfa_pending', error: 'Accepted', message: MFA_STATUS_CATALOG.mfa_pending, interval: 5 })
  t.same(mfaStatusBody('mfa_slow_down', 10), { statusCode: 202, code: 'mfa_slow_down', error: 'Accepted', message: MFA_STATUS_CATALOG.mfa_slow_down, interval: 10 })
  t.same(Object.keys(MFA_STATUS_CATALOG).filter(code => code in ERROR_CATALOG), [], 'no status code is also an error code')
})

t.test('only authorization_pending and slow_down OAuth answers are a status', async t => {
  t.equal(pollStatusOf(new IdpError('oauth', { status: 400, error: 'authorization_pending' })), 'mfa_pending')
  t.equal(pollStatusOf(new IdpError('oauth', { status: 400, error: 'slow_down' })), 'mfa_slow_down')
  t.equal(pollStatusOf(new IdpError('oauth', { status: 403, error: 'invalid_grant' })), undefined)
  t.equal(pollStatusOf(new IdpError('malformed', { status: 400, error: 'authorization_pending' })), undefined, 'a malformed body is no status')
  t.equal(pollStatusOf(new IdpError('timeout')), undefined)
})
