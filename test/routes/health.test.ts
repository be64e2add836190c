import t from 'tap'
import { GatewayError } from '../../src/errors.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import type { SessionStore } from '../../src/session/session-store.js'
import { buildTestApp, captureLogs, login, startTestIdp, testEnv } from '../helpers/gateway.js'

/** A store that is down: every read fails as the Redis store fails. */
function downStore (): SessionStore {
  const inner = createMemoryStore({ maxEntries: 10 })
  return { ...inner, get: async () => { throw new GatewayError('store_unavailable') } }
}

t.test('GET /healthz answers while the process runs', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp) })
  const res = await app.inject({ url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('GET /readyz fetches the signing keys itself: ready without any login', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp) })
  t.equal(app.idTokenVerifier.keysLoaded, false, 'nothing fetched at build')
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ready', checks: { store: 'ok', idp_keys: 'ok' } })
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(idp.calls.filter(c => c.path === '/.well-known/jwks.json').length, 1)
  await app.inject({ url: '/readyz' })
  t.equal(idp.calls.filter(c => c.path === '/.well-known/jwks.json').length, 1, 'loaded keys are not fetched again')
})

t.test('keys not loaded: 503 naming idp_keys, green once the IdP serves them again', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp) })
  idp.setFault({ endpoint: 'jwks', status: 503, body: 'down' })
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'not_ready', checks: { store: 'ok', idp_keys: 'failing' } })
  idp.clearFaults()
  const again = await app.inject({ url: '/readyz' })
  t.equal(again.statusCode, 200)
})

t.test('store down: 503 naming store; /healthz still answers', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { sessionStore: downStore() } })
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'not_ready', checks: { store: 'failing', idp_keys: 'ok' } })
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
})

t.test('a store with ping() is asked through it', async t => {
  const idp = await startTestIdp(t)
  let pings = 0
  const store: SessionStore = { ...createMemoryStore({ maxEntries: 10 }), ping: async () => { pings++ } }
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { sessionStore: store } })
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  t.equal(pings, 1)
})

t.test('both failing at once: both named', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { sessionStore: downStore() } })
  idp.setFault({ endpoint: 'jwks', destroySocket: true })
  const res = await app.inject({ url: '/readyz' })
  t.same(res.json(), { status: 'not_ready', checks: { store: 'failing', idp_keys: 'failing' } })
})

t.test('HS256 needs no keys: ready at once', async t => {
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256' }) })
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  t.equal(idp.calls.filter(c => c.path === '/.well-known/jwks.json').length, 0)
})

t.test('probes: not logged at info, no CSRF rule, readiness kept after a login', async t => {
  const idp = await startTestIdp(t)
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'info' }), logs })
  const foreign = { origin: 'https://evil.example' }
  t.equal((await app.inject({ url: '/healthz', headers: foreign })).statusCode, 200, 'a foreign Origin does not matter to a probe')
  t.equal((await app.inject({ url: '/readyz', headers: foreign })).statusCode, 200)
  await login(app)
  const probeLines = logs.lines().filter(line => JSON.stringify(line).includes('/healthz') || JSON.stringify(line).includes('/readyz'))
  t.same(probeLines, [], 'no request lines for probes at info')
  t.ok(logs.lines().some(line => line.msg === 'request completed'), 'other requests are logged')
})
