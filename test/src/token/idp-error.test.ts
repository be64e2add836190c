import t from 'tap'
import { IdpError, retryAfterSeconds } from '../../../src/token/idp-error.js'

const NOW = Date.UTC(2030, 0, 1)
const headers = (init: Record<string, string>): Headers => new Headers(init)

t.test('Retry-After in seconds', async t => {
  t.equal(retryAfterSeconds(headers({ 'retry-after': '17' }), NOW), 17)
  t.equal(retryAfterSeconds(headers({ 'retry-after': ' 5 ' }), NOW), 5)
})

t.test('Retry-After as an HTTP date, rounded up', async t => {
  t.equal(retryAfterSeconds(headers({ 'retry-after': new Date(NOW + 30_000).toUTCString() }), NOW), 30)
  t.equal(retryAfterSeconds(headers({ 'retry-after': new Date(NOW + 30_000).toUTCString() }), NOW + 500), 30)
})

t.test('x-ratelimit-reset (epoch seconds) when there is no Retry-After', async t => {
  t.equal(retryAfterSeconds(headers({ 'x-ratelimit-reset': String(NOW / 1000 + 42) }), NOW), 42)
})

t.test('Retry-After wins over x-ratelimit-reset', async t => {
  t.equal(retryAfterSeconds(headers({ 'retry-after': '3', 'x-ratelimit-reset': String(NOW / 1000 + 42) }), NOW), 3)
})

t.test('an unparseable Retry-After falls back to x-ratelimit-reset', async t => {
  t.equal(retryAfterSeconds(headers({ 'retry-after': 'soon', 'x-ratelimit-reset': String(NOW / 1000 + 9) }), NOW), 9)
  t.equal(retryAfterSeconds(headers({ 'retry-after': 'soon' }), NOW), undefined)
})

t.test('nothing usable: undefined', async t => {
  t.equal(retryAfterSeconds(headers({}), NOW), undefined)
  t.equal(retryAfterSeconds(headers({ 'x-ratelimit-reset': 'later' }), NOW), undefined)
})

t.test('clamped to at least 1 s and at most an hour', async t => {
  t.equal(retryAfterSeconds(headers({ 'retry-after': '0' }), NOW), 1)
  t.equal(retryAfterSeconds(headers({ 'retry-after': new Date(NOW - 60_000).toUTCString() }), NOW), 1)
  t.equal(retryAfterSeconds(headers({ 'x-ratelimit-reset': String(NOW / 1000 - 10) }), NOW), 1)
  t.equal(retryAfterSeconds(headers({ 'retry-after': '999999' }), NOW), 3600)
})

t.test('IdpError messages and toJSON carry the code and description, never an mfa_token', async t => {
  const err = new IdpError('oauth', { status: 403, error: 'mfa_required', description: 'Multifactor authentication required', mfaToken: 'mfa-secret' })
  t.equal(err.message, 'identity provider answered 403 mfa_required: Multifactor authentication required')
  t.same(err.toJSON(), { kind: 'oauth', status: 403, error: 'mfa_required', description: 'Multifactor authentication required', retryAfter: undefined })
  t.notMatch(JSON.stringify(err), /mfa-secret/)
  t.equal(err.mfaToken, 'mfa-secret')
  t.equal(new IdpError('oauth', { error: 'x' }).message, 'identity provider answered ? x')
  t.equal(new IdpError('malformed', { status: 200, description: 'body is not JSON' }).message, 'identity provider answered 200 with an unusable body (body is not JSON)')
  t.equal(new IdpError('malformed').message, 'identity provider answered ? with an unusable body')
  t.equal(new IdpError('network').message, 'identity provider unreachable')
  t.equal(new IdpError('timeout').message, 'identity provider timed out')
  const cause = new Error('socket')
  t.equal(new IdpError('network', { cause }).cause, cause)
})
