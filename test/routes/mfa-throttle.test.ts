/**
 * MFA abuse (issue #15 items 5 and 6), against the local IdP over HTTP, which counts what it was asked and what it
 * "sent": challenges (SMS/voice/email/push messages) are limited per user and authenticator, per pending login and per
 * user; wrong codes per user across pending logins and IPs, and per pending login (ended after MFA_MAX_WRONG_CODES).
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { totp } from '../../idp/totp.js'
import { pendingLoginKey } from '../../src/mfa/pending-logins.js'
import { startTestIdp, loggedGateway } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { PENDING, MFA_USER, MFA_ID, SECRET, PUSH_ID, SMS_ID } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }
const GRANT_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'

const clock = createManualClock()
// The IdP's own brute-force blocking is off: what is measured here is what the gateway lets through.
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, mfa: { tokenTtlSec: 600 }, bruteForceThreshold: 0 })
t.afterEach(() => { idp.clearFaults() })

const gateway = loggedGateway(idp, clock, { TRUST_PROXY: '127.0.0.1' })

interface Pending { cookies: Record<string, string>, id: string, ip: string }

async function startLogin (app: FastifyInstance, ip = '203.0.113.10'): Promise<Pending> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': ip }, payload: MFA_USER })
  const value = res.cookies.find(c => c.name === PENDING)?.value ?? ''
  if (res.statusCode !== 401 || value === '') throw new Error(`expected mfa_required, got ${res.statusCode} ${res.body}`)
  return { cookies: { [PENDING]: value }, id: value.slice(0, value.lastIndexOf('.')), ip }
}

async function challenge (app: FastifyInstance, pending: Pending, authenticatorId: string, ip = pending.ip): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/session/mfa/challenge', headers: { ...CSRF, 'x-forwarded-for': ip }, cookies: pending.cookies, payload: { authenticator_id: authenticatorId } })
}

async function verify (app: FastifyInstance, pending: Pending, payload: Record<string, string>, ip = pending.ip): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/session/mfa', headers: { ...CSRF, 'x-forwarded-for': ip }, cookies: pending.cookies, payload })
}

function assertThrottled (t: Test, res: LightMyRequestResponse, message: string, retryAfter: string): void {
  t.equal(res.statusCode, 429)
  t.same(res.json(), { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message })
  t.equal(res.headers['retry-after'], retryAfter, `Retry-After ${retryAfter}`)
}

const sent = (): number => idp.messages.filter(m => m.userId === MFA_ID).length
const otpGrants = (): number => idp.calls.filter(c => c.grantType === GRANT_OTP).length
/** A six-digit code that is not the current TOTP code. */
const wrongOtp = (): string => totp(SECRET, clock.now()) === '000000' ? '111111' : '000000'
const MESSAGES = 'Too many verification messages; retry later'
const WRONG_CODES = 'Too many wrong codes; retry later'

t.test('the review\'s case: 60 challenges with one pending login send one SMS, then 429 with Retry-After', async t => {
  const { app, logs } = await gateway(t)
  const pending = await startLogin(app)
  const before = sent()
  idp.clearCalls()
  const answers = []
  for (let i = 0; i < 60; i++) answers.push(await challenge(app, pending, SMS_ID))
  t.same(answers[0]?.json(), { challenge: 'binding_code' })
  for (const res of answers.slice(1)) assertThrottled(t, res, MESSAGES, '30')
  t.equal(sent() - before, 1, 'one message sent')
  t.equal(idp.calls.filter(c => c.path === '/mfa/challenge').length, 1, 'one challenge reached the IdP')
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'mfa_challenge_authenticator', user: /^[\w-]{12}$/, retryAfter: 30 })
  t.notOk(logs.text().includes(MFA_USER.username), 'never the username')
  clock.advance(29_000)
  assertThrottled(t, await challenge(app, pending, SMS_ID), MESSAGES, '1')
  clock.advance(1_000)
  t.same((await challenge(app, pending, SMS_ID)).json(), { challenge: 'binding_code' }, 'again after 30 s')
  t.equal(sent() - before, 2)
  await t.test('the binding code of the newest message signs in', async t => {
    const res = await verify(app, pending, { binding_code: idp.bindingCode(MFA_ID) ?? '' })
    t.equal(res.statusCode, 200)
  })
})

t.test('per pending login: 5 challenges (MFA_CHALLENGE_RATE_LIMIT_LOGIN=5/5m), whatever the authenticator', async t => {
  const { app, logs } = await gateway(t)
  const pending = await startLogin(app)
  const before = sent()
  for (let i = 0; i < 5; i++) {
    t.equal((await challenge(app, pending, i % 2 === 0 ? SMS_ID : PUSH_ID)).statusCode, 200, `challenge ${i + 1}`)
    clock.advance(15_000) // each authenticator is asked every 30 s at most
  }
  assertThrottled(t, await challenge(app, pending, PUSH_ID), MESSAGES, String(300 - 75))
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'mfa_challenge_login' })
  t.equal(sent() - before, 5)
  t.same((await challenge(app, pending, 'totp|dev_mfa0000000000000001')).json(), { challenge: 'otp' }, 'an OTP "challenge" sends nothing and is not limited')
  const other = await startLogin(app)
  clock.advance(30_000)
  t.equal((await challenge(app, other, SMS_ID)).statusCode, 200, 'another pending login has its own count')
})

t.test('per user: 10 challenges an hour across pending logins and IPs (MFA_CHALLENGE_RATE_LIMIT_USER=10/1h)', async t => {
  const { app, logs } = await gateway(t)
  const before = sent()
  // The 30-second limit is per user and authenticator, across pending logins: the second login starts with the push.
  for (const [ip, first, second] of [['198.51.100.1', SMS_ID, PUSH_ID], ['198.51.100.2', PUSH_ID, SMS_ID]] as const) {
    const pending = await startLogin(app, ip)
    for (let i = 0; i < 5; i++) {
      t.equal((await challenge(app, pending, i % 2 === 0 ? first : second)).statusCode, 200)
      clock.advance(15_000)
    }
  }
  const third = await startLogin(app, '198.51.100.3')
  assertThrottled(t, await challenge(app, third, SMS_ID), MESSAGES, String(3600 - 150))
  t.match(logs.lines().findLast(l => l.event === 'login_throttled'), { limit: 'mfa_challenge_user' })
  t.equal(sent() - before, 10, 'ten messages an hour, however many pending logins and addresses')
  await t.test('the user can still sign in with a factor that sends nothing', async t => {
    clock.advance(30_000)
    t.equal((await verify(app, third, { otp: totp(SECRET, clock.now()) })).statusCode, 200)
  })
  clock.advance(3600_000)
  t.equal((await challenge(app, await startLogin(app, '198.51.100.3'), SMS_ID)).statusCode, 200, 'a new hour')
})

t.test('polls are not challenges: a waiting push polled 20 times uses up no challenge', async t => {
  const { app } = await gateway(t, { MFA_CHALLENGE_RATE_LIMIT_LOGIN: '2/5m', MFA_CHALLENGE_RATE_LIMIT_USER: '2/1h', MFA_MAX_WRONG_CODES: '1' })
  const pending = await startLogin(app)
  const before = sent()
  t.same((await challenge(app, pending, PUSH_ID)).json(), { challenge: 'push', interval: 5 })
  for (let i = 0; i < 20; i++) {
    clock.advance(5_000)
    const poll = await verify(app, pending, {})
    t.equal(poll.json().code, 'mfa_pending', `poll ${i + 1}`)
  }
  t.equal(sent() - before, 1, 'one push sent')
  t.same((await challenge(app, pending, PUSH_ID)).json(), { challenge: 'push', interval: 5 }, 'the second challenge is allowed')
  t.equal((await challenge(app, pending, SMS_ID)).statusCode, 429, 'the third is not')
  idp.approvePush(MFA_ID)
  clock.advance(5_000)
  t.equal((await verify(app, pending, {})).statusCode, 200, 'twenty polls used none of the one wrong code allowed')
})

t.test('the review\'s case: 9 pending logins on one IP, 270 wrong OTPs: 10 reach the IdP, across pending logins and IPs', async t => {
  const { app, logs } = await gateway(t)
  const pendings: Pending[] = []
  for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) for (let i = 0; i < 3; i++) pendings.push(await startLogin(app, ip))
  idp.clearCalls()
  const code = wrongOtp()
  // All at once, from the pending logins' own addresses and from others: the reservations hold in parallel too.
  const answers = await Promise.all(Array.from({ length: 270 }, async (_, i) => await verify(app, pendings[i % 9] as Pending, { otp: code }, i % 2 === 0 ? (pendings[i % 9] as Pending).ip : `192.0.2.${100 + i}`)))
  t.equal(otpGrants(), 10, 'exactly MFA_WRONG_CODE_RATE_LIMIT_USER codes were forwarded')
  const codes = answers.map(res => res.json().code as string)
  t.equal(codes.filter(c => c === 'mfa_invalid_code').length, 10)
  t.equal(codes.filter(c => c === 'rate_limited').length, 260, 'the rest are refused before the IdP')
  assertThrottled(t, answers.find(res => res.json().code === 'rate_limited') as LightMyRequestResponse, WRONG_CODES, '900')
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'mfa_wrong_code_user' })
  const live = pendings[8] as Pending
  idp.clearCalls()
  clock.advance(30_000)
  assertThrottled(t, await verify(app, live, { otp: totp(SECRET, clock.now()) }), WRONG_CODES, '870')
  t.equal(otpGrants(), 0, 'not even the right code is forwarded while the user is over the limit')
  clock.advance(900_000)
  const fresh = await startLogin(app, '192.0.2.200')
  t.equal((await verify(app, fresh, { otp: totp(SECRET, clock.now()) })).statusCode, 200, 'a new window')
})

t.test('a pending login is ended after MFA_MAX_WRONG_CODES (5) wrong codes, whatever the IP', async t => {
  const { app, logs } = await gateway(t)
  const pending = await startLogin(app)
  idp.clearCalls()
  for (let i = 1; i <= 4; i++) {
    const res = await verify(app, pending, { otp: wrongOtp() }, `198.51.100.${i}`)
    t.equal(res.json().code, 'mfa_invalid_code', `wrong code ${i}`)
    t.equal(res.cookies.length, 0, 'the pending login stays')
  }
  const last = await verify(app, pending, { recovery_code: 'WRONG-RECOVERY-CODE' }, '198.51.100.5')
  t.equal(last.statusCode, 401)
  t.same(last.json(), { statusCode: 401, code: 'mfa_attempts_exceeded', error: 'Unauthorized', message: 'Too many wrong codes for this sign-in; sign in again' })
  t.equal(last.cookies.find(c => c.name === PENDING)?.value, '', 'the pending cookie is cleared')
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pending.id)), undefined, 'the pending login is gone')
  t.equal(idp.calls.filter(c => c.path === '/oauth/token').length, 5, 'five codes were forwarded')
  t.match(logs.lines().find(l => l.event === 'mfa' && l.outcome === 'mfa_attempts_exceeded'), { user: /^[\w-]{12}$/ })
  clock.advance(30_000)
  t.equal((await verify(app, pending, { otp: totp(SECRET, clock.now()) })).json().code, 'mfa_expired', 'even the right code finds nothing now')
})

t.test('in parallel: 20 wrong codes at once on one pending login, 5 reach the IdP', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  idp.clearCalls()
  const code = wrongOtp()
  const answers = await Promise.all(Array.from({ length: 20 }, async () => await verify(app, pending, { otp: code })))
  t.equal(otpGrants(), 5, 'the reservations are taken before the IdP call')
  const codes = answers.map(res => res.json().code as string)
  t.equal(codes.filter(c => c === 'mfa_invalid_code').length + codes.filter(c => c === 'mfa_attempts_exceeded').length + codes.filter(c => c === 'mfa_expired').length, 20, codes.join(','))
  t.ok(codes.filter(c => c === 'mfa_attempts_exceeded').length >= 1)
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pending.id)), undefined, 'the pending login is gone')
})

t.test('only wrong codes count: accepted codes, polls and IdP failures give their reservation back', async t => {
  const { app } = await gateway(t, { MFA_WRONG_CODE_RATE_LIMIT_USER: '2/15m', MFA_MAX_WRONG_CODES: '2' })
  for (let i = 0; i < 4; i++) {
    clock.advance(30_000)
    const pending = await startLogin(app)
    t.equal((await verify(app, pending, { otp: totp(SECRET, clock.now()) })).statusCode, 200, `login ${i + 1} with a right code`)
  }
  const pending = await startLogin(app)
  for (let i = 0; i < 3; i++) {
    idp.setFault({ endpoint: 'token', grantType: GRANT_OTP, times: 1, status: 503, body: { error: 'temporarily_unavailable' } })
    t.equal((await verify(app, pending, { otp: wrongOtp() })).json().code, 'idp_unavailable', `IdP failure ${i + 1}`)
  }
  t.equal((await verify(app, pending, { otp: wrongOtp() })).json().code, 'mfa_invalid_code', 'the first wrong code')
  t.equal((await verify(app, pending, { otp: wrongOtp() })).json().code, 'mfa_attempts_exceeded', 'the second ends the pending login')
  const next = await startLogin(app)
  // The window began with the first reservation (the first login's, given back), 90 s of the test clock ago.
  assertThrottled(t, await verify(app, next, { otp: wrongOtp() }), WRONG_CODES, '810')
})
