import { fileURLToPath } from 'node:url'
import t from 'tap'
import { decodeJwt } from 'jose'
import { ALICE, DEMO_CLIENT_SECRET, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock })
t.beforeEach(() => { idp.clearCalls() })
const BASIC_SECRET = 'basic secret:with/special+chars&=%-0123456789'
const KEY_FILE = fileURLToPath(new URL('../../idp/demo-keys/private-key-jwt.pem', import.meta.url))

const tokenCall = () => idp.calls.find(c => c.path === '/oauth/token')
const revokeCall = () => idp.calls.find(c => c.path === '/oauth/revoke')

t.test('client_secret_post: id and secret in the form, no Authorization header', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const { cookies } = await login(app)
  const call = tokenCall()
  t.equal(call?.clientAuthMethod, 'client_secret_post')
  t.equal(call?.form.client_id, 'demo-gateway')
  t.equal(call?.form.client_secret, DEMO_CLIENT_SECRET)
  t.equal(call?.headers.authorization, undefined)
  await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })
  t.equal(revokeCall()?.clientAuthMethod, 'client_secret_post')
  t.equal(revokeCall()?.headers['content-type'], 'application/json')
})

t.test('client_secret_basic: a secret with special characters is form-encoded before base64 and accepted', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_CLIENT_ID: 'demo-basic', AUTH0_CLIENT_SECRET: BASIC_SECRET, AUTH0_CLIENT_AUTH_METHOD: 'client_secret_basic' }), deps: { clock } })
  const { res, cookies } = await login(app)
  t.equal(res.statusCode, 200)
  const call = tokenCall()
  t.equal(call?.clientAuthMethod, 'client_secret_basic')
  const header = String(call?.headers.authorization)
  t.match(header, /^Basic /)
  t.equal(Buffer.from(header.slice(6), 'base64').toString('utf8'), `demo-basic:${new URLSearchParams({ s: BASIC_SECRET }).toString().slice(2)}`)
  t.notOk(call !== undefined && 'client_secret' in call.form, 'no secret in the form')
  t.equal(call?.form.client_id, 'demo-basic')
  await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })
  t.equal(revokeCall()?.clientAuthMethod, 'client_secret_basic')
  t.equal(revokeCall()?.status, 200)
})

t.test('private_key_jwt: a signed assertion, no secret, for login and revocation', async t => {
  const app = await buildTestApp(t, {
    env: testEnv(idp, { AUTH0_CLIENT_ID: 'demo-pkjwt', AUTH0_CLIENT_SECRET: '', AUTH0_CLIENT_AUTH_METHOD: 'private_key_jwt', AUTH0_CLIENT_ASSERTION_KEY: KEY_FILE }),
    deps: { clock }
  })
  const { res, cookies } = await login(app)
  t.equal(res.statusCode, 200)
  const call = tokenCall()
  t.equal(call?.clientAuthMethod, 'private_key_jwt')
  t.equal(call?.form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
  t.notOk(call !== undefined && 'client_secret' in call.form)
  const claims = decodeJwt(call?.form.client_assertion ?? '')
  t.equal(claims.iss, 'demo-pkjwt')
  t.equal(claims.sub, 'demo-pkjwt')
  t.equal(claims.aud, idp.issuer, 'audience is the issuer, with its trailing slash')
  // A second login needs a new assertion (the IdP refuses a replayed jti).
  t.equal((await login(app)).res.statusCode, 200)
  await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies })
  t.equal(revokeCall()?.clientAuthMethod, 'private_key_jwt')
  t.equal(revokeCall()?.status, 200)
})

t.test('the wrong method for the client is refused: 502 gateway_misconfigured', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { AUTH0_CLIENT_ID: 'demo-basic', AUTH0_CLIENT_SECRET: BASIC_SECRET }), deps: { clock } })
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
  t.equal(tokenCall()?.clientAuthMethod, 'invalid', 'the IdP refused the client authentication')
  t.equal(tokenCall()?.form.client_secret, BASIC_SECRET, 'sent as client_secret_post')
  t.equal(tokenCall()?.status, 401)
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'gateway_misconfigured')
})

t.test('auth0-forwarded-for carries the client IP', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE, remoteAddress: '203.0.113.7' })
  t.equal(res.statusCode, 200)
  t.equal(tokenCall()?.forwardedFor, '203.0.113.7')
  t.equal(tokenCall()?.effectiveIp, '203.0.113.7', 'the IdP trusts it for this confidential client')
})

t.test('with TRUST_PROXY=127.0.0.1 the X-Forwarded-For client is forwarded', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp, { TRUST_PROXY: '127.0.0.1' }), deps: { clock } })
  await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': '198.51.100.9' }, payload: ALICE, remoteAddress: '127.0.0.1' })
  t.equal(tokenCall()?.forwardedFor, '198.51.100.9')
})

t.test('without trust, a spoofed X-Forwarded-For is ignored', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': '198.51.100.9' }, payload: ALICE, remoteAddress: '203.0.113.7' })
  t.equal(tokenCall()?.forwardedFor, '203.0.113.7')
  idp.clearCalls()
  const trusted = await buildTestApp(t, { env: testEnv(idp, { TRUST_PROXY: '127.0.0.1' }), deps: { clock } })
  await trusted.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': '198.51.100.9' }, payload: ALICE, remoteAddress: '203.0.113.7' })
  t.equal(tokenCall()?.forwardedFor, '203.0.113.7', 'nor from an address that is not a trusted proxy')
})
