import t from 'tap'
import { storageKey } from '../src/session/session-id.js'
import { ALICE, DEMO_CLIENT_SECRET, buildTestApp, captureLogs, login, startTestIdp, testEnv } from './helpers/gateway.js'
import { createManualClock } from './helpers/manual-clock.js'
import { startUpstream } from './helpers/upstream.js'

const CSRF = { 'x-csrf': '1' }

t.test('a full login, GET /session, an API call, a refresh, logout and a failed login log no secret at all', async t => {
  const clock = createManualClock()
  const idp = await startTestIdp(t, { clock })
  const logs = captureLogs()
  // Every token the IdP hands out, read from its answers on the way in.
  const issued: string[] = []
  const recordingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, init)
    const text = await res.clone().text()
    try {
      const body = JSON.parse(text) as Record<string, unknown>
      for (const field of ['access_token', 'refresh_token', 'id_token']) if (typeof body[field] === 'string') issued.push(body[field])
    } catch {}
    return res
  }) as typeof fetch
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'trace', UPSTREAMS: `/api=${upstream.url}` }), deps: { clock, fetch: recordingFetch }, logs })

  const { cookies, value } = await login(app)
  const sessionId = value.slice(0, value.lastIndexOf('.'))
  const record = await app.sessionStore.get(storageKey(sessionId))
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/orders?debug=1', headers: CSRF, cookies, payload: { item: 1 } })).statusCode, 200, 'an API call')
  clock.advance(301_000) // the access token expired: the next API call refreshes (rotation) first
  t.equal((await app.inject({ url: '/api/orders', cookies })).statusCode, 200, 'an API call after a refresh')
  const rotated = await app.sessionStore.get(storageKey(sessionId))
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })).statusCode, 204)
  const failedPassword = 'wrong-password-do-not-log-0xC0FFEE'
  t.equal((await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { ...ALICE, password: failedPassword } })).statusCode, 401)

  t.equal(issued.length, 6, 'access, refresh and id token were issued at login and again at the refresh')
  const secrets: Record<string, string | undefined> = {
    password: ALICE.password,
    'failed password': failedPassword,
    'client secret': DEMO_CLIENT_SECRET,
    'access token': record?.accessToken,
    'refresh token': record?.refreshToken,
    'rotated access token': rotated?.accessToken,
    'rotated refresh token': rotated?.refreshToken,
    'revoked token': idp.calls.find(c => c.path === '/oauth/revoke')?.form.token,
    'session id': sessionId,
    'session storage key': storageKey(sessionId),
    'signed cookie': value,
    'cookie signature': value.slice(value.lastIndexOf('.') + 1),
    username: ALICE.username
  }
  issued.forEach((token, i) => { secrets[`issued token ${i}`] = token })
  const text = logs.text()
  t.ok(logs.lines().length > 10, 'trace logging captured the requests')
  for (const [name, secret] of Object.entries(secrets)) {
    t.ok(secret !== undefined && secret.length >= 8, `${name} is known`)
    t.notOk(secret !== undefined && text.includes(secret), `${name} is not in the logs`)
  }
  t.notMatch(text, /eyJ[\w-]+\.eyJ/, 'no JWT of any kind')

  const user = app.hashIdentifier(ALICE.username)
  const ok = logs.lines().find(l => l.event === 'login' && l.outcome === 'ok')
  t.equal(ok?.user, user, 'a successful login is logged with the hashed user')
  t.equal(ok?.sub, 'auth0|alice0000000000000000001')
  const refused = logs.lines().find(l => l.event === 'login' && l.outcome === 'invalid_credentials')
  t.equal(refused?.user, user, 'a refused login too')
  t.ok(logs.lines().some(l => l.event === 'logout'), 'the logout is logged')

  // Request loggers are built lazily (src/logging/lazy-child-logger.ts) and the access line is written by the app
  // logger (src/logging/access-log-controller.ts): every line a request writes still carries its id.
  const requestLines = logs.lines().filter(l => l.msg === 'incoming request' || l.msg === 'request completed' || l.event !== undefined)
  t.ok(requestLines.length >= 14, 'seven requests, each logged coming in (trace level here) and going out, plus the events')
  t.ok(requestLines.every(l => typeof l.reqId === 'string' && /^req-/.test(l.reqId)), 'every request line carries the request id')
  const loginLines = logs.lines().filter(l => l.reqId === ok?.reqId)
  t.same([loginLines[0]?.msg, loginLines.at(-1)?.msg], ['incoming request', 'request completed'], 'the login event sits between its own request lines')
  t.match(loginLines.at(-1), { req: { method: 'POST', url: '/session' }, res: { statusCode: 200 }, responseTime: Number }, 'the access line: request, status, time')
})
