import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { totp } from '../../idp/totp.js'
import { pendingLoginKey } from '../../src/mfa/pending-logins.js'
import { storageKey } from '../../src/session/session-id.js'
import { COOKIE_NAME, buildTestApp, captureLogs, startTestIdp, testEnv, type LogCapture } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { PENDING, MFA_USER, MFA_ID, SECRET, TOTP_ID, PUSH_ID, SMS_ID, RECOVERY_ID } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }

const clock = createManualClock()
// One IdP for the file, on the gateways' clock; mfa_tokens outlive the 5-minute pending login unless a test says so.
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, mfa: { tokenTtlSec: 600 } })
t.afterEach(() => { idp.clearFaults(); idp.clearBruteForce() })

async function gateway (t: Test, env: Record<string, string> = {}, target: { url: string } = idp): Promise<{ app: FastifyInstance, logs: LogCapture }> {
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(target, { LOG_LEVEL: 'debug', ...env }), deps: { clock }, logs })
  return { app, logs }
}

interface Pending { res: LightMyRequestResponse, cookies: Record<string, string>, value: string }

/** POST /session for the MFA user: 401 mfa_required and the pending-login cookie. */
async function startLogin (app: FastifyInstance, headers: Record<string, string> = {}, extra: Record<string, string> = {}): Promise<Pending> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, ...headers }, payload: { ...MFA_USER, ...extra } })
  const cookie = res.cookies.find(c => c.name === PENDING)
  if (res.statusCode !== 401 || cookie === undefined) throw new Error(`expected mfa_required, got ${res.statusCode} ${res.body}`)
  return { res, cookies: { [PENDING]: cookie.value }, value: cookie.value }
}

async function challenge (app: FastifyInstance, pending: Pending, authenticatorId: string, headers: Record<string, string> = {}) {
  return await app.inject({ method: 'POST', url: '/session/mfa/challenge', headers: { ...CSRF, ...headers }, cookies: pending.cookies, payload: { authenticator_id: authenticatorId } })
}

async function verify (app: FastifyInstance, pending: Pending, payload: Record<string, string>, headers: Record<string, string> = {}) {
  return await app.inject({ method: 'POST', url: '/session/mfa', headers: { ...CSRF, ...headers }, cookies: pending.cookies, payload })
}

function assertError (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  t.equal(res.statusCode, status, `status ${status}`)
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(res.json().code, code)
  t.equal(res.headers['cache-control'], 'no-store')
}

/** A completed login: the session cookie is set, the pending cookie cleared, GET /session works. */
async function assertLoggedIn (t: Test, app: FastifyInstance, res: LightMyRequestResponse): Promise<void> {
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().user.email, 'mfa@example.com')
  const session = res.cookies.find(c => c.name === COOKIE_NAME)
  t.ok(session?.value, 'session cookie set')
  t.equal(session?.httpOnly, true)
  const cleared = res.cookies.find(c => c.name === PENDING)
  t.equal(cleared?.value, '', 'pending cookie cleared')
  const who = await app.inject({ url: '/session', cookies: { [COOKIE_NAME]: session?.value ?? '' } })
  t.equal(who.statusCode, 200)
  t.equal(who.json().user.sub, MFA_ID)
}

const pendingIdOf = (value: string): string => value.slice(0, value.lastIndexOf('.'))

/** A TOTP code of a step not used yet (the IdP takes each step once per user): moves the clock to the next step. */
function freshOtp (): string {
  clock.advance(30_000)
  return totp(SECRET, clock.now())
}

t.test('mfa_required: 401 with the active authenticators and a pending cookie; the mfa_token never leaves the server', async t => {
  const { app, logs } = await gateway(t)
  idp.clearCalls()
  const pending = await startLogin(app)
  const { res } = pending
  const body = res.json()
  t.same(Object.keys(body).sort(), ['authenticators', 'code', 'error', 'message', 'statusCode'])
  t.equal(body.code, 'mfa_required')
  t.equal(body.statusCode, 401)
  t.same(body.authenticators, [
    { id: TOTP_ID, type: 'otp' },
    { id: PUSH_ID, type: 'oob', channel: 'auth0', name: 'Mia\'s phone' },
    { id: SMS_ID, type: 'oob', channel: 'sms', name: 'XXXXXXXX8730' },
    { id: RECOVERY_ID, type: 'recovery-code' }
  ], 'inactive enrollments are not listed')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.cookies.find(c => c.name === COOKIE_NAME), undefined, 'no session cookie')
  const cookie = res.cookies.find(c => c.name === PENDING)
  t.equal(cookie?.httpOnly, true)
  t.equal(cookie?.secure, true)
  t.equal(cookie?.sameSite, 'Strict')
  t.equal(cookie?.path, '/')
  t.equal(cookie?.domain, undefined)
  t.equal(cookie?.maxAge, 300)
  t.match(cookie?.value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]+$/, 'a signed random id')

  const tokenCall = idp.calls.find(c => c.path === '/oauth/token')
  const mfaToken = tokenCall === undefined ? '' : JSON.parse(JSON.stringify(idp.calls.find(c => c.path === '/mfa/authenticators')?.headers.authorization ?? '')).replace(/^Bearer /, '')
  t.match(mfaToken, /^Fe26\.2\*\*/, 'the gateway listed the authenticators with the mfa_token')
  const everything = JSON.stringify(res.headers) + res.body
  t.notOk(everything.includes(mfaToken), 'no mfa_token in the answer, its headers or cookies')
  t.notOk(everything.includes('Fe26'), 'nothing like an Auth0 token either')
  t.notOk(logs.text().includes(mfaToken), 'nor in the logs')

  const id = pendingIdOf(pending.value)
  const stored = await app.pendingLoginStore.get(pendingLoginKey(id)) as unknown as Record<string, unknown> | undefined
  t.equal(stored?.kind, 'mfa_pending', 'kept in the store under the hashed pending key')
  t.equal(stored?.mfaToken, mfaToken)
  t.equal(await app.sessionStore.get(storageKey(id)), undefined, 'not under a session key')
  t.match(logs.lines().find(l => l.event === 'mfa'), { step: 'start', outcome: 'mfa_required', user: /^[\w-]{12}$/ })
})

t.test('otp: a TOTP code completes the login like a password login; auth0-forwarded-for on every MFA call', async t => {
  const { app, logs } = await gateway(t)
  const pending = await startLogin(app)
  idp.clearCalls()
  const ch = await challenge(app, pending, TOTP_ID)
  t.equal(ch.statusCode, 200)
  t.same(ch.json(), { challenge: 'otp' })
  t.equal(idp.calls.length, 0, 'TOTP needs no IdP challenge')
  const res = await verify(app, pending, { otp: freshOtp() })
  await assertLoggedIn(t, app, res)
  t.equal(res.json().has_refresh_token, true)
  const call = idp.calls.find(c => c.path === '/oauth/token')
  t.equal(call?.grantType, 'http://auth0.com/oauth/grant-type/mfa-otp')
  t.equal(call?.forwardedFor, '127.0.0.1')
  t.equal(call?.clientAuthMethod, 'client_secret_post')
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pendingIdOf(pending.value))), undefined, 'the pending login is gone')
  const again = await verify(app, pending, { otp: freshOtp() })
  assertError(t, again, 401, 'mfa_expired')
  t.same(logs.lines().filter(l => l.event === 'mfa').map(l => [l.step, l.outcome, l.factor]), [['start', 'mfa_required', undefined], ['challenge', 'ok', 'otp'], ['verify', 'ok', 'otp']])
  t.match(logs.lines().find(l => l.event === 'login' && l.outcome === 'ok'), { mfa: 'otp', sub: MFA_ID })
})

t.test('a wrong code: 401 mfa_invalid_code, the pending login stays for another try', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  const right = freshOtp()
  const wrong = await verify(app, pending, { otp: right === '123456' ? '654321' : '123456' })
  assertError(t, wrong, 401, 'mfa_invalid_code')
  t.equal(wrong.cookies.length, 0, 'the pending cookie is kept')
  await assertLoggedIn(t, app, await verify(app, pending, { otp: right }))
})

t.test('push: 202 mfa_pending with an interval, slow_down widens it, approval completes the login', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  idp.clearCalls()
  const ch = await challenge(app, pending, PUSH_ID)
  t.same(ch.json(), { challenge: 'push', interval: 5 })
  const challengeCall = idp.calls.find(c => c.path === '/mfa/challenge')
  t.equal(challengeCall?.forwardedFor, '127.0.0.1', 'auth0-forwarded-for on /mfa/challenge')
  t.equal(challengeCall?.headers['content-type'], 'application/json')
  t.equal(challengeCall?.form.authenticator_id, PUSH_ID)
  t.notOk(ch.body.includes('Fe26'), 'the oob_code stays server-side')

  const first = await verify(app, pending, {})
  t.equal(first.statusCode, 202)
  t.same(first.json(), { statusCode: 202, code: 'mfa_pending', error: 'Accepted', message: first.json().message, interval: 5 })
  t.equal(first.headers['retry-after'], '5')
  t.equal(first.headers['cache-control'], 'no-store')
  clock.advance(1000)
  const fast = await verify(app, pending, {})
  t.equal(fast.statusCode, 202)
  t.equal(fast.json().code, 'mfa_slow_down')
  t.equal(fast.json().interval, 10, 'widened')
  t.equal(fast.headers['retry-after'], '10')
  clock.advance(10_000)
  t.equal((await verify(app, pending, {})).json().interval, 10, 'stays wide')
  idp.approvePush(MFA_ID)
  clock.advance(10_000)
  const done = await verify(app, pending, {})
  await assertLoggedIn(t, app, done)
  t.equal(idp.calls.filter(c => c.grantType === 'http://auth0.com/oauth/grant-type/mfa-oob').every(c => c.forwardedFor === '127.0.0.1'), true)
})

t.test('push rejected: 403 mfa_rejected ends the pending login', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  await challenge(app, pending, PUSH_ID)
  t.equal((await verify(app, pending, {})).statusCode, 202)
  idp.rejectPush(MFA_ID)
  clock.advance(5000)
  const res = await verify(app, pending, {})
  assertError(t, res, 403, 'mfa_rejected')
  t.equal(res.cookies.find(c => c.name === PENDING)?.value, '', 'pending cookie cleared')
  assertError(t, await verify(app, pending, {}), 401, 'mfa_expired')
})

t.test('sms: a binding code must be typed; missing is 400, wrong is mfa_invalid_code, right logs in', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  const ch = await challenge(app, pending, SMS_ID)
  t.same(ch.json(), { challenge: 'binding_code' })
  const code = idp.bindingCode(MFA_ID) ?? ''
  t.match(code, /^\d{6}$/)
  assertError(t, await verify(app, pending, {}), 400, 'invalid_request')
  assertError(t, await verify(app, pending, { binding_code: code === '000000' ? '111111' : '000000' }), 401, 'mfa_invalid_code')
  await assertLoggedIn(t, app, await verify(app, pending, { binding_code: code }))
})

t.test('the IdP\'s mfa_token expired (expired_token): 401 mfa_expired ends the pending login', async t => {
  const shortIdp = await startTestIdp(t, { clock, mfa: { tokenTtlSec: 120 } })
  const { app } = await gateway(t, {}, shortIdp)
  const pending = await startLogin(app)
  clock.advance(150_000)
  const res = await verify(app, pending, { otp: freshOtp() })
  assertError(t, res, 401, 'mfa_expired')
  t.equal(res.cookies.find(c => c.name === PENDING)?.value, '', 'pending cookie cleared')
  t.equal(shortIdp.calls.at(-1)?.status, 401)
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pendingIdOf(pending.value))), undefined)
})

t.test('the pending login expires after 5 minutes on the gateway clock, without asking the IdP', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  clock.advance(299_000)
  t.same((await challenge(app, pending, TOTP_ID)).json(), { challenge: 'otp' }, 'alive just before')
  clock.advance(1_000)
  idp.clearCalls()
  assertError(t, await verify(app, pending, { otp: totp(SECRET, clock.now()) }), 401, 'mfa_expired')
  assertError(t, await challenge(app, pending, PUSH_ID), 401, 'mfa_expired')
  clock.advance(1_000)
  t.equal(idp.calls.length, 0)
})

t.test('no authenticator enrolled: 403 mfa_enrollment_required, no pending login', async t => {
  const { app, logs } = await gateway(t)
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { username: 'nomfa-enrolled@example.com', password: 'nomfa-password-1' } })
  assertError(t, res, 403, 'mfa_enrollment_required')
  t.same(res.cookies.map(c => c.name), [`${COOKIE_NAME}-device`], 'no pending-login cookie (the right password still earns a device cookie)')
  t.match(logs.lines().find(l => l.event === 'mfa'), { outcome: 'mfa_enrollment_required' })
})

t.test('the MFA routes need the CSRF header, a pending login and well-formed bodies', async t => {
  const { app } = await gateway(t)
  const pending = await startLogin(app)
  assertError(t, await app.inject({ method: 'POST', url: '/session/mfa/challenge', cookies: pending.cookies, payload: { authenticator_id: TOTP_ID } }), 403, 'csrf_required')
  assertError(t, await app.inject({ method: 'POST', url: '/session/mfa', cookies: pending.cookies, payload: { otp: '123456' } }), 403, 'csrf_required')
  assertError(t, await app.inject({ method: 'POST', url: '/session/mfa', headers: { ...CSRF, origin: 'https://evil.example' }, cookies: pending.cookies, payload: { otp: '123456' } }), 403, 'origin_forbidden')
  assertError(t, await verify(app, pending, { otp: '1', recovery_code: 'x' }), 400, 'invalid_request')
  assertError(t, await verify(app, pending, { mfa_token: 'x' }), 400, 'invalid_request')
  assertError(t, await challenge(app, pending, 'totp|someone-else'), 400, 'invalid_request')
  assertError(t, await verify(app, pending, {}), 400, 'invalid_request')
  assertError(t, await app.inject({ method: 'POST', url: '/session/mfa', headers: CSRF, payload: { otp: '123456' } }), 401, 'mfa_expired')
  const tampered = pending.value.replace(/^./, c => c === 'A' ? 'B' : 'A')
  assertError(t, await app.inject({ method: 'POST', url: '/session/mfa', headers: CSRF, cookies: { [PENDING]: tampered }, payload: { otp: '123456' } }), 401, 'mfa_expired')
  // A pending login is not a session: its signed id in the session cookie is no session.
  t.equal((await app.inject({ url: '/session', cookies: { [COOKIE_NAME]: pending.value } })).statusCode, 401)
})

t.test('a new login abandons the previous pending login', async t => {
  const { app } = await gateway(t)
  const first = await startLogin(app)
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, cookies: first.cookies, payload: MFA_USER })
  t.equal(res.statusCode, 401)
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pendingIdOf(first.value))), undefined)
  assertError(t, await verify(app, first, { otp: totp(SECRET, clock.now()) }), 401, 'mfa_expired')
})

t.test('auth0-forwarded-for on MFA calls: the client IP through a trusted proxy, spoofed headers ignored otherwise', async t => {
  const trusted = await gateway(t, { TRUST_PROXY: '127.0.0.1' })
  const pending = await startLogin(trusted.app, { 'x-forwarded-for': '203.0.113.9' })
  idp.clearCalls()
  await challenge(trusted.app, pending, PUSH_ID, { 'x-forwarded-for': '203.0.113.9' })
  await verify(trusted.app, pending, {}, { 'x-forwarded-for': '203.0.113.9' })
  t.same(idp.calls.map(c => [c.path, c.forwardedFor, c.effectiveIp]), [
    ['/mfa/challenge', '203.0.113.9', '203.0.113.9'],
    ['/oauth/token', '203.0.113.9', '203.0.113.9']
  ])

  const untrusted = await gateway(t)
  idp.clearCalls()
  const spoofed = await startLogin(untrusted.app, { 'x-forwarded-for': '198.51.100.66' })
  await verify(untrusted.app, spoofed, { otp: freshOtp() }, { 'x-forwarded-for': '198.51.100.66' })
  t.same(idp.calls.filter(c => c.path !== '/.well-known/jwks.json').map(c => [c.path, c.grantType, c.forwardedFor]), [
    ['/oauth/token', 'password', '127.0.0.1'],
    ['/mfa/authenticators', undefined, '127.0.0.1'],
    ['/oauth/token', 'http://auth0.com/oauth/grant-type/mfa-otp', '127.0.0.1']
  ], 'password grant, authenticators list and mfa-otp grant')
})

t.test('POST /session/mfa is throttled per IP and pending login (LOGIN_RATE_LIMIT_MFA)', async t => {
  const { app, logs } = await gateway(t, { LOGIN_RATE_LIMIT_MFA: '2/1m' })
  const pending = await startLogin(app)
  for (let i = 0; i < 2; i++) t.equal((await verify(app, pending, { otp: '000001' })).json().code, 'mfa_invalid_code')
  idp.clearCalls()
  const res = await verify(app, pending, { otp: freshOtp() })
  assertError(t, res, 429, 'rate_limited')
  t.equal(res.headers['retry-after'], '30', 'the rest of the window (the fresh code moved the clock 30 s)')
  t.equal(idp.calls.length, 0, 'nothing reached the IdP')
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'mfa' })
  const other = await startLogin(app)
  t.equal((await verify(app, other, { otp: '000001' })).json().code, 'mfa_invalid_code', 'another pending login has its own count')
  clock.advance(60_000)
  await assertLoggedIn(t, app, await verify(app, pending, { otp: freshOtp() }))
})

t.test('the IdP blocks the account after repeated wrong codes: 429 account_blocked, pending login ended', async t => {
  const strict = await startTestIdp(t, { clock, bruteForceThreshold: 2 })
  const { app } = await gateway(t, {}, strict)
  const pending = await startLogin(app)
  for (let i = 0; i < 2; i++) await verify(app, pending, { recovery_code: 'WRONG-CODE' })
  const res = await verify(app, pending, { otp: freshOtp() })
  assertError(t, res, 429, 'account_blocked')
  t.equal(res.headers['retry-after'], undefined, 'no retry')
  t.equal(res.cookies.find(c => c.name === PENDING)?.value, '')
})

t.test('memory mode: pending MFA logins have their own bounded LRU and never evict a session', async t => {
  const { app, logs } = await gateway(t, { SESSION_MAX_ENTRIES: '2', MFA_PENDING_MAX_ENTRIES: '3', LOG_LEVEL: 'info' })
  t.not(app.pendingLoginStore, app.sessionStore, 'a store of their own')
  const alice = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { username: 'alice@example.com', password: 'alice-password-1' } })
  t.equal(alice.statusCode, 200)
  const session = { [COOKIE_NAME]: alice.cookies.find(c => c.name === COOKIE_NAME)?.value ?? '' }
  const pendings: Pending[] = []
  for (let i = 0; i < 8; i++) pendings.push(await startLogin(app))
  t.equal((await app.inject({ url: '/session', cookies: session })).statusCode, 200, 'eight pending logins later, the session is still there')
  t.notOk(logs.lines().some(l => String(l.msg).includes('SESSION_MAX_ENTRIES')), 'no session was evicted')
  t.equal(logs.lines().filter(l => String(l.msg).includes('MFA_PENDING_MAX_ENTRIES')).length, 5, 'pending logins evict each other beyond their own bound')
  t.equal(await app.sessionStore.get(pendingLoginKey(pendingIdOf(pendings[7]?.value ?? ''))), undefined, 'not in the session store')
  assertError(t, await verify(app, pendings[0] as Pending, { otp: freshOtp() }), 401, 'mfa_expired')
  await assertLoggedIn(t, app, await verify(app, pendings[7] as Pending, { otp: freshOtp() }))
})
