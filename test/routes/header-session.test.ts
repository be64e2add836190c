import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { totp } from '../../idp/totp.js'
import { storageKey } from '../../src/session/session-id.js'
import { ALICE, COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { startUpstream } from '../helpers/upstream.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })

async function gateway (t: Test, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, upstream: Awaited<ReturnType<typeof startUpstream>> }> {
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { ALLOW_HEADER_SESSIONS: 'true', UPSTREAMS: `/api=${upstream.url}`, ...env }), deps: { clock } })
  return { app, upstream }
}

async function headerLogin (app: FastifyInstance, credentials: Record<string, string> = ALICE): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { ...credentials, session_transport: 'header' } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().session_handle as string
}

t.test('disabled by default: session_transport "header" is 400 header_sessions_disabled, and the header is no session', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  idp.clearCalls()
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { ...ALICE, session_transport: 'header' } })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'header_sessions_disabled')
  t.equal(idp.calls.length, 0)
  const { value } = await login(app)
  t.equal((await app.inject({ url: '/session', headers: { authorization: `Session ${value}` } })).statusCode, 401)
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: { authorization: `Session ${value}` } })).json().code, 'csrf_required', 'no CSRF exemption either')
})

t.test('end to end: header login, GET /session, a proxied call, no CSRF header, logout revokes', async t => {
  const { app, upstream } = await gateway(t)
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { ...ALICE, session_transport: 'header' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['set-cookie'], undefined, 'no cookie')
  const handle = res.json().session_handle as string
  t.match(handle, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]+$/, 'the signed session id')
  t.equal(res.json().user.email, ALICE.username)
  const id = handle.slice(0, handle.lastIndexOf('.'))
  const record = await app.sessionStore.get(storageKey(id))
  t.ok(record, 'stored under the hash of the id, like a cookie session')
  t.notOk(handle.includes(record?.accessToken ?? 'x') || handle.includes(record?.refreshToken ?? 'x'), 'never an IdP token')

  const auth = { authorization: `Session ${handle}` }
  const who = await app.inject({ url: '/session', headers: auth })
  t.equal(who.statusCode, 200)
  t.equal(who.json().user.sub, 'auth0|alice0000000000000000001')
  t.equal(who.headers['set-cookie'], undefined)

  const proxied = await app.inject({ method: 'POST', url: '/api/orders', headers: { ...auth, 'content-type': 'application/json' }, payload: { item: 1 } })
  t.equal(proxied.statusCode, 200, 'a state-changing call without X-CSRF passes')
  const seen = upstream.requests.at(-1)
  t.equal(seen?.headers.authorization, `Bearer ${record?.accessToken ?? ''}`, 'the upstream gets the Bearer token')
  t.notOk(JSON.stringify(seen?.headers).includes(handle), 'and never the client\'s Authorization: Session header')

  const foreign = await app.inject({ method: 'POST', url: '/api/orders', headers: { ...auth, origin: 'https://evil.example' } })
  t.equal(foreign.json().code, 'origin_forbidden', 'the Origin check still applies')

  idp.resetStats()
  const out = await app.inject({ method: 'DELETE', url: '/session', headers: auth })
  t.equal(out.statusCode, 204)
  t.equal(idp.stats.revocations, 1, 'refresh token revoked')
  t.equal(await app.sessionStore.get(storageKey(id)), undefined)
  t.equal((await app.inject({ url: '/session', headers: auth })).json().code, 'no_session')
})

t.test('a bad or unknown handle is no session and never falls back to the cookie', async t => {
  const { app } = await gateway(t)
  const { cookies } = await login(app)
  const handle = await headerLogin(app)
  for (const bad of ['Session', 'Session x', `Session ${handle.slice(0, -2)}`, `Session ${handle}junk`]) {
    const res = await app.inject({ url: '/session', headers: { authorization: bad }, cookies })
    t.equal(res.statusCode, 401, bad.slice(0, 12))
  }
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200, 'the cookie alone still works')
  // A cookie session keeps needing the CSRF header.
  t.equal((await app.inject({ method: 'DELETE', url: '/session', cookies })).json().code, 'csrf_required')
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: { authorization: 'Bearer abc' }, cookies })).json().code, 'csrf_required')
})

t.test('MFA with a header session: the pending login uses its cookie, completion answers with the handle', async t => {
  const { app } = await gateway(t)
  const start = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { username: 'mfa@example.com', password: 'mfa-password-1', session_transport: 'header' } })
  t.equal(start.statusCode, 401)
  const pending = start.cookies.find(c => c.name === `${COOKIE_NAME}-mfa`)?.value ?? ''
  clock.advance(30_000)
  const res = await app.inject({ method: 'POST', url: '/session/mfa', headers: CSRF, cookies: { [`${COOKIE_NAME}-mfa`]: pending }, payload: { otp: totp('JBSWY3DPEHPK3PXP', clock.now()) } })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.cookies.find(c => c.name === COOKIE_NAME), undefined, 'no session cookie')
  const handle = res.json().session_handle as string
  t.equal((await app.inject({ url: '/session', headers: { authorization: `Session ${handle}` } })).json().user.email, 'mfa@example.com')
})
