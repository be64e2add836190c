import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { FaultSpec } from '../../idp/app.js'
import { ALICE, COOKIE_NAME, buildTestApp, captureLogs, startTestIdp, testEnv, loggedGateway } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock })
t.afterEach(() => { idp.clearFaults() })

const gateway = loggedGateway(idp, clock)

async function postLogin (app: FastifyInstance, credentials: Record<string, string> = ALICE) {
  return await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: credentials })
}

/** The shared checks of every refused login: status, code, the error shape, no cookie, no store entry, no-store. */
function assertRefused (t: Test, res: Awaited<ReturnType<typeof postLogin>>, status: number, code: string): void {
  t.equal(res.statusCode, status, `status ${status}`)
  const body = res.json()
  t.equal(body.code, code)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(body.statusCode, status)
  t.equal(res.cookies.find(c => c.name === COOKIE_NAME), undefined, 'no session cookie')
  t.equal(res.headers['cache-control'], 'no-store')
  t.notMatch(res.body, /at .*\.ts:\d+|stack/i, 'no stack trace')
}

function fault (spec: Omit<FaultSpec, 'endpoint' | 'times'>): void {
  idp.setFault({ endpoint: 'token', times: 1, ...spec })
}

t.test('wrong password and unknown user: 401 invalid_credentials with identical bodies', async t => {
  const { app } = await gateway(t)
  const wrong = await postLogin(app, { ...ALICE, password: 'not-her-password' })
  const unknown = await postLogin(app, { username: 'nobody@example.com', password: 'whatever' })
  assertRefused(t, wrong, 401, 'invalid_credentials')
  assertRefused(t, unknown, 401, 'invalid_credentials')
  t.equal(wrong.body, unknown.body)
})

t.test('a blocked user (carol): 403 access_denied', async t => {
  const { app } = await gateway(t)
  assertRefused(t, await postLogin(app, { username: 'carol@example.com', password: 'carol-password-1' }), 403, 'access_denied')
})

t.test('access_denied from a rule or Action: 403 access_denied', async t => {
  const { app } = await gateway(t)
  fault({ status: 403, body: { error: 'access_denied', error_description: 'Denied by policy' } })
  assertRefused(t, await postLogin(app), 403, 'access_denied')
})

t.test('too_many_attempts: 429 account_blocked without Retry-After', async t => {
  const { app } = await gateway(t)
  fault({ status: 429, body: { error: 'too_many_attempts', error_description: 'Your account has been blocked after multiple consecutive login attempts.' }, headers: { 'retry-after': '30' } })
  const res = await postLogin(app)
  assertRefused(t, res, 429, 'account_blocked')
  t.equal(res.headers['retry-after'], undefined)
})

t.test('too_many_requests: 429 rate_limited with Retry-After from Retry-After', async t => {
  const { app } = await gateway(t)
  fault({ rateLimit: { retryAfterSec: 17, resetInSec: 90 } })
  const res = await postLogin(app)
  assertRefused(t, res, 429, 'rate_limited')
  t.equal(res.headers['retry-after'], '17')
})

t.test('too_many_requests: Retry-After from x-ratelimit-reset when the IdP sends no Retry-After', async t => {
  const { app } = await gateway(t)
  fault({ rateLimit: { resetInSec: 42 } })
  const res = await postLogin(app)
  assertRefused(t, res, 429, 'rate_limited')
  t.equal(res.headers['retry-after'], '42')
})

t.test('password_leaked: 403 password_reset_required', async t => {
  const { app } = await gateway(t)
  fault({ status: 401, body: { error: 'password_leaked', error_description: 'This login attempt has been blocked because the password you\'re using was previously disclosed.' } })
  assertRefused(t, await postLogin(app), 403, 'password_reset_required')
})

t.test('requires_verification: 403 interactive_login_required', async t => {
  const { app } = await gateway(t)
  fault({ status: 401, body: { error: 'requires_verification', error_description: 'Suspicious request requires verification' } })
  assertRefused(t, await postLogin(app), 403, 'interactive_login_required')
})

t.test('mfa_required: 401 mfa_required, the mfa_token never reaches the client', async t => {
  const { app, logs } = await gateway(t)
  const mfaToken = 'mfa-token-Fe26.2**secret-value-0123456789'
  fault({ status: 403, body: { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: mfaToken } })
  const res = await postLogin(app)
  assertRefused(t, res, 401, 'mfa_required')
  t.notOk(JSON.stringify(res.headers).includes(mfaToken) || res.body.includes(mfaToken), 'no mfa_token in the answer')
  t.notOk(logs.text().includes(mfaToken), 'nor in the logs')
})

t.test('configuration errors: 502 gateway_misconfigured with an error log line saying what to fix', async t => {
  const cases: Array<[string, FaultSpec['body'], number, RegExp]> = [
    ['unauthorized_client', { error: 'unauthorized_client', error_description: 'Grant type \'password\' not allowed for the client.' }, 403, /Password .*grant/],
    ['invalid_client', { error: 'invalid_client', error_description: 'Client authentication failed.' }, 401, /AUTH0_CLIENT_SECRET/],
    ['server_error', { error: 'server_error', error_description: 'Authorization server not configured with default connection.' }, 500, /AUTH0_REALM/],
    ['401 access_denied Unauthorized', { error: 'access_denied', error_description: 'Unauthorized' }, 401, /AUTH0_CLIENT_AUTH_METHOD/]
  ]
  for (const [name, body, status, hint] of cases) {
    await t.test(name, async t => {
      const { app, logs } = await gateway(t)
      fault({ status, body })
      assertRefused(t, await postLogin(app), 502, 'gateway_misconfigured')
      const errorLine = logs.lines().find(l => l.level === 50)
      t.ok(errorLine, 'an error line')
      t.match(errorLine?.msg, hint)
    })
  }
})

t.test('a real unauthorized_client: the realm grant is not enabled for the client', async t => {
  const { app, logs } = await gateway(t, { AUTH0_CLIENT_ID: 'demo-no-refresh', AUTH0_CLIENT_SECRET: 'demo-no-refresh-secret-0123456789abcdefghijk', AUTH0_REALM: 'Username-Password-Authentication' })
  assertRefused(t, await postLogin(app), 502, 'gateway_misconfigured')
  t.match(logs.lines().find(l => l.level === 50)?.msg, /grant types/)
})

t.test('a real server_error: the IdP has no default connection', async t => {
  const bare = await startTestIdp(t, { clock, defaultRealm: 'missing-connection' })
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(bare, { LOG_LEVEL: 'info' }), deps: { clock }, logs })
  assertRefused(t, await postLogin(app), 502, 'gateway_misconfigured')
  t.match(logs.lines().find(l => l.level === 50)?.msg, /AUTH0_REALM/)
})

t.test('a wrong client secret: 401 access_denied "Unauthorized" at the IdP, 502 gateway_misconfigured here', async t => {
  const { app, logs } = await gateway(t, { AUTH0_CLIENT_SECRET: 'not-the-secret-0123456789' })
  assertRefused(t, await postLogin(app), 502, 'gateway_misconfigured')
  t.match(logs.lines().find(l => l.level === 50)?.msg, /client authentication failed/)
})

t.test('IdP unusable answers: 502 idp_unavailable', async t => {
  const cases: Array<[string, Omit<FaultSpec, 'endpoint' | 'times'>]> = [
    ['5xx with an empty body', { status: 500 }],
    ['503 temporarily_unavailable', { status: 503, body: { error: 'temporarily_unavailable', error_description: 'try later' } }],
    ['HTML error page', { status: 502, body: '<html><body>Bad gateway</body></html>', headers: { 'content-type': 'text/html' } }],
    ['HTML with 200', { status: 200, body: '<!doctype html><p>login</p>', headers: { 'content-type': 'text/html' } }],
    ['truncated JSON', { status: 200, body: '{"access_token":"eyJhbGciOi' }],
    ['200 without access_token', { status: 200, body: { token_type: 'Bearer', expires_in: 300 } }],
    ['connection destroyed', { destroySocket: true }]
  ]
  for (const [name, spec] of cases) {
    await t.test(name, async t => {
      const { app } = await gateway(t)
      fault(spec)
      assertRefused(t, await postLogin(app), 502, 'idp_unavailable')
    })
  }
})

t.test('an unreachable IdP: 502 idp_unavailable', async t => {
  const port = await new Promise<number>(resolve => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
  const app = await buildTestApp(t, { env: testEnv({ url: `http://127.0.0.1:${port}` }), deps: { clock } })
  assertRefused(t, await postLogin(app), 502, 'idp_unavailable')
})

t.test('a token_type other than Bearer: 502 gateway_misconfigured', async t => {
  const { app, logs } = await gateway(t)
  fault({ status: 200, body: { access_token: 'at', token_type: 'DPoP', expires_in: 300 } })
  assertRefused(t, await postLogin(app), 502, 'gateway_misconfigured')
  t.match(logs.lines().find(l => l.level === 50)?.msg, /Bearer/)
})

t.test('an IdP slower than IDP_TIMEOUT: 504 idp_timeout', async t => {
  const { app } = await gateway(t, { IDP_TIMEOUT: '100ms' })
  fault({ latencyMs: 600 })
  assertRefused(t, await postLogin(app), 504, 'idp_timeout')
})
