/**
 * Issue #15, item 12: nobody can lock a known user out. Behind a trusted proxy, wrong passwords for alice from many
 * forwarded IPs exhaust LOGIN_RATE_LIMIT_USER; a browser that signed in as alice before holds a device cookie and is
 * judged by its own failures (LOGIN_RATE_LIMIT_DEVICE) instead. Only failures count toward either limit.
 */
import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { ALICE, COOKIE_NAME, SESSION_SECRET, startTestIdp, loggedGateway } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { MFA_USER } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }
const DEVICE_COOKIE = `${COOKIE_NAME}-device`
const WRONG = { ...ALICE, password: 'wrong-password' }
const OLD_SECRET = 'old-session-secret-0123456789abcdefghijklmnopqrstu'
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, bruteForceThreshold: 0 })

const gateway = loggedGateway(idp, clock, { TRUST_PROXY: '127.0.0.1' })

let nextIp = 1
/** A forwarded client address never used before in this file. */
const freshIp = (): string => `198.18.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`

async function attempt (app: FastifyInstance, credentials: Record<string, string> = WRONG, device?: string, ip = freshIp()): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/session',
    headers: { ...CSRF, 'x-forwarded-for': ip },
    ...(device === undefined ? {} : { cookies: { [DEVICE_COOKIE]: device } }),
    payload: credentials
  })
}

/** The device cookie a sign-in answered with (a failed assertion, and a worthless value, when there is none). */
function deviceCookieOf (t: Test, res: LightMyRequestResponse): string {
  const cookie = res.cookies.find(c => c.name === DEVICE_COOKIE)
  t.ok(cookie, `a device cookie with the ${res.statusCode} answer`)
  return cookie?.value ?? 'none'
}

/** The reviewer's attack: 21 wrong passwords for the user, each from a forwarded IP of its own. */
async function lockOut (t: Test, app: FastifyInstance, username: string = ALICE.username): Promise<void> {
  const codes = []
  for (let i = 0; i < 21; i++) codes.push((await attempt(app, { username, password: `wrong-${i}` })).statusCode)
  t.same(codes, [...Array(20).fill(401), 429], 'twenty wrong passwords reach the IdP, the 21st is throttled (per user)')
}

t.test('the reviewer\'s lockout: alice\'s own browser still signs in, under any casing of her name; a new browser waits', async t => {
  const { app, logs } = await gateway(t)
  const device = deviceCookieOf(t, await attempt(app, ALICE))
  await lockOut(t, app)

  idp.clearCalls()
  const own = await attempt(app, ALICE, device)
  t.equal(own.statusCode, 200, 'alice, from a new IP, with the device cookie of an earlier sign-in')
  t.ok(idp.calls.some(call => call.path === '/oauth/token'), 'the IdP was asked')
  t.equal((await attempt(app, { username: 'ALICE@Example.COM', password: ALICE.password }, device)).statusCode, 200, 'another casing of her name')

  const stranger = await attempt(app, ALICE)
  t.equal(stranger.statusCode, 429, 'the trade-off: a browser without the cookie waits out the window')
  t.equal(stranger.json().code, 'rate_limited')
  t.equal(stranger.headers['retry-after'], '60')
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'user', user: /^[\w-]{12}$/, retryAfter: 60 })
  t.equal((await attempt(app, { username: 'Alice@example.com', password: ALICE.password })).statusCode, 429, 'other casings are the same user')
  clock.advance(60_000)
  t.equal((await attempt(app, ALICE)).statusCode, 200, 'a new window')
})

t.test('only failed attempts count toward the per-user limit: sign-ins and second-factor prompts do not', async t => {
  const { app } = await gateway(t, { LOGIN_RATE_LIMIT_USER: '3/1m' })
  for (let i = 0; i < 5; i++) t.equal((await attempt(app, ALICE)).statusCode, 200, `sign-in ${i + 1} from a new browser`)
  for (let i = 0; i < 5; i++) t.equal((await attempt(app, MFA_USER)).json().code, 'mfa_required', `right password, second factor due ${i + 1}`)
  for (let i = 0; i < 3; i++) t.equal((await attempt(app)).statusCode, 401)
  idp.clearCalls()
  t.equal((await attempt(app)).statusCode, 429, 'three failures, then throttled')
  t.equal((await attempt(app, ALICE)).statusCode, 429, 'also the right password from a new browser')
  t.equal(idp.calls.length, 0, 'checked before the IdP is asked')
})

t.test('the per-user limit holds under concurrency: no more than its max reach the IdP at once', async t => {
  const { app } = await gateway(t, { LOGIN_RATE_LIMIT_USER: '5/1m' })
  idp.clearCalls()
  const answers = await Promise.all(Array.from({ length: 30 }, async () => await attempt(app)))
  t.equal(answers.filter(res => res.statusCode === 401).length, 5)
  t.equal(answers.filter(res => res.statusCode === 429).length, 25)
  t.equal(idp.calls.filter(call => call.path === '/oauth/token').length, 5, 'five token requests')
})

t.test('per-device limit: a device cookie used for too many failures is locked out, even for the right password', async t => {
  const { app, logs } = await gateway(t, { LOGIN_RATE_LIMIT_DEVICE: '3/1m', LOGIN_RATE_LIMIT_USER: '2/1m' })
  const device = deviceCookieOf(t, await attempt(app, ALICE))
  for (let i = 0; i < 3; i++) t.equal((await attempt(app, WRONG, device)).statusCode, 401, `failure ${i + 1} with the device cookie`)
  t.equal((await attempt(app, WRONG)).statusCode, 401, 'those did not count toward the per-user limit (2/1m)')
  const locked = await attempt(app, ALICE, device)
  t.equal(locked.statusCode, 429)
  t.equal(locked.json().code, 'rate_limited')
  t.equal(locked.headers['retry-after'], '60')
  t.match(logs.lines().filter(l => l.event === 'login_throttled').at(-1), { limit: 'device' })
  const fresh = deviceCookieOf(t, await attempt(app, ALICE))
  t.not(fresh, device, 'another browser signs in and gets a cookie of its own')
  t.equal((await attempt(app, ALICE, fresh)).statusCode, 200, 'its own counter')
  clock.advance(60_000)
  t.equal((await attempt(app, ALICE, device)).statusCode, 200, 'the locked device after its window')
})

t.test('forged, altered, expired and other users\' device cookies do not bypass the per-user limit', async t => {
  const { app } = await gateway(t)
  const alices = deviceCookieOf(t, await attempt(app, ALICE))
  const mias = deviceCookieOf(t, await attempt(app, MFA_USER))
  t.notOk(mias.includes('mfa'), 'no username in the value')
  await lockOut(t, app)
  t.equal((await attempt(app, ALICE, mias)).statusCode, 429, 'a cookie for another user (the attacker\'s own account)')
  const [nonce, issued, mac] = alices.split('.') as [string, string, string]
  t.equal((await attempt(app, ALICE, `${nonce}.${Number(issued) + 1}.${mac}`)).statusCode, 429, 'an altered issue time')
  t.equal((await attempt(app, ALICE, `${'A'.repeat(22)}.${issued}.${mac}`)).statusCode, 429, 'another nonce')
  t.equal((await attempt(app, ALICE, `${nonce}.${issued}.${'A'.repeat(43)}`)).statusCode, 429, 'a made-up MAC')
  t.equal((await attempt(app, ALICE, 'garbage')).statusCode, 429)
  t.equal((await attempt(app, ALICE, alices)).statusCode, 200, 'the genuine one works')

  clock.advance(91 * 86_400_000)
  await lockOut(t, app)
  t.equal((await attempt(app, ALICE, alices)).statusCode, 429, 'expired after DEVICE_COOKIE_LIFETIME (90 days)')
})

t.test('the device cookie: its name and attributes, and when it is (not) issued', async t => {
  const { app } = await gateway(t)
  const res = await attempt(app, ALICE)
  const cookie = res.cookies.find(c => c.name === DEVICE_COOKIE)
  t.match(cookie, { name: '__Host-bff-session-device', httpOnly: true, secure: true, sameSite: 'Strict', path: '/', maxAge: 90 * 86_400 })
  t.equal(cookie?.domain, undefined)
  t.match(cookie?.value, /^[\w-]{22}\.\d+\.[\w-]{43}$/)
  t.notOk(cookie?.value.includes('alice'))
  t.equal((await attempt(app, WRONG)).cookies.length, 0, 'not for a wrong password')
  t.ok((await attempt(app, MFA_USER)).cookies.some(c => c.name === DEVICE_COOKIE), 'for a right password with a second factor due')

  const { app: lax } = await gateway(t, { COOKIE_SAMESITE: 'lax', DEVICE_COOKIE_LIFETIME: '30d', ALLOW_HEADER_SESSIONS: 'true' })
  t.match((await attempt(lax, ALICE)).cookies.find(c => c.name === DEVICE_COOKIE), { sameSite: 'Lax', maxAge: 30 * 86_400 })
  const native = await attempt(lax, { ...ALICE, session_transport: 'header' })
  t.equal(native.statusCode, 200)
  t.equal(native.headers['set-cookie'], undefined, 'header sessions get no cookies at all')

  const { app: off } = await gateway(t, { LOGIN_RATE_LIMIT_DEVICE: 'off' })
  const plain = await attempt(off, ALICE)
  t.same(plain.cookies.map(c => c.name), [COOKIE_NAME], 'LOGIN_RATE_LIMIT_DEVICE=off: no device cookie')
  await lockOut(t, off)
  t.equal((await attempt(off, ALICE, deviceCookieOf(t, res))).statusCode, 429, 'and none is honoured')
})

t.test('SESSION_SECRET rotation: old device cookies work while their secret is listed; removing it revokes them', async t => {
  const { app: before } = await gateway(t, { SESSION_SECRET: OLD_SECRET })
  const device = deviceCookieOf(t, await attempt(before, ALICE))
  const { app: rotated } = await gateway(t, { SESSION_SECRET: `${SESSION_SECRET},${OLD_SECRET}` })
  await lockOut(t, rotated)
  t.equal((await attempt(rotated, ALICE, device)).statusCode, 200, 'still listed')
  const { app: removed } = await gateway(t, { SESSION_SECRET })
  await lockOut(t, removed)
  t.equal((await attempt(removed, ALICE, device)).statusCode, 429, 'removed: revoked')
})

t.test('item 13: the logged `user` is a keyed hash, not the unsalted SHA-256 of the username, and changes with the key', async t => {
  const users = []
  const envs: Array<Record<string, string>> = [{}, { LOG_HASH_KEY: 'log-hash-key-one-0123456789abcdefghijklmn' }, { LOG_HASH_KEY: 'log-hash-key-two-0123456789abcdefghijklmn' }]
  for (const env of envs) {
    const { app, logs } = await gateway(t, env)
    await attempt(app)
    const line = logs.lines().find(l => l.event === 'login' && l.outcome === 'invalid_credentials')
    t.match(line, { user: /^[\w-]{12}$/ })
    t.notOk(logs.text().includes(ALICE.username), 'never the username')
    users.push(line?.user)
  }
  const unsalted = createHash('sha256').update(ALICE.username).digest('base64url').slice(0, 12)
  t.notOk(users.includes(unsalted), 'not what anyone can compute from a guessed e-mail address')
  t.equal(new Set(users).size, 3, 'each key gives another hash')
})
