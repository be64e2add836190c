/**
 * IdP faults at login, refresh and logout (issue #10), one matrix: each fault gets its documented code at each
 * phase, and afterwards a session that was valid before the fault (the bystander) still answers 200, and so does the
 * faulted session itself whenever the fault was transient. Single faults with message and log checks live in
 * test/routes/session-idp-errors.test.ts (login), test/plugins/refresh.test.ts (refresh) and
 * test/routes/session.test.ts (logout); this file adds the missing kinds (mid-response close, a 200 without
 * access_token, a wrong token_type at refresh, every fault at logout) and the "valid sessions stay valid" check.
 *
 * The gateway talks to the IdP through a chaos proxy (down/up, truncated answers); IdP and gateway share a manual
 * clock. The IdP allows Auth0's refresh-token reuse interval (30 s): a refresh answer lost on the way (mid-response
 * close, timeout) must not end the session when the gateway retries with the same token after its back-off; the
 * last test shows what happens without it.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { FaultSpec, RunningIdp } from '../../idp/app.js'
import { ALICE, COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv, type LoggedIn } from '../helpers/gateway.js'
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js'
import { startChaosProxy, type ChaosProxy } from './chaos-proxy.js'
import { assertErrorShape } from './assert.js'

const CSRF = { 'x-csrf': '1' }
const BOB = { username: 'bob@corp.example', password: 'bob-password-1', realm: 'employees' }
/** Gateway side timeout: a held IdP call is given up after this. Long enough for a busy CI machine's normal calls. */
const IDP_TIMEOUT = '1s'
const ACCESS_TTL_MS = 300_000

type Expected = readonly [status: number, code: string]

interface Setup { clock: ManualClock, idp: RunningIdp, proxy: ChaosProxy, app: FastifyInstance }

interface Fault {
  name: string
  /** Arms the fault for the next call of the phase's endpoint (token endpoint with the grant, or revoke). */
  arm (s: Setup, endpoint: 'token' | 'revoke', grantType: string | undefined): Promise<Disarm>
  login: Expected
  refresh: Expected
  /** How long the gateway waits before its next refresh try after this fault (back-off / Retry-After), ms. */
  backoffMs: number
}
type Disarm = () => Promise<void> | void

const none: Disarm = () => {}

function idpFault (spec: Omit<FaultSpec, 'endpoint' | 'times' | 'grantType'>) {
  return async (s: Setup, endpoint: 'token' | 'revoke', grantType: string | undefined): Promise<Disarm> => {
    s.idp.setFault({ endpoint, times: 1, ...(grantType === undefined ? {} : { grantType }), ...spec })
    return none
  }
}

const FAULTS: Fault[] = [
  {
    name: 'IdP down (connection refused)',
    arm: async s => { await s.proxy.down(); return async () => { await s.proxy.up() } },
    login: [502, 'idp_unavailable'],
    refresh: [503, 'idp_unavailable'],
    backoffMs: 2_100
  },
  {
    name: `IdP slower than IDP_TIMEOUT (${IDP_TIMEOUT})`,
    arm: async (s, endpoint) => {
      const gate = s.idp.hold(endpoint)
      return () => { gate.release() }
    },
    login: [504, 'idp_timeout'],
    refresh: [503, 'idp_unavailable'],
    backoffMs: 2_100
  },
  { name: '500 with an empty body', arm: idpFault({ status: 500 }), login: [502, 'idp_unavailable'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  { name: '503 temporarily_unavailable', arm: idpFault({ status: 503, body: { error: 'temporarily_unavailable' } }), login: [502, 'idp_unavailable'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  { name: '429 too_many_requests', arm: idpFault({ rateLimit: { retryAfterSec: 5, resetInSec: 5 } }), login: [429, 'rate_limited'], refresh: [503, 'refresh_rate_limited'], backoffMs: 5_100 },
  { name: 'an HTML page with 200', arm: idpFault({ status: 200, body: '<!doctype html><title>Maintenance</title>', headers: { 'content-type': 'text/html' } }), login: [502, 'idp_unavailable'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  { name: 'truncated JSON', arm: idpFault({ status: 200, body: '{"access_token":"eyJhbGciOi' }), login: [502, 'idp_unavailable'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  { name: 'a 200 without access_token', arm: idpFault({ status: 200, body: { token_type: 'Bearer', expires_in: 300, scope: 'openid' } }), login: [502, 'idp_unavailable'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  { name: 'a token_type other than Bearer', arm: idpFault({ status: 200, body: { access_token: 'mac-token-0123456789abcdef', token_type: 'mac', expires_in: 300 } }), login: [502, 'gateway_misconfigured'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  { name: 'the connection destroyed before an answer', arm: idpFault({ destroySocket: true }), login: [502, 'idp_unavailable'], refresh: [503, 'idp_unavailable'], backoffMs: 2_100 },
  {
    name: 'the connection closed mid-response',
    arm: async (s, endpoint, grantType) => {
      s.proxy.truncateNext(endpoint === 'token' ? '/oauth/token' : '/oauth/revoke', grantType)
      return none
    },
    login: [502, 'idp_unavailable'],
    refresh: [503, 'idp_unavailable'],
    backoffMs: 2_100
  }
]

async function setup (t: Test, idpOptions: { leewaySec: number } = { leewaySec: 30 }): Promise<Setup> {
  const clock = createManualClock()
  const idp = await startTestIdp(t, { clock, refreshToken: { leewaySec: idpOptions.leewaySec } })
  const proxy = await startChaosProxy(t, idp.url)
  idp.setIssuer(`${proxy.url}/`)
  const app = await buildTestApp(t, {
    env: testEnv(proxy, { IDP_TIMEOUT, AUTH0_REALMS: 'employees', LOGIN_RATE_LIMIT_IP: 'off', LOGIN_RATE_LIMIT_IP_USER: 'off', LOGIN_RATE_LIMIT_USER: 'off' }),
    deps: { clock }
  })
  return { clock, idp, proxy, app }
}

const whoami = async (app: FastifyInstance, session: LoggedIn): Promise<LightMyRequestResponse> => await app.inject({ url: '/session', cookies: session.cookies })

function assertCode (t: Test, res: LightMyRequestResponse, [status, code]: Expected, what: string): void {
  t.equal(res.statusCode, status, `${what}: ${status}`)
  t.equal(res.json().code, code, `${what}: ${code}`)
  assertErrorShape(t, res)
}

t.test('every IdP fault at login, refresh and logout: its documented code, and valid sessions stay valid', async t => {
  const s = await setup(t)
  const bystander = await login(s.app, BOB)

  for (const fault of FAULTS) {
    await t.test(fault.name, async t => {
      // Login: refused with the fault's code, no cookie; the bystander is untouched.
      let disarm = await fault.arm(s, 'token', 'password')
      const refused = await s.app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: ALICE })
      await disarm()
      assertCode(t, refused, fault.login, 'login')
      t.equal(refused.cookies.find(c => c.name === COOKIE_NAME), undefined, 'login: no session cookie')
      t.equal((await whoami(s.app, bystander)).statusCode, 200, 'login: the bystander session still answers 200')

      // Refresh: Alice's access token has expired; the fault keeps her session, the next try after the back-off works.
      const alice = await login(s.app, ALICE)
      s.clock.advance(ACCESS_TTL_MS + 1_000)
      disarm = await fault.arm(s, 'token', 'refresh_token')
      const deferred = await whoami(s.app, alice)
      await disarm()
      assertCode(t, deferred, fault.refresh, 'refresh')
      t.equal(deferred.cookies.find(c => c.name === COOKIE_NAME), undefined, 'refresh: the cookie is not cleared')
      t.ok(Number(deferred.headers['retry-after']) >= 1, 'refresh: Retry-After')
      s.clock.advance(fault.backoffMs)
      t.equal((await whoami(s.app, alice)).statusCode, 200, 'refresh: the faulted session works again after the back-off')
      t.equal((await whoami(s.app, bystander)).statusCode, 200, 'refresh: the bystander session still answers 200 (and refreshed)')

      // Logout: always 204, the cookie cleared, the session gone; the bystander is untouched.
      disarm = await fault.arm(s, 'revoke', undefined)
      const out = await s.app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies: alice.cookies })
      await disarm()
      t.equal(out.statusCode, 204, 'logout: 204')
      t.equal(out.cookies.find(c => c.name === COOKIE_NAME)?.value, '', 'logout: the cookie is cleared')
      const after = await whoami(s.app, alice)
      t.equal(after.statusCode, 401, 'logout: the session is gone')
      t.equal(after.json().code, 'no_session')
      t.equal((await whoami(s.app, bystander)).statusCode, 200, 'logout: the bystander session still answers 200')
    })
  }

  t.equal(s.idp.stats.reuseDetections, 0, 'no refresh-token reuse detection at the IdP')
})

t.test('without a reuse interval at the IdP, a refresh answer lost mid-response ends only that session, cleanly', async t => {
  const s = await setup(t, { leewaySec: 0 })
  const bystander = await login(s.app, BOB)
  const alice = await login(s.app, ALICE)
  s.clock.advance(ACCESS_TTL_MS + 1_000)
  s.proxy.truncateNext('/oauth/token', 'refresh_token')
  assertCode(t, await whoami(s.app, alice), [503, 'idp_unavailable'], 'lost answer')
  s.clock.advance(2_100)
  // The IdP rotated the refresh token, the gateway never saw the new one: its retry presents a used token.
  const ended = await whoami(s.app, alice)
  assertCode(t, ended, [401, 'session_expired'], 'retry with the rotated-away token')
  t.equal(ended.cookies.find(c => c.name === COOKIE_NAME)?.value, '', 'the cookie is cleared')
  t.equal(s.idp.stats.reuseDetections, 1, 'the IdP saw the reuse and revoked the family')
  t.equal((await whoami(s.app, bystander)).statusCode, 200, 'the other session is unaffected')
  t.equal((await login(s.app, ALICE)).res.statusCode, 200, 'Alice can sign in again')
})
