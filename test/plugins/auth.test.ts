import { createHash } from 'node:crypto'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { SignJWT } from 'jose'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import authPlugin, { type Credentials } from '../../plugins/auth.js'
import configPlugin from '../../plugins/config.js'
import errorHandlerPlugin from '../../plugins/error-handler.js'
import identifierHashPlugin from '../../plugins/identifier-hash.js'
import idpPlugin from '../../plugins/idp.js'
import sessionCookiePlugin from '../../plugins/session-cookie.js'
import sessionLoaderPlugin from '../../plugins/session-loader.js'
import sessionsPlugin from '../../plugins/sessions.js'
import { storageKey } from '../../src/session/session-id.js'
import { COOKIE_NAME } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const ISSUER = 'https://idp.test/'
const CLIENT_ID = 'cid'
const CLIENT_SECRET = 'client-secret-0123456789abcdefghijklmnopqrstuv'
const clock = createManualClock()

interface FakeIdp { calls: Array<{ url: string, body: string }>, answers: Array<() => Response> }

async function idToken (claims: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(clock.now() / 1000)
  return await new SignJWT({ email: 'a@example.com', nonce: 'n', sid: 's', 'https://example.com/roles': ['x'], ...claims })
    .setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(CLIENT_ID).setSubject('auth0|a').setIssuedAt(now).setExpirationTime(now + 600)
    .sign(new TextEncoder().encode(CLIENT_SECRET))
}

const json = (status: number, body: unknown): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

async function build (t: { teardown (fn: () => unknown): void }, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, idp: FakeIdp }> {
  const idp: FakeIdp = { calls: [], answers: [] }
  const fakeFetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    idp.calls.push({ url: String(input), body: typeof init.body === 'string' ? init.body : '' })
    const answer = idp.answers.shift()
    return answer === undefined ? new Response('', { status: 200 }) : answer()
  }) as typeof fetch
  const config = await resolveEndpoints(loadConfig({
    AUTH0_DOMAIN: 'idp.test', AUTH0_CLIENT_ID: CLIENT_ID, AUTH0_CLIENT_SECRET: CLIENT_SECRET, SESSION_SECRET: 's'.repeat(32),
    AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256', ...env
  }))
  const app = Fastify()
  await app.register(configPlugin, { config })
  await app.register(errorHandlerPlugin)
  await app.register(sessionsPlugin, { clock })
  await app.register(sessionCookiePlugin)
  await app.register(identifierHashPlugin)
  await app.register(idpPlugin, { clock, fetch: fakeFetch })
  await app.register(sessionLoaderPlugin)
  await app.register(authPlugin)
  app.post<{ Body: Credentials }>('/login', async (request, reply) => {
    const record = await app.gatewayAuth.login(request, reply, request.body)
    return { sub: record.sub, user: record.user }
  })
  app.get('/me', { preHandler: app.requireSession }, async request => ({ sub: request.gatewaySession?.sub }))
  app.get('/maybe', { preHandler: app.loadSession }, async request => ({ session: request.gatewaySession !== null }))
  app.post('/logout', async (request, reply) => { await app.gatewayAuth.logout(request, reply); return { ok: true } })
  t.teardown(async () => { await app.close() })
  await app.ready()
  return { app, idp }
}

const tokens = async (extra: Record<string, unknown> = {}) => ({ access_token: 'at-1', refresh_token: 'rt-1', id_token: await idToken(), token_type: 'Bearer', expires_in: 300, ...extra })

t.test('hashIdentifier: short, stable, case- and space-insensitive, keyed (LOG_HASH_KEY, else the first SESSION_SECRET)', async t => {
  const { app } = await build(t)
  const hash = app.hashIdentifier('Alice@Example.com ')
  t.match(hash, /^[A-Za-z0-9_-]{12}$/)
  t.equal(hash, app.hashIdentifier('alice@example.com'))
  t.not(hash, app.hashIdentifier('bob@example.com'))
  t.notMatch(hash, /alice/i)
  t.not(hash, createHash('sha256').update('alice@example.com').digest('base64url').slice(0, 12), 'not the unsalted SHA-256 a guess can be checked against')
  const { app: keyed } = await build(t, { LOG_HASH_KEY: 'log-hash-key-0123456789abcdefghijklmnopq' })
  t.not(keyed.hashIdentifier('alice@example.com'), hash, 'another key, another hash')
  const { app: rotated } = await build(t, { LOG_HASH_KEY: 'log-hash-key-0123456789abcdefghijklmnopq', SESSION_SECRET: `${'n'.repeat(32)},${'s'.repeat(32)}` })
  t.equal(rotated.hashIdentifier('alice@example.com'), keyed.hashIdentifier('alice@example.com'), 'with LOG_HASH_KEY, rotating SESSION_SECRET keeps the hashes')
})

t.test('login creates a session from the verified id_token, profile claims only, and sets the cookie', async t => {
  const { app, idp } = await build(t)
  const body = await tokens()
  idp.answers.push(() => json(200, body))
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'a@example.com', password: 'pw' }, remoteAddress: '203.0.113.7' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { sub: 'auth0|a', user: { email: 'a@example.com', 'https://example.com/roles': ['x'], sub: 'auth0|a' } })
  const cookie = res.cookies.find(c => c.name === COOKIE_NAME)
  t.ok(cookie)
  const id = (cookie?.value ?? '').split('.')[0] ?? ''
  const record = await app.sessionStore.get(storageKey(id))
  t.equal(record?.accessToken, 'at-1')
  t.equal(record?.refreshToken, 'rt-1')
  t.equal(record?.expiresAt, clock.now() + 300_000)
  t.equal(record?.scope, 'openid profile email offline_access', 'the requested scope stands when none is returned')
  t.equal(idp.calls[0]?.url, 'https://idp.test/oauth/token')
  const me = await app.inject({ url: '/me', cookies: { [COOKIE_NAME]: cookie?.value ?? '' } })
  t.same(me.json(), { sub: 'auth0|a' })
})

t.test('requireSession answers 401 no_session; loadSession leaves the session null', async t => {
  const { app } = await build(t)
  const res = await app.inject({ url: '/me' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'no_session')
  t.same((await app.inject({ url: '/maybe', cookies: { [COOKIE_NAME]: 'forged.value' } })).json(), { session: false })
})

t.test('an id_token that fails verification: gateway_misconfigured; nothing stored', async t => {
  const { app, idp } = await build(t)
  idp.answers.push(() => json(200, { access_token: 'at', token_type: 'Bearer', id_token: 'not.a.jwt' }))
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'a', password: 'b' } })
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'gateway_misconfigured')
  t.equal(res.cookies.length, 0)
})

t.test('a realm outside the allowed list is refused before any IdP call', async t => {
  const { app, idp } = await build(t, { AUTH0_REALMS: 'employees' })
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'a', password: 'b', realm: 'admins' } })
  t.equal(res.json().code, 'invalid_realm')
  t.equal(idp.calls.length, 0)
})

t.test('logout destroys the session, clears the cookie and revokes the refresh token', async t => {
  const { app, idp } = await build(t)
  const body = await tokens()
  idp.answers.push(() => json(200, body))
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'a', password: 'b' } })
  const cookies = { [COOKIE_NAME]: login.cookies[0]?.value ?? '' }
  idp.calls.length = 0
  const res = await app.inject({ method: 'POST', url: '/logout', cookies })
  t.equal(res.statusCode, 200)
  t.equal(res.cookies[0]?.maxAge, 0)
  t.equal(idp.calls[0]?.url, 'https://idp.test/oauth/revoke')
  t.equal(JSON.parse(idp.calls[0]?.body ?? '{}').token, 'rt-1')
  t.equal((await app.inject({ url: '/me', cookies })).statusCode, 401)
})

t.test('a session without a refresh token is ended without a revocation call', async t => {
  const { app, idp } = await build(t)
  const body = await tokens({ refresh_token: undefined })
  idp.answers.push(() => json(200, body))
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'a', password: 'b' } })
  idp.calls.length = 0
  await app.inject({ method: 'POST', url: '/logout', cookies: { [COOKIE_NAME]: login.cookies[0]?.value ?? '' } })
  t.equal(idp.calls.length, 0)
})

t.test('RS256 with an unreachable JWKS: idp_unavailable', async t => {
  const { app, idp } = await build(t, { AUTH0_ID_TOKEN_SIGNING_ALG: 'RS256' })
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k1' })).toString('base64url')
  const payload = Buffer.from(JSON.stringify({ sub: 'x' })).toString('base64url')
  idp.answers.push(() => json(200, { access_token: 'at', token_type: 'Bearer', id_token: `${header}.${payload}.c2ln` }))
  idp.answers.push(() => new Response('<html>', { status: 503 }))
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'a', password: 'b' } })
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'idp_unavailable')
  t.equal(idp.calls[1]?.url, 'https://idp.test/.well-known/jwks.json')
})
