import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { COOKIE_NAME, buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { PENDING, MFA_USER, MFA_ID, RECOVERY_ID } from '../helpers/mfa-user.js'

/*
 * The recovery-code login: its 200 answer carries the user's NEW recovery code, once, by design (reference §8.4).
 * Kept in a file of its own because the suite's leak check treats every recovery code as a secret.
 */
const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })

async function startLogin (app: FastifyInstance): Promise<{ cookies: Record<string, string> }> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: MFA_USER })
  const cookie = res.cookies.find(c => c.name === PENDING)
  if (res.statusCode !== 401 || cookie === undefined) throw new Error(`expected mfa_required, got ${res.statusCode} ${res.body}`)
  return { cookies: { [PENDING]: cookie.value } }
}

t.test('recovery code: logs in once and returns the new code once', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const used = idp.recoveryCode(MFA_ID) ?? ''
  const pending = await startLogin(app)
  const verify = async (p: { cookies: Record<string, string> }, payload: Record<string, string>) =>
    await app.inject({ method: 'POST', url: '/session/mfa', headers: CSRF, cookies: p.cookies, payload })
  const ch = await app.inject({ method: 'POST', url: '/session/mfa/challenge', headers: CSRF, cookies: pending.cookies, payload: { authenticator_id: RECOVERY_ID } })
  t.equal(ch.json().code, 'invalid_request', 'a recovery code needs no challenge')
  const res = await verify(pending, { recovery_code: used })
  t.equal(res.statusCode, 200)
  t.equal(res.json().user.email, 'mfa@example.com')
  t.match(res.json().recovery_code, /^[A-Z2-9]{24}$/)
  t.equal(res.json().recovery_code, idp.recoveryCode(MFA_ID), 'the IdP\'s new code')
  t.ok(idp.calls.some(c => c.grantType === 'http://auth0.com/oauth/grant-type/mfa-recovery-code' && c.status === 200))
  const who = await app.inject({ url: '/session', cookies: { [COOKIE_NAME]: res.cookies.find(c => c.name === COOKIE_NAME)?.value ?? '' } })
  t.equal(who.json().recovery_code, undefined, 'shown once, never again')
  t.equal(who.statusCode, 200)
  const next = await startLogin(app)
  const reused = await verify(next, { recovery_code: used })
  t.equal(reused.statusCode, 401)
  t.equal(reused.json().code, 'mfa_invalid_code', 'the used code is spent')
})

