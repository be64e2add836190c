import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { IDP_USER_AGENT, idpErrorFrom, idpJson, idpRequest, type IdpRequestOptions } from '../../../src/idp/idp-request.js'
import { IdpError } from '../../../src/token/idp-error.js'

/** A real HTTP server on 127.0.0.1 that answers by path, and remembers what it was asked. */
const seen: Array<{ path: string, method: string, headers: IncomingHttpHeaders, body: string }> = []
const hanging: ServerResponse[] = []
const server = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => { body += chunk })
  req.on('end', () => {
    seen.push({ path: req.url ?? '', method: req.method ?? '', headers: req.headers, body })
    const json = (status: number, value: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value))
    }
    switch (req.url) {
      case '/echo': return json(200, { ok: true })
      case '/hang': hanging.push(res); return
      case '/hang-body': res.writeHead(200, { 'content-type': 'application/json' }).write('{"partial":'); hanging.push(res); return
      case '/redirect': res.writeHead(302, { location: '/elsewhere' }).end(); return
      case '/elsewhere': return json(200, { followed: true })
      case '/html': res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>'); return
      case '/oauth': return json(403, { error: 'invalid_grant', error_description: 'Wrong email or password.' + 'x'.repeat(400) })
      case '/legacy': return json(400, { code: 'invalid_body', description: 'legacy shape' })
      case '/no-code': return json(400, { message: 'no code here' })
      case '/mfa': return json(403, { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: 'mfa-tok' })
      case '/429': return json(429, { error: 'too_many_requests' }, { 'retry-after': '30' })
      case '/429-reset': return json(429, { error: 'too_many_requests' }, { 'x-ratelimit-reset': String(Math.floor(NOW / 1000) + 90) })
      case '/503': return json(503, { error: 'temporarily_unavailable' }, { 'retry-after': '30' })
      default: return json(404, { error: 'not_found' })
    }
  })
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
t.teardown(async () => {
  for (const res of hanging) res.destroy()
  await new Promise<void>(resolve => server.close(() => { resolve() }))
})

const NOW = Date.UTC(2026, 0, 1)
const opts: IdpRequestOptions = { timeoutMs: 2_000, forwardClientIp: true }

function last (): (typeof seen)[number] | undefined { return seen[seen.length - 1] }

t.test('a call sends the user agent, accept, the caller\'s headers and body; the answer is read whole', async t => {
  const response = await idpRequest(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: '{"a":1}' }, opts)
  t.equal(response.status, 200)
  t.same(idpJson(response), { ok: true })
  t.equal(last()?.method, 'POST')
  t.equal(last()?.headers['user-agent'], IDP_USER_AGENT)
  t.equal(IDP_USER_AGENT, 'bff-token-gateway')
  t.equal(last()?.headers.accept, 'application/json')
  t.equal(last()?.headers.authorization, 'Bearer x')
  t.equal(last()?.body, '{"a":1}')
})

t.test('auth0-forwarded-for: sent with forwardClientIp and an IP, never otherwise', async t => {
  await idpRequest(`${base}/echo`, { method: 'GET' }, { ...opts, forwardClientIp: true, ip: '203.0.113.7' })
  t.equal(last()?.headers['auth0-forwarded-for'], '203.0.113.7', 'on, with an IP')
  await idpRequest(`${base}/echo`, { method: 'GET' }, { ...opts, forwardClientIp: false, ip: '203.0.113.7' })
  t.equal(last()?.headers['auth0-forwarded-for'], undefined, 'off')
  await idpRequest(`${base}/echo`, { method: 'GET' }, { ...opts, forwardClientIp: true, ip: '' })
  t.equal(last()?.headers['auth0-forwarded-for'], undefined, 'on, empty IP')
  await idpRequest(`${base}/echo`, { method: 'GET' }, { ...opts, forwardClientIp: true })
  t.equal(last()?.headers['auth0-forwarded-for'], undefined, 'on, no IP')
  await idpRequest(`${base}/echo`, { method: 'GET', headers: { 'auth0-forwarded-for': '10.0.0.1' } }, { ...opts, forwardClientIp: true, ip: '203.0.113.7' })
  t.equal(last()?.headers['auth0-forwarded-for'], '203.0.113.7', 'a caller\'s header cannot replace the user\'s IP')
})

t.test('a redirect is an answer, not followed', async t => {
  seen.length = 0
  const response = await idpRequest(`${base}/redirect`, { method: 'POST', body: 'x=1' }, opts)
  t.equal(response.status, 302)
  t.same(seen.map(s => s.path), ['/redirect'], 'nothing asked at the redirect\'s target')
  t.match(idpErrorFrom(response, NOW), { kind: 'malformed', status: 302, description: 'error body is not JSON' })
})

t.test('the deadline covers the headers and the body', async t => {
  for (const path of ['/hang', '/hang-body']) {
    const err = await idpRequest(`${base}${path}`, { method: 'GET' }, { ...opts, timeoutMs: 100 }).catch((e: unknown) => e)
    t.ok(err instanceof IdpError, path)
    t.match(err, { kind: 'timeout', message: 'identity provider timed out' }, path)
  }
})

t.test('no answer at all: network', async t => {
  const closed = createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>(resolve => closed.close(() => { resolve() }))
  const err = await idpRequest(`http://127.0.0.1:${port}/token`, { method: 'GET' }, opts).catch((e: unknown) => e)
  t.ok(err instanceof IdpError)
  t.match(err, { kind: 'network', message: 'identity provider unreachable' })
})

t.test('the injected fetch is the one used', async t => {
  const asked: string[] = []
  const response = await idpRequest('https://idp.invalid/token', { method: 'GET' }, {
    ...opts,
    fetch: async (input, init) => {
      asked.push(`${String(input)} ${init?.redirect ?? ''}`)
      return new Response('{}', { status: 200 })
    }
  })
  t.equal(response.status, 200)
  t.same(asked, ['https://idp.invalid/token manual'])
})

t.test('idpJson: a body that is not JSON is malformed', async t => {
  const response = await idpRequest(`${base}/html`, { method: 'GET' }, opts)
  t.throws(() => idpJson(response), { name: 'IdpError', kind: 'malformed', status: 502, description: 'body is not JSON' })
})

t.test('idpErrorFrom: OAuth bodies, legacy bodies, non-JSON bodies and 429 waits', async t => {
  const error = async (path: string): Promise<IdpError> => idpErrorFrom(await idpRequest(`${base}${path}`, { method: 'GET' }, opts), NOW)
  const html = await error('/html')
  t.match(html, { kind: 'malformed', status: 502, description: 'error body is not JSON' })
  t.notMatch(html.message, /Bad Gateway/, 'the raw body is not in the message')
  const oauth = await error('/oauth')
  t.match(oauth, { kind: 'oauth', status: 403, error: 'invalid_grant', retryAfter: undefined, mfaToken: undefined })
  t.equal(oauth.description?.length, 300, 'the description is cut at 300 characters')
  t.match(await error('/legacy'), { kind: 'oauth', status: 400, error: 'invalid_body', description: 'legacy shape' })
  t.match(await error('/no-code'), { kind: 'malformed', status: 400, description: 'error body has no error code' })
  const mfa = await error('/mfa')
  t.equal(mfa.mfaToken, 'mfa-tok')
  t.notOk(JSON.stringify(mfa.toJSON()).includes('mfa-tok'), 'the mfa_token is not in the log summary')
  t.match(await error('/429'), { kind: 'oauth', status: 429, error: 'too_many_requests', retryAfter: 30 })
  t.match(await error('/429-reset'), { status: 429, retryAfter: 90 }, 'x-ratelimit-reset when there is no Retry-After')
  t.equal((await error('/503')).retryAfter, undefined, 'a wait only on a 429')
})
