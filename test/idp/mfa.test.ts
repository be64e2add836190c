import t from 'tap'
import { GATEWAY, post, startTestIdp, str, token } from './fixtures/idp-kit.js'
import type { TestIdp } from './fixtures/idp-kit.js'
import { hotp, totp } from '../../idp/totp.js'
import { GRANT_MFA_OOB, GRANT_MFA_OTP, GRANT_MFA_RECOVERY_CODE } from '../../idp/types.js'

const MFA = { username: 'mfa@example.com', password: 'mfa-password-1', id: 'auth0|mfa000000000000000000004', secret: 'JBSWY3DPEHPK3PXP' }
const NOMFA = { username: 'nomfa-enrolled@example.com', password: 'nomfa-password-1' }
const TOTP_ID = 'totp|dev_mfa0000000000000001'
const PUSH_ID = 'push|dev_mfa0000000000000002'
const SMS_ID = 'sms|dev_mfa0000000000000003'

async function mfaToken (idp: TestIdp, user: { username: string, password: string } = MFA, headers: Record<string, string> = {}): Promise<string> {
  const res = await token(idp, { grant_type: 'password', ...GATEWAY, username: user.username, password: user.password, scope: 'openid profile email offline_access' }, { headers })
  if (res.status !== 403 || res.body.error !== 'mfa_required') throw new Error(`expected mfa_required, got ${res.status} ${res.text}`)
  return str(res.body.mfa_token)
}

async function challenge (idp: TestIdp, mfa: string, authenticatorId: string) {
  return await post(`${idp.url}/mfa/challenge`, { ...GATEWAY, mfa_token: mfa, challenge_type: 'otp oob', authenticator_id: authenticatorId }, { json: true })
}

t.test('RFC 6238 test vectors (SHA-1, 8 digits truncated to the last 6)', async t => {
  // RFC 6238 Appendix B: secret "12345678901234567890"; 8-digit codes 94287082 at 59 s, 07081804 at 1111111109 s.
  const key = Buffer.from('12345678901234567890')
  t.equal(hotp(key, Math.floor(59 / 30), 8), '94287082')
  t.equal(hotp(key, Math.floor(1111111109 / 30), 8), '07081804')
  t.equal(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000), '287082')
})

t.test('mfa_required: 403 with mfa_token and mfa_requirements; authenticators listed with the mfa_token', async t => {
  const idp = await startTestIdp(t)
  const res = await token(idp, { grant_type: 'password', ...GATEWAY, username: MFA.username, password: MFA.password })
  t.equal(res.status, 403)
  t.equal(res.body.error, 'mfa_required')
  t.equal(res.body.error_description, 'Multifactor authentication required')
  t.match(res.body.mfa_token, /^Fe26\.2\*\*/)
  t.same(res.body.mfa_requirements, { challenge: [{ type: 'otp' }, { type: 'push-notification' }, { type: 'phone' }, { type: 'recovery-code' }] })
  t.equal(res.body.access_token, undefined)

  const list = await fetch(`${idp.url}/mfa/authenticators`, { headers: { authorization: `Bearer ${str(res.body.mfa_token)}` } })
  t.equal(list.status, 200)
  const body = await list.json() as Array<Record<string, unknown>>
  t.same(body.map(a => [a.id, a.authenticator_type, a.active, a.oob_channel]), [
    [TOTP_ID, 'otp', true, undefined],
    [PUSH_ID, 'oob', true, 'auth0'],
    [SMS_ID, 'oob', true, 'sms'],
    ['recovery-code|dev_mfa0000000000000004', 'recovery-code', true, undefined],
    ['email|dev_mfa0000000000000005', 'oob', false, 'email']
  ])
  t.notOk(JSON.stringify(body).includes(MFA.secret), 'no secret listed')
  t.equal((await fetch(`${idp.url}/mfa/authenticators`)).status, 401)
  t.equal((await fetch(`${idp.url}/mfa/authenticators`, { headers: { authorization: 'Bearer nope' } })).status, 403)
})

t.test('a wrong password for an MFA user is a plain invalid_grant; alice has no MFA', async t => {
  const idp = await startTestIdp(t)
  const wrong = await token(idp, { grant_type: 'password', ...GATEWAY, username: MFA.username, password: 'nope' })
  t.equal(wrong.status, 403)
  t.equal(wrong.body.error, 'invalid_grant')
  t.equal(wrong.body.mfa_token, undefined)
})

t.test('mfa-otp: a current TOTP code succeeds once; a wrong or replayed code is invalid_grant', async t => {
  const idp = await startTestIdp(t)
  const mfa = await mfaToken(idp)
  t.same((await challenge(idp, mfa, TOTP_ID)).body, { challenge_type: 'otp' })
  const wrong = await token(idp, { grant_type: GRANT_MFA_OTP, ...GATEWAY, mfa_token: mfa, otp: '000000' === totp(MFA.secret, idp.clock.now()) ? '111111' : '000000' })
  t.equal(wrong.status, 403)
  t.same(wrong.body, { error: 'invalid_grant', error_description: 'Invalid otp_code.' })
  const ok = await token(idp, { grant_type: GRANT_MFA_OTP, ...GATEWAY, mfa_token: mfa, otp: totp(MFA.secret, idp.clock.now()) })
  t.equal(ok.status, 200)
  t.type(ok.body.access_token, 'string')
  t.type(ok.body.refresh_token, 'string')
  t.type(ok.body.id_token, 'string')
  const spent = await token(idp, { grant_type: GRANT_MFA_OTP, ...GATEWAY, mfa_token: mfa, otp: totp(MFA.secret, idp.clock.now()) })
  t.equal(spent.body.error, 'invalid_grant', 'the mfa_token is spent')
  const again = await mfaToken(idp)
  const replay = await token(idp, { grant_type: GRANT_MFA_OTP, ...GATEWAY, mfa_token: again, otp: totp(MFA.secret, idp.clock.now()) })
  t.equal(replay.body.error, 'invalid_grant', 'a code is single-use')
})

t.test('mfa-oob push: authorization_pending, slow_down when polled too fast, then approved', async t => {
  const idp = await startTestIdp(t)
  const mfa = await mfaToken(idp)
  const ch = await challenge(idp, mfa, PUSH_ID)
  t.equal(ch.status, 200)
  t.equal(ch.body.challenge_type, 'oob')
  t.equal(ch.body.binding_method, undefined)
  const oob = str(ch.body.oob_code)
  const poll = async () => await token(idp, { grant_type: GRANT_MFA_OOB, ...GATEWAY, mfa_token: mfa, oob_code: oob })
  const first = await poll()
  t.equal(first.status, 400)
  t.same(first.body, { error: 'authorization_pending', error_description: 'Authorization pending: please repeat the request in a few seconds.' })
  idp.clock.advance(1000)
  t.equal((await poll()).body.error, 'slow_down')
  idp.clock.advance(5000)
  t.equal((await poll()).body.error, 'authorization_pending')
  t.equal(idp.messages.at(-1)?.kind, 'push')
  const approve = await fetch(`${idp.url}/__idp/mfa/push/${encodeURIComponent(MFA.id)}/approve`, { method: 'POST' })
  t.equal(approve.status, 404, 'the control routes need testApi')
  idp.approvePush(MFA.id)
  idp.clock.advance(5000)
  const done = await poll()
  t.equal(done.status, 200)
  t.type(done.body.access_token, 'string')
})

t.test('mfa-oob push rejected: 400 access_denied "MFA Authorization rejected." (over the control HTTP API)', async t => {
  const idp = await startTestIdp(t, { testApi: true })
  const mfa = await mfaToken(idp)
  const oob = str((await challenge(idp, mfa, PUSH_ID)).body.oob_code)
  t.equal((await fetch(`${idp.url}/__idp/mfa/push/${encodeURIComponent(oob)}/reject`, { method: 'POST' })).status, 204)
  const res = await token(idp, { grant_type: GRANT_MFA_OOB, ...GATEWAY, mfa_token: mfa, oob_code: oob })
  t.equal(res.status, 400)
  t.same(res.body, { error: 'access_denied', error_description: 'MFA Authorization rejected.' })
})

t.test('mfa-oob sms: binding_method prompt, the code is in the messages and the control API', async t => {
  const idp = await startTestIdp(t, { testApi: true })
  const mfa = await mfaToken(idp)
  const ch = await challenge(idp, mfa, SMS_ID)
  t.equal(ch.body.binding_method, 'prompt')
  const code = idp.bindingCode(MFA.id)
  t.match(code, /^\d{6}$/)
  t.match(idp.messages.at(-1)?.text, new RegExp(`your verification code is ${code ?? 'x'}`))
  const viaHttp = await (await fetch(`${idp.url}/__idp/mfa/binding-code/${encodeURIComponent(MFA.id)}`)).json() as Record<string, unknown>
  t.equal(viaHttp.binding_code, code)
  const oob = str(ch.body.oob_code)
  const wrong = await token(idp, { grant_type: GRANT_MFA_OOB, ...GATEWAY, mfa_token: mfa, oob_code: oob, binding_code: code === '000000' ? '111111' : '000000' })
  t.same(wrong.body, { error: 'invalid_grant', error_description: 'Invalid binding_code.' })
  const ok = await token(idp, { grant_type: GRANT_MFA_OOB, ...GATEWAY, mfa_token: mfa, oob_code: oob, binding_code: code ?? '' })
  t.equal(ok.status, 200)
})

t.test('mfa-recovery-code: one-time, a new code comes back', async t => {
  const idp = await startTestIdp(t)
  const first = idp.recoveryCode(MFA.id) ?? ''
  const ok = await token(idp, { grant_type: GRANT_MFA_RECOVERY_CODE, ...GATEWAY, mfa_token: await mfaToken(idp), recovery_code: first })
  t.equal(ok.status, 200)
  t.match(ok.body.recovery_code, /^[A-Z2-9]{24}$/)
  t.equal(idp.recoveryCode(MFA.id), ok.body.recovery_code)
  const reused = await token(idp, { grant_type: GRANT_MFA_RECOVERY_CODE, ...GATEWAY, mfa_token: await mfaToken(idp), recovery_code: first })
  t.same(reused.body, { error: 'invalid_grant', error_description: 'Invalid recovery code.' })
})

t.test('the mfa_token expires on the IdP clock: 401 expired_token', async t => {
  const idp = await startTestIdp(t, { mfa: { tokenTtlSec: 120 } })
  const mfa = await mfaToken(idp)
  idp.clock.advance(121_000)
  const res = await token(idp, { grant_type: GRANT_MFA_OTP, ...GATEWAY, mfa_token: mfa, otp: totp(MFA.secret, idp.clock.now()) })
  t.equal(res.status, 401)
  t.same(res.body, { error: 'expired_token', error_description: 'mfa_token is expired' })
  t.equal((await fetch(`${idp.url}/mfa/authenticators`, { headers: { authorization: `Bearer ${mfa}` } })).status, 401)
})

t.test('a user without authenticators: mfa_required with mfa_requirements.enroll, an empty list, association_required', async t => {
  const idp = await startTestIdp(t)
  const res = await token(idp, { grant_type: 'password', ...GATEWAY, username: NOMFA.username, password: NOMFA.password })
  t.equal(res.body.error, 'mfa_required')
  t.ok((res.body.mfa_requirements as Record<string, unknown>).enroll)
  const mfa = str(res.body.mfa_token)
  t.same(await (await fetch(`${idp.url}/mfa/authenticators`, { headers: { authorization: `Bearer ${mfa}` } })).json(), [])
  const ch = await challenge(idp, mfa, TOTP_ID)
  t.equal(ch.status, 400)
  t.equal(ch.body.error, 'association_required')
})

t.test('MFA grants need the client to have them; the mfa_token is bound to its client', async t => {
  const idp = await startTestIdp(t)
  const mfa = await mfaToken(idp)
  const other = await token(idp, { grant_type: GRANT_MFA_OTP, client_id: 'demo-no-refresh', client_secret: 'demo-no-refresh-secret-0123456789abcdefghijk', mfa_token: mfa, otp: '123456' })
  t.equal(other.body.error, 'unauthorized_client')
  const ch = await post(`${idp.url}/mfa/challenge`, { client_id: 'demo-basic', mfa_token: mfa }, { json: true, headers: { authorization: `Basic ${Buffer.from('demo-basic:basic%20secret%3Awith%2Fspecial%2Bchars%26%3D%25-0123456789').toString('base64')}` } })
  t.equal(ch.body.error, 'invalid_grant', 'another client cannot use the mfa_token')
})

t.test('brute-force protection: N failures from one IP for one user block it there (right password too), keyed by auth0-forwarded-for from a trusted client', async t => {
  const idp = await startTestIdp(t, { bruteForceThreshold: 3 })
  const attempt = async (password: string, ip: string, username = 'alice@example.com') =>
    await token(idp, { grant_type: 'password', ...GATEWAY, username, password }, { headers: { 'auth0-forwarded-for': ip } })
  for (let i = 0; i < 3; i++) t.equal((await attempt('wrong', '203.0.113.7')).body.error, 'invalid_grant')
  const blocked = await attempt('alice-password-1', '203.0.113.7')
  t.equal(blocked.status, 429)
  t.equal(blocked.body.error, 'too_many_attempts')
  t.equal((await attempt('alice-password-1', '203.0.113.8')).status, 200, 'another IP is not blocked')
  for (let i = 0; i < 3; i++) await attempt('wrong', '203.0.113.7', 'ghost@example.com')
  t.equal((await attempt('wrong', '203.0.113.7', 'ghost@example.com')).body.error, 'too_many_attempts', 'unknown users block the same way')
  idp.clearBruteForce()
  t.equal((await attempt('alice-password-1', '203.0.113.7')).status, 200, 'unblocked')

  // An untrusted client's header is ignored: the socket IP counts.
  const hs = { client_id: 'demo-hs256', client_secret: 'demo-hs256-secret-0123456789abcdefghijklmnopqr' }
  for (let i = 0; i < 3; i++) await token(idp, { grant_type: 'password', ...hs, username: 'bob', password: 'x', realm: 'employees' }, { headers: { 'auth0-forwarded-for': `198.51.100.${i}` } })
  const res = await token(idp, { grant_type: 'password', ...hs, username: 'bob@corp.example', password: 'bob-password-1' })
  t.not(res.status, 429, 'different realm identifier')
})

t.test('wrong second factors count as failures too', async t => {
  const idp = await startTestIdp(t, { bruteForceThreshold: 2 })
  const mfa = await mfaToken(idp)
  for (let i = 0; i < 2; i++) await token(idp, { grant_type: GRANT_MFA_RECOVERY_CODE, ...GATEWAY, mfa_token: mfa, recovery_code: 'WRONG' })
  const res = await token(idp, { grant_type: GRANT_MFA_OTP, ...GATEWAY, mfa_token: mfa, otp: totp(MFA.secret, idp.clock.now()) })
  t.equal(res.status, 429)
  t.equal(res.body.error, 'too_many_attempts')
})
