import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig } from '../../fastify.config.js'
import configPlugin from '../../plugins/config.js'
import csrfPlugin from '../../plugins/csrf.js'
import errorHandlerPlugin from '../../plugins/error-handler.js'
import { testEnv } from '../helpers/gateway.js'

/** The plugin alone: one guarded route (GET and POST /guarded) and one open route. */
async function build (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = Fastify()
  app.register(configPlugin, { config: loadConfig(testEnv({ url: 'http://127.0.0.1:9' }, env)) })
  app.register(errorHandlerPlugin)
  app.register(csrfPlugin)
  app.register(async scope => {
    scope.addHook('onRequest', scope.verifyCsrf)
    scope.route({ method: ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/guarded', handler: async () => ({ ok: true }) })
  })
  app.get('/open', async () => ({ ok: true }))
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
