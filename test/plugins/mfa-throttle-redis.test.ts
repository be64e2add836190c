/**
 * The MFA abuse limits with SESSION_STORE=redis: two gateways share one Redis, as replicas do. The counters are
 * `<REDIS_KEY_PREFIX>login-throttle:mfa_…:<hashed key>`, they hold across the replicas, and a released reservation
 * (a right code) takes its count back in Redis. Pending logins live in Redis next to the sessions (never evicted).
 */
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { totp } from '../../idp/totp.js'
import { pendingLoginKey } from '../../src/mfa/pending-logins.js'
import { buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { REDIS_URL, sharedRedis } from '../helpers/shared-redis.js'
import { PENDING, MFA_USER, MFA_ID, SECRET, SMS_ID } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }
const KEY = randomBytes(32).toString('base64url')

const { redis, prefix: PREFIX } = sharedRedis()
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, mfa: { tokenTtlSec: 600 }, bruteForceThreshold: 0 })

async function replica (t: Test, prefix: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return await buildTestApp(t, {
    env: testEnv(idp, { SESSION_STORE: 'redis', REDIS_URL, REDIS_KEY_PREFIX: prefix, SESSION_ENCRYPTION_KEY: KEY, TRUST_PROXY: '127.0.0.1', ...env }),
    deps: { clock }
  })
}

let n = 0
const prefixFor = (): string => `${PREFIX}${++n}:`

async function startLogin (app: FastifyInstance, ip: string): Promise<{ cookies: Record<string, string>, id: string }> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': ip }, payload: MFA_USER })
  const value = res.cookies.find(c => c.name === PENDING)?.value ?? ''
  if (res.statusCode !== 401 || value === '') throw new Error(`expected mfa_required, got ${res.statusCode}`)
  return { cookies: { [PENDING]: value }, id: value.slice(0, value.lastIndexOf('.')) }
}

const post = async (app: FastifyInstance, url: string, cookies: Record<string, string>, payload: Record<string, string>, ip: string): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'POST', url, headers: { ...CSRF, 'x-forwarded-for': ip }, cookies, payload })

const wrongOtp = (): string => totp(SECRET, clock.now()) === '000000' ? '111111' : '000000'

t.test('challenges: one SMS per 30 s across replicas; the pending login is in Redis, shared', async t => {
  const prefix = prefixFor()
  const a = await replica(t, prefix)
  const b = await replica(t, prefix)
  t.equal(a.pendingLoginStore, a.sessionStore, 'with Redis, pending logins stay in the session store')
  const pending = await startLogin(a, '203.0.113.1')
  t.equal(await redis.exists(`${prefix}session:${pendingLoginKey(pending.id)}`), 1, 'under its hashed key in Redis')
  const before = idp.messages.filter(m => m.userId === MFA_ID).length
  t.equal((await post(a, '/session/mfa/challenge', pending.cookies, { authenticator_id: SMS_ID }, '203.0.113.1')).statusCode, 200)
  const refused = await post(b, '/session/mfa/challenge', pending.cookies, { authenticator_id: SMS_ID }, '203.0.113.2')
  t.equal(refused.statusCode, 429, 'the other replica counts the same')
  t.equal(refused.json().code, 'rate_limited')
  t.ok(Number(refused.headers['retry-after']) >= 1 && Number(refused.headers['retry-after']) <= 30)
  t.equal(idp.messages.filter(m => m.userId === MFA_ID).length - before, 1, 'one SMS')

  const keys = (await redis.keys(`${prefix}login-throttle:mfa_challenge_*`)).sort()
  t.equal(keys.length, 3, keys.join(', '))
  for (const key of keys) {
    t.match(key, new RegExp(`^${prefix}login-throttle:mfa_challenge_(authenticator|login|user):[\\w|-]+$`))
    t.notOk(key.includes(MFA_USER.username) || key.includes(pending.id) || key.includes(SMS_ID), `${key}: no username, pending id or authenticator id`)
    const ttl = await redis.pttl(key)
    t.ok(ttl > 0, `${key} expires (${ttl} ms)`)
  }
})

t.test('wrong codes per user across replicas and IPs; a right code gives its reservation back in Redis', async t => {
  const prefix = prefixFor()
  const a = await replica(t, prefix, { MFA_WRONG_CODE_RATE_LIMIT_USER: '3/15m' })
  const b = await replica(t, prefix, { MFA_WRONG_CODE_RATE_LIMIT_USER: '3/15m' })
  const first = await startLogin(a, '198.51.100.1')
  const second = await startLogin(b, '198.51.100.2')
  t.equal((await post(a, '/session/mfa', first.cookies, { otp: wrongOtp() }, '198.51.100.1')).json().code, 'mfa_invalid_code')
  t.equal((await post(b, '/session/mfa', second.cookies, { otp: wrongOtp() }, '198.51.100.2')).json().code, 'mfa_invalid_code')
  const [userKey] = await redis.keys(`${prefix}login-throttle:mfa_wrong_code_user:*`)
  t.equal(await redis.get(userKey ?? ''), '2', 'both replicas counted into one key')
  clock.advance(30_000)
  t.equal((await post(b, '/session/mfa', first.cookies, { otp: totp(SECRET, clock.now()) }, '198.51.100.3')).statusCode, 200, 'a right code, on the other replica')
  t.equal(await redis.get(userKey ?? ''), '2', 'its reservation was given back')
  t.equal((await post(a, '/session/mfa', second.cookies, { otp: wrongOtp() }, '198.51.100.4')).json().code, 'mfa_invalid_code', 'the third wrong code')
  const refused = await post(b, '/session/mfa', second.cookies, { otp: wrongOtp() }, '198.51.100.5')
  t.equal(refused.statusCode, 429)
  t.equal(refused.json().message, 'Too many wrong codes; retry later')
  const loginKeys = await redis.keys(`${prefix}login-throttle:mfa_wrong_code_login:*`)
  t.equal(loginKeys.length, 2, 'one per pending login')
  for (const key of loginKeys) t.notOk(key.includes(first.id) || key.includes(second.id), 'hashed, not the pending id')
})

t.test('a reservation released after its window ended creates no key (no -1 without expiry)', async t => {
  const prefix = prefixFor()
  const app = await replica(t, prefix)
  const pending = await startLogin(app, '192.0.2.1')
  clock.advance(30_000)
  const gate = idp.hold('token')
  const answer = post(app, '/session/mfa', pending.cookies, { otp: totp(SECRET, clock.now()) }, '192.0.2.1')
  await gate.waitForCalls(1) // reserved, and at the IdP
  const keys = await redis.keys(`${prefix}login-throttle:mfa_wrong_code_*`)
  t.equal(keys.length, 2, 'the user\'s and the pending login\'s reservation')
  for (const key of keys) t.equal(await redis.get(key), '1')
  await redis.del(...keys) // their windows end while the code is judged
  gate.release()
  t.equal((await answer).statusCode, 200)
  t.same(await redis.keys(`${prefix}login-throttle:mfa_wrong_code_*`), [], 'released without recreating them')

  const again = await startLogin(app, '192.0.2.1')
  clock.advance(30_000)
  t.equal((await post(app, '/session/mfa', again.cookies, { otp: totp(SECRET, clock.now()) }, '192.0.2.1')).statusCode, 200)
  for (const key of await redis.keys(`${prefix}login-throttle:mfa_wrong_code_*`)) {
    t.equal(await redis.get(key), '0', `${key}: counted, then given back`)
    t.ok(await redis.pttl(key) > 0, 'and still expiring with its window')
  }
})
