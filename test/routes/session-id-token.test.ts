import t from 'tap'
import type { FaultSpec } from '../../idp/app.js'
import { ALICE, buildTestApp, login, startTestIdp, testEnv, loggedGateway } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock })
t.afterEach(() => { idp.clearFaults() })

const gateway = loggedGateway(idp, clock)

t.test('an id_token the gateway cannot trust: 502 gateway_misconfigured, logged, no session', async t => {
  const tampers: Array<NonNullable<FaultSpec['idToken']>> = ['bad_signature', 'wrong_aud', 'wrong_iss', 'expired', 'alg_none', 'multi_aud_no_azp', 'missing_sub', 'hs256']
  const { app, logs } = await gateway(t)
  await login(app) // keys are loaded: every failure below is about the token, not the JWKS
  for (const tamper of tampers) {
    idp.setFault({ endpoint: 'token', times: 1, idToken: tamper })
    const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
    t.equal(res.statusCode, 502, tamper)
    t.equal(res.json().code, 'gateway_misconfigured', tamper)
    t.equal(res.cookies.length, 0, `${tamper}: no cookie`)
  }
  const errors = logs.lines().filter(l => l.level === 50 && typeof l.msg === 'string' && l.msg.startsWith('id_token failed verification'))
  t.equal(errors.length, tampers.length, 'one error line per rejected id_token')
  t.match(errors[0]?.msg, /AUTH0_DOMAIN.*AUTH0_CLIENT_ID.*AUTH0_ID_TOKEN_SIGNING_ALG/)
})

t.test('an id_token within the clock tolerance is accepted; beyond it is not', async t => {
  const { app } = await gateway(t, { AUTH0_CLOCK_TOLERANCE: '60s' })
  const skewed = createManualClock(clock.now() - 50_000)
  const behind = await buildTestApp(t, { env: testEnv(idp), deps: { clock: skewed } })
  // The IdP's iat is 50 s in the gateway's future: within 60 s tolerance.
  t.equal((await behind.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })).statusCode, 200)
  t.equal((await login(app)).res.statusCode, 200)
})

t.test('key rotation: the gateway refetches the JWKS for the new kid and logins keep working', async t => {
  const { app } = await gateway(t)
  await login(app)
  const jwksFetches = (): number => idp.calls.filter(c => c.path === '/.well-known/jwks.json').length
  const before = jwksFetches()
  await login(app)
  t.equal(jwksFetches(), before, 'the JWKS is cached between logins')
  await idp.rotateKeys()
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
  t.equal(res.statusCode, 200, 'login right after the rotation works')
  t.equal(jwksFetches(), before + 1, 'one refetch for the new kid')
  t.equal((await login(app)).res.statusCode, 200)
  t.equal(jwksFetches(), before + 1, 'and the new key is cached')
})

t.test('an unreachable JWKS: 502 idp_unavailable', async t => {
  const { app, logs } = await gateway(t)
  idp.setFault({ endpoint: 'jwks', times: 1, status: 503, body: 'down' })
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'idp_unavailable')
  t.ok(logs.lines().some(l => l.level === 50 && typeof l.msg === 'string' && l.msg.includes('JWKS')))
})

t.test('HS256 id_tokens with the demo-hs256 client and AUTH0_ID_TOKEN_SIGNING_ALG=HS256', async t => {
  const hs256 = { AUTH0_CLIENT_ID: 'demo-hs256', AUTH0_CLIENT_SECRET: 'demo-hs256-secret-0123456789abcdefghijklmnopqr' }
  const { app } = await gateway(t, { ...hs256, AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256' })
  idp.clearCalls()
  const { res } = await login(app)
  t.equal(res.statusCode, 200)
  t.equal(res.json().user.sub, 'auth0|alice0000000000000000001')
  t.equal(idp.calls.filter(c => c.path === '/.well-known/jwks.json').length, 0, 'no JWKS needed for HS256')

  const { app: rs256 } = await gateway(t, hs256)
  const refused = await rs256.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
  t.equal(refused.statusCode, 502, 'an HS256 token is refused when RS256 is configured')
  t.equal(refused.json().code, 'gateway_misconfigured')

  const { app: rsOnly } = await gateway(t, { AUTH0_ID_TOKEN_SIGNING_ALG: 'HS256' })
  const mismatch = await rsOnly.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
  t.equal(mismatch.statusCode, 502, 'an RS256 token is refused when HS256 is configured')
  t.equal(mismatch.json().code, 'gateway_misconfigured')
})
