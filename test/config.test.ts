import type { IncomingMessage } from 'node:http'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig, parseUpstreams, type Env } from '../fastify.config.js'
import { serverOptions } from '../server-options.js'
import { resolveEndpoints } from '../src/oidc/discovery.js'

const SECRET = 's'.repeat(32)
const KEY_FILE = fileURLToPath(new URL('../idp/demo-keys/private-key-jwt.pem', import.meta.url))
const BASE: Env = { AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUTH0_CLIENT_ID: 'cid', AUTH0_CLIENT_SECRET: 'csecret', SESSION_SECRET: SECRET }
const load = (overrides: Env = {}) => loadConfig({ ...BASE, ...overrides })

t.test('defaults', async t => {
  const config = load()
  t.same(config.server, { host: '127.0.0.1', port: 3000, trustProxy: false, publicOrigins: [], logLevel: 'info', adminPort: 9091, shutdownTimeoutMs: 10_000 })
  t.equal(config.idp.issuer, 'https://tenant.eu.auth0.com/')
  const { idp } = await resolveEndpoints(config) // nothing to discover with AUTH0_DOMAIN: the same object, typed resolved
  t.equal(idp.tokenUrl, 'https://tenant.eu.auth0.com/oauth/token')
  t.equal(idp.revokeUrl, 'https://tenant.eu.auth0.com/oauth/revoke')
  t.equal(idp.jwksUrl, 'https://tenant.eu.auth0.com/.well-known/jwks.json')
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
  t.same(config.proxy, { upstreams: [], timeoutMs: 30_000, forwardCookies: [], stripRequestHeaders: [] })
  t.same(config.csrf, { headerName: 'x-csrf', allowedOrigins: [] })
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.idp) && Object.isFrozen(config.cookie.secrets), 'deeply frozen')
})

t.test('an http(s) URL as AUTH0_DOMAIN keeps its scheme and port; the issuer ends with a slash', async t => {
  const config = load({ AUTH0_DOMAIN: 'http://127.0.0.1:4010' })
  t.equal(config.idp.issuer, 'http://127.0.0.1:4010/')
  t.equal((await resolveEndpoints(config)).idp.tokenUrl, 'http://127.0.0.1:4010/oauth/token')
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

t.test('PUBLIC_ORIGIN: origins only, normalised, without duplicates', async t => {
  t.same(load({ PUBLIC_ORIGIN: 'https://App.Example.com, https://app.example.com:443/, http://127.0.0.1:3000,http://[::1]:3000' }).server.publicOrigins,
    ['https://app.example.com', 'http://127.0.0.1:3000', 'http://[::1]:3000'])
  for (const bad of ['app.example.com', 'https://app.example.com/path', 'https://app.example.com?x', 'https://app.example.com#x',
    'https://user:pw@app.example.com', 'ftp://app.example.com', 'https://', 'null', 'https://app.example.com/,https:// x']) {
    t.throws(() => load({ PUBLIC_ORIGIN: bad }), { name: 'ConfigError', message: /^PUBLIC_ORIGIN: expected the origins/ }, bad)
  }
})

t.test('STRIP_REQUEST_HEADERS: names and prefixes, lower-cased; never one the proxy needs', async t => {
  t.same(load({ STRIP_REQUEST_HEADERS: 'X-Tenant-Id, x-internal-*' }).proxy.stripRequestHeaders, ['x-tenant-id', 'x-internal-*'])
  for (const bad of ['*', 'x-a*b', 'x a', 'x-a:', 'é']) {
    t.throws(() => load({ STRIP_REQUEST_HEADERS: bad }), { name: 'ConfigError', message: /^STRIP_REQUEST_HEADERS: expected header names/ }, bad)
  }
  const protectedCases: Array<[string, string]> = [['Host', 'host'], ['content-length', 'content-length'], ['content-*', 'content-length'], ['t*', 'transfer-encoding'], ['h*', 'host']]
  for (const [bad, hit] of protectedCases) {
    t.throws(() => load({ STRIP_REQUEST_HEADERS: bad }), { name: 'ConfigError', message: new RegExp(`^STRIP_REQUEST_HEADERS: "${bad.replace('*', '\\*')}" would remove ${hit}`) }, bad)
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

t.test('LOG_HASH_KEY: the first SESSION_SECRET by default, else its own secret of at least 32 characters', async t => {
  const old = 'o'.repeat(40)
  t.equal(load({ SESSION_SECRET: `${SECRET}, ${old}` }).logHashKey, SECRET)
  t.equal(load({ LOG_HASH_KEY: 'k'.repeat(32) }).logHashKey, 'k'.repeat(32))
  t.throws(() => load({ LOG_HASH_KEY: 'k'.repeat(31) }), { name: 'ConfigError', message: /^LOG_HASH_KEY: .*at least 32.*31/ })
})

t.test('device cookies: LOGIN_RATE_LIMIT_DEVICE (30/1m, off) and DEVICE_COOKIE_LIFETIME (90d, 1m to 400d)', async t => {
  const config = load()
  t.same(config.login.perDevice, { max: 30, windowMs: 60_000 })
  t.equal(config.login.deviceCookieLifetimeMs, 90 * 86_400_000)
  t.equal(load({ LOGIN_RATE_LIMIT_DEVICE: 'off' }).login.perDevice, undefined)
  t.same(load({ LOGIN_RATE_LIMIT_DEVICE: '5/15m' }).login.perDevice, { max: 5, windowMs: 900_000 })
  t.throws(() => load({ LOGIN_RATE_LIMIT_DEVICE: '5' }), { name: 'ConfigError', message: /^LOGIN_RATE_LIMIT_DEVICE: expected N\/window/ })
  t.equal(load({ DEVICE_COOKIE_LIFETIME: '30d' }).login.deviceCookieLifetimeMs, 30 * 86_400_000)
  for (const bad of ['30s', '401d', 'forever']) {
    t.throws(() => load({ DEVICE_COOKIE_LIFETIME: bad }), { name: 'ConfigError', message: /^DEVICE_COOKIE_LIFETIME: / }, bad)
  }
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
  t.same(config.server, { host: '0.0.0.0', port: 8080, trustProxy: ['127.0.0.1', '10.0.0.0/8', 'loopback'], publicOrigins: [], logLevel: 'debug', adminPort: 9091, shutdownTimeoutMs: 10_000 })
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

t.test('MFA_PENDING_MAX_ENTRIES: a tenth of SESSION_MAX_ENTRIES by default, or set', async t => {
  t.equal(load().mfa.pendingMaxEntries, 10_000)
  t.equal(load({ SESSION_MAX_ENTRIES: '25' }).mfa.pendingMaxEntries, 3)
  t.equal(load({ SESSION_MAX_ENTRIES: '1' }).mfa.pendingMaxEntries, 1)
  t.equal(load({ MFA_PENDING_MAX_ENTRIES: '500' }).mfa.pendingMaxEntries, 500)
  for (const bad of ['0', '-1', '1.5', 'many']) {
    t.throws(() => load({ MFA_PENDING_MAX_ENTRIES: bad }), { name: 'ConfigError', message: /^MFA_PENDING_MAX_ENTRIES: expected an integer/ }, bad)
  }
})

t.test('MFA abuse limits: defaults, N/window or off, MFA_MAX_WRONG_CODES an integer', async t => {
  const { mfa } = load()
  t.same(mfa.challengePerAuthenticator, { max: 1, windowMs: 30_000 })
  t.same(mfa.challengePerLogin, { max: 5, windowMs: 300_000 })
  t.same(mfa.challengePerUser, { max: 10, windowMs: 3_600_000 })
  t.same(mfa.wrongCodesPerUser, { max: 10, windowMs: 900_000 })
  t.equal(mfa.maxWrongCodes, 5)
  const set = load({
    MFA_CHALLENGE_RATE_LIMIT_AUTHENTICATOR: '2/1m',
    MFA_CHALLENGE_RATE_LIMIT_LOGIN: 'off',
    MFA_CHALLENGE_RATE_LIMIT_USER: '20/2h',
    MFA_WRONG_CODE_RATE_LIMIT_USER: 'OFF',
    MFA_MAX_WRONG_CODES: '3'
  }).mfa
  t.same(set.challengePerAuthenticator, { max: 2, windowMs: 60_000 })
  t.equal(set.challengePerLogin, undefined)
  t.same(set.challengePerUser, { max: 20, windowMs: 7_200_000 })
  t.equal(set.wrongCodesPerUser, undefined)
  t.equal(set.maxWrongCodes, 3)
  for (const name of ['MFA_CHALLENGE_RATE_LIMIT_AUTHENTICATOR', 'MFA_CHALLENGE_RATE_LIMIT_LOGIN', 'MFA_CHALLENGE_RATE_LIMIT_USER', 'MFA_WRONG_CODE_RATE_LIMIT_USER']) {
    for (const bad of ['5', '0/1m', '1/500ms', 'never']) {
      t.throws(() => load({ [name]: bad }), { name: 'ConfigError', message: new RegExp(`^${name}: expected N/window`) }, `${name}=${bad}`)
    }
  }
  for (const bad of ['0', '1001', 'off', '2.5']) {
    t.throws(() => load({ MFA_MAX_WRONG_CODES: bad }), { name: 'ConfigError', message: /^MFA_MAX_WRONG_CODES: expected an integer from 1 to 1000/ }, bad)
  }
})

t.test('connection bounds (issue #15): defaults, values as given, the server options they become', async t => {
  const defaults = load()
  t.same(defaults.connections, { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 72_000, maxConnections: 10_000 })
  t.match(serverOptions(defaults), {
    connectionTimeout: 0,
    requestTimeout: 0,
    keepAliveTimeout: 72_000,
    http: { headersTimeout: 10_000, requestTimeout: 0, connectionsCheckingInterval: 1000 }
  })
  const set = load({ HEADERS_TIMEOUT: '300ms', REQUEST_TIMEOUT: '2s', KEEP_ALIVE_TIMEOUT: '5s', MAX_CONNECTIONS: '500' })
  t.same(set.connections, { headersTimeoutMs: 300, requestTimeoutMs: 2000, keepAliveTimeoutMs: 5000, maxConnections: 500 })
  t.match(serverOptions(set), { keepAliveTimeout: 5000, http: { headersTimeout: 300, connectionsCheckingInterval: 30 } })
  t.equal(serverOptions(load({ HEADERS_TIMEOUT: '50ms' })).http.connectionsCheckingInterval, 10, 'checked at least every 10 ms')

  const invalid: Array<[Env, string]> = [
    [{ HEADERS_TIMEOUT: '0' }, 'HEADERS_TIMEOUT'],
    [{ HEADERS_TIMEOUT: 'soon' }, 'HEADERS_TIMEOUT'],
    [{ HEADERS_TIMEOUT: '31s' }, 'HEADERS_TIMEOUT'],
    [{ REQUEST_TIMEOUT: '2h' }, 'REQUEST_TIMEOUT'],
    [{ REQUEST_TIMEOUT: '0' }, 'REQUEST_TIMEOUT'],
    [{ KEEP_ALIVE_TIMEOUT: 'x' }, 'KEEP_ALIVE_TIMEOUT'],
    [{ MAX_CONNECTIONS: '0' }, 'MAX_CONNECTIONS'],
    [{ MAX_CONNECTIONS: 'lots' }, 'MAX_CONNECTIONS'],
    [{ MAX_CONNECTIONS: '2000000' }, 'MAX_CONNECTIONS']
  ]
  for (const [env, name] of invalid) {
    t.throws(() => load(env), { name: 'ConfigError', message: new RegExp(`^${name}: `) }, `${JSON.stringify(env)} names ${name}`)
  }
})
