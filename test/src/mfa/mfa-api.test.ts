import t from 'tap'
import { createMfaApi } from '../../../src/mfa/mfa-api.js'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, startTestIdp } from '../../helpers/gateway.js'
import { createManualClock } from '../../helpers/manual-clock.js'

const MFA = { username: 'mfa@example.com', password: 'mfa-password-1' }
const SMS_ID = 'sms|dev_mfa0000000000000003'
const auth = { method: 'client_secret_post', clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET } as const

const clock = createManualClock()
const idp = await startTestIdp(t, { clock })

async function mfaToken (): Promise<string> {
  const res = await fetch(`${idp.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'password', client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, ...MFA, scope: 'openid' })
  })
  const body = await res.json() as { mfa_token?: string }
  if (body.mfa_token === undefined) throw new Error(`expected mfa_required, got ${res.status}`)
  return body.mfa_token
}

// Issue #15 item 15: the MFA URLs were `${issuer}mfa/…`, so an issuer without a trailing slash (an OIDC_ISSUER whose
// discovery document says so, with OIDC_AUTH0_EXTENSIONS=on) asked `http://127.0.0.1:PORTmfa/…`.
for (const issuer of [`${idp.url}/`, idp.url]) {
  t.test(`the MFA API at the local IdP, issuer ${issuer.endsWith('/') ? 'with' : 'without'} a trailing slash`, async t => {
    const api = createMfaApi({ issuer, auth, clock, timeoutMs: 2_000 })
    const token = await mfaToken()
    idp.clearCalls()
    const list = await api.authenticators(token, { ip: '203.0.113.5' })
    t.ok(list.some(a => a.id === SMS_ID), 'the authenticators are listed')
    const challenge = await api.challenge(token, SMS_ID, { ip: '203.0.113.5' })
    t.equal(challenge.challengeType, 'oob')
    t.equal(challenge.bindingMethod, 'prompt')
    t.same(idp.calls.map(c => [c.method, c.path]), [['GET', '/mfa/authenticators'], ['POST', '/mfa/challenge']])
  })
}

t.test('auth0-forwarded-for only with forwardClientIp (the Auth0 extensions), like the token client', async t => {
  for (const forwardClientIp of [true, false]) {
    const api = createMfaApi({ issuer: `${idp.url}/`, auth, clock, timeoutMs: 2_000, forwardClientIp })
    const token = await mfaToken()
    idp.clearCalls()
    await api.authenticators(token, { ip: '203.0.113.5' })
    await api.challenge(token, SMS_ID, { ip: '203.0.113.5' })
    t.same(idp.calls.map(c => c.forwardedFor), forwardClientIp ? ['203.0.113.5', '203.0.113.5'] : [undefined, undefined], `forwardClientIp: ${String(forwardClientIp)}`)
  }
})

t.test('an MFA API error answer maps as the token endpoint\'s does (idpErrorFrom): a 429 keeps its Retry-After', async t => {
  const answer = (status: number, body: string, headers: Record<string, string> = {}): typeof fetch => async () => new Response(body, { status, headers })
  const api = (f: typeof fetch) => createMfaApi({ issuer: 'https://idp.example/', auth, clock, timeoutMs: 1_000, forwardClientIp: true, fetch: f })
  await t.rejects(api(answer(429, '{"error":"too_many_requests"}', { 'retry-after': '30' })).authenticators('t', {}), { name: 'IdpError', kind: 'oauth', status: 429, retryAfter: 30 })
  await t.rejects(api(answer(502, '<html>')).challenge('t', 'a', {}), { name: 'IdpError', kind: 'malformed', status: 502, description: 'error body is not JSON' })
  await t.rejects(api(answer(200, '<html>')).authenticators('t', {}), { name: 'IdpError', kind: 'malformed', status: 200, description: 'body is not JSON' })
})

t.test('an issuer with a path: the MFA API is under it, with or without its trailing slash', async t => {
  for (const issuer of ['https://idp.example/tenant-a', 'https://idp.example/tenant-a/']) {
    const asked: string[] = []
    const fetchImpl: typeof fetch = async input => {
      asked.push(String(input))
      return String(input).endsWith('/challenge')
        ? new Response(JSON.stringify({ challenge_type: 'otp' }), { status: 200 })
        : new Response('[]', { status: 200 })
    }
    const api = createMfaApi({ issuer, auth, clock, timeoutMs: 1_000, fetch: fetchImpl })
    await api.authenticators('mfa-token', {})
    await api.challenge('mfa-token', 'totp|x', {})
    t.same(asked, ['https://idp.example/tenant-a/mfa/authenticators', 'https://idp.example/tenant-a/mfa/challenge'], issuer)
  }
})
