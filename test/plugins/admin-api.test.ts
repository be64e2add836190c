import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../fastify.config.js'
import { ConfigError } from '../../src/errors.js'
import { sameSecret } from '../../src/crypto/same-secret.js'
import { buildTestApp, captureLogs, login, startTestIdp, testEnv, type LogCapture } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const ALICE_ID = 'auth0|alice0000000000000000001'
const TOKEN = 'admin-token-0123456789abcdefghijklmnopqrstuvwxyz'
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })

const adminEnv = { ADMIN_PORT: '0', ADMIN_API: 'on', ADMIN_TOKEN: TOKEN }

interface Running { app: FastifyInstance, admin: string, main: string, logs: LogCapture }

async function running (t: Test, env: Record<string, string> = adminEnv): Promise<Running> {
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'info', ...env }), deps: { clock }, logs })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = await app.adminServer.started()
  const main = app.server.address()
  return {
    app,
    logs,
    admin: `http://127.0.0.1:${address?.port ?? 0}`,
    main: `http://127.0.0.1:${typeof main === 'object' && main !== null ? main.port : 0}`
  }
}

const bearer = (token: string = TOKEN): Record<string, string> => ({ authorization: `Bearer ${token}` })
const sessionsUrl = (base: string, sub = ALICE_ID): string => `${base}/admin/users/${encodeURIComponent(sub)}/sessions`

t.test('configuration: ADMIN_API=on needs a long ADMIN_TOKEN and the admin server', async t => {
  const base = testEnv(idp)
  t.equal(loadConfig(base).admin.api, false, 'off by default')
  t.throws(() => loadConfig({ ...base, ADMIN_API: 'on' }), ConfigError)
  t.throws(() => loadConfig({ ...base, ADMIN_API: 'on', ADMIN_TOKEN: 'short' }), /ADMIN_TOKEN: must be at least 32/)
  t.throws(() => loadConfig({ ...base, ADMIN_API: 'on', ADMIN_TOKEN: TOKEN, ADMIN_PORT: 'off' }), /ADMIN_API/)
  t.same(loadConfig({ ...base, ...adminEnv }).admin, { api: true, token: TOKEN })
  t.ok(sameSecret(TOKEN, TOKEN))
  t.notOk(sameSecret(`${TOKEN}x`, TOKEN))
  t.notOk(sameSecret('', TOKEN))
})

t.test('a missing or wrong token: 401 admin_unauthorized with WWW-Authenticate: Bearer; never on the main port', async t => {
  const { app, admin, main, logs } = await running(t)
  const who = await login(app)
  for (const headers of [{}, bearer('wrong-token'), { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }, bearer(`${TOKEN}0`)]) {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(sessionsUrl(admin), { method, headers })
      t.equal(res.status, 401)
      t.match(res.headers.get('www-authenticate'), /^Bearer/)
      t.match(await res.json(), { statusCode: 401, code: 'admin_unauthorized' })
    }
  }
  t.equal((await app.inject({ url: '/session', cookies: who.cookies })).statusCode, 200, 'nothing was ended')
  const onMain = await fetch(sessionsUrl(main), { headers: bearer() })
  t.equal(onMain.status, 404, 'the admin API is not on the public port')
  t.equal((await onMain.json()).code, 'not_found')
  const refused = logs.lines().filter(line => line.event === 'audit' && line.action === 'admin.unauthorized')
  t.equal(refused.length, 8, 'every refusal is audited')
  t.notOk(logs.text().includes(TOKEN), 'the admin token is never logged')
})

t.test('ADMIN_API off (the default): no admin API on the admin server', async t => {
  const { admin } = await running(t, { ADMIN_PORT: '0' })
  t.equal((await fetch(sessionsUrl(admin), { headers: bearer() })).status, 404)
  t.equal((await fetch(`${admin}/metrics`)).status, 200, '/metrics stays')
})

t.test('list, end one, end all: refresh tokens revoked, sessions answer 401, every action audited', async t => {
  const { app, admin, logs } = await running(t)
  const a = await login(app)
  const b = await login(app)
  const c = await login(app)

  const listed = await fetch(sessionsUrl(admin), { headers: bearer() })
  t.equal(listed.status, 200)
  t.equal(listed.headers.get('cache-control'), 'no-store')
  const body = await listed.json() as { sub: string, sessions: Array<{ handle: string, ip?: string, current?: boolean }> }
  t.equal(body.sub, ALICE_ID)
  t.equal(body.sessions.length, 3)
  t.equal(body.sessions[0]?.ip, '127.0.0.1')
  t.notOk('current' in (body.sessions[0] ?? {}), 'no "current" for an operator')

  const revocations = idp.stats.revocations
  const one = await fetch(`${sessionsUrl(admin)}/${body.sessions[0]?.handle ?? ''}`, { method: 'DELETE', headers: bearer() })
  t.same(await one.json(), { ended: 1 })
  t.equal((await app.inject({ url: '/session', cookies: a.cookies })).json().code, 'no_session')
  t.equal((await app.inject({ url: '/session', cookies: b.cookies })).statusCode, 200)

  const unknown = await fetch(`${sessionsUrl(admin)}/${body.sessions[0]?.handle ?? ''}`, { method: 'DELETE', headers: bearer() })
  t.equal(unknown.status, 404)
  t.equal((await unknown.json()).code, 'session_not_found')

  const all = await fetch(sessionsUrl(admin), { method: 'DELETE', headers: bearer() })
  t.same(await all.json(), { ended: 2 })
  for (const who of [b, c]) t.equal((await app.inject({ url: '/session', cookies: who.cookies })).json().code, 'no_session')
  t.equal(idp.stats.revocations - revocations, 3, 'every refresh token revoked at the IdP')
  t.same(await (await fetch(sessionsUrl(admin), { headers: bearer() })).json(), { sub: ALICE_ID, sessions: [] })
  t.same(await (await fetch(sessionsUrl(admin, 'auth0|nobody'), { method: 'DELETE', headers: bearer() })).json(), { ended: 0 })

  const audit = logs.lines().filter(line => line.event === 'audit')
  t.same(audit.map(line => [line.action, line.sub, line.count]), [
    ['admin.sessions.list', ALICE_ID, 3],
    ['admin.sessions.end_one', ALICE_ID, 1],
    ['admin.sessions.end_one', ALICE_ID, 0],
    ['admin.sessions.end_all', ALICE_ID, 2],
    ['admin.sessions.list', ALICE_ID, 0],
    ['admin.sessions.end_all', 'auth0|nobody', 0]
  ])
  t.ok(audit.every(line => line.ip === '127.0.0.1'), "the admin caller's IP")
  t.notOk(logs.text().includes(TOKEN), 'no admin token in the logs')
  t.notMatch(JSON.stringify(audit), /eyJ|"handle"/, 'no token in the audit events')
})

t.test('the admin API answers bad requests like the main app (the one error handler): a clear 4xx, never a 500', async t => {
  const { app, admin, logs } = await running(t)
  const who = await login(app)
  const json = { ...bearer(), 'content-type': 'application/json' }
  const cases: Array<[RequestInit, number, string]> = [
    [{ method: 'DELETE', headers: json, body: '{' }, 400, 'invalid_body'],
    [{ method: 'DELETE', headers: { ...bearer(), 'content-type': 'text/xml' }, body: '<x/>' }, 415, 'unsupported_media_type'],
    [{ method: 'DELETE', headers: json, body: JSON.stringify({ pad: 'x'.repeat(1_100_000) }) }, 413, 'payload_too_large']
  ]
  for (const [init, statusCode, code] of cases) {
    const res = await fetch(sessionsUrl(admin), init)
    t.equal(res.status, statusCode, code)
    t.match(await res.json(), { statusCode, code, error: String, message: String })
  }
  t.equal((await fetch(`${sessionsUrl(admin)}/${'x'.repeat(65)}`, { method: 'DELETE', headers: bearer() })).status, 400, 'a schema violation: 400 invalid_request')
  t.equal((await app.inject({ url: '/session', cookies: who.cookies })).statusCode, 200, 'nothing was ended')
  t.notOk(logs.lines().some(line => line.msg === 'unexpected error' || line.msg === 'admin API: unexpected error'), 'no unexpected error logged')
})
