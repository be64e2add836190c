import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { startEchoApi, type EchoReply } from '../../demo/echo-api.js'
import type { RunningIdp } from '../../idp/app.js'
import { COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { closedOrigin, startUpstream, type RecordedRequest, type TestUpstream } from '../helpers/upstream.js'

interface Setup {
  idp: RunningIdp
  upstream: TestUpstream
  app: FastifyInstance
  cookies: Record<string, string>
}

async function setup (t: Test, env: Record<string, string> = {}): Promise<Setup> {
  const idp = await startTestIdp(t)
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=${upstream.url}`, ...env }) })
  const { cookies } = await login(app)
  return { idp, upstream, app, cookies }
}

function echoed (body: string): RecordedRequest {
  return JSON.parse(body) as RecordedRequest
}

t.test('the access token is injected; the client Authorization and cookies are removed', async t => {
  const { app, upstream, cookies } = await setup(t)
  const res = await app.inject({
    method: 'GET',
    url: '/api/orders/7?expand=items&x=1&x=2',
    headers: { authorization: 'Bearer client-forged', 'x-custom': 'kept' },
    cookies: { ...cookies, theme: 'dark', other: '1' }
  })
  t.equal(res.statusCode, 200)
  const seen = echoed(res.body)
  t.equal(seen.url, '/api/orders/7?expand=items&x=1&x=2', 'path and query unchanged')
  t.match(seen.headers.authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'the session access token, a JWT')
  t.not(seen.headers.authorization, 'Bearer client-forged')
  t.equal(seen.headers.cookie, undefined, 'no cookie reaches the upstream')
  t.equal(seen.headers['x-custom'], 'kept')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(seen.headers['x-forwarded-proto'], undefined, 'no PUBLIC_ORIGIN, no trusted proxy: the Host is the client\'s word')
  t.equal(seen.headers['x-forwarded-host'], undefined)
  t.match(seen.headers['x-request-id'], /^req-/)
  t.equal(upstream.requests.length, 1)
  t.notMatch(JSON.stringify(seen.headers), cookies[COOKIE_NAME] ?? 'unreachable', 'the session cookie value is nowhere upstream')
})

t.test('FORWARD_COOKIES lets named cookies through, never the session cookie', async t => {
  const { app, cookies } = await setup(t, { FORWARD_COOKIES: `theme,lang,${COOKIE_NAME}` })
  const res = await app.inject({ method: 'GET', url: '/api/x', cookies: { ...cookies, theme: 'dark', lang: 'de', other: '1' } })
  const cookie = echoed(res.body).headers.cookie ?? ''
  t.same(cookie.split('; ').sort(), ['lang=de', 'theme=dark'])
})

t.test('X-Forwarded-* from an untrusted client are replaced or dropped; a trusted proxy chain is extended', async t => {
  const spoof = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=6.6.6.6' }
  await t.test('untrusted', async t => {
    const { app, cookies } = await setup(t)
    const seen = echoed((await app.inject({ method: 'GET', url: '/api/x', headers: spoof, cookies })).body)
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
    t.equal(seen.headers['x-forwarded-proto'], undefined)
    t.equal(seen.headers['x-forwarded-host'], undefined)
    t.equal(seen.headers.forwarded, undefined)
  })
  await t.test('trusted', async t => {
    const { app, cookies } = await setup(t, { TRUST_PROXY: '127.0.0.1' })
    const seen = echoed((await app.inject({ method: 'GET', url: '/api/x', headers: spoof, cookies })).body)
    t.equal(seen.headers['x-forwarded-for'], '6.6.6.6, 127.0.0.1')
    t.equal(seen.headers['x-forwarded-proto'], 'https')
    t.equal(seen.headers['x-forwarded-host'], 'evil.example')
  })
})

t.test('hop-by-hop headers are not forwarded either way', async t => {
  const { app, cookies } = await setup(t)
  const res = await app.inject({
    method: 'GET',
    url: '/api/x',
    headers: {
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      trailer: 'x-checksum',
      'proxy-authorization': 'Basic eA==',
      'proxy-connection': 'keep-alive',
      forwarded: 'for=203.0.113.9',
      upgrade: 'h2c',
      'x-kept': 'yes'
    },
    cookies
  })
  t.equal(res.statusCode, 200)
  const seen = echoed(res.body)
  for (const name of ['x-hop', 'keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'forwarded', 'upgrade']) t.equal(seen.headers[name], undefined, name)
  t.equal(seen.headers['x-kept'], 'yes', 'an end-to-end header goes through')
  t.equal(res.headers['keep-alive'], undefined, 'the upstream keep-alive stays upstream')
})

t.test('routing: the longest prefix wins, with its rewrite; other paths are 404', async t => {
  const idp = await startTestIdp(t)
  const orders = await startUpstream(t)
  const billing = await startUpstream(t)
  const root = await startUpstream(t)
  const app = await buildTestApp(t, {
    env: testEnv(idp, { UPSTREAMS: `/api=${orders.url},/api/billing=${billing.url}/v1,/api/root=${root.url}/` })
  })
  const { cookies } = await login(app)
  const get = async (url: string): Promise<{ statusCode: number, body: string }> => await app.inject({ method: 'GET', url, cookies })

  t.equal(echoed((await get('/api/orders/1')).body).url, '/api/orders/1')
  t.equal(echoed((await get('/api/billing/invoices?page=2')).body).url, '/v1/invoices?page=2')
  t.equal(echoed((await get('/api/billing')).body).url, '/v1')
  t.equal(echoed((await get('/api/billingx')).body).url, '/api/billingx', 'a prefix matches whole segments only')
  t.equal(echoed((await get('/api/root/a/b')).body).url, '/a/b', 'a URL path of / strips the prefix')
  t.equal(orders.requests.length, 2)
  t.equal(billing.requests.length, 2)
  t.equal(root.requests.length, 1)

  const missing = await get('/apis/x')
  t.equal(missing.statusCode, 404)
  t.match(JSON.parse(missing.body), { statusCode: 404, code: 'not_found' })
  const traversal = await get('/api/billing/..%2f..%2fadmin')
  t.equal(traversal.statusCode, 400, 'no escape from the rewritten prefix')
  t.equal(billing.requests.length, 2)
})

t.test('without a session: 401 no_session, nothing forwarded', async t => {
  const { app, upstream } = await setup(t)
  for (const [method, extra] of [['GET', {}], ['POST', { 'x-csrf': '1' }], ['DELETE', { 'x-csrf': '1' }]] as const) {
    const res = await app.inject({ method, url: '/api/x', headers: { ...extra }, cookies: { [COOKIE_NAME]: 'forged.value' } })
    t.equal(res.statusCode, 401, method)
    t.match(JSON.parse(res.body), { statusCode: 401, code: 'no_session' })
  }
  const bearerOnly = await app.inject({ method: 'GET', url: '/api/x', headers: { authorization: 'Bearer something' } })
  t.equal(bearerOnly.statusCode, 401, 'a client Bearer token is no session')
  t.equal(upstream.requests.length, 0)
})

t.test('after logout the cookie opens nothing', async t => {
  const { app, upstream, cookies } = await setup(t)
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: { 'x-csrf': '1' }, cookies })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/api/x', cookies })).statusCode, 401)
  t.equal(upstream.requests.length, 0)
})

t.test('CSRF: state-changing calls need the header; safe ones do not', async t => {
  const { app, upstream, cookies } = await setup(t)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const refused = await app.inject({ method, url: '/api/x', cookies, payload: { a: 1 } })
    t.equal(refused.statusCode, 403, `${method} without the header`)
    t.match(JSON.parse(refused.body), { code: 'csrf_required' })
    const wrong = await app.inject({ method, url: '/api/x', headers: { 'x-csrf': '0' }, cookies, payload: { a: 1 } })
    t.equal(wrong.statusCode, 403, `${method} with another value`)
  }
  t.equal(upstream.requests.length, 0, 'nothing forwarded')
  for (const method of ['GET', 'HEAD', 'OPTIONS'] as const) {
    t.equal((await app.inject({ method, url: '/api/x', cookies })).statusCode, 200, method)
  }
  const posted = await app.inject({ method: 'POST', url: '/api/x', headers: { 'x-csrf': '1' }, cookies, payload: { a: 1 } })
  t.equal(posted.statusCode, 200)
  const seen = echoed(posted.body)
  t.equal(seen.method, 'POST')
  t.equal(seen.bodyBytes, 7, 'the JSON body passes unchanged')
  t.equal(seen.headers['content-type'], 'application/json')
})

t.test('CSRF also guards POST and DELETE /session; the header name is configurable', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { CSRF_HEADER: 'X-Requested-By' }) })
  const credentials = { username: 'alice@example.com', password: 'alice-password-1' }
  const noHeader = await app.inject({ method: 'POST', url: '/session', payload: credentials })
  t.equal(noHeader.statusCode, 403)
  t.match(JSON.parse(noHeader.body), { code: 'csrf_required' })
  t.equal(idp.stats.tokenCalls.total, 0, 'the IdP was not asked')
  t.equal((await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: credentials })).statusCode, 403)
  const ok = await app.inject({ method: 'POST', url: '/session', headers: { 'x-requested-by': '1' }, payload: credentials })
  t.equal(ok.statusCode, 200)
  const cookie = ok.cookies.find(c => c.name === COOKIE_NAME)?.value ?? ''
  const logout = await app.inject({ method: 'DELETE', url: '/session', cookies: { [COOKIE_NAME]: cookie } })
  t.equal(logout.statusCode, 403, 'a cross-site logout is refused too')
  t.equal((await app.inject({ method: 'GET', url: '/session', cookies: { [COOKIE_NAME]: cookie } })).statusCode, 200, 'still signed in')
})

t.test('Origin: own and listed pass, others are 403 origin_forbidden even with the CSRF header', async t => {
  const { app, upstream, cookies } = await setup(t, { ALLOWED_ORIGINS: 'https://app.example.com' })
  const call = async (method: 'GET' | 'POST', origin: string): Promise<{ statusCode: number, body: string, headers: Record<string, unknown> }> =>
    await app.inject({ method, url: '/api/x', headers: { origin, 'x-csrf': '1' }, cookies })

  t.equal((await call('POST', 'http://localhost:80')).statusCode, 200, 'own origin')
  t.equal((await call('POST', 'https://localhost:80')).statusCode, 200, 'own host over https (TLS ended in front)')
  const listed = await call('POST', 'https://app.example.com')
  t.equal(listed.statusCode, 200, 'listed origin')
  t.equal(listed.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(listed.headers['access-control-allow-credentials'], 'true')
  const before = upstream.requests.length
  for (const origin of ['https://evil.example', 'null', 'http://app.example.com']) {
    for (const method of ['GET', 'POST'] as const) {
      const res = await call(method, origin)
      t.equal(res.statusCode, 403, `${method} from ${origin}`)
      t.match(JSON.parse(res.body), { code: 'origin_forbidden' })
      t.equal(res.headers['access-control-allow-origin'], undefined)
    }
  }
  t.equal(upstream.requests.length, before, 'nothing forwarded')
  const login = await app.inject({ method: 'POST', url: '/session', headers: { origin: 'https://evil.example', 'x-csrf': '1' }, payload: { username: 'a', password: 'b' } })
  t.equal(login.statusCode, 403, 'login from a foreign page')
})

t.test('CORS preflight: granted to listed origins only, with credentials', async t => {
  const { app, upstream } = await setup(t, { ALLOWED_ORIGINS: 'https://app.example.com,http://127.0.0.1:5173' })
  const preflight = async (url: string, origin: string): Promise<{ statusCode: number, body: string, headers: Record<string, unknown> }> =>
    await app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-csrf' } })

  for (const url of ['/api/orders', '/session']) {
    const granted = await preflight(url, 'http://127.0.0.1:5173')
    t.equal(granted.statusCode, 204, url)
    t.equal(granted.headers['access-control-allow-origin'], 'http://127.0.0.1:5173')
    t.equal(granted.headers['access-control-allow-credentials'], 'true')
    t.match(granted.headers['access-control-allow-methods'], /POST/)
    t.equal(granted.headers['access-control-allow-headers'], 'content-type,x-csrf')
    t.match(granted.headers.vary, /Origin/)
    const refused = await preflight(url, 'https://evil.example')
    t.equal(refused.statusCode, 403, url)
    t.match(JSON.parse(refused.body), { code: 'origin_forbidden' })
    t.equal(refused.headers['access-control-allow-origin'], undefined)
  }
  t.equal(upstream.requests.length, 0, 'preflights never reach the upstream')
})

t.test('the upstream cannot set the session cookie or the CORS answer', async t => {
  const { app, cookies } = await setup(t, { ALLOWED_ORIGINS: 'https://app.example.com' })
  const res = await app.inject({ method: 'GET', url: '/api/cookies', headers: { origin: 'https://app.example.com' }, cookies })
  t.equal(res.statusCode, 200)
  t.same(res.cookies.map(c => c.name), ['theme'])
  t.equal(res.headers['access-control-allow-origin'], 'https://app.example.com')
})

t.test('the upstream\'s hop-by-hop response headers stay upstream; end-to-end ones pass', async t => {
  const { app, cookies } = await setup(t)
  const res = await app.inject({ method: 'GET', url: '/api/hop', cookies })
  t.equal(res.statusCode, 200)
  for (const name of ['x-upstream-hop', 'proxy-connection', 'keep-alive', 'access-control-allow-credentials']) t.equal(res.headers[name], undefined, name)
  t.not(res.headers.connection, 'keep-alive, x-upstream-hop', 'the upstream\'s Connection header is not ours')
  t.equal(res.headers['x-kept'], 'yes')
  t.equal(res.headers['content-type'], 'application/json')
})

t.test('upstream answers pass through untouched, 4xx and 5xx included (no retries)', async t => {
  const { app, upstream, cookies } = await setup(t)
  for (const status of [201, 204, 400, 403, 404, 409, 500, 502, 503]) {
    const before = upstream.requests.length
    const res = await app.inject({ method: 'GET', url: `/api/status/${status}`, cookies })
    t.equal(res.statusCode, status)
    t.equal(res.headers['x-upstream'], 'yes')
    if (status !== 204) t.same(JSON.parse(res.body), { upstreamStatus: status })
    t.equal(upstream.requests.length, before + 1, `${status}: asked once`)
  }
  const plain401 = await app.inject({ method: 'GET', url: '/api/status/401', cookies })
  t.equal(plain401.statusCode, 401, 'a 401 without invalid_token passes through')
})

t.test('upstream down or reset: 502 upstream_unavailable', async t => {
  const idp = await startTestIdp(t)
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api/down=${await closedOrigin()},/api=${upstream.url}` }) })
  const { cookies } = await login(app)
  const down = await app.inject({ method: 'GET', url: '/api/down/x', cookies })
  t.equal(down.statusCode, 502)
  t.match(JSON.parse(down.body), { statusCode: 502, code: 'upstream_unavailable', error: 'Bad Gateway' })
  const reset = await app.inject({ method: 'GET', url: '/api/reset', cookies })
  t.equal(reset.statusCode, 502)
  t.match(JSON.parse(reset.body), { code: 'upstream_unavailable' })
  // A body the upstream never read: over real HTTP (inject's request stream cannot outlive the failed upload).
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const cookie = Object.entries(cookies).map(([name, value]) => `${name}=${value}`).join('; ')
  const post = await fetch(`http://127.0.0.1:${port}/api/down/x`, { method: 'POST', headers: { 'x-csrf': '1', cookie }, body: 'y'.repeat(2_000_000) })
  t.equal(post.status, 502)
  t.match(await post.json(), { code: 'upstream_unavailable' })
  t.equal(post.headers.get('connection'), 'close', 'the unread upload ends the connection')
})

t.test('upstream too slow: 504 upstream_timeout after UPSTREAM_TIMEOUT', async t => {
  const { app, cookies } = await setup(t, { UPSTREAM_TIMEOUT: '300ms' })
  const started = Date.now()
  const res = await app.inject({ method: 'GET', url: '/api/slow', cookies })
  t.equal(res.statusCode, 504)
  t.match(JSON.parse(res.body), { statusCode: 504, code: 'upstream_timeout' })
  t.ok(Date.now() - started < 5_000, 'answered at the configured timeout')
})

t.test('upstream 401 invalid_token on GET: one forced refresh, one retry with the new token', async t => {
  const { app, idp, upstream, cookies } = await setup(t)
  let first: string | undefined
  upstream.rejectBearer = token => {
    first ??= token
    return token === first
  }
  const res = await app.inject({ method: 'GET', url: '/api/me', cookies })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined, 'nothing of the refused answer remains')
  t.equal(idp.stats.tokenCalls.refresh_token, 1)
  t.equal(upstream.requests.length, 2)
  const [refused, retried] = upstream.requests
  t.not(retried?.headers.authorization, refused?.headers.authorization, 'the retry carries the new token')
  t.equal(echoed(res.body).headers.authorization, retried?.headers.authorization)

  const next = await app.inject({ method: 'GET', url: '/api/me', cookies })
  t.equal(next.statusCode, 200, 'the session keeps the new token')
  t.equal(idp.stats.tokenCalls.refresh_token, 1)
  t.equal(upstream.requests.length, 3)
})

t.test('upstream keeps refusing: the 401 passes through after one retry (no loop)', async t => {
  for (const method of ['GET', 'HEAD'] as const) {
    await t.test(method, async t => {
      const { app, idp, upstream, cookies } = await setup(t)
      upstream.rejectBearer = () => true
      const res = await app.inject({ method, url: '/api/me', cookies })
      t.equal(res.statusCode, 401)
      t.match(res.headers['www-authenticate'], /invalid_token/)
      t.equal(upstream.requests.length, 2, 'asked twice')
      t.equal(idp.stats.tokenCalls.refresh_token, 1, 'refreshed once')

      const again = await app.inject({ method, url: '/api/me', cookies })
      t.equal(again.statusCode, 503, 'within REFRESH_MIN_INTERVAL no second refresh: retry later')
      if (method === 'GET') t.match(JSON.parse(again.body), { code: 'refresh_rate_limited' })
      t.ok(Number(again.headers['retry-after']) >= 1)
      t.equal(upstream.requests.length, 3, 'no retry without a new token')
      t.equal(idp.stats.tokenCalls.refresh_token, 1)
    })
  }
})

t.test('upstream 401 invalid_token on other methods passes through without a refresh', async t => {
  const { app, idp, upstream, cookies } = await setup(t)
  upstream.rejectBearer = () => true
  for (const method of ['POST', 'PUT', 'DELETE'] as const) {
    const res = await app.inject({ method, url: '/api/me', headers: { 'x-csrf': '1' }, cookies, payload: 'x' })
    t.equal(res.statusCode, 401, method)
  }
  t.equal(upstream.requests.length, 3)
  t.equal(idp.stats.tokenCalls.refresh_token, undefined)
})

t.test('upstream 401 and the refresh token is dead: 401 session_expired, cookie cleared', async t => {
  const { app, idp, upstream, cookies } = await setup(t)
  upstream.rejectBearer = () => true
  t.equal(idp.revokeUserSessions('auth0|alice0000000000000000001'), 1)
  const res = await app.inject({ method: 'GET', url: '/api/me', cookies })
  t.equal(res.statusCode, 401)
  t.match(JSON.parse(res.body), { code: 'session_expired' })
  t.equal(res.headers['www-authenticate'], undefined)
  t.match(res.cookies.find(c => c.name === COOKIE_NAME), { value: '' }, 'the session cookie is cleared')
  t.equal(upstream.requests.length, 1, 'no retry without a token')
  t.equal((await app.inject({ method: 'GET', url: '/api/me', cookies })).statusCode, 401, 'the session is gone')
  t.equal(upstream.requests.length, 1)
})

t.test('concurrent 401s share one refresh', async t => {
  const { app, idp, upstream, cookies } = await setup(t)
  let first: string | undefined
  upstream.rejectBearer = token => {
    first ??= token
    return token === first
  }
  const results = await Promise.all([1, 2, 3].map(async () => await app.inject({ method: 'GET', url: '/api/me', cookies })))
  t.same(results.map(r => r.statusCode), [200, 200, 200])
  t.equal(idp.stats.tokenCalls.refresh_token, 1)
  t.equal(upstream.requests.length, 6)
})

t.test('the demo echo API behind the gateway: a safe summary, raw headers only when asked', async t => {
  const idp = await startTestIdp(t)
  const safe = await startEchoApi({ host: '127.0.0.1', port: 0 })
  const raw = await startEchoApi({ host: '127.0.0.1', port: 0, echoHeaders: true })
  t.teardown(async () => { await Promise.all([safe.close(), raw.close()]) })
  const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=${safe.url},/api/raw=${raw.url}/api`, FORWARD_COOKIES: 'theme' }) })
  const { cookies } = await login(app)
  const res = await app.inject({ method: 'POST', url: '/api/echo?a=1&a=2&b=x', headers: { 'x-csrf': '1' }, cookies: { ...cookies, theme: 'dark' }, payload: { hello: 'world' } })
  t.equal(res.statusCode, 200)
  const body = JSON.parse(res.body) as EchoReply
  t.match(body, { method: 'POST', path: '/api/echo', query: { a: ['1', '2'], b: 'x' }, bearer: { present: true }, cookies_received: true, body_bytes: 17 })
  t.ok(Date.parse(body.bearer.expires_at ?? '') > Date.now(), 'expiry read from the token')
  t.equal(body.headers.authorization, undefined, 'no token in the summary')
  t.equal(body.headers.cookie, undefined)
  t.equal(body.headers['x-csrf'], '1')
  t.notMatch(res.body, /eyJ/, 'no JWT anywhere in the answer')

  const full = JSON.parse((await app.inject({ method: 'GET', url: '/api/raw/x', cookies })).body) as EchoReply
  t.equal(full.path, '/api/x')
  t.match(full.headers.authorization, /^Bearer eyJ/)
  t.equal(full.bearer.present, true)
  t.equal(full.cookies_received, false)
})
