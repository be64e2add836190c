import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import configPlugin from '../../plugins/config.js'
import csrfPlugin from '../../plugins/csrf.js'
import errorHandlerPlugin from '../../plugins/error-handler.js'
import { testEnv } from '../helpers/gateway.js'

/** The plugin alone: one guarded route (GET and POST /guarded) and one open route. */
async function build (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  app.register(configPlugin, { config: await resolveEndpoints(loadConfig(testEnv({ url: 'http://127.0.0.1:9' }, env))) })
  app.register(errorHandlerPlugin)
  app.register(csrfPlugin)
  app.register(async scope => {
    scope.addHook('onRequest', scope.verifyCsrf)
    scope.route({ method: ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/guarded', handler: async () => ({ ok: true }) })
  })
  app.get('/open', async () => ({ ok: true }))
  app.get('/probe', { config: { anyHost: true } }, async () => ({ ok: true }))
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

t.test('unsafe methods need the header with the value 1', async t => {
  const app = await build(t)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    const missing = await app.inject({ method, url: '/guarded' })
    t.equal(missing.statusCode, 403, method)
    t.same(JSON.parse(missing.body), { statusCode: 403, code: 'csrf_required', error: 'Forbidden', message: 'This request needs the header x-csrf: 1' })
    t.equal((await app.inject({ method, url: '/guarded', headers: { 'x-csrf': 'yes' } })).statusCode, 403, `${method} with another value`)
    t.equal((await app.inject({ method, url: '/guarded', headers: { 'x-csrf': '1' } })).statusCode, 200, `${method} with the header`)
  }
  for (const method of ['GET', 'HEAD', 'OPTIONS'] as const) {
    t.equal((await app.inject({ method, url: '/guarded' })).statusCode, 200, `${method} needs nothing`)
  }
})

t.test('CSRF_HEADER renames the header', async t => {
  const app = await build(t, { CSRF_HEADER: 'X-Requested-With' })
  t.equal((await app.inject({ method: 'POST', url: '/guarded', headers: { 'x-csrf': '1' } })).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/guarded', headers: { 'x-requested-with': '1' } })).statusCode, 200)
})

t.test('Origin: own (either scheme) and listed pass; anything else is origin_forbidden', async t => {
  const app = await build(t, { ALLOWED_ORIGINS: 'https://app.example.com, http://127.0.0.1:5173' })
  const call = async (origin: string, host = 'gw.example.com'): Promise<number> =>
    (await app.inject({ method: 'POST', url: '/guarded', headers: { origin, host, 'x-csrf': '1' } })).statusCode
  t.equal(await call('http://gw.example.com'), 200)
  t.equal(await call('https://gw.example.com'), 200)
  t.equal(await call('https://gw.example.com:8443', 'gw.example.com:8443'), 200)
  t.equal(await call('https://app.example.com'), 200)
  t.equal(await call('http://127.0.0.1:5173'), 200)
  for (const origin of ['https://evil.example', 'null', 'https://gw.example.com.evil.example', 'https://app.example.com:444', 'http://127.0.0.1:5174']) {
    t.equal(await call(origin), 403, origin)
  }
  const safe = await app.inject({ method: 'GET', url: '/guarded', headers: { origin: 'https://evil.example' } })
  t.equal(safe.statusCode, 403, 'safe methods are checked too')
  t.match(JSON.parse(safe.body), { code: 'origin_forbidden' })
  t.equal((await app.inject({ method: 'GET', url: '/open', headers: { origin: 'https://evil.example' } })).statusCode, 200, 'unguarded routes are not')
})

t.test('CORS: listed origins get credentials; others and same-origin get no CORS headers', async t => {
  const app = await build(t, { ALLOWED_ORIGINS: 'https://app.example.com' })
  const listed = await app.inject({ method: 'GET', url: '/open', headers: { origin: 'https://app.example.com' } })
  t.equal(listed.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(listed.headers['access-control-allow-credentials'], 'true')
  t.equal(listed.headers.vary, 'Origin')
  const own = await app.inject({ method: 'GET', url: '/open', headers: { origin: 'http://localhost:80' } })
  t.equal(own.headers['access-control-allow-origin'], undefined)
  const none = await app.inject({ method: 'GET', url: '/open' })
  t.equal(none.headers['access-control-allow-origin'], undefined)
  t.equal(none.headers.vary, undefined)
})

t.test('preflight: answered for listed origins on any path, refused for others', async t => {
  const app = await build(t, { ALLOWED_ORIGINS: 'https://app.example.com' })
  const preflight = async (origin: string, url = '/guarded', requested?: string): Promise<{ statusCode: number, body: string, headers: Record<string, unknown> }> =>
    await app.inject({
      method: 'OPTIONS',
      url,
      headers: { origin, 'access-control-request-method': 'DELETE', ...(requested === undefined ? {} : { 'access-control-request-headers': requested }) }
    })
  const granted = await preflight('https://app.example.com')
  t.equal(granted.statusCode, 204)
  t.equal(granted.body, '')
  t.equal(granted.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(granted.headers['access-control-allow-credentials'], 'true')
  t.match(granted.headers['access-control-allow-methods'], /DELETE/)
  t.equal(granted.headers['access-control-allow-headers'], 'content-type, x-csrf', 'the CSRF header is allowed by default')
  t.equal(granted.headers['access-control-max-age'], '600')
  t.equal((await preflight('https://app.example.com', '/no-such-route', 'x-csrf')).statusCode, 204, 'paths without an OPTIONS route')
  const refused = await preflight('https://evil.example')
  t.equal(refused.statusCode, 403)
  t.match(JSON.parse(refused.body), { code: 'origin_forbidden' })
  t.equal(refused.headers['access-control-allow-origin'], undefined)
  const plainOptions = await app.inject({ method: 'OPTIONS', url: '/guarded', headers: { origin: 'https://app.example.com' } })
  t.equal(plainOptions.statusCode, 200, 'an OPTIONS without Access-Control-Request-Method is an ordinary request')
})

t.test('without PUBLIC_ORIGIN the own origin follows Host, so a DNS-rebinding page passes (PUBLIC_ORIGIN is the fix)', async t => {
  const app = await build(t)
  const rebound = await app.inject({ method: 'POST', url: '/guarded', headers: { host: 'evil.example', origin: 'http://evil.example', 'x-csrf': '1' } })
  t.equal(rebound.statusCode, 200)
})

t.test('PUBLIC_ORIGIN: another Host is 421 misdirected_request on every route but the probes', async t => {
  const app = await build(t, { PUBLIC_ORIGIN: 'https://gw.example.com,http://127.0.0.1:3000' })
  for (const host of ['evil.example', 'gw.example.com.evil.example', 'gw.example.com:8443', '127.0.0.1:3001', '127.0.0.1', 'localhost:80']) {
    for (const url of ['/guarded', '/open', '/no-such-route']) {
      const res = await app.inject({ method: 'GET', url, headers: { host } })
      t.equal(res.statusCode, 421, `${host} ${url}`)
      t.same(JSON.parse(res.body), { statusCode: 421, code: 'misdirected_request', error: 'Misdirected Request', message: 'This gateway does not serve that host' })
    }
  }
  const rebound = await app.inject({ method: 'POST', url: '/guarded', headers: { host: 'evil.example', origin: 'http://evil.example', 'x-csrf': '1' } })
  t.equal(rebound.statusCode, 421, 'DNS rebinding: refused before the Origin check')
  t.equal(rebound.headers['access-control-allow-origin'], undefined)
  const native = await app.inject({ method: 'POST', url: '/guarded', headers: { host: 'evil.example', authorization: 'Session x', 'x-csrf': '1' } })
  t.equal(native.statusCode, 421, 'no Origin, a header session: refused too')
  for (const host of ['gw.example.com', 'GW.EXAMPLE.COM', 'gw.example.com:443', '127.0.0.1:3000']) {
    t.equal((await app.inject({ method: 'GET', url: '/open', headers: { host } })).statusCode, 200, host)
  }
  t.equal((await app.inject({ method: 'GET', url: '/probe', headers: { host: '10.1.2.3:3000' } })).statusCode, 200, 'probes answer any Host')
})

t.test('PUBLIC_ORIGIN replaces the Host-derived origin in the Origin check; ALLOWED_ORIGINS still adds CORS', async t => {
  const app = await build(t, { PUBLIC_ORIGIN: 'https://gw.example.com,https://www.example.com', ALLOWED_ORIGINS: 'https://app.example.com' })
  const call = async (origin: string, host = 'gw.example.com'): Promise<{ statusCode: number, headers: Record<string, unknown> }> =>
    await app.inject({ method: 'POST', url: '/guarded', headers: { origin, host, 'x-csrf': '1' } })
  t.equal((await call('https://gw.example.com')).statusCode, 200)
  t.equal((await call('https://www.example.com')).statusCode, 200, 'every public origin is the gateway\'s own')
  t.equal((await call('http://gw.example.com')).statusCode, 403, 'the scheme counts: no http leniency with PUBLIC_ORIGIN')
  t.equal((await call('https://gw.example.com:8443')).statusCode, 403)
  const listed = await call('https://app.example.com')
  t.equal(listed.statusCode, 200)
  t.equal(listed.headers['access-control-allow-origin'], 'https://app.example.com')
  const own = await call('https://gw.example.com')
  t.equal(own.headers['access-control-allow-origin'], undefined, 'same origin: no CORS headers')
  for (const origin of ['https://evil.example', 'null', 'https://gw.example.com.evil.example']) t.equal((await call(origin)).statusCode, 403, origin)
  const preflight = await app.inject({ method: 'OPTIONS', url: '/guarded', headers: { host: 'gw.example.com', origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.statusCode, 403, 'a foreign preflight')
  t.equal((await app.inject({ method: 'GET', url: '/guarded', headers: { host: 'gw.example.com', origin: 'https://evil.example' } })).statusCode, 403, 'safe methods too')
})

t.test('PUBLIC_ORIGIN behind a TRUST_PROXY address: the proxy\'s X-Forwarded-Host is the host checked', async t => {
  const app = await build(t, { PUBLIC_ORIGIN: 'https://gw.example.com' })
  // The plugin alone has no trust proxy: a client's X-Forwarded-Host changes nothing.
  t.equal((await app.inject({ method: 'GET', url: '/open', headers: { host: 'evil.example', 'x-forwarded-host': 'gw.example.com' } })).statusCode, 421)
  const trusted = Fastify({ trustProxy: ['127.0.0.1'] })
  trusted.register(configPlugin, { config: await resolveEndpoints(loadConfig(testEnv({ url: 'http://127.0.0.1:9' }, { PUBLIC_ORIGIN: 'https://gw.example.com' }))) })
  trusted.register(errorHandlerPlugin)
  trusted.register(csrfPlugin)
  trusted.get('/open', async () => ({ ok: true }))
  t.teardown(async () => { await trusted.close() })
  t.equal((await trusted.inject({ method: 'GET', url: '/open', headers: { host: 'gateway:3000', 'x-forwarded-host': 'gw.example.com' } })).statusCode, 200)
  t.equal((await trusted.inject({ method: 'GET', url: '/open', headers: { host: 'gw.example.com', 'x-forwarded-host': 'evil.example' } })).statusCode, 421)
})
