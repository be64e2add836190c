import t from 'tap'
import { sign } from '@fastify/cookie'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { storageKey } from '../../src/session/session-id.js'
import { ALICE, COOKIE_NAME, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SESSION_SECRET, buildTestApp, captureLogs, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
// One IdP for the file, on the same clock as every gateway; access tokens outlive the sessions tested here.
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })
t.afterEach(() => { idp.clearFaults() })

const sessionIdOf = (cookieValue: string): string => cookieValue.slice(0, cookieValue.lastIndexOf('.'))

t.test('login answers 200 with the session view: profile and custom claims, no technical claims, no token', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { res } = await login(app)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token_expires_at', 'expires_at', 'has_refresh_token', 'scope', 'user'])
  t.equal(body.user.sub, 'auth0|alice0000000000000000001')
  t.equal(body.user.email, 'alice@example.com')
  t.equal(body.user.name, 'Alice Example')
  t.same(body.user['https://example.com/roles'], ['admin'])
  for (const claim of ['iss', 'aud', 'exp', 'iat', 'nonce', 'at_hash', 'sid', 'azp']) t.notOk(claim in body.user, `no ${claim}`)
  t.equal(body.scope, 'openid profile email offline_access')
  t.equal(body.has_refresh_token, true)
  t.equal(body.expires_at, new Date(clock.now() + 30 * 60_000).toISOString())
  t.equal(body.access_token_expires_at, new Date(clock.now() + 7_200_000).toISOString())

  const record = await app.sessionStore.get(storageKey(sessionIdOf(res.cookies[0]?.value ?? '')))
  t.ok(record, 'the session is stored under the hashed cookie id')
  const everything = JSON.stringify(res.headers) + res.body
  for (const secret of [record?.accessToken, record?.refreshToken, ALICE.password, DEMO_CLIENT_SECRET]) {
    t.ok(secret !== undefined && !everything.includes(secret), 'no token or secret in the answer')
  }
  t.notMatch(everything, /eyJ/, 'no JWT anywhere in the answer')
})

t.test('the session cookie: __Host- name, HttpOnly, Secure, SameSite=Strict, Path=/, no Domain, Max-Age = absolute lifetime', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { res } = await login(app)
  t.same(res.cookies.map(c => c.name), ['__Host-bff-session', '__Host-bff-session-device'], 'the session cookie, and the device cookie (test/routes/session-device-cookie.test.ts)')
  const cookie = res.cookies[0]
  t.equal(cookie?.name, '__Host-bff-session')
  t.equal(cookie?.httpOnly, true)
  t.equal(cookie?.secure, true)
  t.equal(cookie?.sameSite, 'Strict')
  t.equal(cookie?.path, '/')
  t.equal(cookie?.domain, undefined)
  t.equal(cookie?.maxAge, 43_200)
  const header = String(res.headers['set-cookie'])
  t.notMatch(header, /Domain=/i)
  t.match(cookie?.value, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9+/]+$/, 'the signed opaque id')
})

t.test('COOKIE_SAMESITE=lax and the session lifetimes shape the cookie', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { COOKIE_SAMESITE: 'lax', SESSION_ABSOLUTE_TIMEOUT: '2h' }), deps: { clock } })
  const { res } = await login(app)
  t.equal(res.cookies[0]?.sameSite, 'Lax')
  t.equal(res.cookies[0]?.maxAge, 7200)
})

t.test('a form-encoded login body is accepted', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const res = await app.inject({
    method: 'POST', url: '/session', headers: { ...CSRF, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(ALICE).toString()
  })
  t.equal(res.statusCode, 200)
  t.equal(res.json().user.email, 'alice@example.com')
  t.equal(res.cookies[0]?.name, COOKIE_NAME)
})

t.test('audience and scope are sent; plain password grant without a realm', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_AUDIENCE: 'https://api.example.com', AUTH0_SCOPE: 'openid profile offline_access read:orders' }), deps: { clock } })
  idp.clearCalls()
  await login(app)
  const call = idp.calls.find(c => c.path === '/oauth/token')
  t.equal(call?.grantType, 'password')
  t.equal(call?.form.audience, 'https://api.example.com')
  t.equal(call?.form.scope, 'openid profile offline_access read:orders')
  t.equal(call?.form.username, ALICE.username)
  t.notOk(call !== undefined && 'realm' in call.form)
  t.equal(call?.headers['content-type'], 'application/x-www-form-urlencoded')
})

t.test('password-realm grant for a realm listed in AUTH0_REALMS', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_REALMS: 'employees' }), deps: { clock } })
  idp.clearCalls()
  const { res } = await login(app, { username: 'bob@corp.example', password: 'bob-password-1', realm: 'employees' })
  t.equal(res.json().user['https://example.com/department'], 'engineering')
  const call = idp.calls.find(c => c.path === '/oauth/token')
  t.equal(call?.grantType, 'http://auth0.com/oauth/grant-type/password-realm')
  t.equal(call?.form.realm, 'employees')
})

t.test('AUTH0_REALM makes every login a password-realm login', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_REALM: 'employees' }), deps: { clock } })
  idp.clearCalls()
  await login(app, { username: 'bob@corp.example', password: 'bob-password-1' })
  t.equal(idp.calls[0]?.grantType, 'http://auth0.com/oauth/grant-type/password-realm')
  t.equal(idp.calls[0]?.form.realm, 'employees')
  idp.clearCalls()
  await login(app, { username: 'bob@corp.example', password: 'bob-password-1', realm: 'employees' })
  t.equal(idp.calls[0]?.form.realm, 'employees', 'the configured realm may be named explicitly')
})

t.test('a realm not in AUTH0_REALMS/AUTH0_REALM is 400 invalid_realm and never reaches the IdP', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_REALM: 'Username-Password-Authentication', AUTH0_REALMS: 'partners' }), deps: { clock } })
  const noRealms = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  idp.clearCalls()
  for (const target of [app, noRealms]) {
    const res = await target.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { ...ALICE, realm: 'employees' } })
    t.equal(res.statusCode, 400)
    t.equal(res.json().code, 'invalid_realm')
    t.equal(res.cookies.length, 0)
  }
  t.equal(idp.calls.length, 0)
})

t.test('GET /session: 200 with the session view, 401 no_session without a cookie', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { cookies, res: loginRes } = await login(app)
  const res = await app.inject({ url: '/session', cookies })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.same(res.json(), loginRes.json())
  t.equal(res.headers['set-cookie'], undefined, 'no new cookie for a current one')
  const none = await app.inject({ url: '/session' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'no_session')
  t.equal(none.headers['cache-control'], 'no-store')
})

t.test('a tampered, truncated, unsigned or unknown cookie is no session (401 no_session)', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { value } = await login(app)
  const id = sessionIdOf(value)
  const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
  const unknownId = 'x'.repeat(43)
  const candidates = {
    'tampered signature': flip(value, value.length - 2),
    'tampered id': flip(value, 3),
    truncated: value.slice(0, value.length - 5),
    'id only': id,
    'signed with another secret': sign(id, 'another-secret-0123456789abcdefghijklmnop'),
    'validly signed unknown id': sign(unknownId, SESSION_SECRET),
    'validly signed junk': sign('not-an-id', SESSION_SECRET),
    empty: ''
  }
  for (const [name, cookie] of Object.entries(candidates)) {
    const res = await app.inject({ url: '/session', cookies: { [COOKIE_NAME]: cookie } })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'no_session', name)
  }
  t.equal((await app.inject({ url: '/session', cookies: { [COOKIE_NAME]: value } })).statusCode, 200, 'the genuine cookie still works')
})

t.test('secret rotation: a cookie signed with an older secret still works and is re-issued with the newest', async t => {
  const OLD = 'old-session-secret-0123456789abcdefghijklmnopq'
  const NEW = 'new-session-secret-0123456789abcdefghijklmnopq'
  const store = createMemoryStore({ maxEntries: 100 })
  const before = await buildTestApp(t, { env: testEnv(idp, { SESSION_SECRET: OLD }), deps: { clock, sessionStore: store } })
  const { value } = await login(before)
  const id = sessionIdOf(value)

  const rotated = await buildTestApp(t, { env: testEnv(idp, { SESSION_SECRET: `${NEW},${OLD}` }), deps: { clock, sessionStore: store } })
  const res = await rotated.inject({ url: '/session', cookies: { [COOKIE_NAME]: value } })
  t.equal(res.statusCode, 200)
  const renewed = res.cookies.find(c => c.name === COOKIE_NAME)
  t.equal(renewed?.value, sign(id, NEW), 'same session id, signed with the newest secret')
  t.equal(renewed?.httpOnly, true)
  t.equal(renewed?.maxAge, 43_200)
  const again = await rotated.inject({ url: '/session', cookies: { [COOKIE_NAME]: renewed?.value ?? '' } })
  t.equal(again.statusCode, 200)
  t.equal(again.headers['set-cookie'], undefined, 'a cookie signed with the newest secret is not re-issued')

  const retired = await buildTestApp(t, { env: testEnv(idp, { SESSION_SECRET: NEW }), deps: { clock, sessionStore: store } })
  const dropped = await retired.inject({ url: '/session', cookies: { [COOKIE_NAME]: value } })
  t.equal(dropped.statusCode, 401, 'once the old secret leaves the list its cookies stop working')
  t.equal(dropped.json().code, 'no_session')
})

t.test('session fixation: logging in with a session cookie ends that session', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const first = await login(app)
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, cookies: first.cookies, payload: ALICE })
  t.equal(res.statusCode, 200)
  const second = res.cookies.find(c => c.name === COOKIE_NAME)?.value ?? ''
  t.not(sessionIdOf(second), sessionIdOf(first.value), 'a new session id')
  t.equal(await app.sessionStore.get(storageKey(sessionIdOf(first.value))), undefined, 'the old session is gone from the store')
  const old = await app.inject({ url: '/session', cookies: first.cookies })
  t.equal(old.statusCode, 401)
  t.equal(old.json().code, 'no_session')
  t.equal((await app.inject({ url: '/session', cookies: { [COOKIE_NAME]: second } })).statusCode, 200)
})

t.test('a failed login with a session cookie leaves that session alone', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const first = await login(app)
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, cookies: first.cookies, payload: { ...ALICE, password: 'wrong' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['set-cookie'], undefined)
  t.equal((await app.inject({ url: '/session', cookies: first.cookies })).statusCode, 200)
})

t.test('idle timeout slides with activity on the injected clock', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { SESSION_IDLE_TIMEOUT: '10m', SESSION_ABSOLUTE_TIMEOUT: '1h' }), deps: { clock } })
  const { cookies } = await login(app)
  clock.advance(9 * 60_000)
  const alive = await app.inject({ url: '/session', cookies })
  t.equal(alive.statusCode, 200)
  t.equal(alive.json().expires_at, new Date(clock.now() + 10 * 60_000).toISOString(), 'expires_at moved with the activity')
  clock.advance(9 * 60_000)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200, '18 min after login, alive thanks to activity')
  clock.advance(10 * 60_000)
  const idle = await app.inject({ url: '/session', cookies })
  t.equal(idle.statusCode, 401)
  t.equal(idle.json().code, 'no_session')
  clock.advance(-10 * 60_000)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 401, 'an expired session was deleted, not just hidden')
})

t.test('the absolute lifetime ends a session however active it is', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { SESSION_IDLE_TIMEOUT: '10m', SESSION_ABSOLUTE_TIMEOUT: '30m' }), deps: { clock } })
  const { cookies } = await login(app)
  const start = clock.now()
  for (const minute of [8, 16, 24, 29]) {
    clock.set(start + minute * 60_000)
    t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200, `alive at ${minute} min`)
  }
  const late = await app.inject({ url: '/session', cookies })
  t.equal(late.json().expires_at, new Date(start + 30 * 60_000).toISOString(), 'expires_at is capped by the absolute end')
  clock.set(start + 30 * 60_000)
  const res = await app.inject({ url: '/session', cookies })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'no_session')
})

t.test('DELETE /session: 204, cookie cleared, session gone, refresh token revoked at the IdP', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { cookies, value } = await login(app)
  const key = storageKey(sessionIdOf(value))
  const refreshToken = (await app.sessionStore.get(key))?.refreshToken ?? ''
  t.ok(refreshToken !== '')
  idp.clearCalls()
  const res = await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal(res.headers['cache-control'], 'no-store')
  const cleared = res.cookies.find(c => c.name === COOKIE_NAME)
  t.equal(cleared?.value, '')
  t.equal(cleared?.maxAge, 0)
  t.equal(cleared?.path, '/')
  t.equal(cleared?.secure, true)
  t.equal(cleared?.httpOnly, true)
  t.equal(await app.sessionStore.get(key), undefined)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 401)

  const revoke = idp.calls.find(c => c.path === '/oauth/revoke')
  t.equal(revoke?.form.token, refreshToken)
  t.equal(revoke?.status, 200)
  const refused = await fetch(`${idp.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET })
  })
  t.equal(refused.status, 403)
  t.equal((await refused.json() as { error: string }).error, 'invalid_grant', 'the IdP refuses the revoked refresh token')
})

t.test('DELETE /session without a session, or twice, is an idempotent 204', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const none = await app.inject({ method: 'DELETE', url: '/session', headers: CSRF })
  t.equal(none.statusCode, 204)
  t.equal(none.cookies.find(c => c.name === COOKIE_NAME)?.maxAge, 0, 'the cookie is cleared anyway')
  const { cookies } = await login(app)
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })).statusCode, 204)
  idp.clearCalls()
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })).statusCode, 204)
  t.equal(idp.calls.length, 0, 'nothing to revoke the second time')
  const junk = await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies: { [COOKIE_NAME]: 'junk' } })
  t.equal(junk.statusCode, 204)
})

t.test('a failed revocation still ends the session and is logged', async t => {
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'info' }), deps: { clock }, logs })
  const { cookies, value } = await login(app)
  idp.setFault({ endpoint: 'revoke', times: 1, status: 503, body: { error: 'temporarily_unavailable', error_description: 'down' } })
  const res = await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })
  t.equal(res.statusCode, 204)
  t.equal(res.cookies.find(c => c.name === COOKIE_NAME)?.maxAge, 0)
  t.equal(await app.sessionStore.get(storageKey(sessionIdOf(value))), undefined)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 401)
  const line = logs.lines().find(l => l.msg === 'refresh token revocation failed; the session is ended anyway')
  t.ok(line, 'the failure is logged')
  t.equal(line?.level, 40)
  t.match(line, { idp: { status: 503, error: 'temporarily_unavailable' } })
})

t.test('an unreachable IdP at logout still ends the session', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { cookies, value } = await login(app)
  idp.setFault({ endpoint: 'revoke', times: 1, destroySocket: true })
  const res = await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })
  t.equal(res.statusCode, 204)
  t.equal(await app.sessionStore.get(storageKey(sessionIdOf(value))), undefined)
})
