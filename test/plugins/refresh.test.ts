import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { RunningIdp } from '../../idp/app.js'
import type { IdpOptions } from '../../idp/app.js'
import { ALICE, buildTestApp, COOKIE_NAME, login, startTestIdp, testEnv, type Teardown } from '../helpers/gateway.js'
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js'
import type { Env } from '../../fastify.config.js'
import type { Clock } from '../../src/clock.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import type { SessionStore } from '../../src/session/session-store.js'

const ALICE_ID = 'auth0|alice0000000000000000001'

interface Harness {
  clock: ManualClock
  idp: RunningIdp
  app: FastifyInstance
  cookies: Record<string, string>
  sessionId: string
  refreshCalls (): number
  session (): Promise<import('../../src/session/session-store.js').SessionRecord | undefined>
  get (): Promise<import('fastify').LightMyRequestResponse>
}

/** IdP and gateway on one manual clock, Alice logged in. Access tokens live 300 s unless told otherwise. */
async function harness (t: Teardown, options: { idp?: IdpOptions, env?: Env, store?: (clock: Clock) => SessionStore } = {}): Promise<Harness> {
  const clock = createManualClock()
  const idp = await startTestIdp(t, { clock, ...options.idp })
  const app = await buildTestApp(t, { env: testEnv(idp, options.env), deps: { clock, sessionStore: options.store?.(clock) } })
  const { cookies, value } = await login(app, ALICE)
  const sessionId = value.split('.')[0] ?? ''
  return {
    clock,
    idp,
    app,
    cookies,
    sessionId,
    refreshCalls: () => idp.stats.tokenCalls.refresh_token ?? 0,
    session: async () => await app.sessions.peek(sessionId),
    get: async () => await app.inject({ url: '/session', cookies })
  }
}

/** Waits for the refresh that is in flight for the session (single flight: joining it starts nothing new). */
async function settleRefresh (h: Harness): Promise<void> {
  await h.app.refresher.refresh(h.sessionId, { ip: '127.0.0.1', log: h.app.log }).catch(() => {})
}

t.test('a fresh token is used as is: many requests, no refresh', async t => {
  const h = await harness(t)
  h.clock.advance(200_000) // 100 s left, outside the 60 s window
  const results = await Promise.all(Array.from({ length: 50 }, async () => await h.get()))
  t.ok(results.every(res => res.statusCode === 200))
  t.equal(h.refreshCalls(), 0)
})

t.test('inside the window: the request is answered at once with the current token, one refresh runs behind it', async t => {
  const h = await harness(t)
  const before = await h.session()
  h.clock.advance(280_000) // 20 s left: inside the window whatever the per-session spread
  const gate = h.idp.hold('token')
  const res = await h.get()
  t.equal(res.statusCode, 200, 'answered while the refresh is still held at the IdP')
  t.equal(res.json().access_token_expires_at, new Date(before?.expiresAt ?? 0).toISOString(), 'still the current token')
  await gate.waitForCalls(1)
  const second = await h.get()
  t.equal(second.statusCode, 200)
  gate.release()
  await settleRefresh(h)
  t.equal(h.refreshCalls(), 1, 'one refresh for both requests')
  const after = await h.session()
  t.not(after?.accessToken, before?.accessToken, 'the new access token is stored')
  t.not(after?.refreshToken, before?.refreshToken, 'the rotated refresh token replaced the old one')
  t.equal(after?.version, 1)
  t.equal(after?.expiresAt, h.clock.now() + 300_000)
  const form = h.idp.calls.at(-1)?.form
  t.equal(form?.grant_type, 'refresh_token')
  t.equal(form?.refresh_token, before?.refreshToken, 'redeemed the stored refresh token')
  t.equal(form?.client_id, 'demo-gateway', 'same client authentication as the login')
  t.equal(h.idp.calls.at(-1)?.forwardedFor, '127.0.0.1', 'auth0-forwarded-for carries the client IP')
})

t.test('expired: the request waits for the refresh and goes on with the new token', async t => {
  const h = await harness(t)
  const before = await h.session()
  h.clock.advance(301_000)
  const res = await h.get()
  t.equal(res.statusCode, 200)
  t.equal(h.refreshCalls(), 1)
  t.equal(res.json().access_token_expires_at, new Date(h.clock.now() + 300_000).toISOString())
  t.not((await h.session())?.accessToken, before?.accessToken)
  t.equal(h.idp.stats.reuseDetections, 0)
})

t.test('storm: 1,000 concurrent requests on an expired token cause exactly one refresh call', async t => {
  const h = await harness(t)
  h.clock.advance(301_000)
  const gate = h.idp.hold('token')
  const pending = Array.from({ length: 1000 }, async () => await h.get())
  await gate.waitForCalls(1)
  gate.release()
  const results = await Promise.all(pending)
  t.equal(results.filter(res => res.statusCode === 200).length, 1000, 'every request succeeded')
  t.equal(h.refreshCalls(), 1, 'one call at the token endpoint')
  t.equal(h.idp.stats.reuseDetections, 0, 'no refresh-token reuse detected')
  t.equal(h.app.refresher.inflight, 0, 'nothing left in flight')
})

t.test('the refresh window is at most half the token lifetime', async t => {
  const h = await harness(t, { idp: { accessTokenTtlSec: 60 } }) // window min(60 s, 30 s) = 30 s
  h.clock.advance(25_000) // 35 s left: outside a 30 s window, inside 60 s
  t.equal((await h.get()).statusCode, 200)
  t.equal(h.refreshCalls(), 0)
})

t.test('invalid_grant ends the session: 401 session_expired, cookie cleared, session deleted', async t => {
  const h = await harness(t)
  h.idp.revokeUserSessions(ALICE_ID)
  h.clock.advance(301_000)
  const res = await h.get()
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'session_expired')
  const cleared = res.cookies.find(c => c.name === COOKIE_NAME)
  t.equal(cleared?.value, '', 'cookie cleared')
  t.equal(await h.session(), undefined, 'session deleted')
  const again = await h.get()
  t.equal(again.json().code, 'no_session')
})

t.test('a blocked user (access_denied or invalid_grant at refresh) is signed out', async t => {
  const h = await harness(t)
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, status: 403, body: { error: 'access_denied', error_description: 'user is blocked' } })
  h.clock.advance(301_000)
  const res = await h.get()
  t.equal(res.json().code, 'session_expired')
  t.equal(await h.session(), undefined)
})

t.test('transient failures keep the session: a valid token keeps serving, an expired one gets 503 idp_unavailable', async t => {
  for (const [name, fault] of [
    ['5xx', { status: 503, body: '<html>maintenance</html>' }],
    ['connection reset', { destroySocket: true }],
    ['garbage 200', { status: 200, body: { token_type: 'Bearer' } }]
  ] as const) {
    await t.test(name, async t => {
      const h = await harness(t)
      h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', ...fault })
      h.clock.advance(280_000)
      t.equal((await h.get()).statusCode, 200, 'inside the window the current token serves')
      await settleRefresh(h)
      h.clock.advance(60_000) // expired now
      const res = await h.get()
      t.equal(res.statusCode, 503)
      t.equal(res.json().code, 'idp_unavailable')
      t.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After set')
      t.not(await h.session(), undefined, 'session kept')
      h.idp.clearFaults()
      h.clock.advance(2_000) // past the short back-off
      const recovered = await h.get()
      t.equal(recovered.statusCode, 200, 'the next try after the back-off succeeds')
    })
  }
})

t.test('an IdP timeout at refresh keeps the session and answers 503 idp_unavailable', async t => {
  const h = await harness(t, { env: { IDP_TIMEOUT: '150ms' } })
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, latencyMs: 1_000 })
  h.clock.advance(301_000)
  const res = await h.get()
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'idp_unavailable')
  t.not(await h.session(), undefined)
})

t.test('429 with Retry-After: not-before for the session, 503 refresh_rate_limited, session survives', async t => {
  const h = await harness(t)
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, rateLimit: { retryAfterSec: 30, resetInSec: 90 } })
  h.clock.advance(301_000)
  const res = await h.get()
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'refresh_rate_limited')
  t.equal(res.headers['retry-after'], '30', 'Retry-After wins over x-ratelimit-reset')
  t.equal(h.refreshCalls(), 1)
  h.clock.advance(29_000)
  const waiting = await h.get()
  t.equal(waiting.json().code, 'refresh_rate_limited')
  t.equal(waiting.headers['retry-after'], '1')
  t.equal(h.refreshCalls(), 1, 'no call to the IdP before the not-before time')
  h.clock.advance(1_000)
  t.equal((await h.get()).statusCode, 200)
  t.equal(h.refreshCalls(), 2)
})

t.test('429 with only x-ratelimit-reset (epoch seconds) sets the wait', async t => {
  const h = await harness(t)
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, rateLimit: { resetInSec: 45 } })
  h.clock.advance(301_000)
  const res = await h.get()
  t.equal(res.json().code, 'refresh_rate_limited')
  t.equal(res.headers['retry-after'], '45')
})

t.test('while rate limited, a still-valid token keeps being used', async t => {
  const h = await harness(t)
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, rateLimit: { retryAfterSec: 20 } })
  h.clock.advance(280_000)
  t.equal((await h.get()).statusCode, 200)
  await settleRefresh(h)
  t.equal(h.refreshCalls(), 1)
  h.clock.advance(5_000)
  t.equal((await h.get()).statusCode, 200, 'still valid: served')
  t.equal(h.refreshCalls(), 1, 'no refresh attempted inside the not-before time')
})

t.test('a limit the IdP calls global backs off every session of the gateway', async t => {
  const h = await harness(t)
  const other = await login(h.app, ALICE)
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, status: 429, body: { error: 'too_many_requests', error_description: 'Global token endpoint rate limits exceeded.' }, headers: { 'retry-after': '10' } })
  h.clock.advance(301_000)
  t.equal((await h.get()).json().code, 'refresh_rate_limited')
  const res = await h.app.inject({ url: '/session', cookies: other.cookies })
  t.equal(res.json().code, 'refresh_rate_limited', 'another session waits too')
  t.equal(h.refreshCalls(), 1, 'without calling the IdP')
  h.clock.advance(16_000) // past the back-off and its jitter (at most half again)
  t.equal((await h.app.inject({ url: '/session', cookies: other.cookies })).statusCode, 200)
})

t.test('during a gateway-wide back-off a token inside the window is used with no store read and no refresh attempt', async t => {
  let reads = 0
  const h = await harness(t, {
    store: clock => {
      const inner = createMemoryStore({ maxEntries: 100, clock })
      return { ...inner, get: async key => { reads++; return await inner.get(key) } }
    }
  })
  h.clock.advance(30_000)
  const other = await login(h.app, ALICE) // expires 30 s after the first session
  h.idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, status: 429, body: { error: 'too_many_requests', error_description: 'Global token endpoint rate limits exceeded.' }, headers: { 'retry-after': '10' } })
  h.clock.advance(271_000) // the first expired; the other has 29 s left: inside its window whatever the spread
  t.equal((await h.get()).json().code, 'refresh_rate_limited', 'the IdP limited the whole client')
  const readsBefore = reads
  const res = await h.app.inject({ url: '/session', cookies: other.cookies })
  t.equal(res.statusCode, 200, 'the still-valid token serves')
  t.equal(reads - readsBefore, 1, 'one store read (loading the session), none for a refresh that would be refused')
  t.equal(h.app.refresher.inflight, 0, 'no refresh started')
  t.equal(h.refreshCalls(), 1)
  h.clock.advance(16_000) // past the back-off and its jitter; still inside the other's window
  t.equal((await h.app.inject({ url: '/session', cookies: other.cookies })).statusCode, 200)
  await h.app.refresher.refresh(other.value.split('.')[0] ?? '', { ip: '127.0.0.1', log: h.app.log })
  t.equal(h.refreshCalls(), 2, 'after the back-off the background refresh runs again')
})

t.test('at most one refresh per session per REFRESH_MIN_INTERVAL', async t => {
  const h = await harness(t, { idp: { accessTokenTtlSec: 4 } })
  h.clock.advance(4_000)
  t.equal((await h.get()).statusCode, 200)
  t.equal(h.refreshCalls(), 1)
  h.clock.advance(4_000) // expired again, 4 s after the last refresh
  const res = await h.get()
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'refresh_rate_limited')
  t.equal(res.headers['retry-after'], '6')
  t.equal(h.refreshCalls(), 1)
  h.clock.advance(6_000)
  t.equal((await h.get()).statusCode, 200)
  t.equal(h.refreshCalls(), 2)
})

t.test('a session without a refresh token lives until its access token expires', async t => {
  const h = await harness(t, { env: { AUTH0_SCOPE: 'openid profile email' } })
  const view = await h.get()
  t.equal(view.json().has_refresh_token, false)
  h.clock.advance(299_000)
  t.equal((await h.get()).statusCode, 200, 'inside the window, no refresh possible: served')
  h.clock.advance(1_000)
  const res = await h.get()
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'session_expired')
  t.equal(h.refreshCalls(), 0)
  t.equal(await h.session(), undefined)
})

t.test('without rotation the stored refresh token is kept', async t => {
  const h = await harness(t, { idp: { refreshToken: { rotation: false } } })
  const before = await h.session()
  h.clock.advance(301_000)
  t.equal((await h.get()).statusCode, 200)
  const after = await h.session()
  t.equal(after?.refreshToken, before?.refreshToken)
  t.not(after?.accessToken, before?.accessToken)
})

t.test('a logout while a refresh is in flight is not undone by the refresh', async t => {
  const h = await harness(t)
  h.clock.advance(301_000)
  const gate = h.idp.hold('token')
  const pending = h.get()
  await gate.waitForCalls(1)
  const out = await h.app.inject({ method: 'DELETE', url: '/session', cookies: h.cookies, headers: { 'x-csrf': '1' } })
  t.equal(out.statusCode, 204)
  gate.release()
  const res = await pending
  t.equal(res.statusCode, 401)
  t.equal(await h.session(), undefined, 'the session stays gone')
})
