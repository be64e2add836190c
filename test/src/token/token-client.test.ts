import t from 'tap'
import { createTokenClient, PASSWORD_REALM_GRANT, type TokenClientOptions } from '../../../src/token/token-client.js'
import { createManualClock } from '../../helpers/manual-clock.js'

interface Seen { url: string, method: string, headers: Record<string, string>, body: string, redirect: string | undefined }

function headersOf (init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  new Headers(init).forEach((value, name) => { out[name] = value })
  return out
}

/** A fetch that records each request and answers from a queue (or with a function). */
function fakeFetch (answer: (seen: Seen, init: RequestInit) => Promise<Response> | Response) {
  const seen: Seen[] = []
  const impl = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const request: Seen = {
      url: String(input),
      method: init.method ?? 'GET',
      headers: headersOf(init.headers),
      body: typeof init.body === 'string' ? init.body : '',
      redirect: init.redirect
    }
    seen.push(request)
    return await answer(request, init)
  }
  return { seen, fetch: impl as typeof fetch }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
const OK = { access_token: 'at', refresh_token: 'rt', id_token: 'idt', token_type: 'Bearer', expires_in: 300, scope: 'openid' }

function client (fetchImpl: typeof fetch, overrides: Partial<TokenClientOptions> = {}) {
  const clock = createManualClock()
  return {
    clock,
    tokens: createTokenClient({
      tokenUrl: 'https://idp.example.com/oauth/token',
      revokeUrl: 'https://idp.example.com/oauth/revoke',
      auth: { method: 'client_secret_post', clientId: 'cid', clientSecret: 'csecret' },
      timeoutMs: 1000,
      clock,
      scope: 'openid offline_access',
      audience: 'https://api.example.com',
      fetch: fetchImpl,
      ...overrides
    })
  }
}

t.test('password grant: exactly the documented form, headers and a parsed token set', async t => {
  const { seen, fetch } = fakeFetch(() => json(200, OK))
  const { tokens, clock } = client(fetch)
  const set = await tokens.password({ username: 'a@example.com', password: 'p w&d', ip: '203.0.113.7' })
  t.equal(set.accessToken, 'at')
  t.equal(set.expiresAt, clock.now() + 300_000)
  const [call] = seen
  t.equal(call?.url, 'https://idp.example.com/oauth/token')
  t.equal(call?.method, 'POST')
  t.equal(call?.redirect, 'manual')
  t.equal(call?.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(call?.headers.accept, 'application/json')
  t.equal(call?.headers['auth0-forwarded-for'], '203.0.113.7')
  t.equal(call?.headers.authorization, undefined)
  t.same(Object.fromEntries(new URLSearchParams(call?.body)), {
    grant_type: 'password', username: 'a@example.com', password: 'p w&d', scope: 'openid offline_access',
    audience: 'https://api.example.com', client_id: 'cid', client_secret: 'csecret'
  })
})

t.test('password-realm grant when a realm is given; no audience when none is configured', async t => {
  const { seen, fetch } = fakeFetch(() => json(200, OK))
  const { tokens } = client(fetch, { audience: undefined })
  await tokens.password({ username: 'bob', password: 'pw', realm: 'employees' })
  const form = Object.fromEntries(new URLSearchParams(seen[0]?.body))
  t.equal(form.grant_type, PASSWORD_REALM_GRANT)
  t.equal(form.realm, 'employees')
  t.notOk('audience' in form)
  t.equal(seen[0]?.headers['auth0-forwarded-for'], undefined, 'no IP, no header')
})

t.test('forwardClientIp: false never sends auth0-forwarded-for', async t => {
  const { seen, fetch } = fakeFetch(() => json(200, OK))
  const { tokens } = client(fetch, { forwardClientIp: false })
  await tokens.password({ username: 'a', password: 'b', ip: '203.0.113.7' })
  t.equal(seen[0]?.headers['auth0-forwarded-for'], undefined)
})

t.test('client_secret_basic: Authorization header, no secret in the body', async t => {
  const { seen, fetch } = fakeFetch(() => json(200, OK))
  const { tokens } = client(fetch, { auth: { method: 'client_secret_basic', clientId: 'cid', clientSecret: 'a:b' } })
  await tokens.refresh('rt-1')
  t.equal(seen[0]?.headers.authorization, `Basic ${Buffer.from('cid:a%3Ab').toString('base64')}`)
  t.same(Object.fromEntries(new URLSearchParams(seen[0]?.body)), { grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'cid' })
})

t.test('other grants pass their parameters through', async t => {
  const { seen, fetch } = fakeFetch(() => json(200, OK))
  const { tokens } = client(fetch)
  await tokens.grant('http://auth0.com/oauth/grant-type/mfa-otp', { mfa_token: 'm', otp: '123456' }, { ip: '198.51.100.1' })
  const form = Object.fromEntries(new URLSearchParams(seen[0]?.body))
  t.equal(form.grant_type, 'http://auth0.com/oauth/grant-type/mfa-otp')
  t.equal(form.otp, '123456')
  t.equal(seen[0]?.headers['auth0-forwarded-for'], '198.51.100.1')
})

t.test('an OAuth error body becomes an IdpError with code, description and mfa_token', async t => {
  const { fetch } = fakeFetch(() => json(403, { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: 'mfa-1' }))
  const { tokens } = client(fetch)
  await t.rejects(tokens.password({ username: 'a', password: 'b' }), {
    name: 'IdpError', kind: 'oauth', status: 403, error: 'mfa_required', description: 'Multifactor authentication required', mfaToken: 'mfa-1', retryAfter: undefined
  })
})

t.test('a 429 carries the wait from Retry-After', async t => {
  const { fetch } = fakeFetch(() => json(429, { error: 'too_many_requests' }, { 'retry-after': '12' }))
  await t.rejects(client(fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'oauth', status: 429, retryAfter: 12 })
})

t.test('the legacy { code, description } shape is understood; long descriptions are cut', async t => {
  const { fetch } = fakeFetch(() => json(401, { code: 'invalid_client', description: 'x'.repeat(500) }))
  const err = await client(fetch).tokens.password({ username: 'a', password: 'b' }).catch((e: unknown) => e) as { error: string, description: string }
  t.equal(err.error, 'invalid_client')
  t.equal(err.description.length, 300)
})

t.test('error bodies without a code or not JSON are malformed', async t => {
  const noCode = fakeFetch(() => json(400, { message: 'bad' }))
  await t.rejects(client(noCode.fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'malformed', status: 400 })
  const html = fakeFetch(() => new Response('<html>oops</html>', { status: 502, headers: { 'content-type': 'text/html' } }))
  await t.rejects(client(html.fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'malformed', status: 502 })
  const nullBody = fakeFetch(() => new Response('null', { status: 400 }))
  await t.rejects(client(nullBody.fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'malformed', status: 400 })
})

t.test('a 200 that is not JSON, or has no access_token, is malformed', async t => {
  const truncated = fakeFetch(() => new Response('{"access_token":"a', { status: 200 }))
  await t.rejects(client(truncated.fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'malformed', status: 200 })
  const empty = fakeFetch(() => json(200, { token_type: 'Bearer' }))
  await t.rejects(client(empty.fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'malformed', status: 200 })
})

t.test('a redirect is not followed and is not a success', async t => {
  const { fetch } = fakeFetch(() => new Response('', { status: 302, headers: { location: 'https://evil.example.com/' } }))
  await t.rejects(client(fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'malformed', status: 302 })
})

t.test('a network failure is kind network', async t => {
  const { fetch } = fakeFetch(() => { throw new TypeError('fetch failed') })
  await t.rejects(client(fetch).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'network' })
})

t.test('no answer within timeoutMs is kind timeout', async t => {
  // AbortSignal.timeout's timer does not keep the process alive; a real socket would, so the fake holds a timer.
  const { fetch } = fakeFetch(async (_seen, init) => await new Promise<Response>((_resolve, reject) => {
    const keepAlive = setTimeout(() => { reject(new Error('not aborted')) }, 5_000)
    init.signal?.addEventListener('abort', () => { clearTimeout(keepAlive); reject(init.signal?.reason) })
  }))
  await t.rejects(client(fetch, { timeoutMs: 20 }).tokens.password({ username: 'a', password: 'b' }), { name: 'IdpError', kind: 'timeout' })
})

t.test('revoke posts JSON by default and accepts an empty 200', async t => {
  const { seen, fetch } = fakeFetch(() => new Response('', { status: 200 }))
  await client(fetch).tokens.revoke('rt-1', { ip: '203.0.113.7' })
  t.equal(seen[0]?.url, 'https://idp.example.com/oauth/revoke')
  t.equal(seen[0]?.headers['content-type'], 'application/json')
  t.equal(seen[0]?.headers['auth0-forwarded-for'], '203.0.113.7')
  t.same(JSON.parse(seen[0]?.body ?? ''), { client_id: 'cid', client_secret: 'csecret', token: 'rt-1' })
})

t.test('revoke as a form with token_type_hint when configured', async t => {
  const { seen, fetch } = fakeFetch(() => new Response('', { status: 200 }))
  await client(fetch, { revokeEncoding: 'form' }).tokens.revoke('rt-1')
  t.equal(seen[0]?.headers['content-type'], 'application/x-www-form-urlencoded')
  t.same(Object.fromEntries(new URLSearchParams(seen[0]?.body)), { client_id: 'cid', client_secret: 'csecret', token: 'rt-1', token_type_hint: 'refresh_token' })
})

t.test('a refused revocation throws the IdP error', async t => {
  const { fetch } = fakeFetch(() => json(401, { error: 'invalid_client', error_description: 'Unknown client.' }))
  await t.rejects(client(fetch).tokens.revoke('rt-1'), { name: 'IdpError', kind: 'oauth', status: 401, error: 'invalid_client' })
})
