/**
 * MFA_POLL_INTERVAL: the push poll interval the gateway tells the client (challenge answer, 202 bodies, Retry-After),
 * 5 s unless configured; slow_down widens it by RFC 8628's 5 s. The IdP here answers slow_down to polls closer than
 * the configured interval, so a client that follows what it is told never gets one.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { loadConfig } from '../../fastify.config.js'
import { COOKIE_NAME, buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { PENDING, MFA_USER, MFA_ID, PUSH_ID } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }

const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, mfa: { tokenTtlSec: 600, pollIntervalSec: 2 } })

async function gateway (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return await buildTestApp(t, { env: testEnv(idp, env), deps: { clock } })
}

/** Password step and push challenge: the pending-login cookie and the challenge answer. */
async function startPush (app: FastifyInstance): Promise<{ cookies: Record<string, string>, challenge: LightMyRequestResponse }> {
  const login = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: MFA_USER })
  const value = login.cookies.find(c => c.name === PENDING)?.value
  if (login.statusCode !== 401 || value === undefined) throw new Error(`expected mfa_required, got ${login.statusCode} ${login.body}`)
  const cookies = { [PENDING]: value }
  const challenge = await app.inject({ method: 'POST', url: '/session/mfa/challenge', headers: CSRF, cookies, payload: { authenticator_id: PUSH_ID } })
  return { cookies, challenge }
}

async function poll (app: FastifyInstance, cookies: Record<string, string>): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/session/mfa', headers: CSRF, cookies, payload: {} })
}

function assertWaiting (t: Test, res: LightMyRequestResponse, code: string, interval: number): void {
  t.equal(res.statusCode, 202)
  t.same(res.json(), { statusCode: 202, code, error: 'Accepted', message: res.json().message, interval })
  t.equal(res.headers['retry-after'], String(interval), 'Retry-After says the same')
}

t.test('config: MFA_POLL_INTERVAL is whole seconds from 1s to 60s, default 5', async t => {
  t.equal(loadConfig(testEnv(idp)).mfa.pollIntervalSec, 5)
  for (const [value, seconds] of [['2s', 2], ['2', 2], ['1s', 1], ['1000ms', 1], ['1m', 60], [' 10s ', 10]] as const) {
    t.equal(loadConfig(testEnv(idp, { MFA_POLL_INTERVAL: value })).mfa.pollIntervalSec, seconds, value)
  }
  for (const bad of ['500ms', '1.5s', '61s', '2m']) {
    t.throws(() => loadConfig(testEnv(idp, { MFA_POLL_INTERVAL: bad })), /^MFA_POLL_INTERVAL: expected whole seconds from 1s to 60s/, bad)
  }
  for (const bad of ['soon', '0', '-5s']) {
    t.throws(() => loadConfig(testEnv(idp, { MFA_POLL_INTERVAL: bad })), /^MFA_POLL_INTERVAL: expected a duration such as/, `${bad}: not a positive duration`)
  }
})

t.test('the configured interval is what the client is told, in the challenge and every 202; approval signs in', async t => {
  const app = await gateway(t, { MFA_POLL_INTERVAL: '2s' })
  const { cookies, challenge } = await startPush(app)
  t.same(challenge.json(), { challenge: 'push', interval: 2 })

  assertWaiting(t, await poll(app, cookies), 'mfa_pending', 2)
  clock.advance(2_000)
  assertWaiting(t, await poll(app, cookies), 'mfa_pending', 2)
  clock.advance(2_000)
  idp.approvePush(MFA_ID)
  const done = await poll(app, cookies)
  t.equal(done.statusCode, 200, done.body)
  t.ok(done.cookies.some(c => c.name === COOKIE_NAME && c.value !== ''), 'signed in')
})

t.test('polling faster than told: slow_down widens the interval by 5 s, for the rest of the wait', async t => {
  const app = await gateway(t, { MFA_POLL_INTERVAL: '2s' })
  const { cookies } = await startPush(app)
  assertWaiting(t, await poll(app, cookies), 'mfa_pending', 2)
  clock.advance(1_000)
  assertWaiting(t, await poll(app, cookies), 'mfa_slow_down', 7)
  clock.advance(7_000)
  assertWaiting(t, await poll(app, cookies), 'mfa_pending', 7)
})

t.test('without MFA_POLL_INTERVAL the client is told 5 s', async t => {
  const app = await gateway(t)
  const { cookies, challenge } = await startPush(app)
  t.same(challenge.json(), { challenge: 'push', interval: 5 })
  assertWaiting(t, await poll(app, cookies), 'mfa_pending', 5)
})
