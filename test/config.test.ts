import type { IncomingMessage } from 'node:http'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig, parseUpstreams, serverOptions, type Env } from '../fastify.config.js'

const SECRET = 's'.repeat(32)
const KEY_FILE = fileURLToPath(new URL('../idp/demo-keys/private-key-jwt.pem', import.meta.url))
const BASE: Env = { AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUTH0_CLIENT_ID: 'cid', AUTH0_CLIENT_SECRET: 'csecret', SESSION_SECRET: SECRET }
const load = (overrides: Env = {}) => loadConfig({ ...BASE, ...overrides })

t.test('defaults', async t => {
  const config = load()
  t.same(config.server, { host: '127.0.0.1', port: 3000, trustProxy: false, logLevel: 'info', adminPort: 9091, shutdownTimeoutMs: 10_000 })
  t.equal(config.idp.issuer, 'https://tenant.eu.auth0.com/')
  t.equal(config.idp.tokenUrl, 'https://tenant.eu.auth0.com/oauth/token')
  t.equal(config.idp.revokeUrl, 'https://tenant.eu.auth0.com/oauth/revoke')
  t.equal(config.idp.jwksUrl, 'https://tenant.eu.auth0.com/.well-known/jwks.json')
  t.equal(config.idp.authMethod, 'client_secret_post')
  t.equal(config.idp.idTokenAlg, 'RS256')
  t.equal(config.idp.scope, 'openid profile email offline_access')
  t.equal(config.idp.audience, undefined)
  t.equal(config.idp.realm, undefined)
  t.same(config.idp.realms, [])
  t.equal(config.idp.timeoutMs, 5_000)
  t.equal(config.idp.clockToleranceSec, 60)
  t.equal(config.idp.assertionKey, undefined)
  t.same(config.session, { idleTimeoutMs: 1_800_000, absoluteTimeoutMs: 43_200_000, maxEntries: 100_000, maxPerUser: 50, sweepIntervalMs: 30_000 })
  t.same(config.cookie, { name: '__Host-bff-session', secrets: [SECRET], sameSite: 'strict' })
  t.same(config.refresh, { skewMs: 60_000, minIntervalMs: 10_000 })
  t.same(config.proxy, { upstreams: [], timeoutMs: 30_000, forwardCookies: [] })
  t.same(config.csrf, { headerName: 'x-csrf', allowedOrigins: [] })
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.idp) && Object.isFrozen(config.cookie.secrets), 'deeply frozen')
})

t.test('an http(s) URL as AUTH0_DOMAIN keeps its scheme and port; the issuer ends with a slash', async t => {
  const config = load({ AUTH0_DOMAIN: 'http://127.0.0.1:4010' })
  t.equal(config.idp.issuer, 'http://127.0.0.1:4010/')
  t.equal(config.idp.tokenUrl, 'http://127.0.0.1:4010/oauth/token')
  t.equal(load({ AUTH0_DOMAIN: 'https://login.example.com/' }).idp.issuer, 'https://login.example.com/')
})

t.test('durations: 90, 90s, 30m, 12h', async t => {
  t.equal(load({ IDP_TIMEOUT: '90' }).idp.timeoutMs, 90_000)
  t.equal(load({ IDP_TIMEOUT: '90s' }).idp.timeoutMs, 90_000)
  t.equal(load({ SESSION_IDLE_TIMEOUT: '30m' }).session.idleTimeoutMs, 1_800_000)
  t.equal(load({ SESSION_ABSOLUTE_TIMEOUT: '12h' }).session.absoluteTimeoutMs, 43_200_000)
  t.equal(load({ IDP_TIMEOUT: '200ms' }).idp.timeoutMs, 200)
  t.equal(load({ AUTH0_CLOCK_TOLERANCE: '2m' }).idp.clockToleranceSec, 120)
  t.equal(load({ REFRESH_SKEW: '30s', REFRESH_MIN_INTERVAL: '1m', UPSTREAM_TIMEOUT: '10s' }).refresh.skewMs, 30_000)
})

t.test('each invalid value stops with a message naming the variable', async t => {
  const cases: Array<[Env, string]> = [
    [{ IDP_TIMEOUT: 'soon' }, 'IDP_TIMEOUT'],
    [{ IDP_TIMEOUT: '0' }, 'IDP_TIMEOUT'],
    [{ SESSION_IDLE_TIMEOUT: '-5m' }, 'SESSION_IDLE_TIMEOUT'],
    [{ SESSION_ABSOLUTE_TIMEOUT: '12 hours' }, 'SESSION_ABSOLUTE_TIMEOUT'],
    [{ SESSION_IDLE_TIMEOUT: '13h' }, 'SESSION_IDLE_TIMEOUT'],
    [{ REFRESH_SKEW: 'x' }, 'REFRESH_SKEW'],
    [{ REFRESH_MIN_INTERVAL: 'x' }, 'REFRESH_MIN_INTERVAL'],
    [{ UPSTREAM_TIMEOUT: 'x' }, 'UPSTREAM_TIMEOUT'],
    [{ AUTH0_CLOCK_TOLERANCE: 'x' }, 'AUTH0_CLOCK_TOLERANCE'],
    [{ PORT: 'http' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ SESSION_MAX_ENTRIES: '0' }, 'SESSION_MAX_ENTRIES'],
    [{ SESSION_MAX_ENTRIES: '1.5' }, 'SESSION_MAX_ENTRIES'],
    [{ MAX_SESSIONS_PER_USER: '0' }, 'MAX_SESSIONS_PER_USER'],
    [{ MAX_SESSIONS_PER_USER: '1001' }, 'MAX_SESSIONS_PER_USER'],
    [{ SESSION_SWEEP_INTERVAL: '500ms' }, 'SESSION_SWEEP_INTERVAL'],
    [{ SESSION_SWEEP_INTERVAL: '2h' }, 'SESSION_SWEEP_INTERVAL'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ AUTH0_CLIENT_AUTH_METHOD: 'client_secret_jwt' }, 'AUTH0_CLIENT_AUTH_METHOD'],
    [{ AUTH0_ID_TOKEN_SIGNING_ALG: 'none' }, 'AUTH0_ID_TOKEN_SIGNING_ALG'],
    [{ COOKIE_SAMESITE: 'none' }, 'COOKIE_SAMESITE'],
    [{ COOKIE_NAME: 'bad name;' }, 'COOKIE_NAME'],
    [{ AUTH0_DOMAIN: 'ftp://idp.example.com' }, 'AUTH0_DOMAIN'],
    [{ AUTH0_DOMAIN: 'https://idp.example.com/tenant' }, 'AUTH0_DOMAIN'],
    [{ AUTH0_DOMAIN: 'http://' }, 'AUTH0_DOMAIN'],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.0/8, proxy.local' }, 'TRUST_PROXY'],
    [{ ALLOWED_ORIGINS: 'not a url' }, 'ALLOWED_ORIGINS'],
    [{ ALLOWED_ORIGINS: 'file:///etc' }, 'ALLOWED_ORIGINS'],
    [{ UPSTREAMS: 'api=http://x' }, 'UPSTREAMS'],
    [{ AUTH0_CLIENT_AUTH_METHOD: 'private_key_jwt', AUTH0_CLIENT_ASSERTION_KEY: KEY_FILE, AUTH0_CLIENT_ASSERTION_ALG: 'HS256' }, 'AUTH0_CLIENT_ASSERTION_ALG']
  ]
  for (const [env, name] of cases) {
    t.throws(() => load(env), { name: 'ConfigError', message: new RegExp(`^${name}: `) }, `${JSON.stringify(env)} names ${name}`)
  }
})

t.test('the missing-variables message names every missing one and mentions npm run demo', async t => {
  t.throws(() => loadConfig({}), {
    name: 'ConfigError',
    message: /^Missing configuration: AUTH0_DOMAIN, AUTH0_CLIENT_ID, SESSION_SECRET, AUTH0_CLIENT_SECRET\. Set them .*`npm run demo`/
  })
  t.throws(() => loadConfig({ ...BASE, AUTH0_CLIENT_SECRET: '  ' }), { message: /^Missing configuration: AUTH0_CLIENT_SECRET\. Set it .*npm run demo/ })
  t.throws(() => loadConfig({ ...BASE, AUTH0_DOMAIN: '' }), { message: /^Missing configuration: AUTH0_DOMAIN\./ })
})

t.test('SESSION_SECRET: a list, newest first, each at least 32 characters', async t => {
  const old = 'o'.repeat(40)
  t.same(load({ SESSION_SECRET: `${SECRET}, ${old}` }).cookie.secrets, [SECRET, old])
  t.throws(() => load({ SESSION_SECRET: 'x'.repeat(31) }), { name: 'ConfigError', message: /^SESSION_SECRET: .*at least 32.*31/ })
  t.throws(() => load({ SESSION_SECRET: `${SECRET},short` }), { message: /^SESSION_SECRET: / })
})

t.test('private_key_jwt needs the key file, not the secret', async t => {
  const env: Env = { ...BASE, AUTH0_CLIENT_SECRET: undefined, AUTH0_CLIENT_AUTH_METHOD: 'private_key_jwt' }
  t.throws(() => loadConfig(env), { message: /^Missing configuration: AUTH0_CLIENT_ASSERTION_KEY\./ })
  const config = loadConfig({ ...env, AUTH0_CLIENT_ASSERTION_KEY: KEY_FILE, AUTH0_CLIENT_ASSERTION_ALG: 'PS256' })
  t.equal(config.idp.authMethod, 'private_key_jwt')
  t.equal(config.idp.clientSecret, undefined)
  t.equal(config.idp.assertionKey?.alg, 'PS256')
  t.match(config.idp.assertionKey?.pem, /BEGIN PRIVATE KEY/)
  t.equal(loadConfig({ ...env, AUTH0_CLIENT_ASSERTION_KEY: KEY_FILE }).idp.assertionKey?.alg, 'RS256')
  t.throws(() => loadConfig({ ...env, AUTH0_CLIENT_ASSERTION_KEY: '/nonexistent/key.pem' }), { message: /^AUTH0_CLIENT_ASSERTION_KEY: cannot read/ })
  const notAKey = fileURLToPath(new URL('../idp/clients.json', import.meta.url))
  t.throws(() => loadConfig({ ...env, AUTH0_CLIENT_ASSERTION_KEY: notAKey }), { message: /^AUTH0_CLIENT_ASSERTION_KEY: .*no PEM private key/ })
  // HS256 id_tokens are checked with the client secret, so private_key_jwt + HS256 still needs it.
  t.throws(() => loadConfig({ ...env, AUTH0_CLIENT_ASSERTION_KEY: KEY_FILE, AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256' }), { message: /^Missing configuration: AUTH0_CLIENT_SECRET\./ })
})

t.test('realms: AUTH0_REALM is always allowed, AUTH0_REALMS adds more, without duplicates', async t => {
  const config = load({ AUTH0_REALM: 'employees', AUTH0_REALMS: 'partners, employees,' })
  t.equal(config.idp.realm, 'employees')
  t.same(config.idp.realms, ['employees', 'partners'])
})

t.test('other settings are read as given', async t => {
  const config = load({
    HOST: '0.0.0.0', PORT: '8080', LOG_LEVEL: 'debug', TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,loopback', COOKIE_SAMESITE: 'Lax',
    COOKIE_NAME: 'sid', AUTH0_AUDIENCE: 'https://api.example.com', AUTH0_SCOPE: 'openid read:orders', AUTH0_CLIENT_AUTH_METHOD: 'client_secret_basic',
    AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256', SESSION_MAX_ENTRIES: '10', MAX_SESSIONS_PER_USER: '3', SESSION_SWEEP_INTERVAL: '5s', CSRF_HEADER: 'X-Requested-With', ALLOWED_ORIGINS: 'https://app.example.com/path',
    FORWARD_COOKIES: 'a, b'
  })
  t.same(config.server, { host: '0.0.0.0', port: 8080, trustProxy: ['127.0.0.1', '10.0.0.0/8', 'loopback'], logLevel: 'debug', adminPort: 9091, shutdownTimeoutMs: 10_000 })
  t.equal(config.cookie.sameSite, 'lax')
  t.equal(config.cookie.name, 'sid')
  t.equal(config.idp.audience, 'https://api.example.com')
  t.equal(config.idp.scope, 'openid read:orders')
  t.equal(config.idp.authMethod, 'client_secret_basic')
  t.equal(config.idp.idTokenAlg, 'HS256')
  t.equal(config.session.maxEntries, 10)
  t.equal(config.session.maxPerUser, 3)
  t.equal(config.session.sweepIntervalMs, 5_000)
  t.equal(config.csrf.headerName, 'x-requested-with')
  t.same(config.csrf.allowedOrigins, ['https://app.example.com'])
  t.same(config.proxy.forwardCookies, ['a', 'b'])
  t.equal(load({ TRUST_PROXY: 'false' }).server.trustProxy, false)
})

t.test('UPSTREAMS: prefix=URL pairs, with and without a rewrite path', async t => {
  t.same(parseUpstreams('/api=http://orders:8080, /api/billing=http://billing:9000/v1/,/x/=https://x.example.com'), [
    { prefix: '/api', origin: 'http://orders:8080', rewritePrefix: '/api' },
    { prefix: '/api/billing', origin: 'http://billing:9000', rewritePrefix: '/v1' },
    { prefix: '/x', origin: 'https://x.example.com', rewritePrefix: '/x' }
  ])
  t.same(parseUpstreams('/root=http://root:1/'), [{ prefix: '/root', origin: 'http://root:1', rewritePrefix: '' }])
  t.same(parseUpstreams(''), [])
  t.same(load({ UPSTREAMS: '/api=http://127.0.0.1:8081' }).proxy.upstreams, [{ prefix: '/api', origin: 'http://127.0.0.1:8081', rewritePrefix: '/api' }])
})

t.test('UPSTREAMS errors name the variable', async t => {
  for (const bad of ['api=http://x', '/api', '/api=ftp://x', '/=http://x', '/a b=http://x', '/api=http://', '/api=http://[bad', '/api=http://a,/api=http://b']) {
    t.throws(() => parseUpstreams(bad), { name: 'ConfigError', message: /^UPSTREAMS: / }, bad)
  }
  t.throws(() => parseUpstreams('/api=http://a,/api/=http://b'), { message: /listed twice/ })
})

t.test('serverOptions: silent means no logger, trust proxy as a list, redaction on', async t => {
  t.equal(serverOptions(load({ LOG_LEVEL: 'silent' })).logger, false)
  const options = serverOptions(load({ TRUST_PROXY: '127.0.0.1' }))
  t.same(options.trustProxy, ['127.0.0.1'])
  t.match(options.logger, { level: 'info', redact: { censor: '[REDACTED]' } })
  t.equal(serverOptions(load()).trustProxy, false)
})

t.test('request ids: generated, or the X-Request-Id of a trusted proxy only', async t => {
  const from = (remoteAddress: string, id?: string): IncomingMessage =>
    ({ headers: id === undefined ? {} : { 'x-request-id': id }, socket: { remoteAddress } }) as unknown as IncomingMessage // a stand-in with the two fields genReqId reads
  const untrusting = serverOptions(load()).genReqId
  t.not(untrusting(from('10.0.0.1')), untrusting(from('10.0.0.1')), 'unique')
  t.not(untrusting(from('10.0.0.1', 'lb-123')), 'lb-123', 'no TRUST_PROXY: a client id is ignored')
  const trusting = serverOptions(load({ TRUST_PROXY: '10.0.0.0/8' })).genReqId
  t.equal(trusting(from('10.1.2.3', 'lb-123')), 'lb-123', 'from a trusted proxy: its id')
  t.not(trusting(from('192.0.2.1', 'lb-123')), 'lb-123', 'from anyone else: ours')
  t.not(trusting(from('10.1.2.3', 'bad id\r\ninjected')), 'bad id\r\ninjected', 'a malformed id is replaced')
  t.not(trusting(from('10.1.2.3', 'x'.repeat(129))), 'x'.repeat(129), 'an overlong id is replaced')
})
