import t from 'tap'
import { buildApp } from '../../app.js'
import { loadConfig } from '../../fastify.config.js'
import { DiscoveryError, resolveEndpoints } from '../../src/oidc/discovery.js'
import { IdpError } from '../../src/token/idp-error.js'
import { loginError } from '../../src/token/login-errors.js'
import { ALICE, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, login, SESSION_SECRET, startTestIdp } from '../helpers/gateway.js'

function oidcEnv (issuer: string, extra: Record<string, string> = {}): Record<string, string> {
  return { OIDC_ISSUER: issuer, AUTH0_CLIENT_ID: DEMO_CLIENT_ID, AUTH0_CLIENT_SECRET: DEMO_CLIENT_SECRET, SESSION_SECRET, LOG_LEVEL: 'silent', ...extra }
}

t.test('OIDC_ISSUER: endpoints and issuer come from the discovery document (local IdP on 127.0.0.1)', async t => {
  const idp = await startTestIdp(t)
  const loaded = loadConfig(oidcEnv(idp.url)) // no trailing slash: the document's issuer has one
  t.equal(loaded.idp.provider, 'oidc')
  t.equal(loaded.idp.auth0Extensions, false)
  t.same('endpoints' in loaded.idp && loaded.idp.endpoints, 'pending', 'the endpoints are pending until discovery')
  // buildApp refuses an undiscovered configuration: at compile time (`npm run typecheck` fails if it is accepted).
  // @ts-expect-error a LoadedConfig whose endpoints are pending is not the AppConfig buildApp takes
  t.type(() => buildApp({ config: loaded }), 'function')
  const config = await resolveEndpoints(loaded)
  t.equal(config.idp.issuer, `${idp.url}/`, 'the document\'s issuer, exactly')
  t.equal(config.idp.tokenUrl, `${idp.url}/oauth/token`)
  t.equal(config.idp.revokeUrl, `${idp.url}/oauth/revoke`)
  t.equal(config.idp.jwksUrl, `${idp.url}/.well-known/jwks.json`)
  t.equal(config.idp.userinfoUrl, `${idp.url}/userinfo`)
  t.ok(Object.isFrozen(config.idp))
  t.equal(idp.calls.filter(c => c.path === '/.well-known/openid-configuration').length, 1)

  const app = buildApp({ config })
  t.teardown(async () => { await app.close() })
  const { cookies } = await login(app, ALICE)
  const token = idp.calls.findLast(c => c.path === '/oauth/token')
  t.equal(token?.form?.grant_type, 'password', 'plain RFC 6749 password grant')
  t.equal(token?.forwardedFor, undefined, 'no auth0-forwarded-for without OIDC_AUTH0_EXTENSIONS')
  const out = await app.inject({ method: 'DELETE', url: '/session', headers: { 'x-csrf': '1' }, cookies })
  t.equal(out.statusCode, 204)
  const revoke = idp.calls.findLast(c => c.path === '/oauth/revoke')
  t.match(revoke?.headers?.['content-type'], /^application\/x-www-form-urlencoded/, 'RFC 7009 form encoding')
  t.equal(revoke?.form?.token_type_hint, 'refresh_token')
})

t.test('OIDC_AUTH0_EXTENSIONS=on keeps password-realm and auth0-forwarded-for', async t => {
  const idp = await startTestIdp(t)
  const config = await resolveEndpoints(loadConfig(oidcEnv(`${idp.url}/`, { OIDC_AUTH0_EXTENSIONS: 'on', AUTH0_REALM: 'Username-Password-Authentication' })))
  const app = buildApp({ config })
  t.teardown(async () => { await app.close() })
  await login(app, ALICE)
  const token = idp.calls.findLast(c => c.path === '/oauth/token')
  t.equal(token?.form?.realm, 'Username-Password-Authentication')
  t.equal(token?.forwardedFor, '127.0.0.1')
})

t.test('discovery failures stop the start with one clear line', async t => {
  const idp = await startTestIdp(t)
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv(`${idp.url}/realms/nope`))), { name: 'DiscoveryError', message: /answered 404/ })
  idp.setIssuer('https://someone-else.example/')
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv(idp.url))), { message: /names the issuer "https:\/\/someone-else\.example\/", not/ })
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv('http://127.0.0.1:1'))), { message: /cannot fetch http:\/\/127\.0\.0\.1:1\/\.well-known\/openid-configuration: unreachable/ })
  const hang: typeof fetch = async (_url, init) => await new Promise((_resolve, reject) => {
    init?.signal?.addEventListener('abort', () => { reject(init.signal?.reason) })
  })
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv('https://idp.test', { IDP_TIMEOUT: '50ms' })), { fetch: hang }), { message: /no answer within IDP_TIMEOUT/ })
  const json = (body: unknown): typeof fetch => async () => new Response(JSON.stringify(body), { status: 200 })
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv('https://idp.test')), { fetch: json({ issuer: 'https://idp.test' }) }), { message: /has no token_endpoint/ })
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv('https://idp.test')), { fetch: json({ issuer: 'https://idp.test', token_endpoint: 'ftp://x' }) }), { message: /token_endpoint is not an http/ })
  await t.rejects(resolveEndpoints(loadConfig(oidcEnv('https://idp.test')), { fetch: json([]) }), { message: /not a JSON discovery document/ })
  const hs = await resolveEndpoints(loadConfig(oidcEnv('https://idp.test', { AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256' })), { fetch: json({ issuer: 'https://idp.test/', token_endpoint: 'https://idp.test/token' }) })
  t.equal(hs.idp.jwksUrl, '', 'HS256 needs no jwks_uri')
  t.equal(hs.idp.revokeUrl, '', 'no revocation endpoint published')
  t.ok(new DiscoveryError('x') instanceof Error)
})

// Issue #16 item 4: one rule for auth0-forwarded-for. The token client sent it only with the Auth0 extensions on, the
// MFA API always: now neither sends the end user's address to an IdP that is not Auth0.
for (const extensions of ['off', 'on'] as const) {
  t.test(`OIDC_AUTH0_EXTENSIONS=${extensions}: the MFA API calls ${extensions === 'on' ? 'carry' : 'do not carry'} auth0-forwarded-for, like the token calls`, async t => {
    const idp = await startTestIdp(t)
    const config = await resolveEndpoints(loadConfig(oidcEnv(`${idp.url}/`, { OIDC_AUTH0_EXTENSIONS: extensions })))
    const app = buildApp({ config })
    t.teardown(async () => { await app.close() })
    const res = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: { username: 'mfa@example.com', password: 'mfa-password-1' } })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'mfa_required')
    const calls = idp.calls.filter(c => c.path === '/oauth/token' || c.path.startsWith('/mfa/'))
    t.same(calls.map(c => c.path), ['/oauth/token', '/mfa/authenticators'])
    for (const call of calls) t.equal(call.forwardedFor, extensions === 'on' ? '127.0.0.1' : undefined, call.path)
  })
}

t.test('Keycloak and Okta issuers with paths are accepted as configured', async t => {
  const keycloak = 'https://kc.example.com/realms/demo'
  const okta = 'https://dev-123.okta.com/oauth2/default'
  for (const issuer of [keycloak, okta]) {
    const doc = { issuer, token_endpoint: `${issuer}/v1/token`, jwks_uri: `${issuer}/v1/keys`, revocation_endpoint: `${issuer}/v1/revoke` }
    let asked = ''
    const fetchDoc: typeof fetch = async url => { asked = String(url); return new Response(JSON.stringify(doc)) }
    const config = await resolveEndpoints(loadConfig(oidcEnv(issuer)), { fetch: fetchDoc })
    t.equal(asked, `${issuer}/.well-known/openid-configuration`)
    t.equal(config.idp.issuer, issuer, 'no slash added: the document says none')
    t.equal(config.idp.revokeUrl, `${issuer}/v1/revoke`)
  }
})

t.test('configuration: OIDC_ISSUER replaces AUTH0_DOMAIN, Auth0-only options need the extensions', async t => {
  const base = oidcEnv('https://idp.test')
  t.throws(() => loadConfig({ ...base, AUTH0_DOMAIN: 'tenant.auth0.com' }), { message: /AUTH0_DOMAIN and OIDC_ISSUER: set one or the other/ })
  t.throws(() => loadConfig({ ...base, AUTH0_REALM: 'db' }), { message: /^AUTH0_REALM \/ AUTH0_REALMS: .*OIDC_AUTH0_EXTENSIONS=on/ })
  t.throws(() => loadConfig({ ...base, OIDC_ISSUER: 'not a url' }), { message: /^OIDC_ISSUER: expected the issuer URL/ })
  t.throws(() => loadConfig({ ...base, OIDC_AUTH0_EXTENSIONS: 'maybe' }), { message: /^OIDC_AUTH0_EXTENSIONS: expected one of on, off/ })
  t.throws(() => loadConfig({ ...base, OIDC_ISSUER: undefined }), { message: /^Missing configuration: AUTH0_DOMAIN\./ })
  const auth0 = loadConfig({ ...base, OIDC_ISSUER: undefined, AUTH0_DOMAIN: 'tenant.auth0.com' })
  t.equal(auth0.idp.provider, 'auth0')
  t.equal(auth0.idp.auth0Extensions, true)
  t.equal(await resolveEndpoints(auth0), auth0, 'nothing to discover with AUTH0_DOMAIN')
  t.equal(loadConfig(base).server.adminPort, 9091)
  t.equal(loadConfig({ ...base, ADMIN_PORT: 'off' }).server.adminPort, undefined)
  t.equal(loadConfig({ ...base, ADMIN_PORT: '0' }).server.adminPort, 0)
  t.throws(() => loadConfig({ ...base, ADMIN_PORT: 'x' }), { message: /^ADMIN_PORT: expected an integer/ })
  t.equal(loadConfig(base).server.shutdownTimeoutMs, 10_000)
  t.equal(loadConfig({ ...base, SHUTDOWN_TIMEOUT: '3s' }).server.shutdownTimeoutMs, 3_000)
})

t.test('RFC 6749 error statuses map like Auth0\'s: by the error code', async t => {
  const oauth = (status: number, error: string, description?: string): IdpError => new IdpError('oauth', { status, error, ...(description === undefined ? {} : { description }) })
  t.equal(loginError(oauth(400, 'invalid_grant', 'Invalid user credentials')).code, 'invalid_credentials', 'RFC / Keycloak: 400 invalid_grant')
  t.equal(loginError(oauth(401, 'invalid_grant', 'Invalid user credentials')).code, 'invalid_credentials', 'Keycloak (some versions): 401 invalid_grant')
  t.equal(loginError(oauth(400, 'invalid_grant', 'Account disabled')).code, 'invalid_credentials', 'Keycloak disabled user: indistinguishable, as intended')
  t.equal(loginError(oauth(401, 'invalid_client')).code, 'gateway_misconfigured', 'RFC: 401 invalid_client')
  t.equal(loginError(oauth(400, 'unauthorized_client', 'Client not allowed for direct access grants')).code, 'gateway_misconfigured', 'Keycloak: direct access grants off')
  t.equal(loginError(oauth(401, 'unauthorized_client', 'Invalid client or Invalid client credentials')).code, 'gateway_misconfigured', 'older Keycloak: wrong secret')
  t.equal(loginError(oauth(400, 'unsupported_grant_type')).code, 'gateway_misconfigured')
  t.equal(loginError(oauth(400, 'invalid_scope')).code, 'gateway_misconfigured')
})
