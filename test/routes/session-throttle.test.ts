import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { loadConfig } from '../../fastify.config.js'
import { ALICE, buildTestApp, captureLogs, startTestIdp, testEnv, loggedGateway } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, bruteForceThreshold: 0 })

const gateway = loggedGateway(idp, clock, { TRUST_PROXY: '127.0.0.1' })

async function attempt (app: FastifyInstance, ip: string, credentials: Record<string, string> = { ...ALICE, password: 'wrong-password' }): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': ip }, payload: credentials })
}

function assertThrottled (t: Test, res: LightMyRequestResponse, retryAfter: string): void {
  t.equal(res.statusCode, 429)
  t.same(res.json(), { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: 'Too many sign-in attempts; retry later' })
  t.equal(res.headers['retry-after'], retryAfter)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.cookies.length, 0)
}

t.test('defaults: 10 attempts per minute for one IP and username, then 429 before the IdP is asked', async t => {
  const { app, logs } = await gateway(t)
  for (let i = 0; i < 10; i++) t.equal((await attempt(app, '203.0.113.1')).json().code, 'invalid_credentials')
  idp.clearCalls()
  assertThrottled(t, await attempt(app, '203.0.113.1', ALICE), '60')
  t.equal(idp.calls.length, 0, 'not even the right password reaches the IdP')
  const line = logs.lines().find(l => l.event === 'login_throttled')
  t.match(line, { limit: 'ip_user', user: /^[\w-]{12}$/, retryAfter: 60 })
  t.notOk(logs.text().includes(ALICE.username), 'never the username')
  t.equal((await attempt(app, '203.0.113.1', { username: 'bob@corp.example', password: 'x' })).json().code, 'invalid_credentials', 'another user from the same IP')
  t.equal((await attempt(app, '203.0.113.2')).json().code, 'invalid_credentials', 'the same user from another IP')
  clock.advance(59_000)
  assertThrottled(t, await attempt(app, '203.0.113.1'), '1')
  clock.advance(1_000)
  t.equal((await attempt(app, '203.0.113.1', ALICE)).statusCode, 200, 'a new window')
})

t.test('per IP: LOGIN_RATE_LIMIT_IP counts every username from one address', async t => {
  const { app, logs } = await gateway(t, { LOGIN_RATE_LIMIT_IP: '3/30s' })
  for (const user of ['a', 'b', 'c']) t.equal((await attempt(app, '198.51.100.7', { username: `${user}@example.com`, password: 'x' })).statusCode, 401)
  assertThrottled(t, await attempt(app, '198.51.100.7', { username: 'd@example.com', password: 'x' }), '30')
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'ip' })
  t.equal((await attempt(app, '198.51.100.8', { username: 'd@example.com', password: 'x' })).statusCode, 401, 'other addresses are not affected')
})

t.test('per username across IPs: LOGIN_RATE_LIMIT_USER, with the username normalised', async t => {
  const { app, logs } = await gateway(t, { LOGIN_RATE_LIMIT_USER: '2/1m' })
  t.equal((await attempt(app, '192.0.2.1', { username: 'Alice@Example.com', password: 'x' })).statusCode, 401)
  t.equal((await attempt(app, '192.0.2.2', { username: '  alice@example.com ', password: 'x' })).statusCode, 401)
  assertThrottled(t, await attempt(app, '192.0.2.3', { username: 'ALICE@EXAMPLE.COM', password: 'x' }), '60')
  t.match(logs.lines().find(l => l.event === 'login_throttled'), { limit: 'user' })
  t.equal((await attempt(app, '192.0.2.3', { username: 'bob@corp.example', password: 'x' })).statusCode, 401)
})

t.test('per IP and username: LOGIN_RATE_LIMIT_IP_USER=2/1m, the third is 429', async t => {
  const { app } = await gateway(t, { LOGIN_RATE_LIMIT_IP_USER: '2/1m' })
  await attempt(app, '192.0.2.9')
  await attempt(app, '192.0.2.9')
  assertThrottled(t, await attempt(app, '192.0.2.9'), '60')
})

t.test('without a trusted proxy, a spoofed X-Forwarded-For does not escape the per-IP limit', async t => {
  const { app } = await gateway(t, { TRUST_PROXY: 'false', LOGIN_RATE_LIMIT_IP: '2/1m' })
  await attempt(app, '10.0.0.1')
  await attempt(app, '10.0.0.2')
  assertThrottled(t, await attempt(app, '10.0.0.3'), '60')
})

t.test('a limit can be switched off; malformed values stop the start', async t => {
  const { app } = await gateway(t, { LOGIN_RATE_LIMIT_IP_USER: 'off', LOGIN_RATE_LIMIT_USER: 'off', LOGIN_RATE_LIMIT_IP: 'off' })
  for (let i = 0; i < 12; i++) t.equal((await attempt(app, '192.0.2.50')).statusCode, 401)
  const config = loadConfig(testEnv(idp, { LOGIN_RATE_LIMIT_IP: '5/90s' }))
  t.same(config.login.perIp, { max: 5, windowMs: 90_000 })
  t.same(config.login.perIpUser, { max: 10, windowMs: 60_000 })
  t.same(config.login.perUser, { max: 20, windowMs: 60_000 })
  t.equal(config.login.headerSessions, false)
  for (const bad of ['100', '0/1m', 'x/1m', '10/0', '10/10ms', '10/forever']) {
    t.throws(() => loadConfig(testEnv(idp, { LOGIN_RATE_LIMIT_USER: bad })), /LOGIN_RATE_LIMIT_USER: expected N\/window/, bad)
  }
})

t.test('attack protection through the IdP\'s brute-force blocking: uniform answers, 429 account_blocked without retry', async t => {
  const strict = await startTestIdp(t, { clock, bruteForceThreshold: 3 })
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(strict, { LOG_LEVEL: 'info', TRUST_PROXY: '127.0.0.1' }), deps: { clock }, logs })
  const wrongPassword = await attempt(app, '203.0.113.50')
  const wrongUser = await attempt(app, '203.0.113.50', { username: 'nobody@example.com', password: 'x' })
  t.equal(wrongPassword.body, wrongUser.body, 'wrong user and wrong password look the same')
  await attempt(app, '203.0.113.50')
  await attempt(app, '203.0.113.50')
  const blocked = await attempt(app, '203.0.113.50', ALICE)
  t.equal(blocked.statusCode, 429)
  t.equal(blocked.json().code, 'account_blocked')
  t.equal(blocked.headers['retry-after'], undefined, 'do not retry')
  t.equal(strict.calls.at(-1)?.effectiveIp, '203.0.113.50', 'the IdP counted the client IP sent as auth0-forwarded-for')
  t.equal((await attempt(app, '203.0.113.51', ALICE)).statusCode, 200, 'the same user from another client IP is not blocked')
  t.match(logs.lines().find(l => l.event === 'login' && l.outcome === 'account_blocked'), { user: /^[\w-]{12}$/ })
})
