/**
 * Issue #15 item 7: a challenge or a slow_down that races a successful verification must not bring the consumed
 * pending login back. The interleaving is forced, not timed: the gateway's fetch holds the IdP's answer to the racing
 * call (already answered by the real local IdP) until the verification has completed.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { totp } from '../../idp/totp.js'
import { pendingLoginKey } from '../../src/mfa/pending-logins.js'
import { buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { PENDING, MFA_USER, SECRET, PUSH_ID, SMS_ID } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }

const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200, mfa: { tokenTtlSec: 600 } })

/** A fetch that, once armed, holds the answer of the first IdP call `matches` picks until release(). */
function answerGate (matches: (url: string, body: string) => boolean) {
  let armed = false
  let held: () => void = () => {}
  let release: () => void = () => {}
  const arrived = new Promise<void>(resolve => { held = resolve })
  const released = new Promise<void>(resolve => { release = resolve })
  const gated: typeof fetch = async (input, init) => {
    const res = await fetch(input, init)
    if (armed && matches(String(input), typeof init?.body === 'string' ? init.body : '')) {
      armed = false
      held()
      await released
    }
    return res
  }
  return { fetch: gated, arm: () => { armed = true }, arrived, release }
}

async function gateway (t: Test, gate: ReturnType<typeof answerGate>): Promise<FastifyInstance> {
  return await buildTestApp(t, { env: testEnv(idp), deps: { clock, fetch: gate.fetch } })
}

async function startLogin (app: FastifyInstance): Promise<{ cookies: Record<string, string>, id: string }> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: MFA_USER })
  const value = res.cookies.find(c => c.name === PENDING)?.value ?? ''
  if (res.statusCode !== 401 || value === '') throw new Error(`expected mfa_required, got ${res.statusCode}`)
  return { cookies: { [PENDING]: value }, id: value.slice(0, value.lastIndexOf('.')) }
}

const post = async (app: FastifyInstance, url: string, cookies: Record<string, string>, payload: Record<string, string>): Promise<LightMyRequestResponse> =>
  await app.inject({ method: 'POST', url, headers: CSRF, cookies, payload })

function freshOtp (): string {
  clock.advance(30_000)
  return totp(SECRET, clock.now())
}

t.test('a challenge answered after the login completed does not resurrect the pending login', async t => {
  const gate = answerGate(url => url.endsWith('/mfa/challenge'))
  const app = await gateway(t, gate)
  const pending = await startLogin(app)
  gate.arm()
  const racing = post(app, '/session/mfa/challenge', pending.cookies, { authenticator_id: SMS_ID })
  await gate.arrived // the IdP sent the SMS; the gateway has not seen the answer yet
  const done = await post(app, '/session/mfa', pending.cookies, { otp: freshOtp() })
  t.equal(done.statusCode, 200, 'the login completes meanwhile')
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pending.id)), undefined, 'and ends the pending login')
  gate.release()
  const res = await racing
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'mfa_expired', 'the late challenge finds its pending login ended')
  t.equal(res.cookies.find(c => c.name === PENDING)?.value, '', 'and clears the pending cookie')
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pending.id)), undefined, 'not brought back')
  t.equal(await app.mfa.pendingLogins.load(pending.id), undefined)
  t.equal((await post(app, '/session/mfa', pending.cookies, { binding_code: '123456' })).json().code, 'mfa_expired', 'the old pending cookie opens nothing')
})

t.test('a slow_down answered after the login completed does not resurrect the pending login', async t => {
  const gate = answerGate((url, body) => url.endsWith('/oauth/token') && body.includes('mfa-oob'))
  const app = await gateway(t, gate)
  const pending = await startLogin(app)
  t.equal((await post(app, '/session/mfa/challenge', pending.cookies, { authenticator_id: PUSH_ID })).json().challenge, 'push')
  t.equal((await post(app, '/session/mfa', pending.cookies, {})).json().code, 'mfa_pending')
  gate.arm()
  const racing = post(app, '/session/mfa', pending.cookies, {}) // polled at once: the IdP answers slow_down
  await gate.arrived
  const done = await post(app, '/session/mfa', pending.cookies, { otp: freshOtp() })
  t.equal(done.statusCode, 200, 'the login completes meanwhile')
  gate.release()
  const res = await racing
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'mfa_expired', 'the late slow_down finds its pending login ended')
  t.equal(await app.pendingLoginStore.get(pendingLoginKey(pending.id)), undefined, 'not brought back')
  t.equal(await app.mfa.pendingLogins.load(pending.id), undefined)
})
