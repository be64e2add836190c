import t from 'tap'
import { buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const ALICE_ID = 'auth0|alice0000000000000000001'
const MINUTE = 60_000
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })
t.afterEach(() => { idp.clearFaults() })

const build = async (env: Record<string, string> = {}) => await buildTestApp(t, { env: testEnv(idp, env), deps: { clock } })

t.test('GET /session/userinfo: the IdP answer, cached per session for USERINFO_CACHE_TTL, refetched after it', async t => {
  const app = await build()
  const who = await login(app)
  idp.resetStats()
  const first = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(first.statusCode, 200)
  t.equal(first.headers['cache-control'], 'no-store')
  const body = first.json()
  t.equal(body.sub, ALICE_ID)
  t.equal(body.email, 'alice@example.com')
  t.same(body['https://example.com/roles'], ['admin'], 'custom claims passed through')
  const bearer = idp.calls.find(call => call.path === '/userinfo')?.headers.authorization
  t.match(bearer, /^Bearer /, 'called with the session access token')
  for (let i = 0; i < 5; i++) {
    clock.advance(50_000)
    const again = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
    t.same(again.json(), body)
  }
  t.equal(idp.stats.userinfoCalls, 1, 'one IdP call within the TTL')
  t.equal((await app.inject({ url: '/session/userinfo', cookies: who.cookies })).headers.age, '250')
  clock.advance(MINUTE) // 5 min 10 s after the fetch
  t.equal((await app.inject({ url: '/session/userinfo', cookies: who.cookies })).statusCode, 200)
  t.equal(idp.stats.userinfoCalls, 2, 'refetched after the TTL')

  const other = await login(app)
  await app.inject({ url: '/session/userinfo', cookies: other.cookies })
  t.equal(idp.stats.userinfoCalls, 3, 'cached per session')
  t.equal((await app.inject({ url: '/session/userinfo' })).json().code, 'no_session')
})

t.test('USERINFO_CACHE_TTL shortens the cache', async t => {
  const app = await build({ USERINFO_CACHE_TTL: '10s' })
  const who = await login(app)
  idp.resetStats()
  await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  clock.advance(11_000)
  await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(idp.stats.userinfoCalls, 2)
})

t.test('IdP 429: the cached copy is served however old, and the IdP is left alone until Retry-After', async t => {
  const app = await build()
  const who = await login(app)
  const body = (await app.inject({ url: '/session/userinfo', cookies: who.cookies })).json()
  clock.advance(6 * MINUTE)
  idp.resetStats()
  idp.setFault({ endpoint: 'userinfo', rateLimit: { retryAfterSec: 30 } })
  const stale = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(stale.statusCode, 200)
  t.same(stale.json(), body)
  t.equal(stale.headers.age, '360')
  await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(idp.stats.userinfoCalls, 1, 'not asked again within Retry-After')
  idp.clearFaults()
  clock.advance(31_000)
  t.equal((await app.inject({ url: '/session/userinfo', cookies: who.cookies })).statusCode, 200)
  t.equal(idp.stats.userinfoCalls, 2)
})

t.test('IdP 429 with nothing cached: 429 rate_limited with Retry-After', async t => {
  const app = await build()
  const who = await login(app)
  idp.setFault({ endpoint: 'userinfo', rateLimit: { retryAfterSec: 42 } })
  const res = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'rate_limited')
  t.equal(res.headers['retry-after'], '42')
  clock.advance(10_000)
  const again = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(again.headers['retry-after'], '32', 'counts down without asking the IdP')
  t.equal(await status(app, who.cookies), 200, 'the session is kept')
})

async function status (app: Awaited<ReturnType<typeof build>>, cookies: Record<string, string>): Promise<number> {
  return (await app.inject({ url: '/session', cookies })).statusCode
}

t.test('a session without an id_token (scope without openid) gets its user info', async t => {
  const app = await build({ AUTH0_SCOPE: 'profile email offline_access' })
  const who = await login(app)
  t.same(who.res.json().user, {}, 'no id_token, no claims in the session')
  const res = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(res.statusCode, 200)
  t.equal(res.json().sub, ALICE_ID)
  t.equal(res.json().email, 'alice@example.com')
})

t.test('a 200 token response without scope: the session has the requested scope', async t => {
  const app = await build({ AUTH0_SCOPE: 'openid profile offline_access' })
  idp.setFault({ endpoint: 'token', grantType: 'password', times: 1, status: 200, body: { access_token: 'opaque-access-token-0123456789', token_type: 'Bearer', expires_in: 300 } })
  const who = await login(app)
  t.equal(who.res.json().scope, 'openid profile offline_access')
  const view = await app.inject({ url: '/session', cookies: who.cookies })
  t.equal(view.json().scope, 'openid profile offline_access')
  t.same(view.json().user, {})
})

t.test('GET /session keeps custom namespaced claims and drops technical ones', async t => {
  const app = await build()
  const who = await login(app)
  const user = (await app.inject({ url: '/session', cookies: who.cookies })).json().user
  t.same(user['https://example.com/roles'], ['admin'])
  for (const claim of ['iss', 'aud', 'exp', 'iat', 'nonce', 'at_hash', 'sid']) t.notOk(claim in user, `no ${claim}`)
})

t.test('IdP 401: one forced refresh, then asked again with the new token', async t => {
  const app = await build()
  const who = await login(app)
  idp.resetStats()
  idp.clearCalls()
  idp.setFault({ endpoint: 'userinfo', times: 1, status: 401, body: { error: 'invalid_token' }, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } })
  const res = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(res.statusCode, 200)
  t.equal(res.json().sub, ALICE_ID)
  t.equal(idp.stats.tokenCalls.refresh_token, 1, 'one refresh')
  t.equal(idp.stats.userinfoCalls, 2)
  const [first, second] = idp.calls.filter(call => call.path === '/userinfo').map(call => call.headers.authorization)
  t.not(first, second, 'the retry used the refreshed token')
})

t.test('IdP 401 even after the refresh: 401 session_expired, the session is ended', async t => {
  const app = await build()
  const who = await login(app)
  idp.setFault({ endpoint: 'userinfo', status: 401, body: { error: 'invalid_token' } })
  const res = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'session_expired')
  t.equal(await status(app, who.cookies), 401)
})

t.test('IdP 401 and no refresh token: 401 session_expired', async t => {
  const app = await build({ AUTH0_SCOPE: 'openid profile email' })
  const who = await login(app)
  idp.setFault({ endpoint: 'userinfo', times: 1, status: 401, body: { error: 'invalid_token' } })
  const res = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(res.json().code, 'session_expired')
})

t.test('IdP down: 502 idp_unavailable; a 5xx or a body that is not JSON too; nothing is cached', async t => {
  const app = await build()
  const who = await login(app)
  idp.setFault({ endpoint: 'userinfo', times: 1, destroySocket: true })
  const down = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(down.statusCode, 502)
  t.equal(down.json().code, 'idp_unavailable')
  idp.setFault({ endpoint: 'userinfo', times: 1, status: 503, body: 'oops' })
  t.equal((await app.inject({ url: '/session/userinfo', cookies: who.cookies })).json().code, 'idp_unavailable')
  idp.setFault({ endpoint: 'userinfo', times: 1, status: 200, body: '<html>' })
  t.equal((await app.inject({ url: '/session/userinfo', cookies: who.cookies })).json().code, 'idp_unavailable')
  t.equal((await app.inject({ url: '/session/userinfo', cookies: who.cookies })).statusCode, 200, 'served once the IdP is back')
})

t.test('IdP too slow: 504 idp_timeout', async t => {
  // An IdP of its own: the late answer leaves a kept-alive connection that would hold the process for Fastify's
  // keepAliveTimeout (72 s) after the test; it is closed at the end.
  const slow = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })
  t.teardown(() => { slow.app.server.closeAllConnections() })
  const app = await buildTestApp(t, { env: testEnv(slow, { IDP_TIMEOUT: '200ms' }), deps: { clock } })
  const who = await login(app)
  slow.setFault({ endpoint: 'userinfo', times: 1, latencyMs: 1_000 })
  const res = await app.inject({ url: '/session/userinfo', cookies: who.cookies })
  t.equal(res.statusCode, 504)
  t.equal(res.json().code, 'idp_timeout')
})
