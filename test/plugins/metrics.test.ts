import t from 'tap'
import { totp } from '../../idp/totp.js'
import { buildApp } from '../../app.js'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import { GatewayError } from '../../src/errors.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import type { SessionStore } from '../../src/session/session-store.js'
import { ALICE, COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { startUpstream } from '../helpers/upstream.js'
import { parseProm, value, type Sample } from '../ops/prom.js'

const ALICE_ID = 'auth0|alice0000000000000000001'

async function scrape (app: { metrics: { registry: { metrics (): Promise<string> } } }): Promise<Sample[]> {
  return parseProm(await app.metrics.registry.metrics())
}

t.test('/metrics is served on the admin port only, in the Prometheus text format', async t => {
  const idp = await startTestIdp(t)
  const app = buildApp({ config: await resolveEndpoints(loadConfig(testEnv(idp, { ADMIN_PORT: '0' }))) })
  t.teardown(async () => { await app.close() })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const admin = await app.adminServer.started()
  const main = app.server.address()
  t.ok(admin !== undefined && typeof main === 'object' && main !== null && admin.port !== main.port, 'a port of its own')
  t.same(app.adminServer.address(), admin)
  const mainPort = typeof main === 'object' && main !== null ? main.port : 0
  const onMain = await fetch(`http://127.0.0.1:${mainPort}/metrics`)
  t.equal(onMain.status, 404, 'not on the main port')
  await onMain.arrayBuffer()
  const res = await fetch(`http://127.0.0.1:${admin?.port ?? 0}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const text = await res.text()
  const samples = parseProm(text)
  const names = ['bff_login_attempts_total', 'bff_mfa_steps_total', 'bff_refresh_total', 'bff_idp_request_duration_seconds', 'bff_proxy_requests_total',
    'bff_proxy_request_duration_seconds', 'bff_active_sessions', 'bff_store_errors_total', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds']
  for (const name of names) t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is registered`)
  t.equal(value(samples, 'bff_refresh_total', { outcome: 'invalid_grant' }), 0, 'refresh outcomes start at 0')
  t.equal(value(samples, 'bff_active_sessions', { store: 'memory' }), 0)
})

t.test('ADMIN_PORT=off: no admin server; two apps in one process keep separate registries', async t => {
  const idp = await startTestIdp(t)
  const off = await buildTestApp(t, { env: testEnv(idp, { ADMIN_PORT: 'off' }) })
  t.equal(off.adminServer.enabled, false)
  t.equal(await off.adminServer.started(), undefined)
  t.equal(off.adminServer.address(), null)
  const other = await buildTestApp(t, { env: testEnv(idp) })
  await login(other)
  t.equal(value(await scrape(other), 'bff_login_attempts_total', { outcome: 'ok' }), 1)
  t.equal(value(await scrape(off), 'bff_login_attempts_total', { outcome: 'ok' }), 0, 'the other app counted nothing')
})

t.test('a taken ADMIN_PORT is reported, the main app keeps serving', async t => {
  const idp = await startTestIdp(t)
  const first = buildApp({ config: await resolveEndpoints(loadConfig(testEnv(idp, { ADMIN_PORT: '0' }))) })
  t.teardown(async () => { await first.close() })
  await first.listen({ host: '127.0.0.1', port: 0 })
  const taken = await first.adminServer.started()
  const second = buildApp({ config: await resolveEndpoints(loadConfig(testEnv(idp, { ADMIN_PORT: String(taken?.port ?? 0) }))) })
  t.teardown(async () => { await second.close() })
  await second.listen({ host: '127.0.0.1', port: 0 })
  await t.rejects(second.adminServer.started(), { code: 'EADDRINUSE' })
})

t.test('logins by outcome, token-endpoint latency, active sessions', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp) })
  await login(app)
  await login(app)
  const wrong = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: { username: ALICE.username, password: 'wrong-password' } })
  t.equal(wrong.statusCode, 401)
  const samples = await scrape(app)
  t.equal(value(samples, 'bff_login_attempts_total', { outcome: 'ok' }), 2)
  t.equal(value(samples, 'bff_login_attempts_total', { outcome: 'invalid_credentials' }), 1)
  t.equal(value(samples, 'bff_idp_request_duration_seconds_count', { endpoint: 'token', status_class: '2xx' }), 2)
  t.ok(value(samples, 'bff_idp_request_duration_seconds_count', { endpoint: 'token', status_class: '4xx' }) >= 1)
  t.equal(value(samples, 'bff_idp_request_duration_seconds_count', { endpoint: 'jwks', status_class: '2xx' }), 1)
  t.equal(value(samples, 'bff_active_sessions', { store: 'memory' }), 2)
  await app.inject({ method: 'POST', url: '/session', payload: ALICE })
  t.equal(value(await scrape(app), 'bff_login_attempts_total', { outcome: 'csrf_required' }), 1, 'refused before the IdP: counted by its code')
})

t.test('refreshes by outcome: ok, transient, rate_limited, invalid_grant', async t => {
  const clock = createManualClock()
  const idp = await startTestIdp(t, { clock })
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const sessions = []
  for (let i = 0; i < 4; i++) sessions.push((await login(app)).cookies)
  const [ok, transient, limited, refused] = sessions
  clock.advance(301_000) // every access token expired: each GET waits for its refresh
  t.equal((await app.inject({ url: '/session', cookies: ok })).statusCode, 200)
  idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, status: 503, body: { error: 'temporarily_unavailable' } })
  t.equal((await app.inject({ url: '/session', cookies: transient })).statusCode, 503)
  idp.setFault({ endpoint: 'token', grantType: 'refresh_token', times: 1, rateLimit: true })
  t.equal((await app.inject({ url: '/session', cookies: limited })).json().code, 'refresh_rate_limited')
  idp.revokeUserSessions(ALICE_ID)
  t.equal((await app.inject({ url: '/session', cookies: refused })).json().code, 'session_expired')
  const samples = await scrape(app)
  for (const outcome of ['ok', 'transient', 'rate_limited', 'invalid_grant']) {
    t.equal(value(samples, 'bff_refresh_total', { outcome }), 1, outcome)
  }
  t.equal(value(samples, 'bff_active_sessions', { store: 'memory' }), 3, 'the refused session is gone')
})

t.test('proxied requests by upstream and status class, with latency', async t => {
  const idp = await startTestIdp(t)
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=${upstream.url},/api/billing=${upstream.url}/v1` }) })
  const { cookies } = await login(app)
  t.equal((await app.inject({ url: '/api/orders/7', cookies })).statusCode, 200)
  t.equal((await app.inject({ url: '/api/billing/status/503', cookies })).statusCode, 503)
  t.equal((await app.inject({ url: '/api/orders' })).statusCode, 401, 'no session: nothing forwarded, not counted')
  const samples = await scrape(app)
  t.equal(value(samples, 'bff_proxy_requests_total', { upstream: '/api', status_class: '2xx' }), 1)
  t.equal(value(samples, 'bff_proxy_requests_total', { upstream: '/api/billing', status_class: '5xx' }), 1)
  t.equal(value(samples, 'bff_proxy_requests_total', { upstream: '/api', status_class: '4xx' }), 0)
  t.equal(value(samples, 'bff_proxy_request_duration_seconds_count', { upstream: '/api', status_class: '2xx' }), 1)
})

t.test('store errors: every store_unavailable answer is counted', async t => {
  const idp = await startTestIdp(t)
  const inner = createMemoryStore({ maxEntries: 10 })
  let down = false
  const store: SessionStore = {
    ...inner,
    get: async key => { if (down) throw new GatewayError('store_unavailable'); return await inner.get(key) }
  }
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { sessionStore: store } })
  const { cookies } = await login(app)
  down = true
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 503)
  t.equal((await app.inject({ url: '/session', cookies })).json().code, 'store_unavailable')
  t.equal(value(await scrape(app), 'bff_store_errors_total'), 2)
})

t.test('MFA steps are counted by route and outcome for any /session/mfa* route', async t => {
  const idp = await startTestIdp(t)
  const app = buildApp({ config: await resolveEndpoints(loadConfig(testEnv(idp))) })
  t.teardown(async () => { await app.close() })
  // A stand-in for an MFA route: the hook keys on the /session/mfa prefix. Registered as a plugin, like every route
  // of the gateway, so it comes after the metrics plugin that hooks routes as they are added.
  app.register(async scope => {
    scope.post('/session/mfa-metrics-probe/:step', async request => {
      const { step } = request.params as { step: string } // the route's own param, a string by construction
      if (step === 'bad') throw new GatewayError('invalid_request')
      return { ok: true }
    })
  })
  await app.ready()
  await app.inject({ method: 'POST', url: '/session/mfa-metrics-probe/good' })
  await app.inject({ method: 'POST', url: '/session/mfa-metrics-probe/bad' })
  const samples = await scrape(app)
  t.equal(value(samples, 'bff_mfa_steps_total', { route: '/session/mfa-metrics-probe/:step', outcome: 'ok' }), 1)
  t.equal(value(samples, 'bff_mfa_steps_total', { route: '/session/mfa-metrics-probe/:step', outcome: 'invalid_request' }), 1)
  // The gateway's own MFA route is hooked the same way.
  const refused = await app.inject({ method: 'POST', url: '/session/mfa', headers: { 'x-csrf': '1' }, payload: {} })
  t.equal(refused.json().code, 'mfa_expired', 'no sign-in is waiting for a second factor')
  t.equal(value(await scrape(app), 'bff_mfa_steps_total', { route: '/session/mfa', outcome: refused.json().code }), 1)
})

t.test('an MFA login times its MFA API calls: bff_idp_request_duration_seconds{endpoint="mfa"} on /metrics', async t => {
  const clock = createManualClock()
  const idp = await startTestIdp(t, { clock })
  const app = await buildTestApp(t, { env: testEnv(idp, { ADMIN_PORT: '0' }), deps: { clock } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const admin = await app.adminServer.started()
  const csrf = { 'x-csrf': '1' }
  const started = await app.inject({ method: 'POST', url: '/session', headers: csrf, payload: { username: 'mfa@example.com', password: 'mfa-password-1' } })
  t.equal(started.json().code, 'mfa_required', 'GET /mfa/authenticators answered')
  const cookies = { [`${COOKIE_NAME}-mfa`]: started.cookies.find(c => c.name === `${COOKIE_NAME}-mfa`)?.value ?? '' }
  const push = await app.inject({ method: 'POST', url: '/session/mfa/challenge', headers: csrf, cookies, payload: { authenticator_id: 'push|dev_mfa0000000000000002' } })
  t.same(push.json(), { challenge: 'push', interval: 5 }, 'POST /mfa/challenge answered')
  const done = await app.inject({ method: 'POST', url: '/session/mfa', headers: csrf, cookies, payload: { otp: totp('JBSWY3DPEHPK3PXP', clock.now()) } })
  t.equal(done.statusCode, 200, 'signed in with the second factor')
  const res = await fetch(`http://127.0.0.1:${admin?.port ?? 0}/metrics`)
  const samples = parseProm(await res.text())
  t.equal(value(samples, 'bff_idp_request_duration_seconds_count', { endpoint: 'mfa', status_class: '2xx' }), 2, 'the authenticators list and the challenge')
  t.equal(value(samples, 'bff_idp_request_duration_seconds_count', { endpoint: 'token', status_class: '2xx' }), 1, 'the MFA grant')
})
