import t from 'tap'
import { parseTokenResponse } from '../../../src/token/token-set.js'

const NOW = Date.UTC(2030, 0, 1)

t.test('parses a full token response and makes expiry absolute', async t => {
  const set = parseTokenResponse({
    access_token: 'at', refresh_token: 'rt', id_token: 'idt', scope: 'openid', expires_in: 300, token_type: 'Bearer', recovery_code: 'rc'
  }, 200, NOW)
  t.same(set, { accessToken: 'at', refreshToken: 'rt', idToken: 'idt', expiresAt: NOW + 300_000, lifetimeMs: 300_000, scope: 'openid', recoveryCode: 'rc' })
})

t.test('optional fields absent or empty become undefined; expires_in defaults to an hour', async t => {
  const set = parseTokenResponse({ access_token: 'at', token_type: 'bearer', refresh_token: '', scope: 7 }, 200, NOW)
  t.equal(set.refreshToken, undefined)
  t.equal(set.idToken, undefined)
  t.equal(set.scope, undefined)
  t.equal(set.recoveryCode, undefined)
  t.equal(set.expiresAt, NOW + 3_600_000)
  t.equal(set.lifetimeMs, 3_600_000)
})

t.test('token_type is case-insensitive and expires_in may be a numeric string', async t => {
  t.equal(parseTokenResponse({ access_token: 'at', token_type: 'BEARER', expires_in: '60' }, 200, NOW).lifetimeMs, 60_000)
})

t.test('a body that is not a JSON object is malformed', async t => {
  for (const body of [null, 'text', 42, ['access_token'], true]) {
    t.throws(() => parseTokenResponse(body, 200, NOW), { name: 'IdpError', kind: 'malformed', status: 200 }, JSON.stringify(body))
  }
})

t.test('a missing or empty access_token is malformed', async t => {
  t.throws(() => parseTokenResponse({ token_type: 'Bearer' }, 200, NOW), { name: 'IdpError', kind: 'malformed', error: undefined })
  t.throws(() => parseTokenResponse({ access_token: '', token_type: 'Bearer' }, 200, NOW), { name: 'IdpError', kind: 'malformed' })
  t.throws(() => parseTokenResponse({ access_token: 5, token_type: 'Bearer' }, 200, NOW), { name: 'IdpError', kind: 'malformed' })
})

t.test('a token_type other than Bearer is flagged unsupported_token_type', async t => {
  for (const tokenType of ['DPoP', 'mac', undefined, 1]) {
    t.throws(() => parseTokenResponse({ access_token: 'at', token_type: tokenType }, 200, NOW), { name: 'IdpError', kind: 'malformed', error: 'unsupported_token_type' }, String(tokenType))
  }
})

t.test('expires_in that is not a positive number is malformed', async t => {
  for (const expiresIn of [0, -1, 'soon', null, Number.NaN]) {
    t.throws(() => parseTokenResponse({ access_token: 'at', token_type: 'Bearer', expires_in: expiresIn }, 200, NOW), { name: 'IdpError', kind: 'malformed' }, String(expiresIn))
  }
})
